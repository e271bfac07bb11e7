"""Figures, drawn from saved result tables only."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from . import results  # noqa: E402

METHOD_COLORS = {"moca": "C3", "mmd": "C0", "swd": "C2", "sinkhorn": "C1", "gan": "C4"}


def method_color(method: str, index: int) -> str:
    return METHOD_COLORS.get(method, f"C{5 + index % 5}")


def save(fig, stem: Path) -> None:
    """Write stem.png (for READMEs) and stem.pdf (for papers), atomically."""
    for suffix, dpi in ((".png", 150), (".pdf", None)):
        path = stem.with_suffix(suffix)
        results.atomic_write(
            path, lambda tmp, s=suffix, d=dpi: fig.savefig(tmp, dpi=d, format=s[1:])
        )
    plt.close(fig)


def latent_curves(curves: pd.DataFrame, stem: Path, setting: str = "") -> None:
    """SWD vs epoch and vs training seconds, log y, mean +- std band, noise floor line."""
    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    seeds = curves["seed"].nunique()
    for i, (method, runs) in enumerate(curves.groupby("method", sort=False)):
        stats = runs.groupby("epoch").agg(
            swd=("swd", "mean"), std=("swd", "std"), seconds=("seconds", "mean")
        )
        std = stats["std"].fillna(0.0)
        low = (stats["swd"] - std).clip(lower=stats["swd"] * 0.05)
        color = method_color(method, i)
        for ax, x in ((by_epoch, stats.index), (by_time, stats["seconds"])):
            ax.plot(x, stats["swd"], color=color, lw=1.8, label=method)
            ax.fill_between(x, low, stats["swd"] + std, color=color, alpha=0.2, lw=0)
    floor = curves.groupby("seed")["noise_floor"].first().mean()
    for ax in (by_epoch, by_time):
        ax.axhline(floor, color="0.3", ls="--", lw=1.2, label="noise floor (prior vs prior)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    by_epoch.set_xlabel("epoch")
    by_time.set_xlabel("training time (s, mean over seeds)")
    by_epoch.set_ylabel("latent SWD to prior (SW$_2$)")
    by_epoch.legend(loc="upper right")
    band = "mean ± std over " if seeds > 1 else ""
    title = f"Synthetic latent matching: {band}{seeds} seed{'s' * (seeds > 1)}"
    fig.suptitle(f"{title}\n{setting}" if setting else title)
    fig.tight_layout()
    save(fig, stem)
