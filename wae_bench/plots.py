"""Figures, drawn from saved result tables only."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import regularizers  # noqa: E402

from . import results  # noqa: E402
from .metrics import slerp  # noqa: E402

METRIC_LABELS = {"image_swd": "image SWD ×10³ (test vs generated)", "swd": "latent SWD to prior"}


def method_color(method: str, index: int) -> str:
    """A registered method's own color, from its place in the registry (so every figure
    colors it alike, whichever methods it shows); other names (library references in the
    timing figures) take the ``index``-th color."""
    known = regularizers.available()
    return f"C{(known.index(method) if method in known else index) % 10}"


def save(fig, stem: Path, pdf: bool = True) -> None:
    """Write stem.png (for READMEs) and stem.pdf (for papers), atomically."""
    for suffix, dpi in ((".png", 150), (".pdf", None))[: 2 if pdf else 1]:
        path = stem.with_suffix(suffix)
        results.atomic_write(
            path, lambda tmp, s=suffix, d=dpi: fig.savefig(tmp, dpi=d, format=s[1:])
        )
    plt.close(fig)


def legend_below(fig, ax, per_row: int = 5) -> float:
    """The legend of ``ax`` under the panels, ``per_row`` entries a row, so that no curve is
    hidden however many methods there are; returns the share of the figure's height it takes
    (for tight_layout's rect)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), per_row), fontsize=9)
    rows = -(-len(labels) // per_row)
    return (0.19 * rows + 0.08) / fig.get_figheight()  # 0.19 inch a row of 9-point text


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
    bottom = legend_below(fig, by_epoch)
    band = "mean ± std over " if seeds > 1 else ""
    title = f"Synthetic latent matching: {band}{seeds} seed{'s' * (seeds > 1)}"
    fig.suptitle(f"{title}\n{setting}" if setting else title)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    save(fig, stem)


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


def scaling(frame: pd.DataFrame, stem: Path) -> None:
    """Log-log forward+backward time vs batch size per method, and MoCA's time vs queue size."""
    regs = frame[frame.get("role") == "regularizer"]
    fig, (by_batch, by_queue) = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, (method, rows) in enumerate(regs.groupby("method", sort=False)):
        if method == "moca":
            continue
        rows = rows.sort_values("batch")
        parts = method.split("-")  # pot-swd, geomloss-sinkhorn, ssw-samples, pot-ssw-uniform
        reference = parts[0] in ("pot", "geomloss")
        base = parts[reference]
        by_batch.plot(rows["batch"], rows["median"] * 1e3, "--" if reference else "-",
                      marker="^" if "samples" in parts else "o", ms=4,
                      color=method_color(base, i), alpha=0.6 if reference else 1.0,
                      label=method)  # fmt: skip
    moca = regs[regs.get("method") == "moca"]
    if "K" not in moca:  # a partial run without MoCA's queue sizes
        moca = moca.assign(K=pd.Series(dtype=float))
    for j, (queue, rows) in enumerate(moca.groupby("K")):
        rows = rows.sort_values("batch")
        shade = ["#f4a582", "#d6604d", "#67001f"][j % 3]
        by_batch.plot(rows["batch"], rows["median"] * 1e3, "-", marker="s", ms=4, color=shade,
                      label=f"moca K={int(queue)}")  # fmt: skip
    for j, (batch, rows) in enumerate(moca.groupby("batch")):
        rows = rows.sort_values("K")
        by_queue.plot(rows["K"], rows["median"] * 1e3, "-", marker="s", ms=4,
                      color=f"C{j}", label=f"B={int(batch)}")  # fmt: skip
    for ax, xlabel in ((by_batch, "batch size B"), (by_queue, "queue size K")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("forward + backward, median (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
    by_batch.set_title("Regularizer cost vs batch size (d = 128; dashed: library references)",
                       fontsize=10)  # fmt: skip
    by_queue.set_title("MoCA cost vs queue size", fontsize=10)
    fig.tight_layout()
    save(fig, stem)


def sweep_axis(frame: pd.DataFrame, axis: str, metric: str, stem: Path) -> None:
    """Last-epoch metric vs one swept parameter, mean +- std over seeds, one line per method."""
    done = frame[(frame["status"] == "finished") & frame[axis].notna()]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (method, rows) in enumerate(done.groupby("method", sort=False)):
        stats = rows.groupby(axis)[metric].agg(["mean", "std", "count"])
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", ms=5,
                    capsize=3, color=method_color(method, i), label=method)  # fmt: skip
    failed = frame[(frame["status"] != "finished") & frame[axis].notna()]
    for value in failed[axis].unique():
        ax.axvline(value, color="0.6", ls=":", lw=1)
    values = done[axis].astype(float)
    if len(values) and values.min() > 0 and values.max() / values.min() >= 10:
        ax.set_xscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)}, last epoch")
    seeds = done["seed"].nunique()
    note = ", dotted: diverged/failed runs" if len(failed) else ""
    ax.set_title(f"{metric} vs {axis} (mean ± std over {seeds} seeds{note})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save(fig, stem)


def compare_curves(frames: dict[str, pd.DataFrame], metric: str, stem: Path) -> None:
    """The metric (mean over seeds) vs epoch of several runs: color = method (and lam),
    line style = run (the first, the reference, solid)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    styles = ["-", "--", ":", "-."]
    for r, frame in enumerate(frames.values()):
        keys = ["method", "lam"] if "lam" in frame else ["method"]
        for i, (values, runs) in enumerate(frame.groupby(keys, sort=False)):
            values = values if isinstance(values, tuple) else (values,)
            label = values[0] + (f", λ = {values[1]:g}" if len(values) > 1 else "")
            mean = runs.groupby("epoch")[metric].mean()
            ax.plot(mean.index, mean, styles[r % 4], color=f"C{i % 10}", lw=1.6,
                    label=f"{label} (run {r + 1})")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)} (mean over seeds)")
    runs = "; ".join(f"run {r + 1}: {Path(name).name}" for r, name in enumerate(frames))
    ax.set_title(f"{metric} of {len(frames)} runs ({runs})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    save(fig, stem)


def dimension_study(summary: pd.DataFrame, stem: Path, epochs: int) -> None:
    """Final latent SWD / noise floor vs latent dimension per method, one panel per batch
    size; log-log, band = std over seeds, dashed line = the floor."""
    sizes = list(dict.fromkeys(summary["batch_size"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4.3), sharey=True,
                             squeeze=False)  # fmt: skip
    for ax, size in zip(axes[0], sizes, strict=True):
        part = summary[summary["batch_size"] == size]
        for i, (method, rows) in enumerate(part.groupby("method", sort=False)):
            rows = rows.sort_values("latent_dim")
            std = rows["ratio_std"].fillna(0.0)
            color = method_color(method, i)
            ax.plot(rows["latent_dim"], rows["ratio_mean"], "-o", ms=4, color=color, lw=1.6,
                    label=method)  # fmt: skip
            ax.fill_between(rows["latent_dim"], rows["ratio_mean"] - std,
                            rows["ratio_mean"] + std, color=color, alpha=0.15, lw=0)  # fmt: skip
        ax.axhline(1.0, color="0.3", ls="--", lw=1.2, label="noise floor")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted(part["latent_dim"].unique()))
        ax.get_xaxis().set_major_formatter(plt.ScalarFormatter())
        ax.set_xlabel("latent dimension d")
        ax.set_title(f"batch size {size}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"latent SWD / noise floor after {epochs} epochs")
    bottom = legend_below(fig, axes[0][0])
    seeds = int(summary["seeds"].max())
    fig.suptitle(f"Latent matching vs dimension (mean ± std over {seeds} seeds; lower is "
                 "better, 1 = indistinguishable from the prior)", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, bottom, 1, 1))
    save(fig, stem)


def budget_curves(curves: dict[str, list[tuple[float, float]]], label: str, stem: Path) -> None:
    """Expected best validation metric after n = 1..N trials (mean ± std), one line per method."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (method, points) in enumerate(curves.items()):
        n = range(1, len(points) + 1)
        mean = [m for m, _ in points]
        color = method_color(method, i)
        ax.plot(n, mean, color=color, label=method, lw=1.8)
        ax.fill_between(n, [m - s for m, s in points], [m + s for m, s in points], color=color,
                        alpha=0.15, lw=0)  # fmt: skip
    means = [m for points in curves.values() for m, _ in points]
    if means and min(means) > 0 and max(means) / min(means) >= 10:  # methods far apart
        ax.set_yscale("log")
        ax.set_ylim(bottom=min(means) / 1.5)  # a band reaching below 0 would squash the axis
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("trials (n)")
    ax.set_ylabel(f"expected best {label}")
    ax.set_title("Expected best validation score after n trials (band: ± 1 std)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save(fig, stem)
