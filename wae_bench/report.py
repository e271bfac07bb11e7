"""`wae-bench report DIR`: redraw a run's, study's, sweep's, tune's or selection's
comparison's tables and figures (PNG and PDF; the end of a training command writes its tables
only) from its files, then its page (index.html, ``pages``).

The task is read from the folder's own record (config.json, or sweep.json for a sweep).
"""

from pathlib import Path

from . import folders, tasks


def redraw(run_dir: Path) -> Path:
    """Rewrite the summaries and figures (with their PDFs) of the run, study, sweep or tune
    folder ``run_dir`` (of a selection's: its comparison's), then its page, index.html
    (``pages``); returns the folder redrawn."""
    from . import pages
    from .plots import pdfs

    run_dir = Path(run_dir)
    if (run_dir / folders.CHOICE_JSON).is_file():
        run_dir = run_dir / folders.COMPARISON
    with pdfs():
        _redraw_files(run_dir)
    pages.write_run_page(run_dir)
    return run_dir


def _redraw_files(run_dir: Path) -> None:
    if (run_dir / folders.SWEEP).is_file():
        from . import sweep

        sweep.report(run_dir)
        return
    if folders.read_config(run_dir).get("command") == "tune":
        from . import tune_report

        tune_report.report(run_dir)
        return
    tasks.of_folder(run_dir, "pass the folder of a wae-bench run").report(run_dir)
