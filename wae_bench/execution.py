"""How and where a command runs, apart from what it measures (``config.RunConfig``).

None of these settings changes what a run measures: they are left out of run ids, may change
on ``--resume``, and are recorded in config.json under "execution", beside the measured
settings under "config". Only the command layer (``command``, ``tune``, ``sweep``), the worker
pool (``jobs``) and the points of a sweep or tune (``points``) read them.
"""

import dataclasses
from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True, kw_only=True)
class Execution:
    """Folder, device choice, workers, verbosity, resume/overwrite policy, loggers."""

    out: str = ""  # the command's folder ("": the task's default)
    device: str = "auto"
    jobs: int = 1  # what runs at once: each command's --jobs help says what it counts
    quiet: bool = False
    resume: bool = False
    overwrite: bool = False
    tensorboard: str = ""
    graphs: bool = True  # on CUDA, replay each training step as a CUDA graph (cuda_graphs.py)
    compile: bool = False  # torch.compile the networks
    baseline: str = ""  # summaries compare every method with this one (default: the paper's)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool) and not isinstance(value, bool):
                raise UsageError(f"{f.name} must be true or false, got {value!r}")
            if isinstance(f.default, str) and not isinstance(value, str):
                raise UsageError(f"{f.name} must be a string, got {value!r}")
        if not isinstance(self.jobs, int) or isinstance(self.jobs, bool) or self.jobs < 1:
            raise UsageError(f"jobs must be an integer > 0, got {self.jobs!r}; pass e.g. --jobs 1")
        if self.resume and self.overwrite:
            raise UsageError("--resume continues a run, --overwrite replaces it: pass one")

    def check(self, methods: list[str]) -> "Execution":
        """Refuse a ``baseline`` that is not among the ``methods`` measured; returns self."""
        if self.baseline and self.baseline not in methods:
            raise UsageError(f"--baseline {self.baseline} is not among the methods "
                             f"({','.join(methods)}); pick one of them")  # fmt: skip
        return self

    def to_dict(self) -> dict:
        """Every setting, as saved in config.json under "execution"."""
        return dataclasses.asdict(self)

    def run_options(self) -> dict:
        """What one run of the command reads of these settings: the keywords of
        ``run.train_run`` (resume, quiet, graphs, compile)."""
        return {"resume": self.resume, "quiet": self.quiet, "graphs": self.graphs,
                "compile": self.compile}  # fmt: skip

    def replace(self, **changes) -> "Execution":
        """A copy with ``changes`` (validated)."""
        return dataclasses.replace(self, **changes)


NAMES = frozenset(f.name for f in dataclasses.fields(Execution))


def split(settings: dict) -> tuple[dict, dict]:
    """(measured, execution): a flat table of settings (a config file, the flags, an old
    config.json) cut by the fields of ``Execution``."""
    measured = {k: v for k, v in settings.items() if k not in NAMES}
    return measured, {k: v for k, v in settings.items() if k in NAMES}


def recorded_baseline(record: dict) -> str | None:
    """The ``--baseline`` a run folder's record names, None when it names none."""
    return of_record(record).get("baseline") or None


def of_record(record: dict) -> dict:
    """The execution settings of a run folder's record (config.json): its "execution" table,
    or, in records written before it existed, the execution fields of its "config"."""
    if "execution" in record:
        return record["execution"]
    return split(record.get("config", {}))[1]
