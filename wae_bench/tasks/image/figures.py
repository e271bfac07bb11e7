"""The image task's figures: image SWD vs epoch (paper Fig. 2 right), the codes' singular
values (paper Fig. 4), and samples, reconstructions and interpolations of a trained WAE."""

from pathlib import Path

import pandas as pd
import torch

from ...metrics import slerp
from ...plots import legend_below, method_color, plt, save  # plots sets the Agg backend


def image_swd_curves(metrics: pd.DataFrame, stem: Path, setting: str = "") -> None:
    """Image SWD vs epoch, one line per method x lam (paper Fig. 2 right); band = std."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = ["-", "--", ":", "-."]
    for i, (method, runs) in enumerate(metrics.groupby("method", sort=False)):
        for j, (lam, by_lam) in enumerate(runs.groupby("lam")):
            stats = by_lam.groupby("epoch")["image_swd"].agg(["mean", "std"])
            std = stats["std"].fillna(0.0)
            color = method_color(method, i)
            ax.plot(stats.index, stats["mean"], styles[j % 4], marker="o", ms=3.5, color=color,
                    lw=1.6, label=f"{method}, λ = {lam:g}")  # fmt: skip
            ax.fill_between(stats.index, stats["mean"] - std, stats["mean"] + std, color=color,
                            alpha=0.15, lw=0)  # fmt: skip
    if "image_swd_floor" in metrics:
        floor = metrics.groupby("seed")["image_swd_floor"].first().mean()
        ax.axhline(floor, color="0.3", ls="--", lw=1.2, label="floor: train vs test images")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("image SWD ×10³, test vs generated (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=2, fontsize=9)
    seeds = metrics["seed"].nunique()
    title = f"Image SWD vs epoch ({seeds} seed{'s' * (seeds > 1)}{', mean ± std' * (seeds > 1)})"
    ax.set_title(f"{title}\n{setting}" if setting else title, fontsize=10)
    fig.tight_layout()
    save(fig, stem)


PANELS = {  # metrics.csv column: (axis label, log scale)
    "image_swd": ("image SWD ×10³ (test vs generated)", True),
    "classifier_fd": ("classifier FD (test vs generated)", True),
    "precision": ("precision (k = 3)", False),
    "recall": ("recall (k = 3)", False),
    "recon": ("test recon (SSE / image)", True),
    "latent_swd": ("latent SWD (test codes vs prior)", True),
}
X_AXES = {"epoch": "epoch", "seconds": "training seconds (wall-clock, excl. evaluation)"}


def metric_curves(metrics: pd.DataFrame, stem: Path, x: str, setting: str = "") -> None:
    """Every evaluated metric of ``PANELS`` against ``x`` (epoch or cumulative training
    seconds), one panel each, one line per method x lam (mean over seeds, band = std)."""
    panels = [c for c in PANELS if c in metrics and metrics[c].notna().any()]
    cols = 3 if len(panels) > 4 else 2
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows + 0.6), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, column in zip(axes.flat, panels, strict=False):
        label, log = PANELS[column]
        for i, (method, runs) in enumerate(metrics.groupby("method", sort=False)):
            for j, (lam, by_lam) in enumerate(runs.groupby("lam")):
                # at each epoch: the metric's and the clock's mean over seeds
                stats = by_lam.groupby("epoch").agg(mean=(column, "mean"), std=(column, "std"),
                                                    at=(x, "mean"))  # fmt: skip
                std, color = stats["std"].fillna(0.0), method_color(method, i)
                ax.plot(stats["at"], stats["mean"], styles[j % 4], marker="o", ms=2.5, lw=1.4,
                        color=color, label=f"{method}, λ = {lam:g}")  # fmt: skip
                ax.fill_between(stats["at"], stats["mean"] - std, stats["mean"] + std,
                                color=color, alpha=0.15, lw=0)  # fmt: skip
        if log:
            ax.set_yscale("log")
        else:  # a share: its whole range
            ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(X_AXES[x], fontsize=9)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    seeds = metrics["seed"].nunique()
    versus = "epoch" if x == "epoch" else "training time"
    title = (f"Sample quality and matching vs {versus} ({seeds} seed{'s' * (seeds > 1)}"
             f"{', mean ± std' * (seeds > 1)}; precision and recall: higher is better, the "
             "others lower)")  # fmt: skip
    fig.suptitle(f"{title}\n{setting}" if setting else title, fontsize=10)
    fig.tight_layout(rect=(0, legend_below(fig, axes.flat[0], per_row=4), 1, 1))
    save(fig, stem)


def singular_value_spectra(values: pd.DataFrame, stem: Path, reference: str) -> None:
    """Singular values of the codes per method x lam (first seed), log y (paper Fig. 4);
    rows whose method is ``reference`` are the prior samples' spectrum."""
    fig, ax = plt.subplots(figsize=(7.5, 5.3))
    first_seed = values[values["seed"] == values["seed"].min()]
    styles = ["-", "--", ":", "-."]
    for i, (method, runs) in enumerate(first_seed.groupby("method", sort=False)):
        if method == reference:
            ax.plot(runs["index"], runs["value"], "k--", lw=1.8,
                    label="prior samples (ideal)")  # fmt: skip
            continue
        for j, (lam, run) in enumerate(runs.groupby("lam")):
            ax.plot(run["index"], run["value"], styles[j % 4], color=method_color(method, i),
                    lw=1.6, label=f"{method}, λ = {lam:g}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("index (largest first)")
    ax.set_ylabel("singular value of centered codes")
    seed = values["seed"].min()
    ax.set_title(f"Isotropy of the codes of up to 10,000 training images, seed {seed} "
                 "(flat = isotropic)", fontsize=10)  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout(rect=(0, legend_below(fig, ax, per_row=3), 1, 1))
    save(fig, stem)


@torch.no_grad()
def image_visuals(encoder, decoder, test_images, stem: Path, title: str, *, n: int = 8) -> None:
    """Random samples, test reconstructions and slerp interpolations in one figure."""
    from torchvision.utils import make_grid

    encoder.eval()
    decoder.eval()
    device = test_images.device
    generator = torch.Generator().manual_seed(0)
    dim = encoder(test_images[:2]).shape[1]
    z = torch.nn.functional.normalize(torch.randn(n * n, dim, generator=generator), dim=1)
    samples = decoder(z.to(device))
    originals = test_images[: n * n // 2]
    pairs = torch.stack([originals, decoder(encoder(originals))], 1).flatten(0, 1)
    ends = encoder(test_images[: 2 * 4])  # up to 4 paths between pairs of test codes
    paths = torch.cat([decoder(slerp(ends[(2 * k) % len(ends)], ends[(2 * k + 1) % len(ends)], n))
                       for k in range(max(1, len(ends) // 2))])  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8))
    panels = (
        (samples, n, "random samples: decoder(prior)"),
        (pairs, n, "test images (odd columns) and reconstructions"),
        (paths, n, "slerp between two test codes (per row)"),
    )
    for ax, (images, per_row, label) in zip(axes, panels, strict=True):
        grid = make_grid(images.float().cpu().clamp(0, 1), nrow=per_row, padding=1, pad_value=1)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    stem.parent.mkdir(parents=True, exist_ok=True)
    save(fig, stem, pdf=False)
