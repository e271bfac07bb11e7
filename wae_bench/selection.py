"""`wae-bench select TASK`: each method's lam chosen on validation data, the best of a group of
methods kept, then the chosen settings compared on the test split: one command for the protocol
of the Fashion-MNIST reference comparison.

1. Selection: every (method, lam) of the grid is one point (``points``), trained once on
   ``SELECTION_SEED`` on the training images less the validation split and scored on that split
   (``Tuning.validation``): no test image is evaluated.
2. The choice (choice.json, choice.md), a rule fixed before any run: per method the lam whose
   metric (the task's headline, at the last epoch) is lowest, ties to the smaller lam; of the
   ``--best-of`` methods only the one whose chosen value is lowest stays. A chosen lam at an
   end of its method's grid is flagged: the best value may lie beyond it.
3. The comparison: the methods kept, each at its lam, on the seeds given, trained and evaluated
   as the task's command does (``command.execute``) in ``comparison/``.

The folder::

    choice.json        the settings, the rule, every point's value and the choice
    choice.md          the same as a table
    runs/<method>/lam<lam>/   each selection point's run folder (status.json, the result file)
    comparison/        the comparison's run folder (summary.md, figures after `report`)

``--resume`` continues a selection (finished or diverged points never run again) and the
comparison, which starts only once every selection point has ended.
"""

import math
import time
from pathlib import Path

from tqdm.auto import tqdm

from . import folders, points, run_files, tune_report
from .command import check_replaceable
from .command import execute as execute_command
from .errors import UsageError
from .execution import Execution
from .lock import RunLock
from .run import check_runnable
from .table_text import markdown_row
from .tasks import Task
from .tune import trial_settings

SELECTION_SEED = 100  # the selection's one seed, never one of the comparison's
ENDED = ("finished", "diverged")  # a selection point with either status never runs again
RULE = ("per method, the lam whose validation metric at the last epoch is lowest (ties: the "
        "smaller lam); of the --best-of methods, the one whose chosen value is lowest (ties: "
        "the first in --methods)")


def run(task: Task, cfg, how: Execution, *, best_of: list[str]) -> Path:
    """Select each method's lam on validation data, keep the best of ``best_of``, compare
    the chosen settings on ``cfg.seeds``; returns the folder."""
    _check(task, cfg, how, best_of)
    grid = {f"{method}/lam{lam:g}": (method, lam)
            for method in cfg.methods for lam in cfg.lambda_values(method)}  # fmt: skip
    for method in cfg.methods:  # settings only a set-up can judge fail before anything runs
        lam = cfg.lambda_values(method)[0]
        check_runnable(task, task.config(**_point_settings(task, cfg, method, lam)).validate())
    check_runnable(task, task.config(**_comparison_settings(cfg, {m: cfg.lambda_values(m)[0]
                                                                  for m in cfg.methods}))
                   .validate())  # fmt: skip
    out = Path(how.out) if how.out else Path("results") / "select" / task.name / time.strftime(
        "%Y%m%d-%H%M%S")  # fmt: skip
    record = {"command": "select", "task": task.name, "config": cfg.to_dict(),
              "best_of": best_of, "selection_seed": SELECTION_SEED, "rule": RULE,
              "validation": task.tuning.validation(cfg),
              "execution": how.replace(out=str(out)).to_dict()}  # fmt: skip
    run_files.prepare_run_dir(out)
    with RunLock(out):
        _check_folder(out, record, cfg, how)
        run_files.write_json(out / folders.CHOICE_JSON, record)
        _select(task, cfg, how, out, grid)
        choice = choose(task, cfg, out, grid, best_of)
        run_files.write_json(out / folders.CHOICE_JSON, {**record, **choice})
        run_files.write_text(out / folders.CHOICE_MD, choice_markdown(task, cfg, choice))
        comparison = task.config(**_comparison_settings(cfg, choice["kept"])).validate()
        execute_command(task, comparison, how.replace(out=str(out / folders.COMPARISON)))
    return out


def _point_settings(task: Task, cfg, method: str, lam: float) -> dict:
    """One selection point: ``method`` at ``lam`` on the selection seed, scored on the
    validation split."""
    return trial_settings(task, cfg, method, {"lam": lam}, [SELECTION_SEED], validation=True)


def _comparison_settings(cfg, kept: dict) -> dict:
    """The comparison: the ``kept`` methods, each at its lam, on ``cfg``'s seeds."""
    return {**cfg.to_dict(), "methods": list(kept),
            "lambdas": {method: [lam] for method, lam in kept.items()}}  # fmt: skip


def _check(task: Task, cfg, how: Execution, best_of: list[str]) -> None:
    if task.tuning.penalty_knob != "lam":
        raise UsageError(f"select chooses lam, which the {task.name} task does not have; tune "
                         f"its methods with `wae-bench tune {task.name}`")  # fmt: skip
    unknown = [m for m in best_of if m not in cfg.methods]
    if unknown:
        raise UsageError(f"--best-of {','.join(unknown)}: not among --methods "
                         f"{','.join(cfg.methods)}; list every candidate in --methods")
    if getattr(cfg, "split", "test") != "test":
        raise UsageError("select evaluates the comparison on the test split and the selection "
                         "on the validation split; drop --split")  # fmt: skip
    if SELECTION_SEED in cfg.seeds:
        raise UsageError(f"--seed(s): seed {SELECTION_SEED} is the selection's; compare on "
                         "other seeds, e.g. --seeds 5")  # fmt: skip
    if how.baseline in best_of:
        raise UsageError(f"--baseline {how.baseline}: a --best-of method may be dropped; "
                         "declare a method every comparison keeps")  # fmt: skip
    if how.overwrite:
        raise UsageError("select does not --overwrite; pass --resume or a new --out")
    if how.tensorboard:
        raise UsageError("select does not log to TensorBoard (its selection runs in folders "
                         "of their own); drop --tensorboard")  # fmt: skip


def _check_folder(out: Path, record: dict, cfg, how: Execution) -> None:
    """A folder holding a selection is continued only with --resume and the same settings."""
    saved = run_files.read_json(out / folders.CHOICE_JSON)
    check_replaceable(out, holds=bool(saved), how=how, what="a selection")
    if saved and saved.get("command") != "select":
        raise UsageError(f"--resume: {out} does not hold a selection; pass a selection's folder")
    changed = cfg.differences(saved["config"]) if saved else []
    changed += [k for k in ("best_of", "selection_seed", "validation")
                if saved and saved.get(k) != record[k]]  # fmt: skip
    if changed:
        raise UsageError(f"--resume: settings differ from the selection in {out} "
                         f"({', '.join(changed)}); repeat its settings or use a new --out")


def _select(task: Task, cfg, how: Execution, out: Path, grid: dict) -> None:
    """Every point of ``grid`` that has not ended (finished or diverged: a divergence is
    deterministic), ``how.jobs`` at once, each with one torch thread (``points``)."""
    runs_on = {name: getattr(how, name) for name in points.SHARED_EXECUTION}
    pending = []
    for point_id, (method, lam) in grid.items():
        point = {"id": point_id, "task": task.name, "execution": runs_on,
                 "settings": _point_settings(task, cfg, method, lam)}  # fmt: skip
        if points.status(out, point)["status"] not in ENDED:
            pending.append(point)
    with tqdm(total=len(grid), initial=len(grid) - len(pending), desc="select", unit="run",
              disable=how.quiet, dynamic_ncols=True) as progress:  # fmt: skip
        for point, outcome in points.run_points(pending, out, executor="local", jobs=how.jobs):
            progress.set_postfix_str(f"{point['id']}: {outcome['status']}", refresh=False)
            progress.update()


def _check_ended(values: list[dict], out: Path) -> None:
    """A choice is made only once every selection point has ended (finished or diverged): a
    failed or unfinished point could have held a method's best lam."""
    open_points = [f"{v['method']}/lam{v['lam']:g} ({v['status']})" for v in values
                   if v["status"] not in ENDED]  # fmt: skip
    if open_points:
        raise UsageError(f"select: {len(open_points)} selection run(s) did not end: "
                         f"{', '.join(open_points)}; see {out / folders.POINTS}/<method>/<lam>/ "
                         "status.json, then --resume")  # fmt: skip


def choose(task: Task, cfg, out: Path, grid: dict, best_of: list[str]) -> dict:
    """The choice by ``RULE`` from the finished selection in ``out``: {"metric", "epoch",
    "values": [{method, lam, value, status}], "chosen": {method: lam}, "best_other",
    "kept": {method: lam}, "edges": {method: "top" | "bottom"}}."""
    metric, values = task.results.metric, []
    for point_id, (method, lam) in grid.items():
        folder = points.point_folder(out, point_id)
        outcome = folders.read_status(folder)
        value = tune_report.trial_score(task, folder, outcome)
        values.append({"method": method, "lam": lam, "value": math.nan if value is None else value,
                       "status": outcome.get("status", "pending")})  # fmt: skip
    _check_ended(values, out)
    chosen, best = {}, {}
    for method in cfg.methods:
        scored = [v for v in values if v["method"] == method and math.isfinite(v["value"])]
        if not scored:
            raise UsageError(f"select: every lam of {method} diverged in the selection (see "
                             f"{out / folders.POINTS / method}); change its --lambdas")
        winner = min(scored, key=lambda v: (v["value"], v["lam"]))
        chosen[method], best[method] = winner["lam"], winner["value"]
    best_other = min(best_of, key=lambda m: (best[m], cfg.methods.index(m)), default=None)
    kept = {m: chosen[m] for m in cfg.methods if m not in best_of or m == best_other}
    edges = {}
    for method, lam in chosen.items():
        grid_lams = cfg.lambda_values(method)
        if len(grid_lams) > 1 and lam in (min(grid_lams), max(grid_lams)):
            edges[method] = "top" if lam == max(grid_lams) else "bottom"
    return {"metric": metric, "epoch": cfg.epochs, "values": values, "chosen": chosen,
            "best_other": best_other, "kept": kept, "edges": edges}  # fmt: skip


def choice_markdown(task: Task, cfg, choice: dict) -> str:
    """choice.md: the rule, every point's validation value, the choice and its flags."""
    lines = [
        "# lam chosen on the validation split", "",
        f"Every (method, lam) trained once on seed {SELECTION_SEED}, on the training images "
        "less the validation split, and scored on that split: no test image was evaluated. "
        f"Rule, fixed before the runs: {RULE}.", "",
        markdown_row(["method", "lam", f"validation {choice['metric']} at epoch "
                      f"{choice['epoch']}", "chosen"]),
        markdown_row(["---"] * 4),
    ]  # fmt: skip
    for v in choice["values"]:
        shown = f"{v['value']:.4g}" if math.isfinite(v["value"]) else v["status"]
        mark = "yes" if choice["chosen"][v["method"]] == v["lam"] else ""
        lines.append(markdown_row([v["method"], f"{v['lam']:g}", shown, mark]))
    kept = ", ".join(f"{m} lam={lam:g}" for m, lam in choice["kept"].items())
    lines += ["", f"Compared on seeds {', '.join(map(str, cfg.seeds))} "
              f"([comparison/summary.md]({folders.COMPARISON}/{folders.SUMMARY_MD})): {kept}."]
    if choice["best_other"]:
        lines.append(f"Of the --best-of methods the best is {choice['best_other']}.")
    for method, end in choice["edges"].items():
        lines.append(f"**{method}'s lam is at the {end} of its grid**: the best value may lie "
                     "beyond it; widen its --lambdas.")
    return "\n".join(lines) + "\n"
