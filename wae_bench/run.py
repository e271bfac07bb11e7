"""One training run: a (method, lam, seed) of a command, built, trained, checkpointed.

A run is built from its seed alone (``recipe.assemble`` over the task's models), trains epoch
by epoch with the shared step (``step``), evaluates when the task says so, records one row
per evaluation (to the loggers handed to it) and checkpoints atomically after every epoch, so
that a run continued from its checkpoint (``--resume``) gives the rows of an uninterrupted run
on CPU. The command around the runs (``wae_bench.command``) owns the folder; ``jobs`` trains
runs in worker processes with ``train_run``.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from regularizers import TrainingPlan

from . import checkpoints, folders, run_files
from .batching import steps_per_epoch, without_single_remainder
from .config import RunConfig
from .loss_display import LossDisplay
from .recipe import assemble
from .step import check_finite, load_training_state, train_epoch, training_state
from .tasks import Task
from .tasks.base import Context

LOSS_READ_EVERY = 50  # steps between the progress bar's loss copies


@dataclass(frozen=True)
class RunKey:
    """One training run of a command: a method, its weight lam (None: penalty alone), a seed."""

    method: str
    lam: float | None
    seed: int

    @property
    def id(self) -> str:
        """moca_lam10_seed0 (image task), moca_seed0 (no lam): checkpoint and logger names."""
        lam = "" if self.lam is None else f"_lam{self.lam:g}"
        return f"{self.method}{lam}_seed{self.seed}"


def run_keys(cfg: RunConfig, seed: int) -> list[RunKey]:
    """The (method, lam) runs of one seed, in the order they train."""
    return [RunKey(m, lam, seed) for m in cfg.methods for lam in cfg.lambda_values(m)]


class Run:
    """One (method, lam, seed): models, bound regularizer, optimizer, batch RNG, rows so far.

    Everything is built from the seed alone, so a run is the same whichever runs came before.
    """

    def __init__(self, task: Task, ctx: Context, key: RunKey, device: torch.device, *,
                 graphs: bool = False, compile: bool = False):  # fmt: skip
        cfg = ctx.cfg
        self.task, self.ctx, self.key, self.id = task, ctx, key, key.id
        torch.manual_seed(key.seed)
        models, prior = task.build_models(ctx), task.prior(cfg)
        self.steps_per_epoch = steps_per_epoch(ctx.size, cfg.batch_size)
        plan = TrainingPlan(cfg.batch_size, cfg.epochs * self.steps_per_epoch, ctx.size)
        made = assemble(models, key.method, cfg.params.get(key.method, {}),
                        prior=prior, plan=plan, lr=cfg.lr,
                        lam=1.0 if key.lam is None else key.lam, amp=cfg.amp, device=device,
                        graphs=graphs, compile=compile)  # fmt: skip
        self.models, self.regularizer, self.optimizer, self.step = (
            made.models, made.regularizer, made.optimizer, made.step)  # fmt: skip
        self.batch_rng = torch.Generator().manual_seed(key.seed)
        self.epoch, self.seconds, self.rows = 0, 0.0, []
        self.saved_epoch: int | None = None  # of the last complete checkpoint

    def modules(self) -> dict:
        """The networks and the regularizer: what a checkpoint holds besides the optimizer."""
        return {**self.models, "regularizer": self.regularizer}

    def train_one_epoch(self, fixtures, on_step) -> float:
        """One epoch at the task's learning rate; returns its mean loss (seconds accumulate)."""
        self.epoch += 1
        self.optimizer.set_lr(self.ctx.cfg.learning_rate(self.epoch))
        self.step.train()
        start = time.perf_counter()
        batches = without_single_remainder(self.task.batches(self.ctx, fixtures, self.batch_rng))
        loss = train_epoch(self.step, batches, on_step=on_step)
        self.seconds += time.perf_counter() - start
        return loss

    def record(self, fixtures, loss: float) -> dict:
        """Evaluate now and append the row: identity, epoch, the task's metrics, time, loss."""
        self.eval_mode()
        with torch.no_grad():
            metrics = self.task.evaluate(self.ctx, fixtures, self.models)
        row = dict(method=self.key.method, lam=self.key.lam, seed=self.key.seed,
                   epoch=self.epoch, **metrics, seconds=self.seconds, loss=loss)  # fmt: skip
        self.rows.append(row)
        return row

    def eval_mode(self) -> None:
        """Every network in eval mode (before an evaluation)."""
        for model in self.models.values():
            model.eval()

    def state(self) -> dict:
        """The checkpoint: id, epoch, seconds, rows so far and the training state."""
        return {
            "run": self.id, "epoch": self.epoch, "seconds": self.seconds, "rows": self.rows,
            **training_state(self.modules(), self.optimizer, self.batch_rng),
        }  # fmt: skip

    def load(self, state: dict) -> None:
        """Continue from the checkpoint ``state`` (refused if it is another run's)."""
        if state.get("run") != self.id:
            raise ValueError(f"it belongs to run {state.get('run')!r}, not {self.id!r}")
        load_training_state(state, self.modules(), self.optimizer, self.batch_rng)
        self.epoch, self.seconds, self.rows = state["epoch"], state["seconds"], state["rows"]
        self.saved_epoch = self.epoch


def probe_runs(task: Task, ctx: Context) -> dict[str, Run]:
    """Build and bind every method once, on the CPU, for the first seed: settings that only
    binding can judge (a queue smaller than the batch, moca with a Gaussian prior) fail here,
    before anything is written. Returns these probe runs by method."""
    cfg, cpu = ctx.cfg, torch.device("cpu")
    keys = {m: RunKey(m, cfg.lambda_values(m)[0], cfg.seeds[0]) for m in cfg.methods}
    return {m: Run(task, ctx, key, cpu) for m, key in keys.items()}


def check_runnable(task: Task, cfg: RunConfig) -> None:
    """``probe_runs`` on the CPU for settings not yet set up (a sweep point, a trial)."""
    probe_runs(task, task.setup(cfg, torch.device("cpu")))


def open_run(task: Task, ctx: Context, key: RunKey, out: Path, *, resume: bool,
             graphs: bool = False, compile: bool = False) -> Run:  # fmt: skip
    """The run of ``key`` in the command's folder ``out``, continued from its checkpoint there
    when resuming (``graphs``, ``compile``: as ``Run``)."""
    run = Run(task, ctx, key, ctx.device, graphs=graphs, compile=compile)
    checkpoint = folders.checkpoint_file(out, run.id)
    if resume and checkpoint.exists():
        checkpoints.resume_from(checkpoint, run.load)
    return run


def progress_bar(*, quiet: bool, total: int, initial: int, desc: str) -> tqdm:
    """The steps of one run (``--quiet``: none)."""
    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=quiet,
                dynamic_ncols=True)  # fmt: skip


def step_reporter(progress, *, quiet: bool):
    """``train_epoch``'s ``on_step``: counts the step on ``progress`` and, unless ``quiet``,
    shows a recent loss without waiting for the device (``LossDisplay``)."""
    return (lambda loss: progress.update()) if quiet else LossDisplay(progress, LOSS_READ_EVERY)


def train_run(task, ctx, fixtures, key: RunKey, out: Path, *, loggers, label: str,
              bar=progress_bar, resume: bool = False, quiet: bool = False,
              graphs: bool = False, compile: bool = False) -> Run:  # fmt: skip
    """Build (or resume) the run of ``key`` in the command's folder ``out`` and train it to the
    last epoch; returns it."""
    current = open_run(task, ctx, key, out, resume=resume, graphs=graphs, compile=compile)
    try:
        train_to_end(task, ctx, fixtures, current, loggers=loggers, label=label,
                     bar=bar, quiet=quiet,
                     checkpoint=folders.checkpoint_file(out, current.id))  # fmt: skip
    except run_files.WriteError as err:
        last = current.saved_epoch
        note = (f"the last complete checkpoint of {current.id} is epoch {last}"
                if last is not None else f"{current.id} has no checkpoint yet")  # fmt: skip
        raise err.with_note(note) from None
    return current


def train_to_end(task, ctx, fixtures, run: Run, *, checkpoint: Path, loggers, label: str,
                 bar=progress_bar, quiet: bool = False) -> None:  # fmt: skip
    """Train ``run`` to the last epoch, evaluating, logging and checkpointing as due.

    ``bar(quiet=, total=, initial=, desc=)`` makes the progress bar (any object with tqdm's
    ``update`` and ``set_postfix``; the workers of ``--jobs`` report to the parent's)."""
    cfg = ctx.cfg

    def log(row: dict) -> None:
        for logger in loggers:
            logger.row(run.id, row)
        if any(logger.wants_images for logger in loggers):
            run.eval_mode()
            with torch.no_grad():
                grids = task.hooks.images(ctx, fixtures, run.models)
            for logger in loggers:
                logger.images(run.id, row["epoch"], grids)

    if not run.rows:
        run.record(fixtures, float("nan"))
    for row in run.rows:  # restored rows of a resumed run too
        log(row)
    steps = run.steps_per_epoch
    with bar(quiet=quiet, total=cfg.epochs * steps, initial=run.epoch * steps,
             desc=label) as progress:  # fmt: skip
        on_step = step_reporter(progress, quiet=quiet)
        while run.epoch < cfg.epochs:
            loss = run.train_one_epoch(fixtures, on_step)
            check_finite(loss, run.id, run.epoch)
            row = run.record(fixtures, loss) if cfg.eval_due(run.epoch) else None
            checkpoints.save_checkpoint(checkpoint, run.state())
            run.saved_epoch = run.epoch
            if row is not None:
                log(row)
                metric = task.results.metric
                progress.set_postfix({metric: task.results.format(row[metric])}, refresh=False)
