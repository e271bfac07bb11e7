"""The one summary of a result frame: each group's mean and 95% interval over seeds, its
paired difference to the best group (or a baseline), and the verdicts in words.

A group is a method (or a method at one lam, or a sweep point); a seed fixes the data,
initial weights and batches of every group alike, so groups are compared pair by pair over
seeds (``intervals``). Every summary of the suite (latent, image, dimension study, sweep,
compare, tune) is written from these rows.
"""

import math

import numpy as np
import pandas as pd

from . import intervals

SEED = 0  # of the bootstrap resampling: a summary is the same every time it is drawn
COLUMNS = ["method", "seeds", "mean", "low", "high", "reference", *intervals.COMPARISON]


def group_label(keys: list[str], values) -> str:
    """'moca', or 'moca lam=10' when the group has more keys than the method."""
    values = values if isinstance(values, tuple) else (values,)
    parts = [str(values[0])]
    parts += [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
              for k, v in zip(keys[1:], values[1:], strict=True)]  # fmt: skip
    return " ".join(parts)


def by_seed(frame: pd.DataFrame, keys: list[str], value: str) -> dict[str, np.ndarray]:
    """{group label: its values, one per seed of the frame in one seed order (NaN: none)}."""
    seeds = sorted(frame["seed"].unique())
    return {
        group_label(keys, values): rows.groupby("seed")[value].mean().reindex(seeds).to_numpy(
            dtype=float)
        for values, rows in frame.groupby(keys, sort=False, dropna=False)
    }  # fmt: skip


def compared(frame: pd.DataFrame, keys: list[str], value: str, *, where: str = "",
             label: str = "", baseline: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Rows per group (mean, low, high, diff, diff_low, diff_high, p, reference) and the
    verdict sentences for ``value`` in ``frame`` (one row per group and seed)."""
    table = by_seed(frame, keys, value)
    if baseline not in table:  # a method's one group (moca lam=10), else the best group
        groups = [g for g in table if g.split(" ")[0] == baseline]
        baseline = groups[0] if len(groups) == 1 else None
    rows, verdicts = intervals.compare_to_best(table, SEED, baseline, metric_label=label,
                                               where=where)  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS), verdicts


def reported_epochs(frame: pd.DataFrame, summary_epochs: tuple[int, ...]) -> list[int]:
    """The epochs a summary reports: the task's ``summary_epochs`` that ``frame`` evaluated
    before its last epoch, then the last one."""
    last = int(frame["epoch"].max())
    evaluated = set(frame["epoch"].astype(int))
    return [e for e in summary_epochs if e < last and e in evaluated] + [last]


def compare_epochs(frame: pd.DataFrame, keys: list[str], value: str, epochs: list[int], *,
                   label: str, baseline: str | None = None) -> dict[int, tuple]:  # fmt: skip
    """{epoch: ``compared`` rows and verdicts of ``value`` at that epoch}, in epoch order."""
    return {
        e: compared(frame[frame["epoch"] == e], keys, value, where=f"at epoch {e}",
                    label=label, baseline=baseline)
        for e in epochs
    }  # fmt: skip


def metric_columns(runs: pd.DataFrame, value: str, by_epoch: dict[int, tuple], group: str,
                   names: dict[int, str], *, best_column: str) -> dict:  # fmt: skip
    """A summary row's columns for one group (``runs``: its rows, one per seed and epoch):
    per epoch of ``by_epoch`` (``compare_epochs``) NAME_mean, NAME_std over seeds and the 95%
    interval NAME_low, NAME_high (NAME from ``names``); then, at the last epoch, the group it
    is compared with (``best_column``) and vs_best_diff, _diff_low, _diff_high, _p."""
    row = {}
    for epoch, (rows, _) in by_epoch.items():
        at, name = runs.loc[runs["epoch"] == epoch, value], names[epoch]
        found = row_of(rows, group)
        row |= {f"{name}_mean": at.mean(), f"{name}_std": at.std(),
                f"{name}_low": found["low"], f"{name}_high": found["high"]}  # fmt: skip
    best = row_of(by_epoch[max(by_epoch)][0], group)
    row[best_column] = best["reference"]
    return row | {f"vs_best_{key}": best[key] for key in ("diff", "diff_low", "diff_high", "p")}


def table(frame: pd.DataFrame, keys: list[str], value: str, by_epoch: dict[int, tuple],
          names: dict[int, str], *, best_column: str, extra=None) -> pd.DataFrame:
    """The summary table of a result frame (one row per group and seed and epoch), for every
    task: one row per group of ``keys`` with the keys, its number of seeds, ``metric_columns``
    of ``value`` at the epochs of ``by_epoch`` (``compare_epochs``), then ``extra(rows)``: the
    task's own columns of the group (e.g. the time to the noise floor)."""
    out = []
    for values, rows in frame.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        row = dict(zip(keys, values, strict=True)) | {"seeds": rows["seed"].nunique()}
        row |= metric_columns(rows, value, by_epoch, group_label(keys, values), names,
                              best_column=best_column)  # fmt: skip
        out.append(row | (extra(rows) if extra is not None else {}))
    return pd.DataFrame(out)


def row_of(rows: pd.DataFrame, group: str) -> dict:
    """The row of ``group`` in a ``compared`` table, NaN where the group has no value there
    (e.g. an epoch the run did not evaluate)."""
    found = rows[rows["method"] == group]
    if found.empty:
        return dict.fromkeys(COLUMNS, math.nan) | {"method": group, "reference": None}
    return found.iloc[0].to_dict()


def cell(row) -> str:
    """'mean [low, high]' of a row of ``compared`` (the mean alone for one seed, '-' for none)."""
    return intervals.format_interval(row["mean"], row["low"], row["high"])


def difference_cell(row) -> str:
    """'diff [low, high], P = p' against the reference; 'reference' on its own row."""
    if row["method"] == row["reference"]:
        return "reference"
    if not math.isfinite(row["diff"]):
        return "-"
    difference = intervals.format_interval(row["diff"], row["diff_low"], row["diff_high"])
    return f"{difference}, P = {row['p']:.2f}"


def verdict_lines(verdicts: list[str]) -> list[str]:
    """The Markdown list that ends a summary."""
    return [f"- {v}" for v in verdicts] or ["- one group only: nothing to compare"]
