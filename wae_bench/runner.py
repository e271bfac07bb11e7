"""The one run loop every task shares.

For each seed, then each (method, lam) of the config: build the task's models, bind the
regularizer (``methods.bind``), train epoch by epoch with the shared step (``train``),
evaluate when the task says so, record one row per evaluation (to the loggers: the result
CSV always), checkpoint atomically after every epoch; finally the task's report. With
``--resume`` each (method, lam, seed) continues from its checkpoint, giving the same rows
as an uninterrupted run on CPU. With ``--jobs N`` the runs train in N worker processes
(``wae_bench.jobs``) and the run folder ends up the same.
"""

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from regularizers import TrainingPlan
from regularizers.optim import Adam

from . import methods, results
from .batching import steps_per_epoch, without_single_remainder
from .config import RunConfig
from .errors import UsageError
from .graphs import training_step
from .lock import RunLock
from .loggers import CsvLogger, TensorBoardLogger
from .loss_display import LossDisplay
from .tasks import Task
from .tasks.base import Context
from .train import TrainingStep, check_finite, load_training_state, train_epoch, training_state

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16}
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

    def __init__(self, task: Task, ctx: Context, key: RunKey, device: torch.device):
        cfg = ctx.cfg
        self.task, self.ctx, self.key, self.id = task, ctx, key, key.id
        torch.manual_seed(key.seed)
        self.models = {name: m.to(device) for name, m in task.build_models(ctx).items()}
        size = task.dataset_size(ctx)
        self.steps_per_epoch = steps_per_epoch(size, cfg.batch_size)
        plan = TrainingPlan(cfg.batch_size, cfg.epochs * self.steps_per_epoch, size)
        self.reg = methods.bind(key.method, cfg.params.get(key.method, {}),
                                encoder=self.models["encoder"], prior=task.prior(cfg), plan=plan)
        self.reg.to(device)
        if cfg.compile:  # after bind: MoCA's key encoder is an eager copy
            for model in self.models.values():
                model.compile()
        params = [p for model in self.models.values() for p in model.parameters()]
        self.optimizer = Adam(params, lr=cfg.lr)
        step = TrainingStep(self.models["encoder"], self.reg, self.optimizer,
                            decoder=self.models.get("decoder"),
                            lam=1.0 if key.lam is None else key.lam,
                            amp_dtype=AMP_DTYPES[cfg.amp])  # fmt: skip
        self.step = training_step(step, device=device, graphs=cfg.graphs, regularizer=self.reg,
                                  name=key.method)  # fmt: skip
        self.batch_rng = torch.Generator().manual_seed(key.seed)
        self.epoch, self.seconds, self.rows = 0, 0.0, []
        self.saved_epoch: int | None = None  # of the last complete checkpoint

    def modules(self) -> dict:
        return {**self.models, "regularizer": self.reg}

    def train_one_epoch(self, fixtures, on_step) -> float:
        """One epoch at the task's learning rate; returns its mean loss (seconds accumulate)."""
        self.epoch += 1
        self.optimizer.set_lr(self.task.learning_rate(self.ctx.cfg, self.epoch))
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
        for model in self.models.values():
            model.eval()

    def state(self) -> dict:
        return {
            "run": self.id, "epoch": self.epoch, "seconds": self.seconds, "rows": self.rows,
            **training_state(self.modules(), self.optimizer, self.batch_rng),
        }  # fmt: skip

    def load(self, state: dict) -> None:
        if state.get("run") != self.id:
            raise ValueError(f"it belongs to run {state.get('run')!r}, not {self.id!r}")
        load_training_state(state, self.modules(), self.optimizer, self.batch_rng)
        self.epoch, self.seconds, self.rows = state["epoch"], state["seconds"], state["rows"]
        self.saved_epoch = self.epoch


def check_runnable(task: Task, cfg: RunConfig) -> dict[str, Run]:
    """Build and bind every method once, on the CPU, for the first seed: settings that only
    binding can judge (a queue smaller than the batch, moca with a Gaussian prior) fail here,
    before anything is written. Returns these probe runs by method."""
    return _probe(task, task.setup(cfg, torch.device("cpu")))


def _probe(task: Task, ctx: Context) -> dict[str, Run]:
    cfg, cpu = ctx.cfg, torch.device("cpu")
    keys = {m: RunKey(m, cfg.lambda_values(m)[0], cfg.seeds[0]) for m in cfg.methods}
    return {m: Run(task, ctx, key, cpu) for m, key in keys.items()}


def run(task: Task, cfg: RunConfig) -> Path:
    """Run every (seed, method, lam) of ``cfg``; returns the run folder.

    The folder is locked for the command's life. One that holds a run already is continued
    (``--resume``), replaced once the new run has finished (``--overwrite``: the new run is
    made beside it and moved in at the end), or refused.
    """
    device = choose_device(task, cfg)
    ctx = task.setup(cfg, device)
    probes = _probe(task, ctx)
    out = Path(cfg.out) if cfg.out else task.default_out()
    results.prepare_run_dir(out)
    with RunLock(out):
        holds = holds_run(task, out)
        check_replaceable(out, holds=holds, cfg=cfg)
        work = out
        if holds and cfg.overwrite:
            work = out / ".overwrite"
            shutil.rmtree(work, ignore_errors=True)  # a replacement that was itself cut short
        if cfg.resume:
            results.check_resumable(out, cfg.to_dict(), free=cfg.FREE_ON_RESUME)
        results.prepare_run_dir(work / "checkpoints")
        first = next(iter(probes.values()))
        results.write_json(work / "config.json", {
            "task": task.name, "config": cfg.to_dict(),
            "environment": results.environment(device),
            "hparams": {m: probe.reg.resolved() for m, probe in probes.items()},
            **task.describe(ctx, first.models),
        })  # fmt: skip
        _run_all(task, ctx, work)
        task.report(work)
        if work != out:
            _replace_contents(out, work)
    return out


def choose_device(task: Task, cfg: RunConfig) -> torch.device:
    """The device of ``cfg.device``: cpu and cuda as given; auto: cuda only when a GPU is
    visible and the task runs these settings faster there (``Task.prefers_gpu``)."""
    device = results.resolve_device(cfg.device, gpu_wins=task.prefers_gpu(cfg))
    if cfg.device == "auto" and device.type == "cpu" and torch.cuda.is_available():
        if not cfg.quiet:  # a GPU machine that trains on the CPU should say why
            print(f"--device auto: cpu, where the {task.name} task runs faster than on the "
                  "GPU (see the README); pass --device cuda to use the GPU")  # fmt: skip
    return device


def check_replaceable(out: Path, *, holds: bool, cfg: RunConfig, what: str = "a run") -> None:
    """A folder that holds ``what`` is only continued (--resume) or replaced (--overwrite)."""
    if holds and not (cfg.resume or cfg.overwrite):
        raise UsageError(
            f"{out} holds {what} already; pass --resume to continue it, --overwrite to "
            "replace it, or another --out"
        )


def holds_run(task: Task, folder: Path) -> bool:
    """Whether ``folder`` has the record of a run (its config.json or result file)."""
    return (folder / "config.json").exists() or (folder / task.result_file).exists()


def _replace_contents(out: Path, new: Path) -> None:
    """Move the finished new run from ``new`` (inside ``out``) over the old one."""
    for entry in out.iterdir():
        if entry not in (new, out / ".lock"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in new.iterdir():
        entry.rename(out / entry.name)
    new.rmdir()


def _run_all(task: Task, ctx: Context, out: Path) -> None:
    cfg = ctx.cfg
    columns = task.result_columns(cfg)
    loggers = [CsvLogger(out / task.result_file, columns)]
    if cfg.tensorboard:
        loggers.append(TensorBoardLogger(Path(cfg.tensorboard), columns))
    total = len(cfg.seeds) * len(run_keys(cfg, cfg.seeds[0]))
    done = 0
    try:
        if min(cfg.jobs, total) > 1:
            from . import jobs

            keys = [key for seed in cfg.seeds for key in run_keys(cfg, seed)]
            jobs.run_all(task, ctx, out, keys, loggers)
        else:
            for seed in cfg.seeds:
                fixtures = task.fixtures(ctx, seed)
                for key in run_keys(cfg, seed):
                    done += 1
                    current = train_run(task, ctx, fixtures, key, out, loggers=loggers,
                                        label=f"[{done}/{total}] {key.id}")  # fmt: skip
                    task.after_run(ctx, fixtures, current, out)
        task.finish(ctx, out)
    finally:
        for logger in loggers:
            logger.close()


def open_run(task: Task, ctx: Context, key: RunKey, out: Path, *, resume: bool) -> Run:
    """The run of ``key``, continued from its checkpoint in ``out`` when resuming."""
    run = Run(task, ctx, key, ctx.device)
    checkpoint = checkpoint_file(out, run.id)
    if resume and checkpoint.exists():
        results.resume_from(checkpoint, run.load)
    return run


def checkpoint_file(out: Path, run_id: str) -> Path:
    """Where the run ``run_id`` of the folder ``out`` keeps its checkpoint."""
    return out / "checkpoints" / f"{run_id}.pt"


def progress_bar(cfg: RunConfig, *, total: int, initial: int, desc: str) -> tqdm:
    """The steps of one run (``--quiet``: none)."""
    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=cfg.quiet,
                dynamic_ncols=True)  # fmt: skip


def step_reporter(progress, *, quiet: bool):
    """``train_epoch``'s ``on_step``: counts the step on ``progress`` and, unless ``quiet``,
    shows a recent loss without waiting for the device (``LossDisplay``)."""
    return (lambda loss: progress.update()) if quiet else LossDisplay(progress, LOSS_READ_EVERY)


def train_run(task, ctx, fixtures, key: RunKey, out: Path, *, loggers, label: str,
              bar=progress_bar) -> Run:  # fmt: skip
    """Build (or resume) the run of ``key`` and train it to the last epoch; returns it."""
    current = open_run(task, ctx, key, out, resume=ctx.cfg.resume)
    try:
        _train(task, ctx, fixtures, current, checkpoint=checkpoint_file(out, current.id),
               loggers=loggers, label=label, bar=bar)  # fmt: skip
    except results.WriteError as err:
        last = current.saved_epoch
        note = (f"the last complete checkpoint of {current.id} is epoch {last}"
                if last is not None else f"{current.id} has no checkpoint yet")  # fmt: skip
        raise err.with_note(note) from None
    return current


def _train(task, ctx, fixtures, run: Run, *, checkpoint: Path, loggers, label: str,
           bar=progress_bar) -> None:  # fmt: skip
    """Train ``run`` to the last epoch, evaluating, logging and checkpointing as due.

    ``bar(cfg, total=, initial=, desc=)`` makes the progress bar (any object with tqdm's
    ``update`` and ``set_postfix``; the workers of ``--jobs`` report to the parent's)."""
    cfg = ctx.cfg

    def log(row: dict) -> None:
        for logger in loggers:
            logger.row(run.id, row)
        if any(logger.wants_images for logger in loggers):
            run.eval_mode()
            with torch.no_grad():
                grids = task.images(ctx, fixtures, run.models)
            for logger in loggers:
                logger.images(run.id, row["epoch"], grids)

    if not run.rows:
        run.record(fixtures, float("nan"))
    for row in run.rows:  # restored rows of a resumed run too
        log(row)
    steps = run.steps_per_epoch
    with bar(cfg, total=cfg.epochs * steps, initial=run.epoch * steps, desc=label) as progress:
        on_step = step_reporter(progress, quiet=cfg.quiet)
        while run.epoch < cfg.epochs:
            loss = run.train_one_epoch(fixtures, on_step)
            check_finite(loss, run.id, run.epoch)
            row = run.record(fixtures, loss) if task.eval_due(cfg, run.epoch) else None
            results.save_checkpoint(checkpoint, run.state())
            run.saved_epoch = run.epoch
            if row is not None:
                log(row)
                progress.set_postfix({task.metric: f"{row[task.metric]:.4g}"}, refresh=False)
