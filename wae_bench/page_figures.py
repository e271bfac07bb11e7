"""The figures of a results page, as plotly.js specs (plain dicts) drawn from the long results
table (``results_table``) and a tune's trials.csv and final.csv.

A curve is a group's mean over seeds at each epoch with its 95% Student t band, mean +-
t_{n-1, 0.975} s / sqrt(n) (``intervals``); against seconds, x is the mean training time at
that epoch. Each figure has a linear/log switch; a group's band and line share a legend group,
so a click on its legend entry hides both. Text that plotly.js renders (trace names, titles)
is HTML-escaped: plotly.js reads a few tags in text (<b>, <a href=...>) and decodes entities,
so an escaped name shows as the characters it holds and is never a tag.
"""

import html
import json
import math

import numpy as np
import pandas as pd

from . import intervals, methods, run_files

GROUP = ["kind", "method", "lam", "settings"]
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
DASHES = ("solid", "dash", "dot", "dashdot")
SECONDS = "seconds"


def text(value) -> str:
    """``value`` as text plotly.js shows as it is (its <, > and & escaped)."""
    return html.escape(str(value), quote=False)


def _num(value):
    """A float with 5 significant digits (a smaller page), None for NaN or infinity."""
    value = float(value)
    return float(f"{value:.5g}") if math.isfinite(value) else None


def _nums(values) -> list:
    return [_num(v) for v in values]


def _rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def group_key(row) -> tuple:
    """(kind, method, lam or None, settings) of a table row or group tuple."""
    kind, method, lam, settings = row
    return (kind, method, None if pd.isna(lam) else float(lam), settings)


def layout(title: str, x: str, y: str, log_y: bool = False, height: int = 380,
           **extra) -> dict:  # fmt: skip
    """A figure's layout: its title at the top left, a linear/log switch for its y axis
    under it, plotly's tool bar at the top right."""
    switch = {"type": "buttons", "direction": "right", "showactive": True, "active": int(log_y),
              "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom", "pad": {"l": 0},
              "font": {"size": 11},
              "buttons": [{"label": f"y {scale}", "method": "relayout",
                           "args": [{"yaxis.type": scale}]}
                          for scale in ("linear", "log")]}  # fmt: skip
    return {"title": {"text": text(title), "x": 0.01, "xanchor": "left", "y": 0.985,
                      "yanchor": "top", "yref": "container", "font": {"size": 14}},
            "xaxis": {"title": {"text": text(x)}}, "margin": {"l": 60, "r": 20, "t": 80, "b": 45},
            "yaxis": {"title": {"text": text(y)}, "type": "log" if log_y else "linear"},
            "updatemenus": [switch], "legend": {"font": {"size": 11}}, "height": height,
            "hovermode": "closest", **extra}  # fmt: skip


def _log_default(values) -> bool:
    """Log y by default when every value is positive and they span more than 20x."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    return values.size > 1 and bool((values > 0).all()) and values.max() > 20 * values.min()


def varying_metrics(rows: pd.DataFrame) -> list[str]:
    """The metrics of ``rows`` that change with the epoch in some (run, group, seed): a
    constant one (a noise floor) is a number in the table, not a curve."""
    keys = ["run", *GROUP, "seed", "metric"]
    spread = rows.groupby(keys, dropna=False, sort=False)["value"].agg(["min", "max"])
    moving = spread[spread["max"] > spread["min"]].index.get_level_values("metric")
    return [m for m in pd.unique(rows["metric"]) if m in set(moving)]


def _band(values: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: mean, low and high of the 95% t interval over the seeds' values."""
    stats = values.groupby("epoch")["value"].agg(["mean", "std", "count"])
    half = intervals.half_widths(stats["std"], stats["count"])  # NaN (one seed): no band
    return stats.assign(low=stats["mean"] - half, high=stats["mean"] + half)


def curves(rows: pd.DataFrame, labels: dict, prefix: str) -> list[dict]:
    """The figures of one experiment's rows: each varying metric against epoch and, where
    the runs record seconds, against seconds. ``labels``: {group key: label}."""
    groups = [(group_key(key), part) for key, part in
              rows.groupby(GROUP, dropna=False, sort=False)]  # fmt: skip
    order = list(dict.fromkeys(key[1] for key, _ in groups))  # methods as the runs list them
    groups.sort(key=lambda g: order.index(g[0][1]))  # a method's groups side by side
    styles = _styles([key for key, _ in groups])
    height = max(380, 23 * len(groups) + 160)  # room for every legend entry
    has_seconds = SECONDS in set(rows["metric"])
    figures = []
    for metric in varying_metrics(rows):
        axes = [("epoch", "epoch")]
        if has_seconds and metric != SECONDS:
            axes.append((SECONDS, "training seconds (mean over seeds)"))
        for axis, axis_title in axes:
            data, ys = [], []
            for index, (key, part) in enumerate(groups):
                values = part[part["metric"] == metric]
                if values.empty:
                    continue
                stats = _band(values)
                if axis == SECONDS:
                    seconds = part[part["metric"] == SECONDS].groupby("epoch")["value"].mean()
                    x = seconds.reindex(stats.index).to_numpy()
                else:
                    x = stats.index.to_numpy()
                label = labels.get(key, str(key[1]))
                data += _trace_group(label, index, styles[index], x, stats)
                ys += _nums(stats["mean"])
            if data:
                figures.append({"id": f"{prefix}-{len(figures)}", "data": data,
                                "wide": len(groups) > 6,
                                "layout": layout(f"{metric} vs {axis}", axis_title, metric,
                                                 _log_default(ys), height)})  # fmt: skip
    return figures


def _method_color(method: str, index: int) -> str:
    """The color of ``method`` in every figure and page (``methods.color_index``)."""
    return COLORS[methods.color_index(method, index) % len(COLORS)]


def _styles(keys: list[tuple]) -> list[tuple[str, str]]:
    """(color, dash) of each group: a color per method and a dash per group of it when there
    are several methods with at most four groups each (a tune's default and tuned run), else
    a color per group (a sweep's settings)."""
    order = list(dict.fromkeys(k[1] for k in keys))
    seen: dict = {}
    dashes = []
    for key in keys:
        dashes.append(seen.get(key[1], 0))
        seen[key[1]] = dashes[-1] + 1
    if len(order) > 1 and max(seen.values()) <= 4:
        return [(_method_color(k[1], order.index(k[1])), DASHES[d])
                for k, d in zip(keys, dashes, strict=True)]  # fmt: skip
    return [(COLORS[i % len(COLORS)], DASHES[i // len(COLORS) % len(DASHES)])
            for i in range(len(keys))]  # fmt: skip


def _trace_group(label: str, index: int, style: tuple[str, str], x,
                 stats: pd.DataFrame) -> list[dict]:  # fmt: skip
    """The band (upper edge, then lower edge filled to it) and the mean line of one group."""
    (color, dash), group = style, f"g{index}"
    edge = {"type": "scatter", "mode": "lines", "x": _nums(x), "line": {"width": 0},
            "legendgroup": group, "showlegend": False, "hoverinfo": "skip"}  # fmt: skip
    return [
        edge | {"y": _nums(stats["high"]), "name": text(f"{label} 95% high")},
        edge | {"y": _nums(stats["low"]), "name": text(f"{label} 95% low"), "fill": "tonexty",
                "fillcolor": _rgba(color, 0.2)},
        {"type": "scatter", "mode": "lines+markers", "x": _nums(x), "y": _nums(stats["mean"]),
         "name": text(label), "legendgroup": group,
         "line": {"color": color, "width": 2, "dash": dash},
         "marker": {"size": 4}, "customdata": [int(n) for n in stats["count"]],
         "hovertemplate": "%{y:.4g} (mean of %{customdata} seeds)"},
    ]


def best_so_far(trials: pd.DataFrame, metric: str) -> dict:
    """Best score so far against the trial number, one line per method (trials.csv)."""
    data = []
    for index, (method, part) in enumerate(trials.groupby("method", sort=False)):
        part = part.sort_values("trial")
        best = part["value"].astype(float).cummin()
        data.append({"type": "scatter", "mode": "lines+markers", "name": text(method),
                     "x": [int(t) + 1 for t in part["trial"]], "y": _nums(best),
                     "line": {"shape": "hv", "color": _method_color(method, index)}})  # fmt: skip
    return {"id": "tune-best", "data": data,
            "layout": layout(f"best {metric} so far vs trial", "trial (1: the default setting)",
                             metric, _log_default(v for d in data for v in d["y"]))}  # fmt: skip


def parameters(trials: pd.DataFrame, defaults: dict, metric: str) -> list[dict]:
    """Per method, each trial's score against each parameter the study chose, one panel per
    parameter; the default trial (a star) at the default setting ``defaults[method]``."""
    figures = []
    for index, (method, part) in enumerate(trials.groupby("method", sort=False)):
        settings = [defaults.get(method, {}) if d else _setting(s)
                    for d, s in zip(part["default"], part["setting"], strict=True)]  # fmt: skip
        names = sorted({k for s, d in zip(settings, part["default"], strict=True) if not d
                        for k in s if s.get(k) is not None})  # what the study chose
        if not names:
            continue
        data, axes = [], {}
        width = 1 / len(names)
        for i, name in enumerate(names):
            chosen = [(s[name], v, "star" if d else "circle",
                       text(f"trial {t + 1}" + (" (default)" if d else "")))
                      for s, v, d, t in zip(settings, part["value"], part["default"],
                                            part["trial"], strict=True)
                      if s.get(name) is not None]  # fmt: skip
            suffix = "" if i == 0 else str(i + 1)
            values = [c[0] for c in chosen]
            data.append({"type": "scatter", "mode": "markers", "name": text(name),
                         "x": [_num(v) if isinstance(v, (int, float)) else text(v)
                               for v in values], "y": _nums(c[1] for c in chosen),
                         "xaxis": f"x{suffix}", "yaxis": "y",
                         "marker": {"color": _method_color(method, index), "size": 7,
                                    "symbol": [c[2] for c in chosen]},
                         "text": [c[3] for c in chosen]})  # fmt: skip
            numeric = [v for v in values if isinstance(v, (int, float))]
            axes[f"xaxis{suffix}"] = {
                "domain": [i * width + (0.04 if i else 0), (i + 1) * width - 0.04],
                "title": {"text": text(name)}, "anchor": "y",
                "type": "log" if _log_default(numeric) and len(numeric) == len(values)
                else "-"}  # fmt: skip
        scores = _nums(part["value"])
        base = layout(f"{method}: trials' score vs their parameters", "", metric,
                      _log_default(scores), showlegend=False)  # fmt: skip
        figures.append({"id": f"tune-params-{len(figures)}", "data": data,
                        "layout": base | axes})  # fmt: skip
    return figures


def _setting(raw) -> dict:
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def default_vs_tuned(final: pd.DataFrame, metric: str) -> dict:
    """Per method, the default and the tuned arm on the final seeds: mean with its 95% t
    interval as error bars, and each seed's value (final.csv)."""
    data, methods = [], list(pd.unique(final["method"]))
    for index, arm in enumerate(sorted(final["arm"].unique())):
        part = final[final["arm"] == arm]
        stats = [intervals.mean_interval(part.loc[part["method"] == m, metric].to_numpy(float))
                 for m in methods]  # fmt: skip
        means = [s[0] for s in stats]
        color = COLORS[index % len(COLORS)]
        data.append({"type": "scatter", "mode": "markers", "name": text(f"{arm} (mean, 95% t)"),
                     "x": [text(m) for m in methods], "y": _nums(means),
                     "legendgroup": f"arm{index}", "offsetgroup": str(index),
                     "marker": {"color": color, "size": 10, "symbol": "diamond"},
                     "error_y": {"type": "data", "symmetric": False,
                                 "array": _nums(s[2] - s[0] for s in stats),
                                 "arrayminus": _nums(s[0] - s[1] for s in stats)}})  # fmt: skip
        data.append({"type": "scatter", "mode": "markers", "name": text(f"{arm}, each seed"),
                     "x": [text(m) for m in part["method"]], "y": _nums(part[metric]),
                     "legendgroup": f"arm{index}", "showlegend": False,
                     "marker": {"color": _rgba(color, 0.5), "size": 5},
                     "text": [f"seed {int(s)}" for s in part["seed"]]})  # fmt: skip
    return {"id": "tune-final", "data": data,
            "layout": layout(f"default vs tuned on the final seeds: {metric}", "method", metric,
                             _log_default(v for d in data for v in d["y"]),
                             scattermode="group")}  # fmt: skip


def read_tune(folder) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(trials.csv, final.csv) of a tune folder, None for a file it has not written yet; a
    damaged file is bad input (``run_files.read_csv``)."""
    out = []
    for name, columns in (("trials.csv", ("method", "trial", "default", "value", "setting")),
                          ("final.csv", ("method", "arm", "seed"))):  # fmt: skip
        path = folder / name
        out.append(run_files.read_csv(path, columns=columns) if path.is_file() else None)
    return out[0], out[1]
