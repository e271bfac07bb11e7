"""Points: settings trained to their end in folders of their own, on local processes or Ray.

A sweep's grid points and a tune's trials are each one training command in its own folder
(``command.execute``), run with one torch thread so that every executor gives the same numbers.
A point is {id, task, settings, execution}: what it measures (a ``RunConfig`` table) and how
it runs (``Execution`` settings such as the device; its folder, quietness and resumption are
the point's own).
A point never raises: it ends with status.json (finished, diverged or failed, and why), and
a folder another process holds is left to it ("busy"). ``run_points`` yields the outcomes
as the points end.
"""

import os
import time
import traceback
from concurrent.futures import as_completed
from pathlib import Path

import torch

from . import folders, run_files, tasks
from .command import execute as execute_command
from .errors import Diverged, UsageError
from .execution import Execution
from .jobs import spawn_pool
from .lock import FolderInUse

# What a sweep or tune decides of how its points run; the rest of a point's Execution is its own
# (its folder; quiet; resumed).
SHARED_EXECUTION = ("device", "graphs", "compile")


def execute(task: str, settings: dict, execution: dict, folder: str) -> dict:
    """Train one point (``settings``, run as ``execution`` says) to its end in ``folder``,
    quietly, resuming what it finds there; never raises: the outcome goes to status.json.

    A run folder another process holds (a second sweep over the same grid) is left to it:
    the outcome is "busy" and nothing is written.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one run, one core: the same numbers on every executor
    start = time.perf_counter()
    try:
        definition = tasks.get(task)
        how = Execution(**{**execution, "out": folder, "quiet": True, "resume": True})
        execute_command(definition, definition.config(**settings).validate(), how)
        status, message = "finished", ""
    except FolderInUse as err:
        torch.set_num_threads(threads)
        return {"status": "busy", "message": str(err), "seconds": time.perf_counter() - start}
    except Diverged as err:
        status, message = "diverged", str(err)
    except Exception as err:  # a failing run must not stop the sweep
        status = "failed"
        message = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        Path(folder).mkdir(parents=True, exist_ok=True)
        run_files.write_text(Path(folder) / folders.TRACEBACK, traceback.format_exc())
    torch.set_num_threads(threads)
    outcome = {"status": status, "message": message, "seconds": time.perf_counter() - start}
    folders.write_status(folder, outcome)
    return outcome


def point_folder(out: Path, point_id: str) -> Path:
    """The folder of the point ``point_id`` in the sweep's or tune's folder ``out``."""
    return Path(out) / folders.POINTS / point_id


def _arguments(point: dict, out: Path) -> tuple:
    """``execute``'s arguments for ``point`` of the sweep's or tune's folder ``out``."""
    folder = str(point_folder(out, point["id"]))
    return point["task"], point["settings"], point["execution"], folder


def _run_local(pending, out, jobs):
    if jobs == 1:
        for point in pending:
            yield point, execute(*_arguments(point, out))
        return
    with spawn_pool(jobs) as pool:
        futures = {pool.submit(execute, *_arguments(p, out)): p for p in pending}
        for future in as_completed(futures):
            yield futures[future], future.result()


def ray_gpus(point: dict, share: float, *, cluster_gpus: float) -> float:
    """The GPUs one point's Ray task asks for: ``share`` (--gpus-per-run) of a card when its
    device is cuda, or auto for a task that prefers the GPU on a cluster that has one; else 0
    (Ray then hides the GPUs from the task, and auto runs on the CPU)."""
    device = point["execution"].get("device", "auto")
    if device == "auto" and cluster_gpus > 0:
        task = tasks.get(point["task"])
        return share if task.config(**point["settings"]).prefers_gpu() else 0
    return share if device.startswith("cuda") else 0


def _run_ray(pending, out, address, gpus_per_run):
    try:
        import ray
    except ImportError:
        raise UsageError('--executor ray needs Ray: pip install -e ".[ray]"') from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    gpus = lambda p: ray_gpus(p, gpus_per_run, cluster_gpus=cluster_gpus)  # noqa: E731
    refs = {
        ray.remote(num_cpus=1, num_gpus=gpus(p))(execute).remote(*_arguments(p, out)): p
        for p in pending
    }  # fmt: skip
    remaining = list(refs)
    while remaining:
        done, remaining = ray.wait(remaining, num_returns=1)
        yield refs[done[0]], ray.get(done[0])


def check_executor(executor: str, jobs: int | None, gpus_per_run: float | None):
    """Validated (jobs, GPU share per Ray run) for ``run_points``; jobs None: every core."""
    if executor not in ("local", "ray"):
        raise UsageError(f"unknown executor {executor!r}; use local or ray")
    if gpus_per_run is not None and executor != "ray":
        raise UsageError("--gpus-per-run applies to --executor ray; local runs use --jobs")
    share = 1.0 if gpus_per_run is None else gpus_per_run
    if not 0 < share <= 1:
        raise UsageError(f"--gpus-per-run must be in (0, 1], got {gpus_per_run!r}; e.g. 0.25 "
                         "runs four per GPU")  # fmt: skip
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise UsageError(f"--jobs must be an integer >= 1, got {jobs!r}")
    return jobs, share


def run_points(pending: list[dict], out: Path, *, executor: str, jobs: int,
               address: str | None = None, gpus_per_run: float = 1.0):  # fmt: skip
    """Train each point ({id, task, settings}) in ``point_folder(out, id)`` on local
    processes or Ray; yields (point, outcome) as each ends (sweeps and tuning trials)."""
    if executor == "ray":
        yield from _run_ray(pending, out, address, gpus_per_run)
    else:
        yield from _run_local(pending, out, jobs)


def status(out: Path, point: dict) -> dict:
    """How ``point`` of the folder ``out`` ended; {"status": "pending"} when it has not."""
    return folders.read_status(point_folder(out, point["id"])) or {"status": "pending"}
