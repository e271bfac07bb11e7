"""The latent task's figures: SWD against epoch and seconds (``plots.curves``), and the
dimension study's SWD / noise floor against the latent dimension. Imported only when a figure
is drawn (``wae-bench report``), so that a run's end never loads matplotlib."""

from pathlib import Path

import numpy as np
import pandas as pd

from ...intervals import half_widths
from ...plots import Panel, curves, legend_below, log_scale, method_color, plt, save

PANELS = [Panel("swd", "latent SWD to prior (SW₂)"),
          Panel("swd", "latent SWD to prior (SW₂)", "seconds",
                "training time (s, mean over seeds)")]  # fmt: skip


def curves_figure(rows: pd.DataFrame, stem: Path, setting: str = "") -> None:
    """SWD vs epoch and vs training seconds (``plots.curves`` of the long ``rows``), log y,
    the noise floor as a dashed line."""
    floor = rows.loc[rows["metric"] == "noise_floor"].groupby("seed")["value"].first().mean()
    title = "Synthetic latent matching" + (f"\n{setting}" if setting else "")
    curves(rows, PANELS, stem, title=title,
           floors={"swd": (floor, "noise floor (prior vs prior)")})  # fmt: skip


def study_figure(summary: pd.DataFrame, stem: Path, epochs: int) -> None:
    """Final latent SWD / noise floor vs latent dimension per method, one panel per batch
    size; log-log, band = the mean's 95% t interval over seeds (``intervals.half_widths``, as
    summary.md's), dashed line = the floor."""
    sizes = list(dict.fromkeys(summary["batch_size"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4.3), sharey=True,
                             squeeze=False)  # fmt: skip
    for ax, size in zip(axes[0], sizes, strict=True):
        part = summary[summary["batch_size"] == size]
        for i, (method, rows) in enumerate(part.groupby("method", sort=False)):
            rows = rows.sort_values("latent_dim")
            half = np.nan_to_num(half_widths(rows["ratio_std"], rows["seeds"]))
            low = np.maximum(rows["ratio_mean"] - half, rows["ratio_mean"] / 20)  # log axis
            color = method_color(method, i)
            ax.plot(rows["latent_dim"], rows["ratio_mean"], "-o", ms=4, color=color, lw=1.6,
                    label=method)  # fmt: skip
            ax.fill_between(rows["latent_dim"], low, rows["ratio_mean"] + half, color=color,
                            alpha=0.15, lw=0)  # fmt: skip
        ax.axhline(1.0, color="0.3", ls="--", lw=1.2, label="noise floor")
        log_scale(ax, "x", base=2)
        log_scale(ax)
        ax.set_xticks(sorted(part["latent_dim"].unique()))
        ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
        ax.set_xlabel("latent dimension d")
        ax.set_title(f"batch size {size}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"latent SWD / noise floor after {epochs} epochs")
    bottom = legend_below(fig, axes[0][0])
    seeds = int(summary["seeds"].max())
    fig.suptitle(f"Latent matching vs dimension (mean and 95% t interval over {seeds} seeds; "
                 "lower is better, 1 = indistinguishable from the prior)", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, bottom, 1, 1))
    save(fig, stem)
