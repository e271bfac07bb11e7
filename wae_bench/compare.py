"""`wae-bench compare`: runs of one task side by side, and a reproducibility gate.

For the task's headline metric at its reported epochs (those of its summary table), each
run's mean over seeds is set against the reference run (the first one, or ``--check``'s):
    z = (mean_run - mean_ref) / std_ref      (std over the reference's seeds)
With ``--check REF`` a run fails when |mean_run - mean_ref| > k std_ref at any reported
epoch. Default k = 3: a run of the same code and settings on another machine differs from
the reference by float noise far below one seed-to-seed std, and a mean of seeds from the
same distribution lies within 3 std of it with probability > 99.7%, so a failure means the
numbers moved. A reference with a single seed has no spread; it needs ``--rtol``.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import intervals, run_files, summary, table_rows, table_text, tasks
from .errors import UsageError

DEFAULT_K = 3.0


def load_run(run_dir: Path) -> tuple[tasks.Task, pd.DataFrame]:
    """The task (from config.json) and the result rows of the run folder ``run_dir``."""
    run_dir = Path(run_dir)
    task = tasks.of_folder(run_dir, "pass the folder of a finished wae-bench run")
    return task, table_rows.read_wide(run_dir, task.results.file, task.results.columns)


def _keys(frame: pd.DataFrame) -> list[str]:
    return ["method", "lam"] if "lam" in frame else ["method"]


def statistics(task: tasks.Task, frame: pd.DataFrame, epochs: list[int]) -> pd.DataFrame:
    """Mean, std and number of seeds of the metric per method (and lam) and epoch."""
    at = frame[frame["epoch"].isin(epochs)]
    grouped = at.groupby([*_keys(frame), "epoch"], sort=False)[task.results.metric]
    return grouped.agg(mean="mean", std="std", seeds="count").reset_index()


def compare(runs: dict[str, tuple], *, compared: list[str], reference: str,
            k: float = DEFAULT_K, rtol: float = 0.0) -> tuple[pd.DataFrame, list[str]]:  # fmt: skip
    """One row per (method[, lam], epoch, run): mean, std, z against the reference and
    whether it lies within mean_ref ± max(k std_ref, rtol |mean_ref|); and the failures.

    ``runs`` maps run folders to their ``load_run`` (task, rows); ``compared`` and
    ``reference`` name folders among them.
    """
    task, ref_frame = runs[reference]
    epochs = summary.reported_epochs(ref_frame, task.results.summary_epochs)
    ref = statistics(task, ref_frame, epochs)
    keys = [*_keys(ref_frame), "epoch"]
    rows, failures = [], []
    for run_dir in compared:
        other_task, frame = runs[run_dir]
        if other_task.name != task.name:
            raise UsageError(
                f"{run_dir} is a {other_task.name} run, {reference} a {task.name} run; "
                "compare runs of one task"
            )
        stats = statistics(task, frame, epochs)
        joined = ref.merge(stats, on=keys, how="left", suffixes=("_ref", ""))
        for _, r in joined.iterrows():
            label = " ".join(f"{k}={r[k]:g}" if k == "lam" else str(r[k]) for k in keys[:-1])
            tolerance = max(k * _nan_to_zero(r["std_ref"]), rtol * abs(r["mean_ref"]))
            delta = r["mean"] - r["mean_ref"]
            inside = bool(abs(delta) <= tolerance) if not math.isnan(r["mean"]) else False
            z = delta / r["std_ref"] if r["std_ref"] > 0 else math.nan
            rows.append({"run": str(run_dir), **{c: r[c] for c in keys}, "mean": r["mean"],
                         "std": r["std"], "seeds": r["seeds"], "mean_ref": r["mean_ref"],
                         "std_ref": r["std_ref"], "z": z, "within": inside})  # fmt: skip
            if not inside:
                what = "missing" if math.isnan(r["mean"]) else f"{r['mean']:.6g}"
                failures.append(
                    f"{run_dir}: {label} epoch {int(r['epoch'])}: {task.results.metric} {what}, "
                    f"reference {r['mean_ref']:.6g} ± {tolerance:.3g}"
                )
    return pd.DataFrame(rows), failures


def _nan_to_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def markdown(table: pd.DataFrame, metric: str, *, k: float, checked: bool) -> str:
    """Side-by-side table: one column per run, mean ± std (z in reference stds)."""
    runs = list(dict.fromkeys(table["run"]))
    keys = [c for c in ("method", "lam", "epoch") if c in table]
    header = [*keys, *(f"run {i + 1}" for i in range(len(runs)))]
    lines = [
        f"{metric}, mean ± std over seeds; z = (mean - reference mean) / reference std"
        + (f"; outside ± {k:g} std marked **out**." if checked else "."),
        "",
        *(f"- run {i + 1}: `{run}`" for i, run in enumerate(runs)),
        "",
        table_text.markdown_row(header),
        "|" + "---|" * len(header),
    ]
    for values, rows in table.groupby(keys, sort=False):
        cells = [f"{v:g}" if isinstance(v, float) else v for v in values]
        for run in runs:
            r = rows[rows["run"] == run].iloc[0]
            cell = table_text.mean_std(r["mean"], r["std"], 4 if abs(r["mean_ref"]) < 10 else 0)
            if not math.isnan(r["z"]):
                cell += f" (z {r['z']:+.1f})"
            cells.append(cell + (" **out**" if checked and not r["within"] else ""))
        lines.append(table_text.markdown_row(cells))
    return "\n".join(lines) + "\n"


def verdicts(runs: dict[str, tuple], *, compared: list[str], reference: str) -> tuple[list, str]:
    """Each compared run against the reference, per method (and lam) at the last reported
    epoch: the paired t test over the seeds both ran, Holm-adjusted over all of them; returns
    the verdicts and the legend."""
    task, ref_frame = runs[reference]
    last = summary.reported_epochs(ref_frame, task.results.summary_epochs)[-1]
    keys = _keys(ref_frame)
    names = {run_dir: f"run {i + 1}" for i, run_dir in enumerate(dict.fromkeys(compared))}
    at = {d: runs[d][1][runs[d][1]["epoch"] == last] for d in [reference, *compared]}
    seeds = sorted(set(at[reference]["seed"]))
    ref_values = summary.by_seed(at[reference][at[reference]["seed"].isin(seeds)], keys,
                                 task.results.metric)  # fmt: skip
    tests = []
    for run_dir in compared:
        if run_dir == reference:
            continue
        values = at[run_dir][at[run_dir]["seed"].isin(seeds)]
        for group, x in summary.by_seed(values, keys, task.results.metric).items():
            if group in ref_values and len(x) == len(ref_values[group]):
                tests.append((names[run_dir], group, len(x),
                              intervals.paired_test(x, ref_values[group])))  # fmt: skip
    adjusted = intervals.holm([row["p"] for *_, row in tests])
    lines = [
        intervals.verdict(name, names.get(reference, "the reference"), row | {"p_adj": p},
                          head=f"{group} {task.results.metric} at epoch {last}", seeds=n)
        for (name, group, n, row), p in zip(tests, adjusted, strict=True)
    ]  # fmt: skip
    pairs = max((row["pairs"] for *_, row in tests), default=0)
    return lines, intervals.legend(pairs, int(np.isfinite(adjusted).sum()))


def run(run_dirs: list[Path], *, reference: Path | None, k: float, rtol: float,
        out: Path | None) -> tuple[str, list[str]]:  # fmt: skip
    """Compare, write compare.md/.csv and compare.png/.pdf to ``out`` (if given); returns
    the Markdown table and the failures of the check (empty without ``reference``)."""
    from . import plots

    if k <= 0 or not math.isfinite(k):
        raise UsageError(f"--k must be a finite number > 0, got {k}")
    if rtol < 0 or not math.isfinite(rtol):
        raise UsageError(f"--rtol must be a finite number >= 0, got {rtol}")
    compared = [str(d) for d in run_dirs]
    ref = str(reference) if reference else compared[0]
    runs = {d: load_run(d) for d in dict.fromkeys([ref, *compared])}  # each folder read once
    task = runs[ref][0]
    table, failures = compare(runs, compared=compared, reference=ref, k=k, rtol=rtol)
    text = markdown(table, task.results.metric, k=k, checked=reference is not None)
    lines, legend = verdicts(runs, compared=compared, reference=ref)
    if lines:
        text += "\n".join(["", legend, "", "Verdicts (paired by seed):", "",
                           *summary.verdict_lines(lines)]) + "\n"  # fmt: skip
    if out is not None:
        run_files.prepare_run_dir(out)
        run_files.write_csv(out / "compare.csv", table)
        run_files.write_text(out / "compare.md", text)
        plots.compare_curves({d: frame for d, (_, frame) in runs.items()}, task.results.metric,
                             task.results.label, out / "compare")  # fmt: skip
    return text, (failures if reference is not None else [])
