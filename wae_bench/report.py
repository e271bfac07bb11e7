"""`wae-bench report DIR`: redraw a run's or a sweep's tables and figures from its files.

The task is read from the folder's own record (config.json, or sweep.json for a sweep).
"""

from pathlib import Path

from . import results, tasks
from .errors import UsageError


def redraw(run_dir: Path) -> None:
    """Rewrite the summaries and figures of the run or sweep folder ``run_dir``."""
    run_dir = Path(run_dir)
    if (run_dir / "sweep.json").is_file():
        from . import sweep

        sweep.report(run_dir)
        return
    saved = results.read_json(run_dir / "config.json")
    if saved.get("command") == "tune":
        from . import tune_report

        tune_report.report(run_dir)
        return
    if "task" not in saved:
        raise UsageError(
            f"{run_dir / 'config.json'} not found or names no task; "
            "pass the folder of a wae-bench run"
        )
    tasks.get(saved["task"]).report(run_dir)
