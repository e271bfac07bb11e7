"""A training command (`wae-bench latent`, `wae-bench image`): its folder, lock, record,
runs and report.

Three words, one meaning each: a *command* (this module's ``execute``) trains *runs* (module
``run``: one method, lam and seed each) with the shared training *step* (module ``step``).
For each seed, then each (method, lam) of the config, one run is trained
into the command's folder; with ``--jobs N`` the runs train in N worker processes (``jobs``,
handed the function each worker runs) and the folder ends up the same. The folder is locked for
the command's life and gets config.json first and the task's report last. A task that splits
a command into sub-runs (``RunConfig.sub_runs``: the latent dimension study) has each trained in its
own folder inside the command's, under the command's lock, and reports over them.
"""

import shutil
from pathlib import Path

import torch

from . import environment, folders, jobs, run_files
from .config import RunConfig
from .errors import UsageError
from .execution import Execution
from .lock import LOCK_NAME, RunLock
from .loggers import CsvLogger, TensorBoardLogger
from .models import parameter_count
from .run import open_run, probe_runs, run_keys, train_run
from .tasks import Task
from .tasks.base import Context, SeedFixtures, default_out


def execute(task: Task, cfg: RunConfig, how: Execution) -> Path:
    """Train every (seed, method, lam) of ``cfg`` and report; returns the command's folder.

    A folder that holds a run already is continued (``--resume``), replaced once the new run
    has finished (``--overwrite``: the new run is made beside it and moved in at the end), or
    refused."""
    out = Path(how.out) if how.out else default_out(task)
    how = how.replace(out=str(out))
    subs = cfg.sub_runs()
    if subs:
        return _train_sub_runs(task, cfg, how, subs)
    return _train_folder(task, cfg, how)


def _train_sub_runs(task: Task, cfg: RunConfig, how: Execution,
                    subs: dict[str, RunConfig]) -> Path:  # fmt: skip
    """Every sub-run in its own folder under one lock of the command's, then the task's
    report."""
    out = Path(how.out)
    run_files.prepare_run_dir(out)
    with RunLock(out):  # each sub-run locks (and guards) its own folder too
        check_replaceable(out, holds=(out / folders.CONFIG).exists(), how=how, what="a study")
        folders.write_config(out, {"task": task.name, "config": cfg.to_dict(),
                                   "execution": how.to_dict(), "study": list(subs)})  # fmt: skip
        for name, sub in subs.items():
            _train_folder(task, sub, how.replace(out=str(out / name)))
        task.report(out, figures=False)
    return out


def _train_folder(task: Task, cfg: RunConfig, how: Execution) -> Path:
    out = Path(how.out)
    device = choose_device(task, cfg, how)
    ctx = task.setup(cfg, device)
    probes = probe_runs(task, ctx)
    run_files.prepare_run_dir(out)
    with RunLock(out):
        holds = holds_run(task, out)
        check_replaceable(out, holds=holds, how=how)
        work = out
        if holds and how.overwrite:
            work = out / ".overwrite"
            shutil.rmtree(work, ignore_errors=True)  # a replacement that was itself cut short
        if how.resume:
            check_resumable(out, cfg)
        run_files.prepare_run_dir(work / folders.CHECKPOINTS)
        first = next(iter(probes.values()))
        description = {**ctx.record, "parameters": {
            name: parameter_count(model) for name, model in first.models.items()}}
        line = describe_line(task, cfg, description)
        if line and not how.quiet:
            print(line)
        folders.write_config(work, {
            "task": task.name, "config": cfg.to_dict(), "execution": how.to_dict(),
            "environment": environment.record(device),
            "hparams": {m: probe.regularizer.resolved() for m, probe in probes.items()},
            **description,
        })  # fmt: skip
        _train_runs(task, ctx, how.replace(out=str(work)))
        task.report(work, figures=False)
        if work != out:
            _replace_contents(out, work)
    return out


def describe_line(task: Task, cfg: RunConfig, description: dict) -> str | None:
    """What a command prints before training when its task records the data it read
    (``Context.record``): the data and the networks' parameter counts."""
    counts, data = description["parameters"], description.get("data")
    if not data:
        return None
    shape = f" ({data['channels']}x{data['size']}x{data['size']})" if "size" in data else ""
    networks = " + ".join(f"{name} {count / 1e6:.2f}M" for name, count in counts.items())
    total = f" = {sum(counts.values()) / 1e6:.2f}M" if len(counts) > 1 else ""
    return (f"{task.name} on {data['name']}{shape}, latent {cfg.latent_dim}: "
            f"{networks}{total} parameters")


def check_resumable(out: Path, cfg: RunConfig) -> None:
    """--resume continues only a run that measures the same (``RunConfig.differences``)."""
    saved = folders.read_config(out).get("config")
    changed = cfg.differences(saved) if saved is not None else []
    if changed:
        raise UsageError(
            f"--resume: settings differ from the run in {out} ({', '.join(changed)}); "
            "repeat its settings or use a new --out"
        )


def choose_device(task: Task, cfg: RunConfig, how: Execution) -> torch.device:
    """The device of ``how.device``: cpu and cuda as given; auto: cuda only when a GPU is
    visible and the task runs these settings faster there (``RunConfig.prefers_gpu``)."""
    device = environment.resolve_device(how.device, gpu_wins=cfg.prefers_gpu())
    if how.device == "auto" and device.type == "cpu" and torch.cuda.is_available():
        if not how.quiet:  # a GPU machine that trains on the CPU should say why
            print(f"--device auto: cpu, where the {task.name} task runs faster than on the "
                  "GPU (docs/timing.md); pass --device cuda to use the GPU")  # fmt: skip
    return device


def check_replaceable(out: Path, *, holds: bool, how: Execution, what: str = "a run") -> None:
    """A folder that holds ``what`` is only continued (--resume) or replaced (--overwrite)."""
    if holds and not (how.resume or how.overwrite):
        raise UsageError(
            f"{out} holds {what} already; pass --resume to continue it, --overwrite to "
            "replace it, or another --out"
        )


def holds_run(task: Task, folder: Path) -> bool:
    """Whether ``folder`` has the record of a run (its config.json or result file)."""
    return (folder / folders.CONFIG).exists() or (folder / task.results.file).exists()


def _replace_contents(out: Path, new: Path) -> None:
    """Move the finished new run from ``new`` (inside ``out``) over the old one."""
    for entry in out.iterdir():
        if entry not in (new, out / LOCK_NAME):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in new.iterdir():
        entry.rename(out / entry.name)
    new.rmdir()


def _train_runs(task: Task, ctx: Context, how: Execution) -> None:
    """Every run of the command into ``how.out``, serially or with ``--jobs``; then the
    task's ``hooks.finish``."""
    cfg, out = ctx.cfg, Path(how.out)
    columns = task.results.columns_for(cfg)
    loggers = [CsvLogger(out / task.results.file, columns)]
    if how.tensorboard:
        loggers.append(TensorBoardLogger(Path(how.tensorboard), columns))
    keys = [key for seed in cfg.seeds for key in run_keys(cfg, seed)]
    try:
        if min(how.jobs, len(keys)) > 1:
            jobs.run_all(task, ctx, how, keys, loggers, train=train_run, reopen=open_run)
        else:
            fixtures = SeedFixtures(task, ctx)
            for done, key in enumerate(keys, 1):
                current = train_run(task, ctx, fixtures.of(key.seed), key, out,
                                    **how.run_options(), loggers=loggers,
                                    label=f"[{done}/{len(keys)}] {key.id}")  # fmt: skip
                task.hooks.after_run(ctx, fixtures.of(key.seed), current, out)
        task.hooks.finish(ctx, out)
    finally:
        for logger in loggers:
            logger.close()
