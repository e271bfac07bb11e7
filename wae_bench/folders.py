"""The file names of the suite's folders, spelled here once.

A run folder (one training command) holds ``config.json`` (the settings, environment and
resolved hyper-parameters), the task's result file, ``checkpoints/<run id>.pt``, and the
``summary.csv``/``summary.md`` its report writes. A folder run as one point of a sweep or one
trial of a tune also ends with ``status.json``; a sweep folder holds ``sweep.json`` and its
points under ``runs/``; a selection's folder holds ``choice.json``, its points under ``runs/``
and its comparison's run folder.
"""

from pathlib import Path

from . import run_files
from .errors import UsageError

CONFIG = "config.json"
STATUS = "status.json"
TRACEBACK = "traceback.txt"  # a point that failed with an unexpected error
SWEEP = "sweep.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
CHECKPOINTS = "checkpoints"
POINTS = "runs"  # a sweep's or a tune's folder: one sub-folder per point or trial
STUDY = "study.db"  # a tune's Optuna studies (SQLite)
CHOICE_JSON, CHOICE_MD = "choice.json", "choice.md"  # a selection's record and table
COMPARISON = "comparison"  # a selection's folder: the run folder of its comparison


def read_config(folder: Path) -> dict:
    """The record of ``folder`` (its config.json), {} when there is none."""
    return run_files.read_json(Path(folder) / CONFIG)


def write_config(folder: Path, record: dict) -> None:
    """Write the record of ``folder`` atomically."""
    run_files.write_json(Path(folder) / CONFIG, record)


def read_status(folder: Path) -> dict:
    """How the point or trial in ``folder`` ended (status.json), {} when it has not."""
    return run_files.read_json(Path(folder) / STATUS)


def write_status(folder: Path, outcome: dict) -> None:
    """Record how the point or trial in ``folder`` ended."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    run_files.write_json(Path(folder) / STATUS, outcome)


def checkpoint_file(folder: Path, run_id: str) -> Path:
    """Where the run ``run_id`` of the run folder ``folder`` keeps its checkpoint."""
    return Path(folder) / CHECKPOINTS / f"{run_id}.pt"


def write_summary(folder: Path, table, text: str) -> None:
    """A report's summary.csv (``table``, a DataFrame) and summary.md (``text``)."""
    run_files.write_csv(Path(folder) / SUMMARY_CSV, table)
    run_files.write_text(Path(folder) / SUMMARY_MD, text)


def study_url(folder: Path) -> str:
    """The SQLite URL of the tune's study file in ``folder``, after checking that an existing
    file is an Optuna study: a damaged file is a one-line error. The check runs on a copy (with
    any journal a killed writer left, which SQLite rolls back there), so it never writes the
    file itself."""
    import shutil
    import sqlite3
    import tempfile
    from contextlib import closing

    path = (Path(folder) / STUDY).resolve()
    if path.exists():
        fix = "restore it from a copy, or start the tune again with a new --out"
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / STUDY
            for suffix in ("", "-journal", "-wal"):
                if Path(f"{path}{suffix}").is_file():
                    shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
            try:
                with closing(sqlite3.connect(copy)) as db:
                    check = db.execute("PRAGMA quick_check").fetchone()[0]
                    tables = {row[0] for row in db.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
            except sqlite3.DatabaseError as err:
                raise UsageError(f"{path} is not a readable study database ({err}); "
                                 f"{fix}") from None  # fmt: skip
        if check != "ok" or "studies" not in tables:
            why = f"integrity check: {check}" if check != "ok" else "it holds no Optuna study"
            raise UsageError(f"{path} is damaged ({why}); {fix}")
    return f"sqlite:///{path}"
