"""`wae-bench results`: every run folder under the given folders as one long table.

One row per (run folder, method, lam, seed, epoch, metric) with its value, the run's settings
and its provenance (``COLUMNS``; docs/results-table.md says what each holds). A run folder is
a folder whose config.json names a registered task and that holds the task's result file
(curves.csv, metrics.csv); where it sits says its kind: a run of its own, a cell of a
dimension study, a point of a sweep (``runs/<id>`` beside sweep.json), or a trial, confirmed
trial, final or default run of a tune (``runs/...`` of a folder whose config.json is a tune's).
A folder written by ``wae-bench compare --out`` (compare.csv) gives its per-run statistics as
metrics named ``<metric>_<statistic>`` without a seed. A value the result file leaves empty
(the loss before training) has no row.

The table is written as one Parquet file (pyarrow): a single portable, typed, compressed
columnar file that pandas, polars, DuckDB, Spark and R's arrow read without this suite, that
can be attached to a paper or an issue as it is, and whose readers never lock or migrate it.
An embedded database (DuckDB) would add a second file format with its own version and
a server-like API for what is one table that is written once and read whole; anyone who wants
SQL can still run ``duckdb -c "SELECT ... FROM 'results.parquet'"`` on it.

Nothing is written into a run folder; a damaged file, a run still being written (its lock
held) and a folder that holds no run are one-line errors, and then nothing is written.
"""

import datetime
import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import folders, run_files, table_rows, tasks
from .errors import UsageError
from .lock import LOCK_NAME

COLUMNS = ("run", "experiment", "kind", "task", "method", "lam", "settings", "seed", "epoch",
           "metric", "value", "status", "suite_version", "git_commit", "torch_version",
           "device", "dataset", "data_release", "config_hash", "date")  # fmt: skip
NUMBERS = {"lam": "float64", "seed": "Int64", "epoch": "Int64", "value": "float64"}  # else text
COMPARE_CSV, COMPARE_MD = "compare.csv", "compare.md"
SKIPPED_DIRS = (folders.CHECKPOINTS, "visuals")  # inside a run folder, never run folders
TUNE_KINDS = {"confirm": "tune confirm", "final": "tune final", "default": "tune default"}


def collect(paths) -> pd.DataFrame:
    """The long table (``COLUMNS``) of every run folder in or below each of ``paths``.

    ``run`` and ``experiment`` are paths as given (``results/latent/reference``); a folder
    reached twice is read once. Raises ``UsageError`` for a path that does not exist or holds
    no run folder, a damaged result or record file, or a folder whose lock is held."""
    parts, runs, seen, finder = [], [], set(), _Finder()
    for given in paths:
        root = Path(given)
        if not root.is_dir():
            raise UsageError(f"{given} is not a folder; pass folders of wae-bench results "
                             "(default: results)")  # fmt: skip
        found = 0
        for folder, what in finder.walk(root):
            if folder.resolve() in seen:
                found += 1
                continue
            place = _Place(root, str(given))
            read = (_compare_rows(folder, place) if what == "compare"
                    else _run_rows(folder, place, finder))  # fmt: skip
            if read is not None:
                rows, about = read
                parts.append(rows | {"_run": np.full(len(rows["value"]), len(runs))})
                runs.append(about)
                seen.add(folder.resolve())
                found += 1
        if not found:
            raise UsageError(
                f"{given} holds no wae-bench run folder (config.json with the task's result "
                "file, or a compare folder); pass a run, study, sweep or tune folder or one "
                "above them"
            )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=NUMBERS.get(c, "string")) for c in COLUMNS})
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    about = pd.DataFrame(runs).take(rows.pop("_run")).reset_index(drop=True)
    table = pd.concat([about, pd.DataFrame(rows)], axis=1)
    types = {c: "string" for c in COLUMNS if c not in NUMBERS} | NUMBERS
    return table[list(COLUMNS)].astype(types)


class _Place:
    """Paths as the user gave them: ``given`` joined with a folder's path below ``root``."""

    def __init__(self, root: Path, given: str):
        self.root, self.given = root, given

    def shown(self, folder: Path) -> str:
        """``folder`` as a path from the given one (results/latent/reference)."""
        return os.path.normpath(os.path.join(self.given, os.path.relpath(folder, self.root)))


def write(table: pd.DataFrame, out: Path, sources) -> None:
    """Write ``table`` to the Parquet file ``out`` atomically; the folders it was read from are
    kept in the file's metadata. Only a Parquet file is ever replaced, so a run's files are
    never overwritten."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.suffix != ".parquet":
        raise UsageError(f"--out {out} must end in .parquet")
    if out.exists() and (not out.is_file() or out.read_bytes()[:4] != b"PAR1"):
        raise UsageError(f"--out {out} exists and is not a Parquet file; pass another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    note = json.dumps({"folders": [str(s) for s in sources], "columns": list(COLUMNS)})
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           b"wae_bench.results": note.encode()})  # fmt: skip
    run_files.atomic_write(out, lambda tmp: pq.write_table(arrow, tmp))


def describe(table: pd.DataFrame) -> str:
    """One paragraph: rows, run folders, kinds and tasks of ``table``."""
    runs = table.drop_duplicates("run")
    kinds = ", ".join(f"{n} {k}" for k, n in runs["kind"].value_counts(sort=False).items())
    per_task = ", ".join(f"{t} {n}" for t, n in table["task"].value_counts(sort=False).items())
    return (f"{len(table)} rows from {len(runs)} run folders ({kinds}); rows per task: "
            f"{per_task}; {table['metric'].nunique()} metrics, "
            f"{table['experiment'].nunique()} experiments.")  # fmt: skip


class _Finder:
    """Walks folders for run and compare folders, and tells a run folder's kind from the
    folders above it (read once each)."""

    def __init__(self):
        self._records: dict[Path, dict] = {}

    def record(self, folder: Path) -> dict:
        """config.json of ``folder`` ({} when none), read once."""
        if folder not in self._records:
            self._records[folder] = folders.read_config(folder)
        return self._records[folder]

    def walk(self, root: Path):
        """(folder, "run" | "compare") below ``root``, in sorted order; every folder visited
        is checked for a held lock first."""
        for top, dirs, files in os.walk(root):
            here = Path(top)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
            if LOCK_NAME in files:
                check_unlocked(here)
            if folders.CONFIG in files and "task" in self.record(here):
                record = self.record(here)
                if "study" not in record and record.get("command") != "tune":
                    dirs[:] = []  # a run folder holds no other run
                    yield here, "run"
            elif COMPARE_CSV in files and COMPARE_MD in files:
                yield here, "compare"

    def kind(self, folder: Path) -> tuple[str, Path]:
        """(kind, experiment folder) of the run folder ``folder``."""
        parent = folder.parent
        if folder.name in self.record(parent).get("study", []):
            return "study cell", folder
        if parent.name == folders.POINTS and (parent.parent / folders.SWEEP).is_file():
            return "sweep point", parent.parent
        for depth in (2, 3):  # runs/<method>/<trial>, runs/{final,default}/<method>, ...
            above = folder.parents[depth - 1] if len(folder.parents) >= depth else None
            if above is None or above.name != folders.POINTS:
                continue
            if self.record(above.parent).get("command") == "tune":
                first = folder.relative_to(above).parts[0]
                return TUNE_KINDS.get(first, "tune trial"), above.parent
        return "run", folder


def check_unlocked(folder: Path) -> None:
    """A folder whose lock another process holds is being written: bad input.

    A lock file is emptied when its holder lets go, so only a non-empty one (held, or left by
    a killed process) is probed, with a shared lock taken and dropped at once."""
    import fcntl

    path = folder / LOCK_NAME
    try:
        holder = path.read_text().strip()
        if not holder:
            return
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        try:
            info = json.loads(holder)
            who = f"process {info['pid']} on {info['host']} (started {info['started']})"
        except (ValueError, KeyError, TypeError):
            who = "another process"
        raise UsageError(f"{folder} is still being written by {who} (its lock is held); wait "
                         "for it to finish, or pass folders that do not hold it") from None
    finally:
        os.close(fd)


def _run_rows(folder: Path, place: _Place, finder: _Finder):
    """(rows, run columns) of one run folder: rows as arrays of the keys, metric, value and
    settings; None when it has no result file (a run that failed before its first
    evaluation)."""
    record = finder.record(folder)
    try:
        task = tasks.get(record["task"])
    except UsageError:
        raise UsageError(f"{folder / folders.CONFIG} names the task {record['task']!r}, which "
                         "is not installed; install the package that adds it or leave the "
                         "folder out") from None  # fmt: skip
    if not (folder / task.results.file).is_file():
        return None
    rows = table_rows.read_arrays(folder, task.results.file, task.results.columns)
    kind, experiment = finder.kind(folder)
    settings = {m: settings_of(task, record, m) for m in set(rows["method"])}
    rows["settings"] = np.array([settings[m] for m in rows["method"]], dtype=object)
    about = {"run": place.shown(folder), "experiment": place.shown(experiment), "kind": kind,
             "task": task.name, "status": folders.read_status(folder).get("status"),
             **provenance(task, record, folder / folders.CONFIG)}  # fmt: skip
    return rows, about


def settings_of(task, record: dict, method: str) -> str:
    """Compact JSON of ``method``'s resolved hyper-parameters (``method.name``) and the run's
    measured settings that differ from the task's defaults; methods, seeds, lambdas (the lam
    column) and how the run ran (device, folder, jobs, ...: not fields of the task's config,
    though older records hold them in "config") left out."""
    config = record.get("config", {})
    hparams = record.get("hparams", {}).get(method, config.get("params", {}).get(method, {}))
    out = {f"{method}.{k}": v for k, v in hparams.items()}
    defaults = _defaults(task.config)
    skipped = {"methods", "seeds", "params", "lambdas"}  # lambdas: the lam column
    for key, value in config.items():
        if key not in skipped and key in defaults and defaults[key] != value:
            out[key] = value
    return json.dumps(out, sort_keys=True, separators=(",", ":"), default=str)


@functools.cache
def _defaults(config_class) -> dict:
    return config_class().to_dict()


def provenance(task, record: dict, config_file: Path) -> dict:
    """The provenance columns of a run folder from its record (config.json)."""
    env = record.get("environment", {})
    packages = env.get("packages", {})
    data = record.get("data", {})
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    defaults = _defaults(task.config)
    identity = {k: v for k, v in record.get("config", {}).items() if k in defaults}
    canonical = json.dumps({"task": task.name, "config": identity}, sort_keys=True,
                           separators=(",", ":"), default=str)  # fmt: skip
    date = record.get("date") or env.get("date") or _mtime(config_file)
    return {
        "suite_version": packages.get("wae-bench"),
        "git_commit": record.get("git_commit") or env.get("git_commit") or git.get("commit"),
        "torch_version": packages.get("torch"),
        "device": env.get("gpu") or env.get("device"),
        # a task that reads no data set makes its own data (the latent task)
        "dataset": data.get("name") or record.get("config", {}).get("dataset") or "synthetic",
        "data_release": (data.get("release") or {}).get("verdict"),
        "config_hash": hashlib.sha256(canonical.encode()).hexdigest(),
        "date": date,
    }


def _mtime(path: Path) -> str:
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
    return stamp.isoformat(timespec="seconds")


def _compare_rows(folder: Path, place: _Place):
    """(rows, run columns) of a compare folder: metric ``<task metric>_<statistic>`` per
    compared run (settings {"compared": run}), method, lam and epoch; no seed, and no
    provenance but the date (compare writes no config.json)."""
    frame = run_files.read_csv(folder / COMPARE_CSV, columns=("run", "method", "epoch", "mean"))
    try:
        first = (folder / COMPARE_MD).read_text().split(",", 1)[0].strip()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {COMPARE_MD} in {folder} ({type(err).__name__}); "
                         "write it again with wae-bench compare --out") from None
    task = next((t for t in tasks.names() if tasks.get(t).results.metric == first), None)
    if "within" in frame:
        frame = frame.assign(within=frame["within"].astype(float))
    stats = [c for c in frame.columns if c not in (*table_rows.KEYS, "run")]
    rows = table_rows.melt(frame.drop(columns="seed", errors="ignore"), stats, carry=("run",))
    rows["metric"] = np.array([f"{first}_{m}" for m in rows["metric"]], dtype=object)
    rows["settings"] = np.array([json.dumps({"compared": str(r)}) for r in rows.pop("run")],
                                dtype=object)  # fmt: skip
    shown = place.shown(folder)
    about = dict.fromkeys(COLUMNS) | {"run": shown, "experiment": shown, "kind": "compare",
                                      "task": task, "date": _mtime(folder / COMPARE_CSV)}
    return rows, {k: v for k, v in about.items() if k not in rows}
