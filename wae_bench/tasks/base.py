"""What a task declares; the harness (``command``, ``run``, ``tune``, the reports)
does the rest.

A task is one module (or package) of ``wae_bench.tasks`` holding ``TASK = SomeTask()``. Its
members, by what they serve:

- settings: ``name``, ``about`` (its command line's text), ``config`` (a ``RunConfig``
  subclass: the fields, their flags and checks, the evaluation and learning-rate schedule,
  sub-runs), ``tuning`` (what ``wae-bench tune`` varies besides each method's
  hyper-parameters) and ``presets`` (named sweeps);
- data and models: ``setup``, ``prior``, ``build_models``, ``fixtures``, ``batches``;
- evaluation: ``results`` (the result file and its headline metric) and ``evaluate``;
- report: ``report``, and ``hooks`` for what a run leaves besides its rows (images, files).

Per seed, the command trains every (method, lam) of the config: each run builds the task's
models, binds the regularizer, trains epoch by epoch with the shared step, evaluates when the
config's schedule says so, records one row per evaluation and checkpoints; the command finally
calls ``report``. The modules above name no task: what they need to know of one is here.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from regularizers import Prior

from ..config import RunConfig


@dataclass
class Context:
    """What a task prepares once per command (``Task.setup``); subclasses add fields.

    ``size``: training samples in one epoch; ``record``: what config.json records of the data
    (e.g. {"data": {"name": ..., "train": ...}})."""

    cfg: Any
    device: torch.device
    size: int = field(default=0, kw_only=True)
    record: dict = field(default_factory=dict, kw_only=True)


class SeedFixtures:
    """A task's fixtures (``Task.fixtures``) of one seed at a time: the last seed's are dropped
    before the next seed's are built, so a process holds one seed's (the image task's SWD
    reference is gigabytes)."""

    def __init__(self, task, ctx: Context):
        self.task, self.ctx = task, ctx
        self.seed, self.fixtures = None, None

    def of(self, seed: int):
        """The fixtures of ``seed``, built on the first call for it."""
        if seed != self.seed:
            self.seed, self.fixtures = None, None
            self.fixtures, self.seed = self.task.fixtures(self.ctx, seed), seed
        return self.fixtures


@dataclass(frozen=True)
class About:
    """A task's command line: ``wae-bench NAME`` with this help and description; ``order``:
    its place among the subcommands."""

    help: str
    description: str = ""
    order: int = 100


@dataclass(frozen=True)
class ResultTable:
    """A task's result file, one row per (method[, lam], seed, evaluated epoch), and how
    tables and figures show its headline metric (lower is better)."""

    file: str
    columns: tuple[str, ...]  # always written, in this order
    metric: str  # the headline column
    metric_label: str = ""  # how tables and figures name it (default: the column's name)
    metric_format: str = ".4g"  # one value of it on the progress bar
    headline: tuple[str, ...] = ()  # a sweep's columns at each point's end (default: metric)
    summary_epochs: tuple[int, ...] = ()  # reported in tables (and the last one)
    optional: tuple[tuple[str, str], ...] = ()  # (column, the setting that adds it when set)

    @property
    def label(self) -> str:
        """How tables and figures name the headline metric."""
        return self.metric_label or self.metric

    @property
    def sweep_columns(self) -> tuple[str, ...]:
        """The columns a sweep reports at each point's last evaluation."""
        return self.headline or (self.metric,)

    def format(self, value: float) -> str:
        """One value of the headline metric as the progress bar shows it."""
        return format(value, self.metric_format)

    def columns_for(self, cfg: RunConfig) -> tuple[str, ...]:
        """The columns of the result file for these settings: ``columns``, then each optional
        one whose setting is set."""
        return self.columns + tuple(c for c, setting in self.optional if getattr(cfg, setting))


class Tuning:
    """What ``wae-bench tune`` varies besides each method's hyper-parameters, and how a trial
    scores on data the final comparison never sees. The default: nothing more, and a trial
    differs from a final run by its seed alone."""

    penalty_knob = ""  # the knob that weights the regularizer, if any ("lam": `select` chooses it)

    def knobs(self, cfg: RunConfig) -> dict:
        """{name: regularizers.search.Range | Choice} of the task's own settings to tune."""
        return {}

    def defaults(self, cfg: RunConfig, method: str) -> dict:
        """The values of ``knobs`` that the untuned ("default") arm trains with."""
        return {}

    def apply(self, settings: dict, method: str, values: dict) -> dict:
        """The config dict ``settings`` of one method's run with knob ``values`` applied."""
        return {**settings, **values}

    def validation(self, cfg: RunConfig) -> dict:
        """Settings that make a trial score on held-out data (the image task: a validation
        split of the training images)."""
        return {}


class RunHooks:
    """What a task does besides recording rows; the default: nothing."""

    def images(self, ctx: Context, fixtures, models: dict[str, nn.Module]) -> dict[str, Tensor]:
        """Image grids for loggers (TensorBoard) at an evaluation."""
        return {}

    def after_run(self, ctx: Context, fixtures, run, out: Path) -> None:
        """Called when one (method, lam, seed) has trained to its last epoch."""

    def finish(self, ctx: Context, out: Path) -> None:
        """Called after every run of the command, before its report."""


class Task:
    """Base of every task: subclasses set the class attributes and define the methods."""

    # settings
    name: ClassVar[str]
    about: ClassVar[About]
    config: ClassVar[type[RunConfig]]
    tuning: ClassVar[Tuning] = Tuning()
    presets: ClassVar[dict[str, dict]] = {}  # named sweeps: {"task", "settings", "grid"}

    # data and models
    def setup(self, cfg: RunConfig, device: torch.device) -> Context:
        """Load what every run of the command shares, with ``Context.size`` set; bad data
        settings fail here."""
        raise NotImplementedError

    def prior(self, cfg: RunConfig) -> Prior:
        """The latent prior the regularizers match."""
        raise NotImplementedError

    def build_models(self, ctx: Context) -> dict[str, nn.Module]:
        """Freshly initialized networks: "encoder" and, for autoencoders, "decoder"."""
        raise NotImplementedError

    def fixtures(self, ctx: Context, seed: int) -> Any:
        """What a seed fixes for every method alike (data, evaluation samples, ...)."""
        raise NotImplementedError

    def batches(self, ctx: Context, fixtures, rng: torch.Generator) -> Iterable[Tensor]:
        """One epoch of shuffled training batches on ``ctx.device``."""
        raise NotImplementedError

    # evaluation
    results: ClassVar[ResultTable]

    def evaluate(self, ctx: Context, fixtures, models: dict[str, nn.Module]) -> dict:
        """The metrics of one evaluation, {column: value} (models in eval mode, no grad)."""
        raise NotImplementedError

    # report
    hooks: ClassVar[RunHooks] = RunHooks()

    def report(self, run_dir: Path, figures: bool = True) -> None:
        """(Re)write the summary tables and, with ``figures``, the figures from the run
        folder's files alone. The end of a training command writes the tables only;
        ``wae-bench report`` draws the figures (matplotlib is a run's largest fixed cost).
        The default: the headline metric's summary and curves (``run_summary``)."""
        from .. import run_summary

        run_summary.report(self.results, Path(run_dir), figures)


def default_out(task: Task) -> Path:
    """results/<task>/<date-time>: where a command writes without --out."""
    return Path("results") / task.name / time.strftime("%Y%m%d-%H%M%S")
