"""The report every task gets unless it writes its own (``Task.report``): the headline metric
of its result file at the reported epochs, compared across methods as every summary is, and
its curves against epoch and training time.

summary.csv has one row per group (a method, or a method at one lam) with the metric's mean,
std and 95% t interval over seeds at each reported epoch and the paired test against the
reference (``summary.table``); summary.md shows them with the verdicts; curves.png/.pdf draw
the metric's mean and interval band (``plots.curves``).
"""

from pathlib import Path

import pandas as pd

from . import execution, folders, table_rows, table_text
from . import summary as summaries


def report(results, run_dir: Path, figures: bool = True) -> None:
    """(Re)write summary.csv, summary.md and, with ``figures``, curves.png/.pdf of
    ``run_dir`` from its result file (``results``: the task's ``ResultTable``)."""
    rows = table_rows.read(run_dir, results.file, results.columns)
    frame = table_rows.wide(rows, results.columns)
    keys = ["method", "lam"] if "lam" in results.columns else ["method"]
    baseline = execution.recorded_baseline(folders.read_config(run_dir))
    epochs = summaries.reported_epochs(frame, results.summary_epochs)
    compared = summaries.compare_epochs(frame, keys, results.metric, epochs, label=results.label,
                                        baseline=baseline)  # fmt: skip
    names = {e: f"{results.metric}_epoch_{e}" for e in compared}
    table = summaries.table(frame, keys, results.metric, compared, names,
                            reference_column="reference_method")
    folders.write_summary(run_dir, table, _markdown(frame, keys, results.label, compared))
    if figures:
        from .plots import Panel, curves

        panels = [Panel(results.metric, results.label),
                  Panel(results.metric, results.label, "seconds",
                        "training time (s, mean over seeds)")]  # fmt: skip
        curves(rows, panels, Path(run_dir) / "curves", title=results.label)


def _markdown(frame: pd.DataFrame, keys: list[str], label: str, compared: dict) -> str:
    """summary.md: one row per group, the metric at each reported epoch and the paired
    difference to the reference at the last; then the intervals' legend and the verdicts
    (``summary.verdict_section``)."""
    last = max(compared)
    seeds = frame["seed"].nunique()
    header = [*keys, *(f"{label} @ epoch {e}" for e in compared), f"- reference @ epoch {last}"]
    lines = [f"{label}, mean [95% interval] over {seeds} seed(s); lower is better.", "",
             table_text.markdown_row(header), "|" + "---|" * len(header)]  # fmt: skip
    for values, _ in frame.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        group = summaries.group_label(keys, values)
        cells = [summaries.cell(summaries.row_of(compared[e][0], group)) for e in compared]
        difference = summaries.difference_cell(summaries.row_of(compared[last][0], group))
        lines.append(table_text.markdown_row([*values, *cells, difference]))
    lines += ["", *summaries.verdict_section(compared)]
    return "\n".join(lines) + "\n"
