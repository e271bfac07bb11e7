"""Result files: ordinary permissions, and write errors that leave the previous file intact."""

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from wae_bench import checkpoints, plots, run_files
from wae_bench.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def write_every_kind(folder: Path) -> list[Path]:
    """One file of each kind a run writes, through the code that writes it."""
    run_files.write_csv(folder / "curves.csv", pd.DataFrame({"epoch": [1, 2], "swd": [0.5, 0.25]}))
    run_files.write_json(folder / "config.json", {"task": "latent"})
    run_files.write_text(folder / "summary.md", "| a |\n")
    checkpoints.save_checkpoint(folder / "run.pt", {"epoch": 2, "w": torch.ones(3)})
    fig = plt.figure(figsize=(1, 1))
    plots.save(fig, folder / "curves", pdf=False)
    return [folder / n for n in ("curves.csv", "config.json", "summary.md", "run.pt", "curves.png")]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    ("mask", "expected"),
    [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
    ids=["umask022", "umask077", "umask002"],
)
def test_result_files_get_the_mode_of_an_ordinary_write(tmp_path, mask, expected):
    with umask(mask):
        files = write_every_kind(tmp_path)
        with open(tmp_path / "plain.txt", "w"):  # what the umask gives an ordinary write
            pass
    assert mode(tmp_path / "plain.txt") == expected
    assert {p.name: oct(mode(p)) for p in files} == {p.name: oct(expected) for p in files}


def test_rewriting_a_file_keeps_the_mode_its_owner_gave_it(tmp_path):
    path = tmp_path / "summary.md"
    with umask(0o022):
        run_files.write_text(path, "old\n")
        path.chmod(0o640)
        run_files.write_text(path, "new\n")
    assert (path.read_text(), mode(path)) == ("new\n", 0o640)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o027, 0o077], ids=oct)
def test_umask_is_read_from_proc_and_by_the_fallback_alike(tmp_path, mask):
    with umask(mask):
        from_proc = run_files.current_umask()
        fallback = run_files.current_umask(status=tmp_path / "no-proc")
        after = os.umask(mask)  # the fallback restored the umask it read
    assert (from_proc, fallback, after) == (mask, mask, mask)


def enospc_after(n_bytes):
    """A writer that writes ``n_bytes`` of junk to the temporary file, then finds the disk full."""

    def write(tmp):
        Path(tmp).write_bytes(b"x" * n_bytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def test_disk_full_mid_write_is_a_one_line_error_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "curves.csv"
    run_files.write_text(path, "epoch,swd\n1,0.5\n")
    with pytest.raises(run_files.WriteError) as err:
        run_files.atomic_write(path, enospc_after(1000))
    assert str(err.value) == (
        f"cannot write curves.csv in {tmp_path}: no space left on device; "
        "free space or pass another --out"
    )
    assert isinstance(err.value, UsageError)
    assert (err.value.path, err.value.folder) == (path, tmp_path)
    assert path.read_text() == "epoch,swd\n1,0.5\n"
    assert os.listdir(tmp_path) == ["curves.csv"]  # the partial temporary file is gone


def test_a_write_error_takes_a_note_before_the_fix(tmp_path):
    with pytest.raises(run_files.WriteError) as err:
        run_files.atomic_write(tmp_path / "run.pt", enospc_after(10))
    noted = err.value.with_note("the last complete checkpoint is epoch 3")
    assert str(noted) == (
        f"cannot write run.pt in {tmp_path}: no space left on device; "
        "the last complete checkpoint is epoch 3; free space or pass another --out"
    )
    assert isinstance(noted, run_files.WriteError) and noted.reason == err.value.reason


def test_disk_full_inside_pandas_and_torch_is_a_write_error(tmp_path, monkeypatch):
    """pandas raises the OSError; torch wraps it in a RuntimeError, which is unwrapped."""
    frame = pd.DataFrame({"epoch": [1]})
    run_files.write_csv(tmp_path / "metrics.csv", frame)
    checkpoints.save_checkpoint(tmp_path / "run.pt", {"epoch": 1})

    def to_csv_full(self, path, **kwargs):
        enospc_after(100)(path)

    def torch_save_full(state, f):
        f.write(b"PK\x03\x04" + b"\0" * 100)
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from None

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv_full)
    monkeypatch.setattr(torch, "save", torch_save_full)
    for write, name in (
        (lambda: run_files.write_csv(tmp_path / "metrics.csv", frame), "metrics.csv"),
        (lambda: checkpoints.save_checkpoint(tmp_path / "run.pt", {"epoch": 2}), "run.pt"),
    ):
        with pytest.raises(run_files.WriteError, match=f"cannot write {name} .*no space left"):
            write()
    monkeypatch.undo()
    assert checkpoints.load_checkpoint(tmp_path / "run.pt") == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["metrics.csv", "run.pt"]


def test_other_exceptions_pass_through_and_still_remove_the_temporary_file(tmp_path):
    def write(tmp):
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_files.atomic_write(tmp_path / "a.csv", write)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(
    os.geteuid() == 0,
    reason="root writes through mode 0555; the read-only remount test covers root",
)
def test_a_folder_made_read_only_mid_run_is_a_write_error(tmp_path):
    run_files.write_json(tmp_path / "status.json", {"status": "running"})
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(run_files.WriteError) as err:
            run_files.write_json(tmp_path / "status.json", {"status": "done"})
    finally:
        tmp_path.chmod(0o755)
    assert str(err.value) == (
        f"cannot write status.json in {tmp_path}: permission denied; "
        "make the folder writable or pass another --out"
    )
    assert run_files.read_json(tmp_path / "status.json") == {"status": "running"}


TINY_FS_SCRIPT = """
import os, subprocess, sys
import pandas as pd, torch
from wae_bench import checkpoints, run_files

out = sys.argv[1]
def check(write, expected):
    try:
        write()
    except run_files.WriteError as err:
        print(str(err) == expected, sorted(os.listdir(out)), sep="|")
    else:
        print("no error")

run_files.write_csv(f"{out}/curves.csv", pd.DataFrame({"epoch": [1]}))
checkpoints.save_checkpoint(f"{out}/run.pt", {"epoch": 1})
full = f"no space left on device; free space or pass another --out"
check(lambda: run_files.write_csv(f"{out}/curves.csv", pd.DataFrame({"x": range(50000)})),
      f"cannot write curves.csv in {out}: {full}")
check(lambda: checkpoints.save_checkpoint(f"{out}/run.pt", {"w": torch.zeros(50000)}),
      f"cannot write run.pt in {out}: {full}")
subprocess.run(["mount", "-o", "remount,ro", out], check=True)
check(lambda: run_files.write_json(f"{out}/status.json", {"status": "done"}),
      f"cannot write status.json in {out}: the file system is read-only; pass a writable --out")
print(len(run_files.read_csv(f"{out}/curves.csv")), checkpoints.load_checkpoint(f"{out}/run.pt"))
"""


def in_private_tmpfs(folder: Path, command: str) -> subprocess.CompletedProcess:
    """Run ``command`` with a 64 KiB tmpfs mounted on ``folder`` in a private mount namespace.

    The mount is seen by that process tree only and vanishes with it. Root needs no user
    namespace; others map themselves to root in one, where the kernel allows it.
    """
    userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    mount = f"mount -t tmpfs -o size=64k tmpfs {folder}"
    return subprocess.run(
        ["unshare", *userns, "--mount", "--propagation", "private", "sh", "-c",
         f"{mount} && {command}"],  # fmt: skip
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.fixture
def tiny_fs(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a private tmpfs")
    probe = in_private_tmpfs(folder, "true")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs here: {probe.stderr.strip()}")
    return folder


def test_a_real_full_disk_and_a_real_read_only_remount_are_write_errors(tiny_fs):
    script = tiny_fs.parent / "script.py"
    script.write_text(textwrap.dedent(TINY_FS_SCRIPT))
    done = in_private_tmpfs(tiny_fs, f"{sys.executable} {script} {tiny_fs}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True|['curves.csv', 'run.pt']",
        "True|['curves.csv', 'run.pt']",
        "True|['curves.csv', 'run.pt']",
        "1 {'epoch': 1}",
    ]


def test_a_pdf_is_drawn_inside_pdfs_and_kept_in_step_once_there(tmp_path):
    def draw(label: str) -> None:
        fig = plt.figure(figsize=(1, 1))
        fig.suptitle(label)
        plots.save(fig, tmp_path / "curves")

    draw("first")
    assert (tmp_path / "curves.png").exists() and not (tmp_path / "curves.pdf").exists()
    with plots.pdfs():
        draw("second")
    second = (tmp_path / "curves.pdf").read_bytes()
    draw("third")  # outside pdfs(): the PDF there is redrawn with the PNG, never left stale
    assert (tmp_path / "curves.pdf").read_bytes() != second
