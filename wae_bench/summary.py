"""The one summary of a result frame: each group's mean and 95% interval over seeds, its
paired test against a declared reference group, and the verdicts in words.

A group is a method (or a method at one lam, or a sweep point); a seed fixes the data,
initial weights and batches of every group alike, so groups are compared pair by pair over
seeds (``intervals``). The reference is declared before the data are seen: the method of
``--baseline``, else the paper's method (MoCA) when the table has it, else the first method
as listed. A group of another method is compared with the reference method's group at the
same other keys (mmd lam=10 against moca lam=10), else with the reference method's first
group; the reference method's other groups (its other lams, a sweep's other points) are
compared with its first group. Every verdict of one summary is one family (Holm). Every
summary of the suite (latent, image, dimension study, sweep, compare, tune) is written from
these rows.
"""

import math
import numbers

import numpy as np
import pandas as pd

from . import intervals

PAPER_METHOD = "moca"  # the declared reference when a table has it and no --baseline is given
COLUMNS = ["method", "seeds", "mean", "low", "high", "reference", *intervals.COMPARISON]


def group_label(keys: list[str], values) -> str:
    """'moca', or 'moca lam=10' when the group has more keys than the method; a number as
    ``:g`` writes it (lam=1e+07), however the result file spelled it."""
    values = values if isinstance(values, tuple) else (values,)
    parts = [str(values[0])]
    parts += [f"{k}={v:g}" if isinstance(v, numbers.Real) and not isinstance(v, bool)
              else f"{k}={v}"
              for k, v in zip(keys[1:], values[1:], strict=True)]  # fmt: skip
    return " ".join(parts)


def _groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple]:
    """The key values of every group, in the frame's order."""
    return [v if isinstance(v, tuple) else (v,)
            for v, _ in frame.groupby(keys, sort=False, dropna=False)]  # fmt: skip


def references(groups: list[tuple], baseline: str | None = None) -> dict[tuple, tuple | None]:
    """{group: the group it is compared with (None for the reference itself)}; see the
    module docstring for the rule."""
    methods = list(dict.fromkeys(g[0] for g in groups))
    if baseline not in methods:
        baseline = PAPER_METHOD if PAPER_METHOD in methods else (methods[0] if methods else None)
    own = [g for g in groups if g[0] == baseline]
    first = own[0] if own else None
    out = {}
    for g in groups:
        if g[0] == baseline:
            out[g] = None if g == first else first
        else:
            matched = (baseline, *g[1:])
            out[g] = matched if matched in own else first
    return out


def by_seed(frame: pd.DataFrame, keys: list[str], value: str) -> dict[str, np.ndarray]:
    """{group label: its values, one per seed of the frame in one seed order (NaN: none)}."""
    seeds = sorted(frame["seed"].unique())
    return {
        group_label(keys, values): rows.groupby("seed")[value].mean().reindex(seeds).to_numpy(
            dtype=float)
        for values, rows in frame.groupby(keys, sort=False, dropna=False)
    }  # fmt: skip


def _rows(frame: pd.DataFrame, keys: list[str], value: str,
          baseline: str | None) -> pd.DataFrame:  # fmt: skip
    """One row per group: its mean interval and its paired test against its reference (p
    unadjusted, p_adj NaN until the family is judged)."""
    table = by_seed(frame, keys, value)
    rows = []
    for group, ref in references(_groups(frame, keys), baseline).items():
        label = group_label(keys, group)
        values = table[label]
        mean, low, high = intervals.mean_interval(values)
        row = {"method": label, "seeds": int(np.isfinite(values).sum()), "mean": mean,
               "low": low, "high": high, "reference": None}  # fmt: skip
        row |= dict.fromkeys(intervals.COMPARISON, math.nan)
        if ref is not None:
            row["reference"] = group_label(keys, ref)
            row |= intervals.paired_test(values, table[row["reference"]])
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def judge(tables: dict, *, label: str) -> dict:
    """Holm over every comparison of ``tables`` ({key: (rows, where)}: one family); returns
    {key: (rows with p_adj, verdict sentences)}, the verdicts in row order."""
    keys = list(tables)
    p = np.concatenate([tables[k][0]["p"].to_numpy(dtype=float) for k in keys] or [[]])
    adjusted = intervals.holm(p)
    out, start = {}, 0
    for key in keys:
        rows, where = tables[key]
        rows = rows.assign(p_adj=adjusted[start:start + len(rows)])
        start += len(rows)
        head = " ".join(part for part in (label, where) if part)
        seeds = rows.set_index("method")["seeds"]
        verdicts = [
            intervals.verdict(r["method"], r["reference"], r, head=head,
                              seeds=int(max(seeds[r["method"]], seeds[r["reference"]])))
            for _, r in rows.iterrows() if pd.notna(r["reference"])
        ]  # fmt: skip
        out[key] = (rows, verdicts)
    return out


def compare_family(parts: dict, keys: list[str], value: str, *, label: str,
                   baseline: str | None = None) -> dict:  # fmt: skip
    """{key: (rows, verdicts)} of ``parts`` ({key: (frame, where)}), judged as one family."""
    return judge({k: (_rows(frame, keys, value, baseline), where)
                  for k, (frame, where) in parts.items()}, label=label)  # fmt: skip


def compared(frame: pd.DataFrame, keys: list[str], value: str, *, where: str = "",
             label: str = "", baseline: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Rows per group (mean, low, high, reference, pairs, diff, diff_low, diff_high, p,
    p_adj) and the verdict sentences for ``value`` in ``frame`` (one row per group and
    seed), its comparisons one family."""
    return compare_family({0: (frame, where)}, keys, value, label=label, baseline=baseline)[0]


def legend(parts) -> str:
    """``intervals.legend`` for the compared parts ({key: (rows, verdicts)} or one (rows,
    verdicts)): the most seeds of a group and the family's number of tests."""
    parts = [parts] if isinstance(parts, tuple) else list(parts.values())
    frames = [rows for rows, _ in parts]
    seeds = max((int(f["seeds"].max()) for f in frames if len(f)), default=0)
    tests = sum(int(np.isfinite(f["p"].to_numpy(dtype=float)).sum()) for f in frames)
    return intervals.legend(seeds, tests)


def reported_epochs(frame: pd.DataFrame, summary_epochs: tuple[int, ...]) -> list[int]:
    """The epochs a summary reports: the task's ``summary_epochs`` that ``frame`` evaluated
    before its last epoch, then the last one."""
    last = int(frame["epoch"].max())
    evaluated = set(frame["epoch"].astype(int))
    return [e for e in summary_epochs if e < last and e in evaluated] + [last]


def compare_epochs(frame: pd.DataFrame, keys: list[str], value: str, epochs: list[int], *,
                   label: str, baseline: str | None = None) -> dict[int, tuple]:  # fmt: skip
    """{epoch: ``compared`` rows and verdicts of ``value`` at that epoch}, in epoch order, all
    epochs one family."""
    parts = {e: (frame[frame["epoch"] == e], f"at epoch {e}") for e in epochs}
    return compare_family(parts, keys, value, label=label, baseline=baseline)


def metric_columns(runs: pd.DataFrame, value: str, by_epoch: dict[int, tuple], group: str,
                   names: dict[int, str], *, reference_column: str) -> dict:  # fmt: skip
    """A summary row's columns for one group (``runs``: its rows, one per seed and epoch):
    per epoch of ``by_epoch`` (``compare_epochs``) NAME_mean, NAME_std over seeds and the 95%
    interval NAME_low, NAME_high (NAME from ``names``); then, at the last epoch, the group it
    is compared with (``reference_column``) and vs_ref_diff, _diff_low, _diff_high, _p_adj."""
    row = {}
    for epoch, (rows, _) in by_epoch.items():
        at, name = runs.loc[runs["epoch"] == epoch, value], names[epoch]
        found = row_of(rows, group)
        row |= {f"{name}_mean": at.mean(), f"{name}_std": at.std(),
                f"{name}_low": found["low"], f"{name}_high": found["high"]}  # fmt: skip
    last = row_of(by_epoch[max(by_epoch)][0], group)
    row[reference_column] = last["reference"]
    return row | {f"vs_ref_{key}": last[key] for key in ("diff", "diff_low", "diff_high", "p_adj")}


def table(frame: pd.DataFrame, keys: list[str], value: str, by_epoch: dict[int, tuple],
          names: dict[int, str], *, reference_column: str, extra=None) -> pd.DataFrame:
    """The summary table of a result frame (one row per group and seed and epoch), for every
    task: one row per group of ``keys`` with the keys, its number of seeds, ``metric_columns``
    of ``value`` at the epochs of ``by_epoch`` (``compare_epochs``), then ``extra(rows)``: the
    task's own columns of the group (e.g. the time to the noise floor)."""
    out = []
    for values, rows in frame.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        row = dict(zip(keys, values, strict=True)) | {"seeds": rows["seed"].nunique()}
        row |= metric_columns(rows, value, by_epoch, group_label(keys, values), names,
                              reference_column=reference_column)  # fmt: skip
        out.append(row | (extra(rows) if extra is not None else {}))
    return pd.DataFrame(out)


def row_of(rows: pd.DataFrame, group: str) -> dict:
    """The row of ``group`` in a ``compared`` table, NaN where the group has no value there
    (e.g. an epoch the run did not evaluate)."""
    found = rows[rows["method"] == group]
    if found.empty:
        return dict.fromkeys(COLUMNS, math.nan) | {"method": group, "reference": None}
    return found.iloc[0].to_dict()


def reference_group(rows: pd.DataFrame) -> str:
    """The label of the group that ``rows`` (a ``compared`` table) compare the others with."""
    return str(rows.loc[rows["reference"].isna(), "method"].iloc[0])


def cell(row) -> str:
    """'mean [low, high]' of a row of ``compared`` (the mean alone for one seed, '-' for none)."""
    return intervals.format_interval(row["mean"], row["low"], row["high"])


def difference_cell(row, *, named: bool = False) -> str:
    """'diff [low, high], p = p_adj' against the reference ('... vs REF, p = ...' when
    ``named``); 'reference' on the reference's own row."""
    if pd.isna(row["reference"]):
        return "reference" if math.isfinite(row["mean"]) else "-"
    if not math.isfinite(row["diff"]):
        return "-"
    difference = intervals.format_interval(row["diff"], row["diff_low"], row["diff_high"])
    against = f" vs {row['reference']}" if named else ""
    return f"{difference}{against}, {intervals.format_p(row['p_adj'])}"


def verdict_lines(verdicts: list[str]) -> list[str]:
    """The Markdown list that ends a summary."""
    return [f"- {v}" for v in verdicts] or ["- one group only: nothing to compare"]


def verdict_section(parts, heading: str = "Verdicts") -> list[str]:
    """The lines that end a summary of compared ``parts`` ({key: (rows, verdicts)} or one
    (rows, verdicts)): the intervals' ``legend``, then ``heading`` and every verdict, in the
    parts' order."""
    found = [parts] if isinstance(parts, tuple) else list(parts.values())
    verdicts = [v for _, part in found for v in part]
    return [legend(parts), "", f"{heading}:", "", *verdict_lines(verdicts)]
