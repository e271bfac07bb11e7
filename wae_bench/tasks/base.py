"""What a task declares; the training command (``wae_bench.command``) and each run
(``wae_bench.training_run``) call these hooks.

A task is one module (or package) of ``wae_bench.tasks`` holding ``TASK = SomeTask()``. The
command runs, per seed, every (method, lam) of the config: each run builds the task's models,
binds the regularizer, trains epoch by epoch with the shared step, evaluates when
``eval_due``, records one row per evaluation and checkpoints; the command finally calls
``report``. Everything a summary, sweep, comparison or figure needs to know about the task's
results (its columns, headline metric, label and format) is declared here, so that the
modules above name no task.
"""

import argparse
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from regularizers import Prior

from ..config import RunConfig


@dataclass
class Context:
    """What a task prepares once per command (data, ...); subclasses add fields."""

    cfg: Any
    device: torch.device


class Task:
    """Base of every task; subclasses set the class attributes and the hooks that differ."""

    name: ClassVar[str]
    order: ClassVar[int] = 100  # position among the CLI's subcommands
    config: ClassVar[type[RunConfig]]
    help: ClassVar[str]
    description: ClassVar[str]
    result_file: ClassVar[str]  # one row per (method[, lam], seed, evaluated epoch)
    columns: ClassVar[tuple[str, ...]]  # of the result file, in order
    metric: ClassVar[str]  # the headline column (lower is better)
    metric_label: ClassVar[str] = ""  # how tables and figures name it (default: metric)
    metric_format: ClassVar[str] = ".4g"  # format spec of one value of it (progress bar)
    headline_columns: ClassVar[tuple[str, ...]] = ()  # a sweep's columns (default: metric)
    summary_epochs: ClassVar[tuple[int, ...]] = ()  # reported in tables (and the last one)
    presets: ClassVar[dict[str, dict]] = {}  # named sweeps: {"task", "settings", "grid"}

    def sub_runs(self, cfg: RunConfig) -> dict[str, RunConfig]:
        """{folder name: config} when one command is several commands in sub-folders of its
        folder (the latent dimension study), each trained like a command of its own and
        reported together by ``report``; {} (the default): one command, no sub-runs."""
        return {}

    def label(self) -> str:
        """How tables and figures name the headline metric."""
        return self.metric_label or self.metric

    def format_metric(self, value: float) -> str:
        """One value of the headline metric as the progress bar shows it."""
        return format(value, self.metric_format)

    def sweep_columns(self) -> tuple[str, ...]:
        """The result columns a sweep reports at each point's last evaluation."""
        return self.headline_columns or (self.metric,)

    def result_columns(self, cfg: RunConfig) -> tuple[str, ...]:
        """Columns of the result file for these settings (``columns`` plus optional ones)."""
        return self.columns

    penalty_knob = ""  # the tuning knob that weights the regularizer, if the task has one

    def tuning_knobs(self, cfg: RunConfig) -> dict:
        """The task's own settings ``wae-bench tune`` varies besides each method's
        hyper-parameters: {name: regularizers.search.Range | Choice}; none by default."""
        return {}

    def tuning_defaults(self, cfg: RunConfig, method: str) -> dict:
        """The values of ``tuning_knobs`` that the untuned ("default") arm trains with."""
        return {}

    def with_knobs(self, settings: dict, method: str, values: dict) -> dict:
        """The config dict ``settings`` of one method's run with knob values applied."""
        return {**settings, **values}

    def validation_settings(self, cfg: RunConfig) -> dict:
        """Settings that make a tuning trial score on data the final comparison never sees,
        beyond its own seed (the image task: a validation split of the training images)."""
        return {}

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The task's own command-line flags (the shared ones are added by the CLI)."""

    def prefers_gpu(self, cfg: RunConfig) -> bool:
        """Whether ``--device auto`` runs these settings on a visible CUDA GPU (True) or on
        the CPU (False): the faster of the two, as measured; the docstring says where from."""
        return True

    def setup(self, cfg: RunConfig, device: torch.device) -> Context:
        """Load what every run of the command shares; bad data settings fail here."""
        return Context(cfg, device)

    def dataset_size(self, ctx: Context) -> int:
        """Number of training samples (one epoch)."""
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

    def evaluate(self, ctx: Context, fixtures, models: dict[str, nn.Module]) -> dict:
        """The metrics of one evaluation (models are in eval mode, no grad)."""
        raise NotImplementedError

    def eval_due(self, cfg: RunConfig, epoch: int) -> bool:
        """Whether to evaluate after ``epoch`` (epoch 0 is always evaluated)."""
        return True

    def learning_rate(self, cfg: RunConfig, epoch: int) -> float:
        """Learning rate of ``epoch`` (1-based)."""
        return cfg.lr

    def describe(self, ctx: Context, models: dict[str, nn.Module]) -> dict:
        """Extra entries of config.json (and anything worth printing before training)."""
        return {}

    def images(self, ctx: Context, fixtures, models: dict[str, nn.Module]) -> dict[str, Tensor]:
        """Image grids for loggers at an evaluation (none by default)."""
        return {}

    def after_run(self, ctx: Context, fixtures, run, out: Path) -> None:
        """Called when one (method, lam, seed) has trained to its last epoch."""

    def finish(self, ctx: Context, out: Path) -> None:
        """Called after every run, before ``report``."""

    def report(self, run_dir: Path, figures: bool = True) -> None:
        """(Re)write the summary tables and, with ``figures``, the figures from the run
        folder's files alone. The end of a training command writes the tables only;
        ``wae-bench report`` draws the figures (matplotlib is a run's largest fixed cost)."""
        raise NotImplementedError

    def default_out(self) -> Path:
        """results/<task>/<date-time>."""
        return Path("results") / self.name / time.strftime("%Y%m%d-%H%M%S")
