"""The image task's report: summary.csv, summary.md and the figures, from its CSVs alone.

Per (method, lam): the image SWD at the task's summary epochs and the last one (mean and 95%
interval over seeds, ``summary``), the paired test against its reference group (the
reference method at the same lam; ``summary``), the best test reconstruction, the last
latent SWD, FID/KID when computed.
"""

from pathlib import Path

import pandas as pd

from ... import folders, releases, results
from ... import summary as summaries
from ...fid import INCEPTION_FILE
from . import spectra
from .figures import image_swd_curves, singular_value_spectra

KEYS = ["method", "lam"]


def report(task, run_dir: Path) -> None:
    """(Re)write summary.csv/.md, swd_vs_epoch and singular_values figures of ``run_dir``."""
    metrics = results.read_csv(run_dir / task.result_file, columns=task.columns)
    saved = folders.read_config(run_dir)
    baseline = saved.get("config", {}).get("baseline") or None
    epochs = summaries.reported_epochs(metrics, task.summary_epochs)
    compared = summaries.compare_epochs(metrics, KEYS, task.metric, epochs, label="image SWD",
                                        baseline=baseline)  # fmt: skip
    summary = summarize(metrics, compared)
    folders.write_summary(run_dir, summary, summary_markdown(summary, metrics, compared,
                                                             _data_sentence(saved)))  # fmt: skip
    image_swd_curves(metrics, run_dir / "swd_vs_epoch", _setting(saved))
    if (run_dir / spectra.FILE).is_file():
        singular_value_spectra(results.read_csv(run_dir / spectra.FILE),
                               run_dir / "singular_values", spectra.PRIOR_REFERENCE)  # fmt: skip


def summarize(metrics: pd.DataFrame, compared: dict) -> pd.DataFrame:
    """Per (method, lam): image SWD at the reported epochs (mean, std, 95% interval over
    seeds), the paired test against its reference group at the last one (``summary.table``), best
    recon, last latent SWD and FID/KID.

    ``compared``: ``summary.compare_epochs`` of ``metrics`` at the reported epochs."""
    last = max(compared)

    def own(runs: pd.DataFrame) -> dict:
        best = runs.groupby("seed")["recon"].min()
        final = runs[runs["epoch"] == last]
        row = {"best_recon_mean": best.mean(), "best_recon_std": best.std(),
               "latent_swd_last_mean": final["latent_swd"].mean()}  # fmt: skip
        for column in ("fid", "kid"):
            if column in final:
                row[f"{column}_last_mean"], row[f"{column}_last_std"] = (
                    final[column].mean(), final[column].std())  # fmt: skip
        return row | {"seconds_per_epoch": (final["seconds"] / last).mean()}

    names = {e: "image_swd_last" if e == last else f"image_swd_epoch_{e}" for e in compared}
    return summaries.table(metrics, KEYS, "image_swd", compared, names,
                           reference_column="reference_group", extra=own)  # fmt: skip


def summary_markdown(summary: pd.DataFrame, metrics: pd.DataFrame, compared: dict,
                     data_note: str = "") -> str:  # fmt: skip
    """summary.md: one line on the metric (and ``data_note``), the table of ``summarize``,
    the verdicts."""
    last = max(compared)
    with_fid = "fid_last_mean" in summary
    header = ["method", "lam", *(f"image SWD @ epoch {e}" for e in compared),
              f"- reference @ epoch {last}", "best test recon (SSE / image)",
              f"latent SWD @ {last}",
              *([f"FID @ {last}", f"KID @ {last}"] if with_fid else []), "s / epoch"]  # fmt: skip
    lines = [results.markdown_row(header), "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        group = summaries.group_label(KEYS, (r["method"], r["lam"]))
        stats = {e: summaries.row_of(compared[e][0], group) for e in compared}
        cells = [r["method"], f"{r['lam']:g}", *(summaries.cell(stats[e]) for e in compared),
                 summaries.difference_cell(stats[last], named=True),
                 results.mean_std(r["best_recon_mean"], r["best_recon_std"], 2),
                 f"{r['latent_swd_last_mean']:.4f}"]  # fmt: skip
        if with_fid:
            cells += [results.mean_std(r["fid_last_mean"], r["fid_last_std"], 2),
                      results.mean_std(r["kid_last_mean"], r["kid_last_std"], 4)]  # fmt: skip
        lines.append(results.markdown_row([*cells, f"{r['seconds_per_epoch']:.2f}"]))
    floor = metrics.groupby("seed")["image_swd_floor"].first().mean()
    intro = (
        "Image SWD (x1000, Laplacian-pyramid 7x7 patches) between the test images and as many "
        f"decoded prior samples; mean [95% interval] over {int(summary['seeds'].max())} "
        "seed(s); '- reference': the paired difference to the group named, with its "
        "Holm-adjusted p (the declared reference method at the same lam; its own other lams "
        "against its first). Lower is better. Floor (as many training images vs the test "
        f"images): {floor:.0f}. Recon (sum of squared errors per test image) and FID/KID: "
        "mean ± std."
    )
    if not with_fid:
        intro += f" FID/KID: not computed; pass --fid-weights PATH (the file {INCEPTION_FILE})."
    if data_note:
        intro += f" {data_note}"
    verdicts = [v for e in compared for v in compared[e][1]]
    ending = ["", summaries.legend(compared), "", "Verdicts:", "",
              *summaries.verdict_lines(verdicts)]  # fmt: skip
    return intro + "\n\n" + "\n".join([*lines, *ending]) + "\n"


def _data_sentence(saved: dict) -> str:
    """Whether the run trained on the official release of its data set (``releases``)."""
    data = saved.get("data") or {}
    return releases.sentence(data.get("name", ""), data.get("release"))


def _setting(saved: dict) -> str:
    cfg, data = saved.get("config"), saved.get("data")
    if not cfg or not data:
        return ""
    return (
        f"{cfg['arch']} on {data['name']} ({data['size']}x{data['size']}), "
        f"latent {cfg['latent_dim']}, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, "
        f"device {saved['environment']['device']}"
    )
