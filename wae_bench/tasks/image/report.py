"""The image task's report: summary.csv, summary.md and the figures, from the rows of its
result file (``table_rows``) and its other CSVs alone.

Per (method, lam): the image SWD at the task's summary epochs and the last one (mean and 95%
interval over seeds, ``summary``), the paired test against its reference group (the
reference method at the same lam; ``summary``), the best test reconstruction, the last
latent SWD, FID/KID when computed.
"""

from pathlib import Path

import pandas as pd

from ... import execution, folders, releases, run_files, settling, table_rows, table_text
from ... import summary as summaries
from ...fid import INCEPTION_FILE
from . import spectra

KEYS = ["method", "lam"]


def report(task, run_dir: Path, figures: bool = True) -> None:
    """(Re)write summary.csv/.md and, with ``figures``, the curves (swd_vs_epoch,
    metrics_vs_epoch/seconds) and singular_values figures of ``run_dir``."""
    rows = table_rows.read(run_dir, task.results.file, task.results.columns)
    metrics = table_rows.wide(rows, task.results.columns)
    saved = folders.read_config(run_dir)
    baseline = execution.recorded_baseline(saved)
    epochs = summaries.reported_epochs(metrics, task.results.summary_epochs)
    compared = summaries.compare_epochs(metrics, KEYS, task.results.metric, epochs,
                                        label="image SWD", baseline=baseline)  # fmt: skip
    quality = None
    if "classifier_fd" in metrics:  # its own family, at the last epoch
        quality = summaries.compare_epochs(metrics, KEYS, "classifier_fd", [max(epochs)],
                                           label="classifier FD", baseline=baseline)  # fmt: skip
    summary = summarize(metrics, compared, quality)
    split = saved.get("config", {}).get("split", "test")
    text = summary_markdown(summary, metrics, compared, _data_sentence(saved), quality,
                            saved.get("classifier"), split)  # fmt: skip
    folders.write_summary(run_dir, summary, text)
    if not figures:
        return
    from .figures import curve_figures, singular_value_spectra  # matplotlib only for figures

    curve_figures(rows, run_dir, _setting(saved), split)
    if (run_dir / spectra.FILE).is_file():
        singular_value_spectra(run_files.read_csv(run_dir / spectra.FILE),
                               run_dir / "singular_values", spectra.PRIOR_REFERENCE)  # fmt: skip


def summarize(metrics: pd.DataFrame, compared: dict, quality: dict | None = None
              ) -> pd.DataFrame:  # fmt: skip
    """Per (method, lam): image SWD at the reported epochs (mean, std, 95% interval over
    seeds), the paired test against its reference group at the last one (``summary.table``), best
    recon, last latent SWD, FID/KID, the classifier FD (95% interval and paired test,
    ``quality``), precision and recall, and whether the curve settled (``settling``).

    ``compared``: ``summary.compare_epochs`` of ``metrics`` at the reported epochs;
    ``quality``: the same of classifier_fd at the last one (None without --classifier)."""
    last = max(compared)

    def own(runs: pd.DataFrame) -> dict:
        best = runs.groupby("seed")["recon"].min()
        final = runs[runs["epoch"] == last]
        row = {"best_recon_mean": best.mean(), "best_recon_std": best.std(),
               "latent_swd_last_mean": final["latent_swd"].mean()}  # fmt: skip
        for column in ("fid", "kid", "precision", "recall"):
            if column in final:
                row[f"{column}_last_mean"], row[f"{column}_last_std"] = (
                    final[column].mean(), final[column].std())  # fmt: skip
        if quality is not None:
            group = summaries.group_label(KEYS, (runs["method"].iloc[0], runs["lam"].iloc[0]))
            fd = summaries.metric_columns(runs, "classifier_fd", quality, group,
                                          {last: "classifier_fd_last"},
                                          reference_column="classifier_fd_reference")  # fmt: skip
            row |= {k.replace("vs_ref_", "classifier_fd_vs_ref_"): v for k, v in fd.items()}
        settled = settling.settling(runs, KEYS, "image_swd").iloc[0]
        row |= {f"settling_{k}": settled[k] for k in settling.COLUMNS}
        return row | {"seconds_per_epoch": (final["seconds"] / last).mean()}

    names = {e: "image_swd_last" if e == last else f"image_swd_epoch_{e}" for e in compared}
    return summaries.table(metrics, KEYS, "image_swd", compared, names,
                           reference_column="reference_group", extra=own)  # fmt: skip


def summary_markdown(summary: pd.DataFrame, metrics: pd.DataFrame, compared: dict,
                     data_note: str = "", quality: dict | None = None,
                     classifier: dict | None = None, split: str = "test") -> str:  # fmt: skip
    """summary.md: one line on the metric (and ``data_note``), the table of ``summarize``,
    the verdicts; with ``quality`` (the classifier FD's ``compare_epochs``) and ``classifier``
    (config.json's record of the network) its columns and verdicts too. ``split``: the images
    evaluated, test or validation (held out of the training images)."""
    last = max(compared)
    with_fid = "fid_last_mean" in summary
    quality_header = [f"classifier FD @ {last}", f"- reference @ {last}",
                      f"precision @ {last}", f"recall @ {last}"]  # fmt: skip
    header = ["method", "lam", *(f"image SWD @ epoch {e}" for e in compared),
              f"- reference @ epoch {last}", f"best {split} recon (SSE / image)",
              f"latent SWD @ {last}",
              *([f"FID @ {last}", f"KID @ {last}"] if with_fid else []),
              *(quality_header if quality else []), "s / epoch"]  # fmt: skip
    lines = [table_text.markdown_row(header), "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        group = summaries.group_label(KEYS, (r["method"], r["lam"]))
        stats = {e: summaries.row_of(compared[e][0], group) for e in compared}
        cells = [r["method"], f"{r['lam']:g}", *(summaries.cell(stats[e]) for e in compared),
                 summaries.difference_cell(stats[last], named=True),
                 table_text.mean_std(r["best_recon_mean"], r["best_recon_std"], 2),
                 f"{r['latent_swd_last_mean']:.4f}"]  # fmt: skip
        if with_fid:
            cells += [table_text.mean_std(r["fid_last_mean"], r["fid_last_std"], 2),
                      table_text.mean_std(r["kid_last_mean"], r["kid_last_std"], 4)]  # fmt: skip
        if quality:
            fd = summaries.row_of(quality[last][0], group)
            cells += [summaries.cell(fd), summaries.difference_cell(fd, named=True),
                      *(table_text.mean_std(r[f"{m}_last_mean"], r[f"{m}_last_std"], 3)
                        for m in ("precision", "recall"))]  # fmt: skip
        lines.append(table_text.markdown_row([*cells, f"{r['seconds_per_epoch']:.2f}"]))
    floor = metrics.groupby("seed")["image_swd_floor"].first().mean()
    intro = (
        f"Image SWD (x1000, Laplacian-pyramid 7x7 patches) between the {split} images and as many "
        f"decoded prior samples; mean [95% interval] over {int(summary['seeds'].max())} "
        "seed(s); '- reference': the paired difference to the group named, with its "
        "Holm-adjusted p (the declared reference method at the same lam; its own other lams "
        f"against its first). Lower is better. Floor (as many training images vs the {split} "
        f"images): {floor:.0f}. Recon (sum of squared errors per {split} image) and FID/KID: "
        "mean ± std."
    )
    if not with_fid:
        intro += f" FID/KID: not computed; pass --fid-weights PATH (the file {INCEPTION_FILE})."
    if data_note:
        intro += f" {data_note}"
    ending = ["", *summaries.verdict_section(compared), "",
              *settling.settling_lines(summary, KEYS, "image SWD")]  # fmt: skip
    if quality:
        ending += ["", _quality_sentence(classifier or {}), "",
                   *summaries.verdict_section(quality, "Classifier FD verdicts")]  # fmt: skip
    return intro + "\n\n" + "\n".join([*lines, *ending]) + "\n"


def _quality_sentence(classifier: dict) -> str:
    """What the classifier FD, precision and recall columns are, and which network gave them."""
    network = (f"{classifier.get('path', '?')} (sha256 {str(classifier.get('sha256', ''))[:12]}"
               f"..., {100 * classifier.get('test_accuracy', float('nan')):.1f}% test accuracy "
               f"on {classifier.get('dataset', '?')})")  # fmt: skip
    width = classifier.get("features", "?")
    return (
        "Classifier FD: the Frechet distance between the evaluated images (test, or validation "
        "when choosing lam: the classifier trained on those) and as many decoded prior "
        f"samples in the {width}-d features of the suite's own classifier {network}, not Inception "
        "features (not an FID); precision and recall: k = 3 nearest-neighbour manifolds "
        "(Kynkaanniemi et al. 2019) in the same features, mean ± std. The classifier FD "
        "verdicts are a family of their own:"
    )


def _data_sentence(saved: dict) -> str:
    """Whether the run trained on the official release of its data set (``releases``), and
    from which folder it was read."""
    data = saved.get("data") or {}
    sentence = releases.sentence(data.get("name", ""), data.get("release"))
    if sentence and data.get("folder"):
        sentence = f"{sentence[:-1]}; read from {data['folder']}."
    return sentence


def _setting(saved: dict) -> str:
    cfg, data = saved.get("config"), saved.get("data")
    if not cfg or not data:
        return ""
    return (
        f"{cfg['arch']} on {data['name']} ({data['size']}x{data['size']}), "
        f"latent {cfg['latent_dim']}, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, "
        f"device {saved['environment']['device']}"
    )
