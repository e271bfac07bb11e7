"""The shared figure helpers (colors, saving, legends), the curves of every task's runs
(``curves``, from the long rows of the results table) and the figures of the commands that
span tasks (sweeps, comparisons, timing, tuning budgets), drawn from saved tables only. A task
draws only the figures no other task has (``tasks/<task>/``)."""

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import intervals, methods, run_files  # noqa: E402

LINE_STYLES = ("-", "--", ":", "-.")  # a method's groups (its lams), in order
MARKED = 25  # a curve of at most this many evaluations marks each one


def method_color(method: str, index: int) -> str:
    """The matplotlib color of ``method`` (``methods.color_index``; ``index`` for a name the
    registry does not hold)."""
    return f"C{methods.color_index(method, index) % 10}"


_PDFS = ContextVar("pdfs", default=False)  # True inside ``with pdfs():``


@contextmanager
def pdfs():
    """Figures saved inside this block get their PDF too (``wae-bench report``)."""
    token = _PDFS.set(True)
    try:
        yield
    finally:
        _PDFS.reset(token)


def save(fig, stem: Path, pdf: bool = True) -> None:
    """Write stem.png (for READMEs), atomically, and stem.pdf (for papers) when ``pdf`` and
    either inside ``pdfs()`` or stem.pdf exists already (kept in step with the PNG): the end
    of a sweep or tune draws its figure as PNG, ``wae-bench report`` the PDFs as well.
    The PDF carries no creation date, so the same figure gives the same bytes."""
    pdf = pdf and (_PDFS.get() or stem.with_suffix(".pdf").exists())
    formats = [("png", {"dpi": 150}), ("pdf", {"metadata": {"CreationDate": None}})]
    for fmt, options in formats[: 2 if pdf else 1]:
        run_files.atomic_write(stem.with_suffix(f".{fmt}"),
                             lambda tmp, f=fmt, o=options: fig.savefig(tmp, format=f, **o))
    plt.close(fig)


class PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """matplotlib's choice of which log ticks to label, written as plain text: whole numbers
    as integers (16384), others as ``:g`` (0.06, 1e-05); never mathtext, whose parser costs
    about 0.3 s to build in every process."""

    def __call__(self, x, pos=None) -> str:
        """The label of the tick at ``x`` ('' for a tick left unlabelled)."""
        if not super().__call__(x, pos):
            return ""
        return f"{x:.0f}" if x == round(x) and 1 <= x < 1e6 else f"{x:g}"


def log_scale(ax, axis: str = "y", base: float = 10) -> None:
    """A log ``axis`` ("x" or "y") with plain-text tick labels (``PlainLogFormatter``)."""
    getattr(ax, f"set_{axis}scale")("log", base=base)
    scaled = getattr(ax, f"{axis}axis")
    scaled.set_major_formatter(PlainLogFormatter(base))
    scaled.set_minor_formatter(PlainLogFormatter(base, labelOnlyBase=False))


def legend_below(fig, ax, per_row: int = 5) -> float:
    """The legend of ``ax`` under the panels, ``per_row`` entries a row, so that no curve is
    hidden however many methods there are; returns the share of the figure's height it takes
    (for tight_layout's rect)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), per_row), fontsize=9)
    rows = -(-len(labels) // per_row)
    return (0.19 * rows + 0.08) / fig.get_figheight()  # 0.19 inch a row of 9-point text


@dataclass(frozen=True)
class Panel:
    """One panel of ``curves``: ``metric`` against ``x`` ("epoch", or a metric such as
    "seconds" at its mean over seeds at each epoch), labelled ``label`` and ``x_label``; a log
    y axis, or a linear one over ``limits`` when given."""

    metric: str
    label: str
    x: str = "epoch"
    x_label: str = "epoch"
    log: bool = True
    limits: tuple[float, float] | None = None


def curves(rows: pd.DataFrame, panels: list[Panel], stem: Path, *, title: str,
           floors: dict | None = None, per_row: int = 5) -> None:  # fmt: skip
    """Each panel's metric per group of the long ``rows`` (``table_rows``: method, lam, seed,
    epoch, metric, value; a group is a method, or a method at one lam): the mean over seeds at
    each epoch and its 95% t interval as a band (``intervals.half_widths``; none for one seed;
    on a log axis drawn down to a twentieth of the mean at most), and a dashed line at
    ``floors[metric]`` = (value, label). A color per method, a line style per lam, a marker
    per evaluation on curves of at most ``MARKED``; one or two panels in a row, more in rows
    of two or three, sharing the y axis when they show one metric; the legend below."""
    floors = floors or {}
    keys = ["method", "lam"] if rows["lam"].notna().any() else ["method"]
    order = list(pd.unique(rows["method"]))  # methods as the rows list them
    groups = sorted(rows.groupby(keys), key=lambda g: order.index(g[1]["method"].iloc[0]))
    cols = len(panels) if len(panels) <= 2 else 3 if len(panels) > 4 else 2
    lines = -(-len(panels) // cols)
    one_metric = len({p.metric for p in panels}) == 1  # one y axis for all panels
    fig, axes = plt.subplots(lines, cols, figsize=({1: 7.5, 2: 5.5}.get(cols, 4.6) * cols,
                                                   3.4 * lines + 1.0), squeeze=False,
                             sharey=one_metric)  # fmt: skip
    for ax, panel in zip(axes.flat, panels, strict=False):
        for method, part, style in _styled(groups):
            values = part[part["metric"] == panel.metric]
            if values.empty:
                continue
            stats = values.groupby("epoch")["value"].agg(["mean", "std", "count"])
            x = stats.index.to_numpy(dtype=float)
            if panel.x != "epoch":
                x = part[part["metric"] == panel.x].groupby("epoch")["value"].mean()
                x = x.reindex(stats.index).to_numpy(dtype=float)
            half = intervals.half_widths(stats["std"], stats["count"])
            low = stats["mean"] - half
            if panel.log:
                low = np.maximum(low, stats["mean"] / 20)
            color = method_color(method, order.index(method))
            ax.plot(x, stats["mean"], style, marker="o" if len(x) <= MARKED else None, ms=2.5,
                    lw=1.5, color=color, label=_group_label(keys, part))  # fmt: skip
            ax.fill_between(x, low, stats["mean"] + half, color=color, alpha=0.18, lw=0)
        if panel.metric in floors:
            value, label = floors[panel.metric]
            ax.axhline(value, color="0.3", ls="--", lw=1.2, label=label)
        if panel.log:
            log_scale(ax)
        elif panel.limits:
            ax.set_ylim(*panel.limits)
        if panel.x == "epoch":
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True,
                                                                   steps=[1, 2, 5, 10]))
        ax.set_xlabel(panel.x_label, fontsize=9)
        ax.set_ylabel(panel.label, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    seeds = rows["seed"].nunique()
    band = f"mean and 95% interval over {seeds} seeds" if seeds > 1 else "1 seed, no interval"
    heading, _, setting = title.partition("\n")
    fig.suptitle(f"{heading} ({band})" + (f"\n{setting}" if setting else ""), fontsize=10)
    fig.tight_layout(rect=(0, legend_below(fig, axes.flat[0], per_row), 1, 1))
    save(fig, stem)


def _styled(groups: list):
    """(method, rows, line style) of each group; a method's lams take the styles in order."""
    seen: dict[str, int] = {}
    for _, part in groups:
        method = part["method"].iloc[0]
        seen[method] = seen.get(method, -1) + 1
        yield method, part, LINE_STYLES[seen[method] % len(LINE_STYLES)]


def _group_label(keys: list[str], part: pd.DataFrame) -> str:
    """"moca", or "moca, λ = 100" for a group of a method at one lam."""
    method = part["method"].iloc[0]
    return method if keys == ["method"] else f"{method}, λ = {part['lam'].iloc[0]:g}"


def scaling(frame: pd.DataFrame, stem: Path) -> None:
    """Log-log forward+backward time vs batch size per method, and MoCA's time vs queue size
    (a second panel, when the run timed MoCA's queue sizes)."""
    regs = frame[frame.get("role") == "regularizer"]
    moca = regs[regs.get("method") == "moca"]
    if "K" not in moca:  # a partial run without MoCA's queue sizes
        moca = moca.assign(K=pd.Series(dtype=float))
    panels = 2 if len(moca) else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.6), squeeze=False)
    by_batch = axes[0][0]
    markers = {"samples": "^", "uniform": "D"}  # variants of one method (ssw-samples, ...)
    for i, (method, rows) in enumerate(regs.groupby("method", sort=False)):
        if method == "moca":
            continue
        rows = rows.sort_values("batch")
        parts = method.split("-")  # pot-swd, geomloss-sinkhorn, ssw-samples, pot-ssw-uniform
        reference = parts[0] in ("pot", "geomloss")
        base = parts[reference]
        marker = next((m for variant, m in markers.items() if variant in parts), "o")
        by_batch.plot(rows["batch"], rows["median"] * 1e3, "--" if reference else "-",
                      marker=marker, ms=4, color=method_color(base, i),
                      alpha=0.6 if reference else 1.0, label=method)  # fmt: skip
    for j, (queue, rows) in enumerate(moca.groupby("K")):
        rows = rows.sort_values("batch")
        shade = ["#f4a582", "#d6604d", "#67001f"][j % 3]
        by_batch.plot(rows["batch"], rows["median"] * 1e3, "-", marker="s", ms=4, color=shade,
                      label=f"moca K={int(queue)}")  # fmt: skip
    by_batch.set_title("Regularizer cost vs batch size (d = 128; dashed: library references)",
                       fontsize=10)  # fmt: skip
    if panels == 2:
        by_queue = axes[0][1]
        for j, (batch, rows) in enumerate(moca.groupby("batch")):
            rows = rows.sort_values("K")
            by_queue.plot(rows["K"], rows["median"] * 1e3, "-", marker="s", ms=4,
                          color=f"C{j}", label=f"B={int(batch)}")  # fmt: skip
        by_queue.set_title("MoCA cost vs queue size", fontsize=10)
    for ax, xlabel in zip(axes[0], ("batch size B", "queue size K"), strict=False):
        log_scale(ax, "x", base=2)
        log_scale(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("forward + backward, median (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    save(fig, stem)


def sweep_axis(frame: pd.DataFrame, axis: str, metric: str, label: str, stem: Path, *,
               scale: str = "linear") -> None:  # fmt: skip
    """Last-epoch ``metric`` (named ``label``) vs one swept parameter, the mean over seeds and
    its 95% t interval (``intervals.half_widths``, as sweep.md's), one line per method.
    ``scale`` "log1m" places each value at 1 - value on a log axis (momenta: 0.9, 0.99 and
    0.999 a decade apart); otherwise values spanning a decade get a log axis."""
    done = frame[(frame["status"] == "finished") & frame[axis].notna()]
    failed = frame[(frame["status"] != "finished") & frame[axis].notna()]
    position = (lambda v: 1 - v) if scale == "log1m" else (lambda v: v)  # noqa: E731
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (method, rows) in enumerate(done.groupby("method", sort=False)):
        stats = rows.groupby(axis)[metric].agg(["mean", "std", "count"])
        half = intervals.half_widths(stats["std"], stats["count"])
        ax.errorbar(position(stats.index.to_numpy(dtype=float)), stats["mean"],
                    yerr=np.nan_to_num(half), marker="o", ms=5, capsize=3,
                    color=method_color(method, i), label=method)  # fmt: skip
    for value in failed[axis].unique():
        ax.axvline(position(float(value)), color="0.6", ls=":", lw=1)
    values = position(done[axis].astype(float))
    if scale == "log1m":  # ticks name the values; m grows to the right as 1 - m shrinks
        log_scale(ax, "x")
        ticks = sorted(set(values))
        ax.set_xticks(ticks, [f"{1 - t:g}" for t in ticks])
        ax.minorticks_off()
        ax.invert_xaxis()
        ax.set_xlabel(f"{axis} (axis: log of 1 - {axis})")
    else:
        if len(values) and values.min() > 0 and values.max() / values.min() >= 10:
            log_scale(ax, "x")
        ax.set_xlabel(axis)
    ax.set_ylabel(f"{label}, last epoch")
    seeds = done["seed"].nunique()
    note = ", dotted: diverged/failed runs" if len(failed) else ""
    ax.set_title(f"{metric} vs {axis} (mean and 95% t interval over {seeds} seeds{note})",
                 fontsize=10)  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save(fig, stem)


def compare_curves(frames: dict[str, pd.DataFrame], metric: str, label: str,
                   stem: Path) -> None:  # fmt: skip
    """``metric`` (named ``label``; mean over seeds) vs epoch of several runs: color = method
    (and lam), line style = run (the first, the reference, solid)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    styles = ["-", "--", ":", "-."]
    for r, frame in enumerate(frames.values()):
        keys = ["method", "lam"] if "lam" in frame else ["method"]
        for i, (values, runs) in enumerate(frame.groupby(keys, sort=False)):
            values = values if isinstance(values, tuple) else (values,)
            group = values[0] + (f", λ = {values[1]:g}" if len(values) > 1 else "")
            mean = runs.groupby("epoch")[metric].mean()
            ax.plot(mean.index, mean, styles[r % 4], color=f"C{i % 10}", lw=1.6,
                    label=f"{group} (run {r + 1})")  # fmt: skip
    log_scale(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{label} (mean over seeds)")
    runs = "; ".join(f"run {r + 1}: {Path(name).name}" for r, name in enumerate(frames))
    ax.set_title(f"{metric} of {len(frames)} runs ({runs})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    save(fig, stem)


def budget_curves(reached: dict[str, list[float]], label: str, stem: Path,
                  expected: dict[str, list[tuple[float, float]]] | None = None) -> None:
    """Best validation metric each method's study had reached after n = 1..N trials, in the
    order they ran (a step line per method); with ``expected`` (random-search studies only),
    Dodge's expected best after n random trials, mean ± std, dashed."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    values = []
    for i, (method, best) in enumerate(reached.items()):
        color = method_color(method, i)
        ax.step(range(1, len(best) + 1), best, where="post", color=color, label=method, lw=1.8,
                marker="o" if len(best) == 1 else None)  # a study of one trial: a point
        values += [v for v in best if math.isfinite(v)]
        if expected and expected.get(method):
            mean, std = (pd.Series(v) for v in zip(*expected[method], strict=True))
            n = range(2, len(mean) + 2)  # the random draws follow the default trial
            ax.plot(n, mean, color=color, ls="--", lw=1.2)
            ax.fill_between(n, mean - std, mean + std, color=color, alpha=0.12, lw=0)
    if values and min(values) > 0 and max(values) / min(values) >= 10:  # methods far apart
        log_scale(ax)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("trials run (n; trial 1 is the default setting)")
    ax.set_ylabel(f"best validation {label}")
    title = "Best validation score after n trials, in the order they ran"
    if expected:
        title += "\n(dashed: expected best of n - 1 random trials, Dodge et al.; band ± 1 std)"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    bottom = legend_below(fig, ax)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    save(fig, stem)
