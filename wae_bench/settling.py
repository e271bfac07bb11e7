"""Whether each group's curve has flattened: over the last part of the run, the metric must
move by less than its seed interval at the last epoch.

For a group with evaluations at epochs e_0 < ... < e_n = last, the span starts at the latest
evaluation e_s <= (1 - SPAN) * last, so it covers at least the last SPAN of the epochs. Per
seed the change is metric(last) - metric(e_s); the group has settled when the mean change
over seeds, in absolute value, is below the half-width of the 95% t interval of the metric at
the last epoch: what more epochs would still move lies inside what another seed moves.
"""

import math

import pandas as pd

from . import intervals
from .summary import group_label

SPAN = 0.2  # the last fifth of the epochs
COLUMNS = ("from_epoch", "to_epoch", "change", "half_width", "settled")


def settling(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """One row per group: from_epoch, to_epoch, change (mean over seeds), half_width (of the
    last epoch's interval) and settled (NaN half-width, one seed: not settled)."""
    rows = []
    for values, runs in frame.groupby(keys, sort=False, dropna=False):
        last = int(runs["epoch"].max())
        before = runs.loc[runs["epoch"] <= (1 - SPAN) * last, "epoch"]
        start = int(before.max()) if len(before) else last
        per_seed = runs.pivot_table(index="seed", columns="epoch", values=value)
        change = (per_seed[last] - per_seed[start]).mean()
        _, low, high = intervals.mean_interval(per_seed[last])
        half = (high - low) / 2
        rows.append({"group": group_label(keys, values), "from_epoch": start, "to_epoch": last,
                     "change": change, "half_width": half,
                     "settled": bool(abs(change) < half)})  # False for a NaN half-width
    return pd.DataFrame(rows)


def settling_lines(summary: pd.DataFrame, keys: list[str], label: str) -> list[str]:
    """summary.md's lines: the rule, then one line per group of ``summary`` (its ``keys`` and
    the ``settling_*`` columns of ``COLUMNS``)."""
    head = (f"Settled? The {label} must move, from the last evaluation at or before "
            f"{1 - SPAN:.0%} of the epochs to the last, by less than the half-width of its 95% "
            "seed interval at the last epoch (mean change over seeds):")
    lines = [head, ""]
    for _, r in summary.iterrows():
        if math.isnan(r["settling_half_width"]):
            state = "one seed, no interval"
        else:
            state = "settled" if r["settling_settled"] else "**still moving**"
        lines.append(f"- {group_label(keys, tuple(r[k] for k in keys))}: "
                     f"{r['settling_change']:+.3g} from epoch {int(r['settling_from_epoch'])} to "
                     f"{int(r['settling_to_epoch'])}, half-width {r['settling_half_width']:.3g}: "
                     f"{state}")
    return lines
