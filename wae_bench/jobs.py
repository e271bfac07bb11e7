"""`--jobs N`: the runs of one command trained at once, in N worker processes.

The runs (method, lam, seed) of a command are independent: each is built from its seed alone
(``run.Run``). With ``--jobs N`` they are handed out in the serial order to N processes
started with ``spawn`` (global torch RNG state is per process, so threads would not do; with
``--device cuda`` every worker uses the one GPU). A worker prepares the task's data once
(``Task.setup``) and a seed's fixtures when it first needs them, and trains the run with the
function the command hands over (``run.train_run``), writing its checkpoint after
every epoch as a serial run does. It returns the rows (and, for TensorBoard, the image
grids) instead of logging them.

The parent takes the runs back in the serial order: it logs a run's rows once every run
before it has been logged, then calls the task's ``hooks.after_run`` on the run restored from its
final checkpoint (so the hook sees the trained models, the rows and the RNG state of a serial
run), and at the end ``finish``. Every output is therefore the file a serial run writes. The
first failing run in that order ends the command with its own error (diverged, a write
error, a bad checkpoint) after the rows of the runs before it are logged, as in a serial run;
the runs still training then stop at their next step, keeping their last checkpoint for
``--resume``. So does Ctrl-C, which the parent alone handles. A run out of memory, or a
worker the system killed (most often for lack of memory), is a one-line error naming the
run and a smaller ``--jobs``. A worker's warnings (e.g. a step that is not captured as a
CUDA graph) are shown by the parent, each once per command as in a serial run.

Each worker uses the parent's number of torch threads: a different count can change the last
bits of CPU results. On a CPU N workers therefore share the cores with as many threads each;
``OMP_NUM_THREADS=1`` (or fewer) makes the workers fit the cores, serial runs too.
"""

import os
import pickle
import signal
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from queue import Empty

import torch
from tqdm.auto import tqdm

import regularizers

from .batching import steps_per_epoch
from .errors import Diverged, UsageError
from .execution import Execution
from .tasks import Task
from .tasks.base import Context, RunHooks, SeedFixtures

FLUSH_SECONDS = 0.2  # how often a worker reports its steps (and looks for a stop)


def spawn_pool(jobs: int, initializer=None, initargs=()) -> ProcessPoolExecutor:
    """``jobs`` worker processes started with ``spawn``: fresh interpreters, nothing of the
    parent's torch, CUDA or RNG state (runs of a command and of a local sweep)."""
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=initializer,
                               initargs=initargs)  # fmt: skip


def run_all(task: Task, ctx: Context, how: Execution, keys: list, loggers: list, *, train,
            reopen) -> None:  # fmt: skip
    """Train the runs of ``keys`` into the folder ``how.out`` in ``min(how.jobs, len(keys))``
    workers; log their rows and call ``after_run`` here, in the order of ``keys`` (the command
    then calls ``finish``).

    Each worker trains a run with ``train(task, ctx, fixtures, key, out, loggers=, label=,
    bar=, **how.run_options())``; ``reopen(task, ctx, key, out, resume=True, graphs=,
    compile=)`` restores a trained run here for
    ``after_run``. Both must be importable module-level functions (they go to the workers)."""
    cfg, out = ctx.cfg, Path(how.out)
    jobs, methods = min(how.jobs, len(keys)), _methods(cfg)
    spawn = get_context("spawn")
    events = spawn.Queue()  # step counts for the bar, and the id of each run a worker starts
    stop = spawn.Event()
    wants_images = any(logger.wants_images for logger in loggers)
    threads, cores = torch.get_num_threads(), os.cpu_count() or 1
    if ctx.device.type == "cpu" and jobs * threads > cores and not how.quiet:
        fit = max(1, cores // jobs)
        print(f"--jobs {jobs} on the CPU: {jobs} workers x {threads} torch threads on {cores} "
              f"cores; OMP_NUM_THREADS={fit} fits them (docs/timing.md)")  # fmt: skip
    setup = (train, task, cfg, ctx.device, out, how.run_options(), methods, threads,
             wants_images, events, stop, jobs)  # fmt: skip
    steps = steps_per_epoch(ctx.size, cfg.batch_size) * cfg.epochs
    hook = type(task.hooks).after_run is not RunHooks.after_run
    fixtures = SeedFixtures(task, ctx)
    started: list[str] = []  # runs a worker has started, in the order they did
    shown: set = set()  # the warnings shown so far: each once per command, as in a serial run
    with tqdm(total=len(keys) * steps, desc=f"{len(keys)} runs, {jobs} at a time", unit="step",
              disable=how.quiet, dynamic_ncols=True) as bar:  # fmt: skip
        pool, futures = spawn_pool(jobs, _start_worker, setup), []
        try:
            futures += [pool.submit(_train_in_worker, key) for key in keys]  # taken in this order
            for done, (key, future) in enumerate(zip(keys, futures, strict=True), 1):
                try:
                    rows, error, caught = _result(future, events, bar, started)
                except BrokenProcessPool:
                    raise _worker_died(started, keys[done - 1 :], jobs) from None
                _show_once(caught, shown)
                for row, grids in rows:  # as run.train_to_end logs them
                    for logger in loggers:
                        logger.row(key.id, row)
                    for logger in loggers if grids is not None else ():
                        logger.images(key.id, row["epoch"], grids)
                if error is not None:  # after its rows so far, as in a serial run
                    raise error
                if hook:  # on the trained run, as a serial run calls it
                    run = reopen(task, ctx, key, out, resume=True, graphs=how.graphs,
                                 compile=how.compile)  # fmt: skip
                    task.hooks.after_run(ctx, fixtures.of(key.seed), run, out)
                bar.set_postfix_str(f"{done}/{len(keys)} runs done, last {key.id}", refresh=False)
        except BaseException:
            stop.set()  # the runs still training end at their next step
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            while not all(f.done() for f in futures):
                wait(futures, timeout=FLUSH_SECONDS)
                _drain(events, bar, started)  # a worker cannot exit with unread reports
            pool.shutdown(wait=True)
            _drain(events, bar, started)  # what the workers sent last


def _methods(cfg) -> dict:
    """The classes of the command's methods, for workers to register: a method registered
    at run time in this process (a plug-in without an entry point) is unknown to a fresh
    process. A class defined where no process can import it (inside a function) is refused."""
    classes = {name: regularizers.get(name) for name in cfg.methods}
    for name, cls in classes.items():
        try:
            pickle.dumps(cls)
        except (pickle.PicklingError, AttributeError, TypeError):
            raise UsageError(
                f"method {name!r} ({cls.__qualname__}) cannot be sent to worker processes; "
                "define it at the top level of a module (or register it through an entry "
                "point), or pass --jobs 1"
            ) from None
    return classes


def _result(future, events, bar, started: list) -> tuple[list, Exception | None, list]:
    """The future's result, feeding the bar with the workers' reports while it is due."""
    while not future.done():
        wait([future], timeout=FLUSH_SECONDS)
        _drain(events, bar, started)
    _drain(events, bar, started)
    return future.result()


def _drain(events, bar, started: list) -> None:
    """Take the workers' reports: step counts to the bar, ids of started runs to
    ``started``."""
    while True:
        try:
            report = events.get_nowait()
        except Empty:
            return
        if isinstance(report, str):
            started.append(report)
        else:
            bar.update(report)


def smaller_jobs(jobs: int) -> int:
    """The --jobs to suggest when ``jobs`` runs at a time did not fit in memory."""
    return max(1, jobs // 2)


def _worker_died(started: list, waiting: list, jobs: int) -> UsageError:
    """The one-line error for a worker process that died (the system kills one that runs
    out of memory; the pool then stops the others): names the runs that were training. The
    awaited run is always among them (the earliest unfinished one: the pool started it first),
    even when its worker died before its start was reported."""
    ended = list(dict.fromkeys([waiting[0].id, *(k.id for k in waiting if k.id in started)]))
    return UsageError(
        f"a worker process was killed (most often by the system, for lack of memory with "
        f"{jobs} runs at a time) while these runs trained: {', '.join(ended)}; pass a smaller "
        f"--jobs (e.g. --jobs {smaller_jobs(jobs)}), with --resume to keep the finished epochs"
    )


def _show_once(caught: list, shown: set) -> None:
    """Show the warnings a worker caught, each (category, text) once per command."""
    for category, text in caught:
        if (category, text) not in shown:
            shown.add((category, text))
            warnings.warn(text, category, stacklevel=2)


# In a worker process.

_worker: dict = {}


def _start_worker(train, task, cfg, device, out, options, methods, threads, wants_images,
                  events, stop, jobs):  # fmt: skip
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the runs
    torch.set_num_threads(threads)
    regularizers.available()  # entry points first: the parent's classes win
    for cls in methods.values():
        regularizers.register(cls, replace=True)
    _worker.update(train=train, task=task, cfg=cfg, device=device, out=out, options=options,
                   wants_images=wants_images, events=events, stop=stop, jobs=jobs, ctx=None,
                   fixtures=None)  # fmt: skip


def _train_in_worker(key) -> tuple[list[tuple[dict, dict | None]], Exception | None, list]:
    """Train the run of ``key`` (resumed from its checkpoint with --resume); returns the
    (row, image grids or None) it would have logged, restored rows first, the error that
    ended it (diverged, a write error, a bad checkpoint, out of memory) or None, and the
    (category, text) of the warnings it raised, for the parent to show once."""
    w = _worker
    if w["stop"].is_set():  # queued before the parent stopped
        raise Stopped("stopped by the parent process")
    w["events"].put(key.id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # each warning once per place, as Python shows them
        rows, error = _train_run(key)
    return rows, error, [(warning.category, str(warning.message)) for warning in caught]


def _train_run(key) -> tuple[list[tuple[dict, dict | None]], Exception | None]:
    """``_train_in_worker`` without the warnings: the rows and the error that ended the run."""
    w = _worker
    task = w["task"]
    if w["ctx"] is None:  # here, not in the initializer: a failure is this run's error
        w["ctx"] = task.setup(w["cfg"], w["device"])
        w["fixtures"] = SeedFixtures(task, w["ctx"])
    ctx = w["ctx"]
    logger = _Rows(w["wants_images"])
    try:
        w["train"](task, ctx, w["fixtures"].of(key.seed), key, w["out"], **w["options"],
                   loggers=[logger], label=key.id,
                   bar=_Progress.factory(w["events"], w["stop"]))  # fmt: skip
    except (Diverged, UsageError) as err:  # anything else is a bug: its traceback travels
        return logger.rows, err
    except (torch.cuda.OutOfMemoryError, MemoryError):
        jobs = w["jobs"]
        return logger.rows, UsageError(
            f"{key.id}: out of memory with {jobs} runs at a time; pass a smaller --jobs "
            f"(e.g. --jobs {smaller_jobs(jobs)}), with --resume to keep the finished epochs"
        )
    return logger.rows, None


class _Rows:
    """A logger keeping what the run would log, for the parent to log in the serial order."""

    def __init__(self, wants_images: bool):
        self.wants_images, self.rows = wants_images, []

    def row(self, run_id: str, row: dict) -> None:
        self.rows.append((row, None))

    def images(self, run_id: str, epoch: int, grids: dict) -> None:
        self.rows[-1] = (self.rows[-1][0], grids)


class Stopped(Exception):
    """The parent stopped the command (an earlier run failed, or Ctrl-C)."""


class _Progress:
    """A run's progress bar in a worker: sends its step counts to the parent's bar, at most
    every FLUSH_SECONDS, and stops the run there once the parent has set ``stop``."""

    def __init__(self, events, stop, initial: int):
        self.events, self.stop, self.pending = events, stop, initial
        self.flush()

    @classmethod
    def factory(cls, events, stop):
        return lambda *, quiet, total, initial, desc: cls(events, stop, initial)

    def __enter__(self):
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.flush()

    def update(self, n: int = 1) -> None:
        self.pending += n
        if time.monotonic() - self.sent >= FLUSH_SECONDS:
            self.flush()

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        if self.stop.is_set():
            raise Stopped("stopped by the parent process")
        if self.pending:
            self.events.put(self.pending)
        self.pending, self.sent = 0, time.monotonic()
