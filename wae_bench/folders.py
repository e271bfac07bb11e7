"""The file names of the suite's folders, spelled here once.

A run folder (one training command) holds ``config.json`` (the settings, environment and
resolved hyper-parameters), the task's result file, ``checkpoints/<run id>.pt``, and the
``summary.csv``/``summary.md`` its report writes. A folder run as one point of a sweep or one
trial of a tune also ends with ``status.json``; a sweep folder holds ``sweep.json`` and its
points under ``runs/``.
"""

from pathlib import Path

from . import results
from .errors import UsageError

CONFIG = "config.json"
STATUS = "status.json"
TRACEBACK = "traceback.txt"  # a point that failed with an unexpected error
SWEEP = "sweep.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
CHECKPOINTS = "checkpoints"
POINTS = "runs"  # a sweep's or a tune's folder: one sub-folder per point or trial


def read_config(folder: Path) -> dict:
    """The record of ``folder`` (its config.json), {} when there is none."""
    return results.read_json(Path(folder) / CONFIG)


def write_config(folder: Path, record: dict) -> None:
    """Write the record of ``folder`` atomically."""
    results.write_json(Path(folder) / CONFIG, record)


def read_status(folder: Path) -> dict:
    """How the point or trial in ``folder`` ended (status.json), {} when it has not."""
    return results.read_json(Path(folder) / STATUS)


def write_status(folder: Path, outcome: dict) -> None:
    """Record how the point or trial in ``folder`` ended."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    results.write_json(Path(folder) / STATUS, outcome)


def checkpoint_file(folder: Path, run_id: str) -> Path:
    """Where the run ``run_id`` of the run folder ``folder`` keeps its checkpoint."""
    return Path(folder) / CHECKPOINTS / f"{run_id}.pt"


def write_summary(folder: Path, table, text: str) -> None:
    """A report's summary.csv (``table``, a DataFrame) and summary.md (``text``)."""
    results.write_csv(Path(folder) / SUMMARY_CSV, table)
    results.write_text(Path(folder) / SUMMARY_MD, text)


def check_resumable(out: Path, settings: dict, *, free: tuple[str, ...]) -> None:
    """--resume continues only a run made with the same settings, except those in ``free``
    (device, quiet, ...)."""
    previous = read_config(out).get("config")
    if previous is None:
        return
    changed = [
        key for key in settings
        if key not in free and previous.get(key) != settings[key]
    ]  # fmt: skip
    if changed:
        raise UsageError(
            f"--resume: settings differ from the run in {out} ({', '.join(changed)}); "
            "repeat its settings or use a new --out"
        )
