"""A run's result file as rows of the long results table, and back.

The long form has one row per (method, lam, seed, epoch, metric) with its value; a key the
result file does not have (the latent task has no lam) is NaN, and a value the file leaves
empty (the loss before training) has no row. ``wae-bench results`` stacks these rows of every
run folder with their provenance (``results_table``); each task's summary and figures are
drawn from the same rows of its own folder (``wide`` gives the summaries their one row per
seed and epoch back), so the table and the reports cannot read a file differently.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .run_files import read_csv

KEYS = ("method", "lam", "seed", "epoch")
COLUMNS = (*KEYS, "metric", "value")


def melt(frame: pd.DataFrame, metrics: list[str], carry=()) -> dict[str, np.ndarray]:
    """The key columns (method, lam, seed, epoch: NaN where the frame has none), the columns
    ``carry`` and one (metric, value) per row and metric of ``frame``, empty values left out,
    as arrays (metric by metric, rows in file order within a metric)."""
    n = len(frame)
    keys = {k: (frame[k].to_numpy(dtype=object if k == "method" else float) if k in frame
                else np.full(n, np.nan)) for k in KEYS}  # fmt: skip
    keys |= {k: frame[k].to_numpy(dtype=object) for k in carry}
    values = frame[metrics].to_numpy(dtype=float).T.ravel()
    keep = ~np.isnan(values)
    out = {k: np.tile(v, len(metrics))[keep] for k, v in keys.items()}
    out["metric"] = np.repeat(np.array(metrics, dtype=object), n)[keep]
    out["value"] = values[keep]
    return out


def read_arrays(run_dir: Path, result_file: str, columns=()) -> dict[str, np.ndarray]:
    """``melt`` of every metric column (a column not among ``KEYS``) of the result file; a
    missing column of ``columns`` or a metric column holding text is a damaged file."""
    path = Path(run_dir) / result_file
    frame = read_csv(path, columns=columns)
    metrics = [c for c in frame.columns if c not in KEYS]
    keys = [k for k in KEYS if k in frame]
    repeated = frame.duplicated(keys)
    if repeated.any():
        first = frame[repeated].iloc[0]
        raise UsageError(f"{path.name} in {run_dir} is damaged (two rows for "
                         f"{', '.join(f'{k} {first[k]}' for k in keys)}); re-run the task or "
                         "restore the file")  # fmt: skip
    for column in metrics:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise UsageError(f"{path.name} in {run_dir} is damaged (column {column} holds "
                             "text); re-run the task or restore the file")  # fmt: skip
    return melt(frame, metrics)


def read(run_dir: Path, result_file: str, columns=()) -> pd.DataFrame:
    """The long rows (``COLUMNS``) of one run folder's result file."""
    return pd.DataFrame(read_arrays(run_dir, result_file, columns), columns=list(COLUMNS))


def wide(rows: pd.DataFrame, columns=()) -> pd.DataFrame:
    """One row per (method, lam, seed, epoch) of long ``rows`` with a column per metric: the
    metrics of ``columns`` (a result file's) first, NaN throughout when they have no row, then
    the others. Keys and metrics keep the order they first appear in; a key that is NaN
    throughout (no lam) is left out, a value with no row is NaN; seeds and epochs are
    integers, lam and the metrics floats."""
    keys = [k for k in KEYS if rows[k].notna().any()]
    order = pd.MultiIndex.from_frame(rows[keys].drop_duplicates())
    named = [c for c in columns if c not in KEYS]
    metrics = list(dict.fromkeys([*named, *pd.unique(rows["metric"])]))
    table = rows.set_index([*keys, "metric"])["value"].unstack("metric")
    table = table.reindex(index=order, columns=metrics).reset_index()
    table.columns.name = None
    return table.astype({k: "int64" for k in ("seed", "epoch") if k in keys})


def read_wide(run_dir: Path, result_file: str, columns=()) -> pd.DataFrame:
    """``wide`` of ``read``: the result file's rows back, every column of ``columns`` there."""
    return wide(read(run_dir, result_file, columns), columns)
