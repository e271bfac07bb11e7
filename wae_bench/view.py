"""`wae-bench view [FOLDER...] [--out DIR]`: one index page over many result folders and the
page of each top-level folder in them (``pages.write_run_page``).

The index ranks, per task, each experiment's groups by the task's headline metric at each
group's last epoch, with 95% Student t intervals (``results_best``): the lowest mean, the next
and their paired difference, then every group with two seeds or more. It links each folder's
page. The folders are read once into the results table; plotly.js is copied once, into
``DIR/_static``, and every page loads it from there by a relative path.
"""

from pathlib import Path

import pandas as pd

from . import intervals, page_html, pages, results_best, results_table
from .errors import UsageError
from .page_html import Cell, link, table

INDEX = "index.html"


def view(folders, out=None) -> tuple[Path, list[Path]]:
    """Write the index of ``folders`` into ``out`` (default: the first folder) and the page of
    each top-level folder; returns (index, pages). Bad input (no run, a damaged file, a held
    lock) raises ``UsageError`` before anything is written."""
    folders = [str(f) for f in folders]
    out = Path(out) if out is not None else Path(folders[0])
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder for index.html and _static/")
    frame = results_table.collect(folders)
    tops = _tops(frame, folders)
    static = out / page_html.STATIC
    texts = {Path(top) / pages.PAGE: pages.run_page(top, static, out / INDEX, part)
             for top, part in frame[frame["kind"] != "compare"].groupby(tops, sort=True)}
    index = index_page(folders, out, frame)  # every page made before any is written
    page_html.copy_plotly(static)
    written = [page_html.write_page(path, text) for path, text in texts.items()]
    return page_html.write_page(out / INDEX, index), written


def _tops(frame: pd.DataFrame, folders) -> pd.Series:
    """Each row's top-level folder (the one whose page shows it), or its run folder where
    that lies above the folders given (a tune's final run passed on its own)."""
    roots = [Path(f).resolve() for f in folders]
    triples = frame[["run", "experiment", "kind"]].drop_duplicates()
    top = {}
    for run, experiment, kind in triples.itertuples(index=False):
        folder = pages.top_folder(experiment, kind)
        inside = any(Path(folder).resolve().is_relative_to(r) for r in roots)
        top[run, experiment, kind] = folder if inside else run
    return pd.Series([top[key] for key in zip(frame["run"], frame["experiment"], frame["kind"],
                                              strict=True)], index=frame.index)  # fmt: skip


def index_page(folders, out, table=None) -> str:
    """The index in ``out`` over ``folders``: per task, the leaderboard of its experiments with
    intervals, and a link to each top-level folder's page (compare folders: their
    compare.md). ``table``: the folders' results table when already read."""
    out = Path(out)
    frame = results_table.collect([str(f) for f in folders]) if table is None else table
    measured = frame[frame["kind"] != "compare"]
    tops = _tops(frame, folders)
    page_of = dict(zip(frame["experiment"], tops, strict=True))  # its rows' page
    body = ["<h1>wae-bench results</h1>",
            f'<p class="note">Read from {page_html.esc(", ".join(map(str, folders)))}: '
            f"{page_html.esc(results_table.describe(frame))}</p>"]  # fmt: skip
    if not measured.empty:
        ranked = results_best.best(measured)
        for task, part in ranked.groupby("task", sort=True):
            body.append(_leaderboard(task, part, out, page_of))
    body.append(_folder_list(frame, tops, out))
    return page_html.document("wae-bench results", "\n".join(body), out)


def _leaderboard(task: str, part: pd.DataFrame, out: Path, page_of: dict) -> str:
    metric = part["metric"].iloc[0]
    rows, every, found = [], [], [*results_best.experiments(part)]
    single = found.pop()
    for experiment, epoch, seeds, groups, kinds in found:
        top = groups.iloc[0]
        page = link(Path(page_of[experiment]) / pages.PAGE, out, experiment)
        row = [page, kinds or "run", Cell(int(epoch), epoch),
               Cell(seeds, top["n"]), top["label"], _cell(top)]
        if len(groups) > 1:
            second = groups.iloc[1]
            row += [second["label"], _cell(second), Cell(intervals.format_interval(
                second["diff"], second["diff_low"], second["diff_high"]), second["diff"])]
        else:
            row += ["-", Cell("-"), Cell("-")]
        rows.append(row)
        every += [[page, Cell(int(epoch), epoch), g["label"],
                   Cell(seeds, g["n"]), Cell(int(g["rank"]), g["rank"]), _cell(g)]
                  for _, g in groups.iterrows()]  # fmt: skip
    left = (f" Left out: {single} experiment(s) whose groups have one seed each (no interval; "
            "e.g. tune trials)." if single else "")  # fmt: skip
    return "\n".join([
        f"<h2>{page_html.esc(task)}</h2>",
        f'<p class="note">{page_html.esc(metric)} at each group\'s last epoch, lower is better: '
        "mean over seeds [95% Student t interval], each group's on its own; next - lowest: "
        "the paired difference over the seeds both ran, unadjusted. The lowest mean is picked "
        "after the data are seen, so this ranks and does not decide: the verdicts are on each "
        f"folder's page.{page_html.esc(left)} Click a header to sort.</p>",
        table(["experiment", "kinds", "epoch", "seeds", "lowest mean", "[95% t]", "next",
               "[95% t]", "next - lowest (paired)"], rows, cls="leaderboard"),
        f"<details><summary>every group of the {page_html.esc(task)} experiments "
        f"({len(every)})</summary>",
        table(["experiment", "epoch", "group", "seeds", "rank", "mean [95% t]"], every),
        "</details>",
    ])  # fmt: skip


def _cell(row) -> Cell:
    return Cell(intervals.format_interval(row["mean"], row["low"], row["high"]), row["mean"])


def _folder_list(frame: pd.DataFrame, tops: pd.Series, out: Path) -> str:
    runs = frame.drop_duplicates("run")
    rows = []
    for top, part in runs.groupby(tops.loc[runs.index], sort=True):
        kinds = ", ".join(f"{n} {k}" for k, n in part["kind"].value_counts(sort=False).items())
        compare = (part["kind"] == "compare").all()
        target = Path(top) / (results_table.COMPARE_MD if compare else pages.PAGE)
        tasks = ", ".join(sorted(part["task"].dropna().unique()))
        rows.append([link(target, out, top), tasks, kinds])
    return "<h2>Folders</h2>" + table(["folder", "task", "run folders"], rows)
