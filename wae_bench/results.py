"""Run folders and files: atomic writes, CSV/Markdown/JSON, the run's environment.

pandas is imported by the functions that build or read a table, so that importing this module
(every command does) does not load it.
"""

import csv
import datetime
import errno
import io
import json
import math
import os
import pickle
import platform
import re
import stat
import tempfile
from collections import OrderedDict
from contextlib import suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

TRACKED_PACKAGES = ("wae-bench", "torch", "geomloss", "pot", "numpy", "pandas", "matplotlib")


def prepare_run_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and prove it is writable before any work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as err:
        raise UsageError(
            f"cannot write to output folder {path}: {_reason(err)}; pass a writable --out"
        ) from None
    return path


class WriteError(UsageError):
    """A result file could not be written; the previous version of the file is left intact.

    ``path`` is the file, ``folder`` its folder, ``reason`` what went wrong and ``fix`` what
    to do. ``with_note`` returns the same error with context (e.g. the last complete epoch)
    placed before the fix, so that the message stays one line.
    """

    def __init__(self, path: Path, reason: str, fix: str, note: str = ""):
        self.path, self.reason, self.fix, self.note = Path(path), reason, fix, note
        super().__init__(str(self))

    @property
    def folder(self) -> Path:
        """The folder of the file that could not be written."""
        return self.path.parent

    def with_note(self, note: str) -> "WriteError":
        """The same error with ``note`` (e.g. the last complete checkpoint) added."""
        return WriteError(self.path, self.reason, self.fix, note)

    def __reduce__(self):  # crosses process pools (sweeps) with its attributes
        return WriteError, (self.path, self.reason, self.fix, self.note)

    def __str__(self) -> str:
        note = f"; {self.note}" if self.note else ""
        return f"cannot write {self.path.name} in {self.folder}: {self.reason}{note}; {self.fix}"


_REASONS = {  # errno -> (reason, fix); anything else keeps the system's words
    errno.ENOSPC: ("no space left on device", "free space or pass another --out"),
    errno.EDQUOT: ("disk quota exceeded", "free space or pass another --out"),
    errno.EROFS: ("the file system is read-only", "pass a writable --out"),
    errno.EACCES: ("permission denied", "make the folder writable or pass another --out"),
    errno.EPERM: ("operation not permitted", "make the folder writable or pass another --out"),
}


def _first_line(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


def _reason(err: OSError) -> str:
    return _REASONS.get(err.errno, (err.strerror or type(err).__name__, ""))[0]


def _write_error(path: Path, err: OSError) -> WriteError:
    fix = _REASONS.get(err.errno, ("", "check the folder or pass another --out"))[1]
    return WriteError(path, _reason(err), fix)


def current_umask(status: Path = Path("/proc/self/status")) -> int:
    """The process umask, read without changing it where Linux shows it in ``status`` (>= 4.7).

    Elsewhere it is read by setting and restoring it with ``os.umask``: the umask is
    process-wide, so a file another thread creates in that instant gets mode 0o077-masked.
    """
    with suppress(OSError, ValueError):
        for line in Path(status).read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _ordinary_mode(path: Path) -> int:
    """The mode ``open(path, 'w')`` would leave: the old file's, or 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, then rename over ``path``: readers see old or new, never half.

    The file gets the mode an ordinary write would give it (not mkstemp's 0600). An
    ``OSError`` (disk full, read-only folder) becomes ``WriteError``; the partial temporary
    file is removed and the previous ``path`` is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, _ordinary_mode(path))
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError):
            raise _write_error(path, err) from None
        raise


def mean_std(mean: float, std: float, digits: int) -> str:
    """'m ± s' with ``digits`` decimals; just 'm' for one seed (std NaN); '-' when no mean."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_row(cells) -> str:
    """One row of a Markdown table: | a | b |."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (``atomic_write``)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, frame: "pd.DataFrame") -> None:
    """Write ``frame`` as CSV (8 significant digits) to ``path`` atomically."""
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.8g"))


def write_rows(path: Path, rows: list[dict], columns=None) -> None:
    """``write_csv`` of the rows (dicts); ``columns``: those columns, in that order."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    write_csv(path, frame if columns is None else frame[list(columns)])


def _damaged(path: Path, why: str) -> UsageError:
    return UsageError(
        f"{path.name} in {path.parent} is damaged ({why}); re-run the task or restore the file"
    )


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; unreadable, binary or empty files are damaged."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(
            f"cannot read {path.name} in {path.parent}: {_reason(err)}; "
            "make it readable or restore the file"
        ) from None
    if not data.strip():
        raise _damaged(path, "empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _damaged(path, "not UTF-8 text") from None


def _check_rows(path: Path, text: str) -> None:
    """Every row has the header's number of fields, and the last one is complete."""
    if not text.endswith("\n"):
        raise _damaged(path, "the last line is cut off")
    try:
        widths = [len(row) for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as err:
        raise _damaged(path, _first_line(err)) from None
    for line, width in enumerate(widths[1:], start=2):
        if width not in (0, widths[0]):  # 0: a blank line, which pandas skips
            raise _damaged(path, f"row {line} has {width} fields, the header {widths[0]}")


def read_csv(path: Path, columns=()) -> "pd.DataFrame":
    """A CSV written by ``write_csv``; damage, or a missing column of ``columns``, is bad input."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} not found; pass the folder of a finished wae-bench run")
    text = _read_text(path)
    _check_rows(path, text)
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as err:  # EmptyDataError is a ValueError
        raise _damaged(path, _first_line(err)) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise _damaged(path, f"no column {', '.join(missing)}")
    return frame


def read_json(path: Path) -> dict:
    """A JSON object written by ``write_json``; {} when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise _damaged(path, f"not JSON: {err.msg} at line {err.lineno}") from None
    if not isinstance(data, dict):
        raise _damaged(path, f"a JSON {type(data).__name__}, not an object")
    return data


def git_commit(start: Path | None = None) -> str:
    """The commit checked out where wae-bench's source lies ("" outside a git checkout), read
    from .git (HEAD, then the branch's ref file or packed-refs) without running git."""
    folder = Path(start or __file__).resolve().parent
    git = next((f / ".git" for f in (folder, *folder.parents) if (f / ".git").is_dir()), None)
    if git is None:
        return ""
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head  # a detached HEAD holds the commit itself
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        packed = (git / "packed-refs").read_text().splitlines()
        return next((line.split()[0] for line in packed if line.endswith(f" {ref}")), "")
    except OSError:
        return ""


def environment(device: torch.device) -> dict:
    """Versions, hardware, the git commit of the source and the date (UTC), recorded next to
    every result."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str, *, gpu_wins: bool = True) -> torch.device:
    """auto -> cuda when a GPU is visible and the work runs faster there (``gpu_wins``, the
    task's ``prefers_gpu``), else cpu; an explicit cuda without a GPU is bad input."""
    if name == "auto":
        return torch.device("cuda" if gpu_wins and torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda") from None


CHECKPOINT_LEAVES = (torch.Tensor, torch.nn.Parameter, bool, int, float, str, bytes, type(None))
CHECKPOINT_BRANCHES = (dict, OrderedDict, list, tuple)
FOREIGN_GLOBAL = re.compile(r"(?:GLOBAL|Unsupported class) ([\w.]+)")  # in torch's message


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save through a temporary file: a kill leaves the old or the new checkpoint.

    ``state`` holds tensors, numbers, text, lists, tuples and dicts only, so that
    ``load_checkpoint`` reads it with ``torch.load(weights_only=True)``, which runs nothing.
    """
    foreign = _foreign_value(state, "state")
    if foreign:
        raise TypeError(f"a checkpoint holds tensors, numbers, text, lists and dicts only; "
                        f"{foreign}")  # fmt: skip

    def write(tmp):
        with open(tmp, "wb") as f:
            try:
                torch.save(state, f)
            except RuntimeError as err:  # torch hides the file's OSError (disk full) inside
                if isinstance(err.__context__, OSError):
                    raise err.__context__ from None
                raise

    atomic_write(path, write)


def _foreign_value(value, where: str) -> str:
    """Where ``value`` holds anything else than CHECKPOINT_LEAVES in CHECKPOINT_BRANCHES
    ('' when nowhere). Types are compared exactly: numpy.float64 is a float subclass that
    ``torch.load(weights_only=True)`` refuses."""
    kind = type(value)
    if kind in CHECKPOINT_LEAVES:
        return ""
    if kind not in CHECKPOINT_BRANCHES:
        return f"{where} is a {kind.__module__}.{kind.__qualname__}"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _foreign_value(key, f"a key of {where}")
        found = found or _foreign_value(item, f"{where}[{key!r}]")
        if found:
            return found
    return ""


def load_checkpoint(path: Path) -> dict:
    """The state dict saved by ``save_checkpoint``, read with ``weights_only=True``: tensors,
    numbers, text, lists and dicts, nothing that runs. A torn or foreign file, or one that
    names any other object (which loading could run as code), is bad input.

    Tensors are read onto the CPU whatever device the run uses: the RNG states must be CPU
    byte tensors (``torch.set_rng_state``, ``Generator.set_state``), and the modules and the
    optimizer copy their saved tensors into their own, on their device, in place."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = FOREIGN_GLOBAL.search(str(err))
        if found is None:
            raise _unreadable(path, type(err).__name__) from None
        raise UsageError(
            f"checkpoint {path} holds more than tensors, numbers and text (it names "
            f"{found.group(1)}, which loading could run as code), so it is not loaded; pass "
            "--overwrite to replace the run, or delete it to restart that run"
        ) from None
    except Exception as err:  # torch raises many kinds for a torn or foreign file
        raise _unreadable(path, type(err).__name__) from None
    if not isinstance(state, dict):
        raise _unreadable(path, f"holds a {type(state).__name__}, not a dict")
    return state


def _unreadable(path: Path, why: str) -> UsageError:
    return UsageError(f"checkpoint {path} cannot be read ({why}); delete it to restart that run")


def resume_from(path: Path, load) -> None:
    """Read the checkpoint at ``path`` and hand it to ``load``; misfits are bad input."""
    state = load_checkpoint(path)
    try:
        load(state)
    except (ValueError, KeyError, RuntimeError) as err:
        raise UsageError(
            f"checkpoint {path} does not fit this run ({_first_line(err)}); "
            "delete it to restart the run"
        ) from None
