"""Run-folder lock: one process per folder, released by the kernel however the holder ends."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wae_bench.errors import UsageError
from wae_bench.lock import LOCK_NAME, RunLock

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import os, sys
from wae_bench.lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
how = sys.stdin.readline().strip()  # wait until told how to end
if how == "exit":
    lock.release()
elif how == "_exit":
    os._exit(3)  # no cleanup at all
"""


@pytest.fixture
def holder(tmp_path):
    """Start a process holding ``tmp_path/run``; yields (process, folder); always ends it."""
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert process.stdout.readline() == "locked\n"
        yield process, folder
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def end(process, how: str) -> None:
    if how == "SIGKILL":
        process.send_signal(signal.SIGKILL)
    else:
        process.stdin.write(how + "\n")
        process.stdin.flush()
    process.wait(timeout=10)



def is_free(folder) -> bool:
    """Whether this process can take the lock of ``folder`` now (and lets it go at once)."""
    try:
        with RunLock(folder):
            return True
    except UsageError:
        return False

def test_a_second_process_is_refused_with_the_holders_pid(holder):
    process, folder = holder
    with pytest.raises(UsageError) as err:
        with RunLock(folder):
            pass
    message = str(err.value)
    pattern = (
        rf"run folder {re.escape(str(folder))} is in use by process {process.pid} "
        r"\(started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\); wait for it or pass another --out"
    )
    assert re.fullmatch(pattern, message), message
    assert not is_free(folder)


@pytest.mark.parametrize("how", ["exit", "_exit", "SIGKILL"])
def test_the_lock_is_free_once_the_holder_ends_however_it_ends(holder, how):
    process, folder = holder
    assert not is_free(folder)
    end(process, how)
    with RunLock(folder) as lock:
        assert lock.held
        info = json.loads((folder / LOCK_NAME).read_text())
        assert (info["pid"], info["host"]) == (os.getpid(), socket.gethostname())
    assert not lock.held and (folder / LOCK_NAME).read_text() == ""


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": int(dead), "host": "h", "started": "t"}))
    with RunLock(folder) as lock:
        assert lock.held


def test_the_lock_is_released_when_the_body_raises(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with RunLock(tmp_path):
            raise ZeroDivisionError
    assert is_free(tmp_path)


def test_two_locks_in_one_process_exclude_each_other(tmp_path):
    """flock belongs to the open file, so one process cannot run twice into one folder."""
    with RunLock(tmp_path):
        with pytest.raises(UsageError, match=f"in use by process {os.getpid()} "):
            RunLock(tmp_path).acquire()
    assert is_free(tmp_path)


@pytest.mark.parametrize(
    ("content", "holder"),
    [
        (b"", "another process"),  # locked, name not written yet
        (b"\xff garbage", "another process"),
        (b'{"pid": 42, "host": "node7", "started": "t"}', "process 42 on node7 (started t)"),
    ],
)
def test_the_message_names_the_holder_as_far_as_its_file_tells(tmp_path, content, holder):
    import fcntl

    (tmp_path / LOCK_NAME).write_bytes(content)
    with open(tmp_path / LOCK_NAME) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(UsageError) as err:
            RunLock(tmp_path).acquire()
    assert str(err.value) == (
        f"run folder {tmp_path} is in use by {holder}; wait for it or pass another --out"
    )


def test_an_unwritable_place_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError) as err:
        RunLock(tmp_path / "file" / "run").acquire()
    assert str(err.value) == (
        f"cannot lock run folder {tmp_path}/file/run: Not a directory; pass another --out"
    )


def test_the_lock_file_gets_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with RunLock(tmp_path):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / LOCK_NAME).stat().st_mode & 0o777 == 0o644
