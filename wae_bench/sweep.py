"""`wae-bench sweep`: grids of runs (the paper's Appendix D ablations), on processes or Ray.

A sweep file (TOML, or YAML with pyyaml installed) names a task, its fixed settings and a
grid::

    task = "image"
    [settings]
    epochs = 20
    [grid]
    methods = ["moca"]
    lambdas = [100.0]
    seeds = [0, 1, 2]
    "moca.tau" = [0.05, 0.1, 0.2]

Every combination is one run in its own folder `runs/<id>`, the id derived from its resolved
settings. A run ends with `status.json` (finished, diverged or failed, and why); running the
sweep again skips finished runs and resumes the others from their checkpoints. `sweep.csv`,
`sweep.md` and one figure per swept parameter are made from the runs' files.
"""

import hashlib
import itertools
import json
import math
import os
import time
import traceback
from concurrent.futures import as_completed
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import config as config_io
from . import results, runner, tasks
from .errors import Diverged, UsageError
from .lock import FolderInUse

GRID_KEYS = ("methods", "lambdas", "seeds")
STATUS = "status.json"

def preset(name: str) -> dict:
    """The sweep spec of a named ablation, from the task that declares it (``Task.presets``)."""
    specs = {n: spec for t in tasks.names() for n, spec in tasks.get(t).presets.items()}
    if name not in specs:
        raise UsageError(f"unknown preset {name!r}; choose from {', '.join(specs)}")
    return {**specs[name], "name": name}


def load_spec(path: str) -> dict:
    """A sweep spec from a TOML or YAML file, named after the file."""
    file = Path(path)
    if file.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UsageError(
                "YAML sweep files need pyyaml: pip install pyyaml (or use TOML)"
            ) from None
        if not file.is_file():
            raise UsageError(f"sweep file {path} not found; pass an existing .toml or .yaml file")
        try:
            spec = yaml.safe_load(file.read_text())
        except yaml.YAMLError as err:
            raise UsageError(
                f"sweep file {path} is not valid YAML: {str(err).splitlines()[0]}"
            ) from None
        if not isinstance(spec, dict):
            raise UsageError(f"sweep file {path} must hold a mapping of task, settings and grid")
    else:
        spec = config_io.load_file(path)
    return {**spec, "name": file.stem}


def _run_id(method, lam, params: dict, *, seed: int, settings: dict) -> str:
    """Readable id from the varying settings plus a short hash of everything resolved."""
    parts = [method] + ([f"lam{lam:g}"] if lam is not None else [])
    parts += [f"{k}{v:g}" if isinstance(v, (int, float)) else f"{k}-{v}" for k, v in params.items()]
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return "_".join([*parts, f"seed{seed}", digest[:8]])


def expand(spec: dict) -> list[dict]:
    """One dict per run: id, task, the varying values and the full task settings."""
    unknown = sorted(set(spec) - {"task", "settings", "grid", "name"})
    if unknown:
        raise UsageError(f"unknown sweep key {', '.join(unknown)}; use task, settings and grid")
    task = spec.get("task")
    if task not in tasks.names():
        raise UsageError(f"sweep task must be one of {', '.join(tasks.names())}, got {task!r}")
    config_cls = tasks.get(task).config
    settings, grid = spec.get("settings", {}), dict(spec.get("grid", {}))
    if not isinstance(settings, dict) or not isinstance(grid, dict):
        raise UsageError("sweep settings and grid must be tables")
    clash = sorted(set(settings) & set(GRID_KEYS))
    if clash:
        raise UsageError(f"{', '.join(clash)} belong in [grid], not [settings]")
    methods = grid.pop("methods", config_cls().methods)
    seeds = grid.pop("seeds", [0])
    lambdas = grid.pop("lambdas", None)
    if lambdas is not None and not _has_lambdas(task):
        with_lambdas = ", ".join(n for n in tasks.names() if _has_lambdas(n))
        raise UsageError(f"lambdas apply to the {with_lambdas} task only; drop them from the grid")
    for key, values in (("methods", methods), ("seeds", seeds), ("lambdas", lambdas or [0])):
        if not isinstance(values, list) or not values:
            raise UsageError(f"grid.{key} must be a non-empty list, got {values!r}")
    axes = _parameter_axes(grid, methods)
    runs = []
    for method in methods:
        mine = [(k, v) for k, v in axes.items() if k.split(".")[0] == method]
        for combo in itertools.product(*(values for _, values in mine)):
            params = {
                key.split(".", 1)[1]: value for (key, _), value in zip(mine, combo, strict=True)
            }
            for lam in lambdas or [None]:
                for seed in seeds:
                    runs.append(_resolve(task, settings, method=method, lam=lam, params=params,
                                         seed=seed))
    if not runs:
        raise UsageError("the grid is empty; give at least one method and seed")
    return runs


def _has_lambdas(task: str) -> bool:
    return "lambdas" in tasks.get(task).config.__dataclass_fields__


def _parameter_axes(grid: dict, methods: list) -> dict[str, list]:
    """{"METHOD.PARAM": values}; names and values are checked by the method, run by run."""
    axes = {}
    for key, values in grid.items():
        method, dot, param = str(key).partition(".")
        if not dot:
            raise UsageError(
                f"unknown grid key {key!r}; use methods, lambdas, seeds or METHOD.PARAM"
            )
        if method not in methods:
            raise UsageError(f"grid key {key!r} names a method not in grid.methods ({methods})")
        if not isinstance(values, list) or not values:
            raise UsageError(f"grid.{key} must be a non-empty list of values, got {values!r}")
        axes[key] = values
    return axes


def _resolve(task: str, settings: dict, *, method: str, lam, params: dict, seed: int) -> dict:
    """One run's full, validated settings; refused here if it could not run."""
    values = {**settings, "methods": [method], "seeds": [seed], "quiet": True, "resume": True}
    values["params"] = {method: {**settings.get("params", {}).get(method, {}), **params}}
    if lam is not None:
        values["lambdas"] = [lam]
    try:
        cfg = config_io.build(tasks.get(task).config, {}, values)
        runner.check_runnable(tasks.get(task), cfg)
    except UsageError as err:
        raise UsageError(f"run {method}, seed {seed}, {params or ''}: {err}") from None
    run_id = _run_id(method, lam, params, seed=seed, settings=cfg.identity())
    return {"id": run_id, "task": task, "method": method, "lam": lam, "seed": seed,
            "params": params, "settings": cfg.to_dict()}  # fmt: skip


def execute(task: str, settings: dict, run_dir: str) -> dict:
    """Run one grid point to its end; never raises: the outcome goes to status.json.

    A run folder another process holds (a second sweep over the same grid) is left to it:
    the outcome is "busy" and nothing is written.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one run, one core: the same numbers on every executor
    start = time.perf_counter()
    try:
        definition = tasks.get(task)
        definition.run(definition.config(**{**settings, "out": run_dir}).validate())
        status, message = "finished", ""
    except FolderInUse as err:
        torch.set_num_threads(threads)
        return {"status": "busy", "message": str(err), "seconds": time.perf_counter() - start}
    except Diverged as err:
        status, message = "diverged", str(err)
    except Exception as err:  # a failing run must not stop the sweep
        status = "failed"
        message = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        results.write_text(Path(run_dir) / "traceback.txt", traceback.format_exc())
    torch.set_num_threads(threads)
    outcome = {"status": status, "message": message, "seconds": time.perf_counter() - start}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    results.write_json(Path(run_dir) / STATUS, outcome)
    return outcome


def _run_local(pending, out, jobs):
    if jobs == 1:
        for run in pending:
            yield run, execute(run["task"], run["settings"], str(out / "runs" / run["id"]))
        return
    from .jobs import spawn_pool

    with spawn_pool(jobs) as pool:
        futures = {
            pool.submit(execute, r["task"], r["settings"], str(out / "runs" / r["id"])): r
            for r in pending
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


def ray_gpus(run: dict, share: float, *, cluster_gpus: float) -> float:
    """The GPUs one run's Ray task asks for: ``share`` (--gpus-per-run) of a card when its
    device is cuda, or auto for a task that prefers the GPU on a cluster that has one; else 0
    (Ray then hides the GPUs from the task, and auto runs on the CPU)."""
    device = run["settings"]["device"]
    if device == "auto" and cluster_gpus > 0:
        task = tasks.get(run["task"])
        return share if task.prefers_gpu(task.config(**run["settings"])) else 0
    return share if device.startswith("cuda") else 0


def _run_ray(pending, out, address, gpus_per_run):
    try:
        import ray
    except ImportError:
        raise UsageError('--executor ray needs Ray: pip install -e ".[ray]"') from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    gpus = lambda r: ray_gpus(r, gpus_per_run, cluster_gpus=cluster_gpus)  # noqa: E731
    refs = {
        ray.remote(num_cpus=1, num_gpus=gpus(r))(execute).remote(
            r["task"], r["settings"], str(out / "runs" / r["id"])): r
        for r in pending
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
    """Run each point ({id, task, settings}) in ``out/runs/<id>`` on local processes or Ray;
    yields (point, outcome) as each ends (sweeps and tuning trials)."""
    if executor == "ray":
        yield from _run_ray(pending, out, address, gpus_per_run)
    else:
        yield from _run_local(pending, out, jobs)


def run(spec: dict, out: Path, *, executor: str = "local", jobs: int | None = None,
        address: str | None = None, gpus_per_run: float | None = None,
        quiet: bool = False) -> Path:  # fmt: skip
    """Run every grid point not finished yet; then write sweep.csv, sweep.md and figures.

    ``gpus_per_run`` (Ray only, default 1): the fraction of a GPU each cuda run asks for,
    e.g. 0.25 for four runs on one card."""
    jobs, share = check_executor(executor, jobs, gpus_per_run)
    runs = expand(spec)
    results.prepare_run_dir(out / "runs")
    results.write_json(out / "sweep.json", {"spec": spec, "runs": [r["id"] for r in runs]})
    pending = [r for r in runs if _status(out, r)["status"] != "finished"]
    with tqdm(total=len(runs), initial=len(runs) - len(pending), desc="sweep", unit="run",
              disable=quiet, dynamic_ncols=True) as progress:  # fmt: skip
        stream = run_points(pending, out, executor=executor, jobs=jobs, address=address,
                            gpus_per_run=share)  # fmt: skip
        for run_, outcome in stream:
            progress.set_postfix_str(f"{run_['id']}: {outcome['status']}", refresh=False)
            progress.update()
    report(out)
    return out


def _status(out: Path, run: dict) -> dict:
    return results.read_json(out / "runs" / run["id"] / STATUS) or {"status": "pending"}


def collect(out: Path) -> pd.DataFrame:
    """sweep.csv: one row per run with its settings, status and last evaluation."""
    saved = results.read_json(out / "sweep.json")
    if not saved:
        raise UsageError(f"{out} holds no sweep (sweep.json missing); pass a sweep's folder")
    rows = []
    for run in expand(saved["spec"]):
        status = _status(out, run)
        row = {"id": run["id"], "method": run["method"], "lam": run["lam"], "seed": run["seed"],
               **{f"{run['method']}.{k}": v for k, v in run["params"].items()},
               "status": status["status"], "message": status.get("message", ""),
               "seconds": status.get("seconds", math.nan)}  # fmt: skip
        task = tasks.get(run["task"])
        metric = task.metric
        path = out / "runs" / run["id"] / task.result_file
        if status["status"] == "finished" and path.is_file():
            last = results.read_csv(path).sort_values("epoch").iloc[-1]
            row.update({k: last[k] for k in (metric, "recon", "latent_swd") if k in last})
        rows.append(row)
    return pd.DataFrame(rows)


def report(out: Path) -> None:
    """(Re)write sweep.csv, sweep.md and one figure per swept parameter from the runs' files."""
    from . import plots

    frame = collect(out)
    results.write_csv(out / "sweep.csv", frame)
    metric = tasks.get(results.read_json(out / "sweep.json")["spec"]["task"]).metric
    axes = [c for c in frame.columns if "." in c and frame[c].nunique() > 1]
    if frame["lam"].nunique() > 1:
        axes.insert(0, "lam")
    results.write_text(out / "sweep.md", _markdown(frame, metric, axes))
    for axis in axes:
        plots.sweep_axis(frame, axis, metric, out / f"sweep_{axis.replace('.', '_')}")


def _markdown(frame: pd.DataFrame, metric: str, axes: list[str]) -> str:
    """One row per sweep point: the metric's mean [95% interval] over seeds, the paired
    difference to the best point, the runs that finished; then the verdicts."""
    from . import intervals, summary

    keys = ["method", *axes]
    done = frame[frame["status"] == "finished"]
    if metric not in done:
        done = done.assign(**{metric: math.nan})
    compared, verdicts = summary.compared(done, keys, metric, where="at the last epoch",
                                          label=metric)  # fmt: skip
    header = [*keys, f"{metric} (last epoch)", "- best", "runs finished", "diverged / failed"]
    lines = [results.markdown_row(header), "|" + "---|" * len(header)]
    for values, rows in frame.groupby(keys, dropna=False, sort=False):
        finished = int((rows["status"] == "finished").sum())
        group = summary.group_label(keys, values)
        row = summary.row_of(compared, group)
        cells = [summary.cell(row), summary.difference_cell(row)]
        bad = "; ".join(rows.loc[rows["status"] != "finished", "message"].astype(str)) or "-"
        lines.append(results.markdown_row([*values, *cells, f"{finished}/{len(rows)}", bad]))
    lines += ["", intervals.legend(), "", "Verdicts:", "", *summary.verdict_lines(verdicts)]
    return "\n".join(lines) + "\n"
