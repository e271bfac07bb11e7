"""`wae-bench sweep`: grids of points (the paper's Appendix D ablations), on processes or Ray.

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

Every combination is one point, trained in its own folder `runs/<id>` (``points``), the id
derived from what it measures (``RunConfig.identity``); settings of how it runs (device,
graphs, compile) may sit among the settings too, and stay out of the id. sweep.json records
each point's folder, in the order of the grid: a point keeps its folder when the sweep runs
again, whatever rule made its id then. A point ends with `status.json` (finished, diverged or
failed, and why); running the sweep again skips finished points and resumes the others from
their checkpoints. `sweep.csv`, `sweep.md` and one figure per swept parameter are made from
the points' files.
"""

import hashlib
import itertools
import json
import math
import warnings
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

import regularizers

from . import config as config_io
from . import execution, folders, points, run_files, table_rows, table_text, tasks
from .errors import UsageError
from .execution import Execution
from .run import check_runnable

GRID_KEYS = ("methods", "lambdas", "seeds")


def preset(name: str) -> dict:
    """The sweep spec of a named ablation, from the task that declares it (``Task.presets``)."""
    specs = {n: spec for t in tasks.names() for n, spec in tasks.get(t).presets.items()}
    if name not in specs:
        raise UsageError(f"unknown preset {name!r}; choose from {', '.join(specs)}")
    return {**specs[name], "name": name}


def _point_id(method, lam, params: dict, *, seed: int, settings: dict) -> str:
    """Readable id from the varying settings plus a short hash of everything resolved."""
    parts = [method] + ([f"lam{lam:g}"] if lam is not None else [])
    parts += [f"{k}{v:g}" if isinstance(v, (int, float)) else f"{k}-{v}" for k, v in params.items()]
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return "_".join([*parts, f"seed{seed}", digest[:8]])


def expand(spec: dict) -> list[dict]:
    """One dict per grid point: id, task, the varying values and the full task settings."""
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
    grid_points = []
    for method in methods:
        mine = [(k, v) for k, v in axes.items() if k.split(".")[0] == method]
        for combo in itertools.product(*(values for _, values in mine)):
            params = {
                key.split(".", 1)[1]: value for (key, _), value in zip(mine, combo, strict=True)
            }
            for lam in lambdas or [None]:
                for seed in seeds:
                    grid_points.append(_resolve(task, settings, method=method, lam=lam,
                                                params=params, seed=seed))  # fmt: skip
    if not grid_points:
        raise UsageError("the grid is empty; give at least one method and seed")
    return grid_points


def _has_lambdas(task: str) -> bool:
    return "lambdas" in tasks.get(task).config.__dataclass_fields__


def _parameter_axes(grid: dict, methods: list) -> dict[str, list]:
    """{"METHOD.PARAM": values}; names and values are checked by the method, point by point."""
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
    """One point's full, validated settings; refused here if it could not run."""
    measured, how = execution.split(settings)
    own = sorted(set(how) - set(points.SHARED_EXECUTION))
    if own:
        raise UsageError(f"{', '.join(own)} cannot be a sweep setting (each point has its own "
                         "folder, runs quietly and resumes); of how points run, settings may "
                         f"hold {', '.join(points.SHARED_EXECUTION)}")  # fmt: skip
    values = {**measured, "methods": [method], "seeds": [seed]}
    values["params"] = {method: {**measured.get("params", {}).get(method, {}), **params}}
    if lam is not None:
        values["lambdas"] = [lam]
    try:
        cfg = config_io.build(tasks.get(task).config, {}, values)
        Execution(**how)
        check_runnable(tasks.get(task), cfg)
    except UsageError as err:
        raise UsageError(f"run {method}, seed {seed}, {params or ''}: {err}") from None
    point_id = _point_id(method, lam, params, seed=seed, settings=cfg.identity())
    return {"id": point_id, "task": task, "method": method, "lam": lam, "seed": seed,
            "params": params, "settings": cfg.to_dict(), "execution": how}  # fmt: skip


def recorded_grid(saved: dict, grid: list[dict] | None = None) -> list[dict]:
    """The points of a sweep folder's record (sweep.json: its spec, and the folder of each
    point in the grid's order), each with the id of the folder it was trained in; ``grid``:
    the expansion of the record's spec, when already made."""
    grid = expand(saved["spec"]) if grid is None else grid
    if len(saved.get("runs", [])) != len(grid):
        raise UsageError(f"sweep.json lists {len(saved.get('runs', []))} run folders for the "
                         f"{len(grid)} points of its grid; run the sweep again to rewrite it")
    return [{**point, "id": folder} for point, folder in zip(grid, saved["runs"], strict=True)]


def keep_folders(grid: list[dict], spec: dict, saved: dict) -> list[dict]:
    """``grid`` (the expansion of ``spec``) with each point that the earlier sweep in the
    folder (``saved``, its sweep.json) also had given that sweep's folder for it."""
    if not saved:
        return grid
    try:
        then = grid if saved["spec"] == spec else expand(saved["spec"])
        recorded = recorded_grid(saved, then)
        folder_of = {p["id"]: r["id"] for p, r in zip(then, recorded, strict=True)}
    except UsageError as err:  # a record this version refuses: its points start anew
        warnings.warn(f"the earlier sweep in this folder is not continued ({err}); its "
                      "points train again", stacklevel=2)  # fmt: skip
        return grid
    return [{**point, "id": folder_of.get(point["id"], point["id"])} for point in grid]


def _check_finished(out: Path, finished: list[dict]) -> None:
    """A finished point's folder must hold what the point measures: a task default changed
    since it trained leaves its id alone (defaults stay out of ids) but not its numbers."""
    for point in finished:
        folder = points.point_folder(out, point["id"])
        saved = folders.read_config(folder).get("config", {})
        changed = tasks.get(point["task"]).config(**point["settings"]).differences(saved)
        if changed:
            raise UsageError(f"{folder} was trained with other settings ({', '.join(changed)}: "
                             "a default changed since); pass another --out or remove it")


def run(spec: dict, out: Path, *, executor: str = "local", jobs: int | None = None,
        address: str | None = None, gpus_per_run: float | None = None,
        quiet: bool = False) -> Path:  # fmt: skip
    """Train every grid point not finished yet; then write sweep.csv, sweep.md and figures.

    ``gpus_per_run`` (Ray only, default 1): the fraction of a GPU each cuda point asks for,
    e.g. 0.25 for four points on one card."""
    jobs, share = points.check_executor(executor, jobs, gpus_per_run)
    grid = keep_folders(expand(spec), spec, run_files.read_json(out / folders.SWEEP))
    finished = [points.status(out, p)["status"] == "finished" for p in grid]
    _check_finished(out, [p for p, done in zip(grid, finished, strict=True) if done])
    run_files.prepare_run_dir(out / folders.POINTS)
    run_files.write_json(out / folders.SWEEP, {"spec": spec, "runs": [p["id"] for p in grid]})
    pending = [p for p, done in zip(grid, finished, strict=True) if not done]
    with tqdm(total=len(grid), initial=len(grid) - len(pending), desc="sweep", unit="run",
              disable=quiet, dynamic_ncols=True) as progress:  # fmt: skip
        stream = points.run_points(pending, out, executor=executor, jobs=jobs, address=address,
                                   gpus_per_run=share)  # fmt: skip
        for point, outcome in stream:
            progress.set_postfix_str(f"{point['id']}: {outcome['status']}", refresh=False)
            progress.update()
    report(out)
    return out


def collect(out: Path) -> pd.DataFrame:
    """sweep.csv: one row per point with its settings, status and last evaluation."""
    saved = run_files.read_json(out / folders.SWEEP)
    if not saved:
        raise UsageError(f"{out} holds no sweep (sweep.json missing); pass a sweep's folder")
    rows = []
    for point in recorded_grid(saved):
        status = points.status(out, point)
        row = {"id": point["id"], "method": point["method"], "lam": point["lam"],
               "seed": point["seed"],
               **{f"{point['method']}.{k}": v for k, v in point["params"].items()},
               "status": status["status"], "message": status.get("message", ""),
               "seconds": status.get("seconds", math.nan)}  # fmt: skip
        task = tasks.get(point["task"])
        folder = points.point_folder(out, point["id"])
        if status["status"] == "finished" and (folder / task.results.file).is_file():
            last = table_rows.read_wide(folder, task.results.file).sort_values("epoch").iloc[-1]
            row.update({k: last[k] for k in task.results.sweep_columns if k in last})
        rows.append(row)
    return pd.DataFrame(rows)


def report(out: Path) -> None:
    """(Re)write sweep.csv, sweep.md and one figure per swept parameter from the points'
    files."""
    from . import plots

    frame = collect(out)
    run_files.write_csv(out / "sweep.csv", frame)
    task = tasks.get(run_files.read_json(out / folders.SWEEP)["spec"]["task"])
    axes = [c for c in frame.columns if "." in c and frame[c].nunique() > 1]
    if frame["lam"].nunique() > 1:
        axes.insert(0, "lam")
    run_files.write_text(out / "sweep.md", _markdown(frame, task.results.metric, axes))
    for axis in axes:
        stem = out / f"sweep_{axis.replace('.', '_')}"
        plots.sweep_axis(frame, axis, task.results.metric, task.results.label, stem,
                         scale=_axis_scale(axis))


def _axis_scale(axis: str) -> str:
    """How a swept parameter is drawn: as its method's search space declares it (a momentum:
    log of 1 - m), else linear (plots picks log for values spanning a decade)."""
    method, _, param = axis.partition(".")
    if method not in regularizers.available():
        return "linear"
    declared = regularizers.get(method).search_space.get(param)
    return getattr(declared, "scale", "linear")


def _markdown(frame: pd.DataFrame, metric: str, axes: list[str]) -> str:
    """One row per sweep point: the metric's mean [95% interval] over seeds, the paired
    test against the reference point (``summary``), the runs that finished; then the
    verdicts."""
    from . import summary

    keys = ["method", *axes]
    done = frame[frame["status"] == "finished"]
    if metric not in done:
        done = done.assign(**{metric: math.nan})
    compared, verdicts = summary.compared(done, keys, metric, where="at the last epoch",
                                          label=metric)  # fmt: skip
    header = [*keys, f"{metric} (last epoch)", "- reference", "runs finished",
              "diverged / failed"]  # fmt: skip
    lines = [table_text.markdown_row(header), "|" + "---|" * len(header)]
    for values, rows in frame.groupby(keys, dropna=False, sort=False):
        finished = int((rows["status"] == "finished").sum())
        group = summary.group_label(keys, values)
        row = summary.row_of(compared, group)
        cells = [summary.cell(row), summary.difference_cell(row, named=True)]
        bad = "; ".join(rows.loc[rows["status"] != "finished", "message"].astype(str)) or "-"
        lines.append(table_text.markdown_row([*values, *cells, f"{finished}/{len(rows)}", bad]))
    lines += ["", *summary.verdict_section((compared, verdicts))]
    return "\n".join(lines) + "\n"
