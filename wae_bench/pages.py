"""Results you open in a browser: ``index.html`` of a run, study, sweep or tune folder, and one
index page over many folders (``wae-bench report FOLDER``, ``wae-bench view FOLDER...``).

Everything on a page is drawn from the long results table (``results_table.collect``) and its
ranking (``results_best``), plus the folder's own files: the verdicts of summary.md, sweep.md
or tune.md (as text), config.json, a tune's trials.csv and final.csv, and the images under
visuals/. A folder's page shows each metric's curves against epoch and seconds (mean with its
95% t band per group), the summary table (sortable, with intervals), the verdicts, a tune's
trials, the image task's samples, the config and provenance, and links to the CSV files. The
index ranks each task's experiments and links every folder's page.

A page works offline and reaches no other host: plotly.js is one local copy beside the pages
(``page_html``). Pages are written atomically; text from a results folder is data, escaped.
"""

import json
import os
from pathlib import Path

import pandas as pd

from . import folders as folder_files
from . import intervals, page_figures, page_html, results_best, results_table, run_files
from .errors import UsageError
from .page_html import Cell, Markup, esc, link, table

PAGE = "index.html"
VERDICT_FILES = (folder_files.SUMMARY_MD, "sweep.md", "tune.md")
PROVENANCE = ["suite_version", "git_commit", "torch_version", "device", "dataset",
              "data_release"]  # fmt: skip
SHOWN_TUNE_KINDS = ("tune final", "tune default")  # a tune's trials are drawn from trials.csv


def top_folder(experiment: str, kind: str) -> str:
    """The folder whose page shows an experiment: a study cell's study, else itself."""
    return str(Path(experiment).parent) if kind == "study cell" else experiment


def write_run_page(folder, static=None, index=None, table=None) -> Path:
    """Write ``folder``/index.html for a run, dimension study, sweep or tune folder (and
    plotly.min.js into ``static`` when it is not there); returns the page. See ``run_page``;
    ``index`` defaults to the index page beside ``static`` (``wae-bench view``'s), if any."""
    folder = Path(folder)
    static = Path(static) if static is not None else page_html.static_for(folder)
    beside = static.parent / PAGE
    if index is None and beside.is_file() and static.parent.resolve() != folder.resolve():
        index = beside
    text = run_page(folder, static, index, table)
    page_html.copy_plotly(static)
    return page_html.write_page(folder / PAGE, text)


def run_page(folder, static: Path, index=None, table=None) -> str:
    """The page of ``folder``, loading plotly.js from ``static``.

    ``index``: an index page to link back to; ``table``: the folder's rows of the results
    table, when already read (default: read now, which raises ``UsageError`` for a folder that
    holds no run, a damaged file or a held lock)."""
    folder = Path(folder)
    rows = results_table.collect([str(folder)]) if table is None else table
    rows = rows[rows["kind"] != "compare"]
    if rows.empty:
        raise UsageError(f"{folder} holds no wae-bench run to draw a page of; pass a run, "
                         "study, sweep or tune folder")  # fmt: skip
    tune = rows["kind"].str.startswith("tune").any()
    shown = rows[rows["kind"].isin(SHOWN_TUNE_KINDS)] if tune else rows
    ranked = results_best.best(shown) if not shown.empty else None
    labels = {} if ranked is None else {
        (r.experiment, page_figures.group_key((r.kind, r.method, r.lam, r.settings))): r.label
        for r in ranked.itertuples()}  # fmt: skip
    body, figures = [_header(folder, rows, index)], []
    curves = _curves(shown, labels)
    figures += curves
    if tune:
        tuned = _tune_figures(folder, rows)
        figures += tuned
    body.append("<h2>Curves</h2>")
    body.append(_curve_section(folder, curves) if curves else
                "<p>No run here records a metric that changes with the epoch.</p>")  # fmt: skip
    body.append(_summary(folder, shown, ranked))
    if tune:
        body += ["<h2>Tuning</h2>", '<p class="note">Best score so far against the trial '
                 "(1: the default setting), each trial's score against its parameters (one "
                 "seed each, the tuning seed), and default vs tuned on the final seeds.</p>",
                 page_html.figure_divs(tuned) if tuned else "<p>No trials.csv yet.</p>"]
    body += [_images(folder, shown), _config(folder, rows), _files(folder)]
    return page_html.document(f"{folder.name}: wae-bench", "\n".join(body), folder, figures,
                              static)  # fmt: skip


def _header(folder: Path, rows: pd.DataFrame, index) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in rows.drop_duplicates("run")["kind"]
                      .value_counts(sort=False).items())  # fmt: skip
    tasks = ", ".join(sorted(rows["task"].dropna().unique()))
    methods = ", ".join(pd.unique(rows["method"].dropna()))
    back = f" · {link(Path(index), folder, 'all results')}" if index else ""
    return (f"<h1>{esc(folder.name)}</h1><p class=\"note\">{esc(str(folder))}: {esc(tasks)} "
            f"task; run folders: {esc(kinds)}; methods: {esc(methods)}{back}</p>")


def _curves(shown: pd.DataFrame, labels: dict) -> list[dict]:
    out = []
    for i, (experiment, part) in enumerate(shown.groupby("experiment", sort=True)):
        mine = {k[1]: v for k, v in labels.items() if k[0] == experiment}
        for figure in page_figures.curves(part, mine, f"c{i}"):
            figure["experiment"] = experiment
            out.append(figure)
    return out


def _curve_section(folder: Path, curves: list[dict]) -> str:
    parts = ['<p class="note">Mean over seeds with its 95% Student t band (mean ± t(n-1, '
             "0.975) s / sqrt(n)) per group; against seconds, x is the mean training time at "
             "that epoch. The buttons switch the y axis between linear and log; a click on a "
             "legend entry hides or shows its group.</p>"]
    experiments = list(dict.fromkeys(f["experiment"] for f in curves))
    for experiment in experiments:
        if len(experiments) > 1:
            parts.append(f"<h3>{esc(os.path.relpath(experiment, str(folder)))}</h3>")
        parts.append(page_html.figure_divs([f for f in curves if f["experiment"] == experiment]))
    return "\n".join(parts)


def _summary(folder: Path, shown: pd.DataFrame, ranked) -> str:
    out = ["<h2>Summary</h2>"]
    if ranked is not None and not ranked.empty:
        out += ['<p class="note">Each group at its last evaluated epoch: mean over seeds [95% '
                "Student t interval], each on its own; rank by the task's headline metric; "
                "- lowest: the difference from the rank-1 group paired by seed, with its "
                "interval, unadjusted. This ranks and does not decide: the verdicts below are "
                "the paired, Holm-adjusted tests against the declared reference. Click a "
                "header to sort.</p>", _summary_table(folder, shown, ranked)]  # fmt: skip
    out.append(_verdicts(folder))
    return "\n".join(out)


def _summary_table(folder: Path, shown: pd.DataFrame, ranked: pd.DataFrame) -> Markup:
    headline = ranked["metric"].iloc[0]
    epochs = {(r.experiment, page_figures.group_key((r.kind, r.method, r.lam, r.settings))):
              r.epoch for r in ranked.itertuples()}  # fmt: skip
    stats = {}
    for keys, part in shown.groupby(["experiment", *page_figures.GROUP, "metric"],
                                    dropna=False, sort=False):  # fmt: skip
        group = (keys[0], page_figures.group_key(keys[1:5]))
        at = part[part["epoch"] == epochs.get(group, part["epoch"].max())]
        stats[group, keys[5]] = intervals.mean_interval(
            at.groupby("seed")["value"].mean().to_numpy())
    metrics = [m for m in pd.unique(shown["metric"]) if m != headline]
    several = ranked["experiment"].nunique() > 1
    headers = (["experiment"] if several else []) + [
        "group", "epoch", "seeds", "rank", f"{headline} [95% t]", "- lowest (paired)",
        *(f"{m} [95% t]" for m in metrics)]  # fmt: skip
    rows = []
    for r in ranked.itertuples():
        group = (r.experiment, page_figures.group_key((r.kind, r.method, r.lam, r.settings)))
        row = [os.path.relpath(r.experiment, str(folder))] if several else []
        row += [r.label, Cell(int(r.epoch), r.epoch), Cell(r.seeds, r.n), Cell(r.rank, r.rank),
                Cell(intervals.format_interval(r.mean, r.low, r.high), r.mean),
                Cell("" if r.rank == 1 else
                     intervals.format_interval(r.diff, r.diff_low, r.diff_high), r.diff)]
        for metric in metrics:
            mean, low, high = stats.get((group, metric), (float("nan"),) * 3)
            row.append(Cell(intervals.format_interval(mean, low, high), mean))
        rows.append(row)
    return table(headers, rows, cls="summary")


def verdict_lines(folder: Path) -> list[tuple[str, list[str]]]:
    """Each (line starting "Verdicts", the list items under it) of the folder's summary.md,
    sweep.md or tune.md, as text; [] when it has none."""
    for name in VERDICT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read {name} in {folder} ({type(err).__name__}); redraw "
                             "it with wae-bench report") from None  # fmt: skip
        sections = []
        for start, head in enumerate(lines):
            if not head.startswith("Verdicts"):
                continue
            items = []
            for line in lines[start + 1:]:
                if line.startswith("- "):
                    items.append(line[2:].strip())
                elif line.strip() and items:
                    break
            sections.append((head.rstrip(":"), items))
        if sections:
            return sections
    return []


def _verdicts(folder: Path) -> str:
    sections = verdict_lines(folder)
    if not sections:
        return "<p>No verdicts in this folder's summary.</p>"
    return "".join(f"<h3>{esc(head)}</h3><ul class=\"verdicts\">"
                   + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"
                   for head, items in sections)  # fmt: skip


def _tune_figures(folder: Path, rows: pd.DataFrame) -> list[dict]:
    trials, final = page_figures.read_tune(folder)
    metric = str(final.columns[-1]) if final is not None else "score"
    defaults = {}
    config = folder_files.read_config(folder).get("config", {})
    for r in rows[rows["kind"] == "tune default"].drop_duplicates("method").itertuples():
        settings = json.loads(r.settings) if isinstance(r.settings, str) else {}
        lam = {} if pd.isna(r.lam) else {"lam": float(r.lam)}
        defaults[r.method] = {k: v for k, v in config.items() if not isinstance(v, (list, dict))}
        defaults[r.method] |= settings | lam
    figures = []
    if trials is not None and not trials.empty:
        figures.append(page_figures.best_so_far(trials, metric))
        figures += page_figures.parameters(trials, defaults, metric)
    if final is not None and not final.empty:
        figures.append(page_figures.default_vs_tuned(final, metric))
    return figures


def _images(folder: Path, shown: pd.DataFrame) -> str:
    places = [folder, *(Path(r) for r in pd.unique(shown["run"]))]
    parts = []
    for place in dict.fromkeys(p.resolve() for p in places):
        pictures = sorted((place / "visuals").glob("*.png"))
        if not pictures:
            continue
        where = os.path.relpath(place, folder.resolve())
        where = folder.name if where == "." else where
        parts.append(f'<h3>{esc(where)}</h3><div class="imgs">')
        for picture in pictures:
            source = page_html.href(picture, folder.resolve())
            parts.append(f'<figure><img loading="lazy" src="{esc(source)}" '
                         f'alt="{esc(picture.name)}"><figcaption>{esc(picture.name)}'
                         "</figcaption></figure>")  # fmt: skip
        parts.append("</div>")
    if not parts:
        return ""
    return ("<h2>Images</h2><p class=\"note\">Per method and lam: random samples, test images "
            "and their reconstructions, and interpolations (visuals/).</p>" + "".join(parts))


def _config(folder: Path, rows: pd.DataFrame) -> str:
    out = ["<h2>Config and provenance</h2>"]
    for name in (folder_files.CONFIG, folder_files.SWEEP):
        record = run_files.read_json(folder / name)
        if record:
            pretty = json.dumps(record, indent=2, ensure_ascii=False, default=str)
            out.append(f"<h3>{esc(name)}</h3><pre>{esc(pretty)}</pre>")
    runs = rows.drop_duplicates("run")
    combos = runs.groupby(PROVENANCE, dropna=False, sort=False)
    lines = [[*("" if pd.isna(v) else v for v in keys), Cell(len(part), len(part)),
              f"{part['date'].min()} to {part['date'].max()}"] for keys, part in combos]
    out += ["<h3>Provenance of the run folders</h3>",
            table([*PROVENANCE, "run folders", "dates"], lines)]
    return "\n".join(out)


def _files(folder: Path) -> str:
    found = sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".md", ".png")
                   and p.is_file())  # fmt: skip
    if not found:
        return ""
    return ("<h2>Files</h2><ul>" + "".join(f"<li>{link(p, folder, p.name)}</li>" for p in found)
            + "</ul>")
