"""`wae-bench results --best`: per task, each experiment's groups ranked by their mean over
seeds, with the 95% Student t interval (``intervals.mean_interval``).

An experiment is the runs that compare with each other: one folder (a run, a study cell, a
sweep, a tune), at one epoch, on one set of seeds; its groups are (kind, method, lam,
settings), e.g. a sweep's points or a tune's default and tuned setting of each method. Each
group's value on a seed is its metric at the epoch asked (``--epoch``), else at the group's
last evaluated epoch. The table names the group with the lowest mean and the next one with
their intervals, and the next minus the lowest, paired by seed, with its interval.

The lowest mean is picked after the data are seen, so this ranks groups and decides nothing:
a verdict is a paired t test against a reference declared before the data, Holm-adjusted over
its summary (``summary``), and the verdicts are in each folder's summary.md, sweep.md or
tune.md. The task declares its headline metric lower-is-better; another metric is ranked the
same way and the table says that no direction is declared for it.
"""

import json
import math

import numpy as np
import pandas as pd

from . import intervals, table_text, tasks
from .errors import UsageError

GROUP = ["kind", "method", "lam", "settings"]
COLUMNS = ["task", "metric", "experiment", "epoch", "seeds", "kind", "method", "lam",
           "settings", "label", "n", "mean", "low", "high", "rank", "diff", "diff_low",
           "diff_high"]  # fmt: skip


def best(table: pd.DataFrame, task: str | None = None, epoch: int | None = None,
         metric: str | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per group of every experiment of ``task`` (default: every task that measured
    ``metric``, and evaluated ``epoch`` when given): its seeds, mean and 95% interval of
    ``metric`` (default: the task's headline metric) at ``epoch`` (default: the group's
    last), its rank in the experiment (1: the lowest mean) and its difference from the rank-1
    group paired by seed (diff, diff_low, diff_high)."""
    measured = table[table["kind"] != "compare"]
    present = sorted(measured["task"].dropna().unique())
    if task is not None and task not in present:
        raise UsageError(f"no run of the task {task!r} in these folders; tasks here: "
                         f"{', '.join(present) or 'none'}")  # fmt: skip
    names = [task] if task else present
    if metric is not None and task is None:  # every task that measured it
        names = sorted(measured.loc[measured["metric"] == metric, "task"].dropna().unique())
        if not names:
            known = ", ".join(sorted(measured["metric"].unique()))
            raise UsageError(f"no run measured {metric}; --metric one of {known}")
    if epoch is not None and task is None:  # every task that evaluated it
        names = [n for n in names
                 if ((measured["task"] == n) & (measured["epoch"] == epoch)).any()]  # fmt: skip
        if not names:
            raise UsageError(f"no run evaluated epoch {epoch}; pass --task to see its epochs")
    parts = [_ranked(measured[measured["task"] == name], name, epoch, metric) for name in names]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def _ranked(rows: pd.DataFrame, task: str, epoch: int | None, metric: str | None):
    metric = metric or tasks.get(task).results.metric
    known = ", ".join(sorted(rows["metric"].unique()))
    rows = rows[rows["metric"] == metric]
    if rows.empty:
        raise UsageError(f"no {metric} values in the {task} runs; --metric one of {known}")
    keys = ["experiment", *GROUP]
    if epoch is None:
        last = rows.groupby(keys, dropna=False)["epoch"].transform("max")
        rows = rows[rows["epoch"] == last]
    else:
        evaluated = sorted(int(e) for e in rows["epoch"].unique())
        rows = rows[rows["epoch"] == epoch]
        if rows.empty:
            shown = (", ".join(map(str, evaluated)) if len(evaluated) <= 12 else
                     f"{evaluated[0]}, {evaluated[1]}, ..., {evaluated[-1]}")  # fmt: skip
            raise UsageError(f"no {task} run evaluated epoch {epoch}; --epoch one of {shown}")
    groups = []
    for values, part in rows.groupby(["experiment", "epoch", *GROUP], sort=False, dropna=False):
        per_seed = part.groupby("seed")["value"].mean()
        groups.append(dict(zip(["experiment", "epoch", *GROUP], values, strict=True))
                      | {"per_seed": per_seed, "seeds": _span(per_seed.index)})  # fmt: skip
    frame = pd.DataFrame(groups)
    out = [_rank(part, task, metric)
           for _, part in frame.groupby(["experiment", "epoch", "seeds"], sort=True)]  # fmt: skip
    return pd.concat(out, ignore_index=True)[COLUMNS]


def _rank(part: pd.DataFrame, task: str, metric: str) -> pd.DataFrame:
    """The groups of one experiment with their intervals, ranked, and each one's paired
    difference from the rank-1 group."""
    part = part.copy()
    stats = [intervals.mean_interval(s.to_numpy()) for s in part["per_seed"]]
    part["mean"], part["low"], part["high"] = zip(*stats, strict=True)
    part["n"] = [int(np.isfinite(s.to_numpy()).sum()) for s in part["per_seed"]]
    part = part.sort_values("mean", na_position="last", kind="stable")
    part["rank"] = range(1, len(part) + 1)
    first = part["per_seed"].iloc[0]
    tests = [intervals.paired_test(s.reindex(first.index).to_numpy(), first.to_numpy())
             for s in part["per_seed"]]  # fmt: skip
    for key in ("diff", "diff_low", "diff_high"):
        part[key] = [math.nan if r == 1 else t[key] for r, t in zip(part["rank"], tests,
                                                                    strict=True)]  # fmt: skip
    part["label"] = _labels(part)
    return part.assign(task=task, metric=metric)


def _labels(part: pd.DataFrame) -> list[str]:
    """method [lam=..] [the settings that differ among the groups of this method] [(kind)]."""
    parsed = [json.loads(s) if isinstance(s, str) else {} for s in part["settings"]]
    show_kind = part["kind"].nunique() > 1
    labels = []
    for (method, lam, kind), mine in zip(part[["method", "lam", "kind"]].itertuples(index=False),
                                         parsed, strict=True):  # fmt: skip
        same = [p for p, m in zip(parsed, part["method"], strict=True) if m == method]
        varying = sorted(k for k in set().union(*same)
                         if len({json.dumps(p.get(k), sort_keys=True) for p in same}) > 1)
        words = [str(method)] + ([f"lam={lam:g}"] if pd.notna(lam) else [])
        words += [f"{k}={_short(mine.get(k))}" for k in varying]
        labels.append(" ".join(words) + (f" ({kind})" if show_kind else ""))
    return labels


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else json.dumps(value)


def _span(seeds) -> str:
    """'10: 0-9', '2: 10001, 10002': how many seeds and which."""
    seeds = sorted(int(s) for s in seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{len(seeds)}: {seeds[0]}-{seeds[-1]}"
    return f"{len(seeds)}: " + ", ".join(map(str, seeds))


def experiments(part: pd.DataFrame):
    """(experiment, epoch, seeds, its ranked groups, the kinds of folder other than "run")
    for every experiment of ``part`` (one task of ``best``) that has a group of two seeds or
    more, in order; then, as the last item, the number left out (one seed per group)."""
    single = 0
    for (folder, at, seeds), groups in part.groupby(["experiment", "epoch", "seeds"],
                                                     sort=True):  # fmt: skip
        if groups["n"].max() < 2:
            single += 1
            continue
        kinds = ", ".join(k for k in dict.fromkeys(groups["kind"]) if k != "run")
        yield folder, at, seeds, groups, kinds
    yield single


def markdown(ranked: pd.DataFrame, epoch: int | None = None) -> str:
    """Per task, one Markdown table row per experiment that has an interval: the group with
    the lowest mean and the next, with their 95% intervals, and next - lowest paired; then
    what the intervals are and what was left out."""
    lines, single = [], 0
    for task, part in ranked.groupby("task", sort=True):
        metric = part["metric"].iloc[0]
        declared = tasks.get(task).results.metric == metric
        where = f"at epoch {epoch}" if epoch is not None else "at each group's last epoch"
        direction = ("lower is better" if declared else
                     "ranked lowest first: the task declares no direction for this metric")
        lines += [f"**{task}**: {metric} {where}; {direction}.", "",
                  table_text.markdown_row(["experiment", "epoch", "seeds", "lowest mean",
                                        "next", "next - lowest (paired)"]),
                  "|---|---|---|---|---|---|"]  # fmt: skip
        found, shown = list(experiments(part)), 0
        single += found.pop()
        for folder, at, seeds, groups, kinds in found:
            top = groups.iloc[0]
            row = [folder + (f" ({kinds})" if kinds else ""), int(at), seeds, _cell(top)]
            if len(groups) > 1:
                second = groups.iloc[1]
                row += [_cell(second), intervals.format_interval(
                    second["diff"], second["diff_low"], second["diff_high"])]  # fmt: skip
            else:
                row += ["-", "-"]
            lines.append(table_text.markdown_row(row))
            shown += 1
        if not shown:
            lines.append("| (no experiment with two seeds or more) | | | | | |")
        lines.append("")
    lines.append(
        "Intervals: mean over seeds [95% Student t interval, mean ± t(n-1, 0.975) s / sqrt(n)], "
        "each group's on its own; next - lowest: the mean of the paired differences over the "
        "seeds both ran, with its 95% t interval, unadjusted. The lowest mean is picked after "
        "the data are seen, so this ranks and does not decide: the verdicts (paired t tests "
        "against a declared reference, Holm-adjusted) are in each folder's summary.md, "
        "sweep.md or tune.md."
        + (f" Left out: {single} experiment(s) whose groups have one seed each (no interval; "
           "e.g. tune trials)." if single else "")
    )  # fmt: skip
    return "\n".join(lines) + "\n"


def _cell(row) -> str:
    return f"{row['label']} {intervals.format_interval(row['mean'], row['low'], row['high'])}"
