"""`wae-bench report DIR`: redraw a run's or a sweep's tables and figures from its files.

The task is read from the folder's own record (config.json, or sweep.json for a sweep).
"""

from pathlib import Path

from . import folders, tasks


def redraw(run_dir: Path) -> None:
    """Rewrite the summaries and figures of the run or sweep folder ``run_dir``."""
    run_dir = Path(run_dir)
    if (run_dir / folders.SWEEP).is_file():
        from . import sweep

        sweep.report(run_dir)
        return
    if folders.read_config(run_dir).get("command") == "tune":
        from . import tune_report

        tune_report.report(run_dir)
        return
    tasks.of_folder(run_dir, "pass the folder of a wae-bench run").report(run_dir)
