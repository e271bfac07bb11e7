"""The image task's figures: image SWD vs epoch (paper Fig. 2 right), the codes' singular
values (paper Fig. 4), and samples, reconstructions and interpolations of a trained WAE."""

from pathlib import Path

import pandas as pd
import torch

from ...metrics import slerp
from ...plots import Panel, curves, legend_below, log_scale, method_color, plt, save

IMAGE_SWD = "image SWD ×10³ ({split} vs generated)"
PANELS = {  # metrics.csv column: (axis label, log scale); {split}: test or validation
    "image_swd": (IMAGE_SWD, True),
    "classifier_fd": ("classifier FD ({split} vs generated)", True),
    "precision": ("precision (k = 3)", False),
    "recall": ("recall (k = 3)", False),
    "recon": ("{split} recon (SSE / image)", True),
    "latent_swd": ("latent SWD ({split} codes vs prior)", True),
}
X_AXES = {"epoch": "epoch", "seconds": "training seconds (wall-clock, excl. evaluation)"}


def curve_figures(rows: pd.DataFrame, run_dir: Path, setting: str, split: str) -> None:
    """swd_vs_epoch (paper Fig. 2 right, with the floor of training vs evaluated images) and
    metrics_vs_epoch / metrics_vs_seconds (every evaluated metric of ``PANELS``; precision
    and recall over [0, 1]) of the long ``rows``, by ``plots.curves``."""
    floor = rows.loc[rows["metric"] == "image_swd_floor"].groupby("seed")["value"].first()
    floors = {"image_swd": (floor.mean(), f"floor: training vs {split} images")} if len(
        floor) else {}  # fmt: skip
    where = f"\n{setting}" if setting else ""
    curves(rows, [Panel("image_swd", IMAGE_SWD.format(split=split))], run_dir / "swd_vs_epoch",
           title=f"Image SWD vs epoch{where}", floors=floors, per_row=3)  # fmt: skip
    evaluated = [m for m in PANELS if m in set(rows["metric"])]
    for x, x_label in X_AXES.items():
        panels = [Panel(m, PANELS[m][0].format(split=split), x, x_label, PANELS[m][1],
                        None if PANELS[m][1] else (-0.03, 1.03)) for m in evaluated]  # fmt: skip
        versus = "epoch" if x == "epoch" else "training time"
        title = (f"Sample quality and matching vs {versus}; precision and recall: higher is "
                 f"better, the others lower{where}")  # fmt: skip
        curves(rows, panels, run_dir / f"metrics_vs_{x}", title=title, per_row=4)


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
    log_scale(ax)
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
