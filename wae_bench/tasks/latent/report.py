"""The latent task's report: summary.csv, summary.md and (``figures``) curves.png/.pdf from
the rows of curves.csv (``table_rows``).

Per method: the latent SWD at the task's summary epochs and the last one (mean and 95% interval
over seeds, ``summary``), the paired test against the reference method (``--baseline``, else
the paper's), and the time to the noise floor: the first evaluation with SWD <= (1 +
FLOOR_TOLERANCE) x floor.
"""

from pathlib import Path

import pandas as pd

from ... import execution, folders, table_rows, table_text
from ... import summary as summaries

FLOOR_TOLERANCE = 0.10  # "converged" = within 10% of the noise floor


def report(task, run_dir: Path, figures: bool = True) -> None:
    """(Re)write summary.csv, summary.md and, with ``figures``, curves.png/.pdf of ``run_dir``
    from its files."""
    saved = folders.read_config(run_dir)
    rows = table_rows.read(run_dir, task.results.file, task.results.columns)
    baseline = execution.recorded_baseline(saved)
    curves = table_rows.wide(rows, task.results.columns)
    folders.write_summary(run_dir, *tables(curves, task.results.summary_epochs, baseline))
    if figures:
        from .figures import curves_figure  # matplotlib only when a figure is drawn

        curves_figure(rows, run_dir / "curves", _setting(saved))


def tables(curves: pd.DataFrame, summary_epochs: tuple[int, ...],
           baseline: str | None = None) -> tuple[pd.DataFrame, str]:  # fmt: skip
    """summary.csv's table and summary.md's text of ``curves``: the comparisons at the
    reported epochs are computed once for both."""
    epochs = summaries.reported_epochs(curves, summary_epochs)
    compared = summaries.compare_epochs(curves, ["method"], "swd", epochs, label="SWD",
                                        baseline=baseline)  # fmt: skip
    summary = summarize(curves, compared)
    return summary, summary_markdown(summary, curves, compared, baseline)


def summarize(curves: pd.DataFrame, compared: dict) -> pd.DataFrame:
    """Per method: SWD at the reported epochs (mean, std, 95% interval over seeds), the paired
    test against the reference at the last one (``summary.table``), and the time to the noise
    floor.

    ``compared``: ``summary.compare_epochs`` of ``curves`` at the reported epochs."""
    last = max(compared)

    def to_floor(runs: pd.DataFrame) -> dict:
        hit = [r for r in (first_within_floor(run) for _, run in runs.groupby("seed")) if r]
        row = {"reached_floor": len(hit)}
        for key, idx in (("epochs_to_floor", 0), ("seconds_to_floor", 1)):
            values = pd.Series([r[idx] for r in hit], dtype=float)
            row[f"{key}_mean"], row[f"{key}_std"] = values.mean(), values.std()
        trained = runs[runs["epoch"] == last]
        return row | {"seconds_per_epoch": (trained["seconds"] / last).mean()}

    names = {e: f"swd_epoch_{e}" for e in compared}
    return summaries.table(curves, ["method"], "swd", compared, names,
                           reference_column="reference_method", extra=to_floor)  # fmt: skip


def first_within_floor(run: pd.DataFrame):
    """(epoch, seconds) of the first evaluation with swd <= 1.1 x noise floor, else None."""
    close = run[run["swd"] <= (1 + FLOOR_TOLERANCE) * run["noise_floor"]]
    if close.empty:
        return None
    first = close.sort_values("epoch").iloc[0]
    return int(first["epoch"]), float(first["seconds"])


def summary_markdown(summary: pd.DataFrame, curves: pd.DataFrame, compared: dict,
                     baseline: str | None = None) -> str:  # fmt: skip
    """summary.md: one line on the metric and floor, the table of ``summarize``, the
    verdicts."""
    epochs = list(compared)
    seeds = int(summary["seeds"].max())
    last = epochs[-1]
    reference = summaries.reference_group(compared[last][0])
    header = ["method"] + [f"SWD @ epoch {e}" for e in epochs]
    header += [f"- {reference} @ epoch {last}", "epochs to floor", "seconds to floor", "s / epoch"]
    lines = [table_text.markdown_row(header), "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        cells = [r["method"]] + [summaries.cell(summaries.row_of(compared[e][0], r["method"]))
                                 for e in epochs]  # fmt: skip
        cells.append(summaries.difference_cell(summaries.row_of(compared[last][0], r["method"])))
        note = (
            ""
            if r["reached_floor"] == r["seeds"]
            else f" ({r['reached_floor']}/{r['seeds']} seeds)"
        )
        cells.append(
            table_text.mean_std(r["epochs_to_floor_mean"], r["epochs_to_floor_std"], 1) + note
        )
        cells.append(
            table_text.mean_std(r["seconds_to_floor_mean"], r["seconds_to_floor_std"], 2) + note
        )
        cells.append(f"{r['seconds_per_epoch']:.3f}")
        lines.append(table_text.markdown_row(cells))
    floor = curves.groupby("seed")["noise_floor"].first()
    intro = (
        f"Latent SWD (SW_2) to the prior, mean [95% interval] over {seeds} seed(s); "
        f"'- {reference}': the paired difference to {reference}, the declared reference "
        f"({'--baseline' if baseline else 'the paper method, else the first listed'}), with "
        "its Holm-adjusted p. Noise floor (two "
        f"independent prior sets): {table_text.mean_std(floor.mean(), floor.std(), 4)}. "
        f"'to floor' = first epoch with SWD <= {1 + FLOOR_TOLERANCE:.1f} x noise floor; "
        "seconds count training only, not evaluation."
    )
    ending = ["", *summaries.verdict_section(compared)]
    return intro + "\n\n" + "\n".join([*lines, *ending]) + "\n"


def _setting(saved: dict) -> str:
    """One line describing the run for the figure, from config.json when it is there."""
    cfg = saved.get("config")
    if not cfg:
        return ""
    return (
        f"{cfg['points']} points in R^{cfg['data_dim']} -> {cfg['prior']} prior in "
        f"R^{cfg['latent_dim']}, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, "
        f"device {saved['environment']['device']}"
    )
