"""A run folder's files: atomic writes of text, JSON and CSV, and reading them back, where a
damaged file or a failed write is one line of bad input and never a half-written file.

pandas is imported by the functions that build or read a table, so that importing this module
(every command does) does not load it.
"""

import csv
import errno
import io
import json
import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    import pandas as pd


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


def first_line(err: Exception) -> str:
    """The first line of an error's message (its type's name when it has none)."""
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
        raise _damaged(path, first_line(err)) from None
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
        raise _damaged(path, first_line(err)) from None
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
