"""One process per run folder: an exclusive ``flock`` on ``FOLDER/.lock`` held for the run's life.

The kernel drops a flock when its file is closed, which happens on every exit, a crash or
SIGKILL included, so a lock file left behind by a dead process never blocks. The holder's
pid, host and start time are written into the file only so that the refusal can name them.
"""

import fcntl
import json
import os
import socket
import time
from contextlib import suppress
from pathlib import Path

from .errors import UsageError

LOCK_NAME = ".lock"


class FolderInUse(UsageError):
    """Another process holds the run folder (sweeps skip such folders)."""


class RunLock:
    """``with RunLock(folder):`` runs the body holding the folder, or raises ``UsageError``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock; raise ``UsageError`` when another process (or another RunLock of
        this one) holds it."""
        if self.held:
            return
        fd = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUse(
                f"run folder {self.folder} is in use by {holder}; wait for it or pass another --out"
            ) from None
        except OSError as err:  # cannot create the folder or file, or no locks on this file system
            if fd is not None:
                os.close(fd)
            raise UsageError(
                f"cannot lock run folder {self.folder}: {err.strerror or type(err).__name__}; "
                "pass another --out"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}  # fmt: skip
        with suppress(OSError):  # the name is for messages only; the flock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Empty the lock file (its holder is gone) and drop the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with suppress(OSError):  # a folder that became read-only: closing still drops the lock
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    """'process PID on HOST (started TIME)' from the lock file, for the message only."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        pid, host, started = info["pid"], info["host"], info["started"]
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"  # it has locked but not yet written its name
    where = "" if host == socket.gethostname() else f" on {host}"
    return f"process {pid}{where} (started {started})"
