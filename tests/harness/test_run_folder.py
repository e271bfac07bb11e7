"""A run folder is never silently replaced nor shared, write errors name the last checkpoint,
and files get the permissions an ordinary write gives (issue: never lose a result)."""

import errno
import os
import stat

import pandas as pd
import pytest
import torch

from wae_bench.cli import main
from wae_bench.lock import RunLock

from tests.helpers.runs import LATENT_TINY as TINY


def run(out, *extra):
    return main([*TINY, *extra, "--out", str(out)])


def test_a_finished_folder_is_not_overwritten_without_being_asked(tmp_path, capsys):
    assert run(tmp_path, "--methods", "moca") == 0
    before = (tmp_path / "curves.csv").read_text()
    assert run(tmp_path, "--methods", "mmd") == 2
    err = capsys.readouterr().err
    assert "holds a run already; pass --resume to continue it, --overwrite to replace it" in err
    assert (tmp_path / "curves.csv").read_text() == before


def test_overwrite_replaces_only_once_the_new_run_has_finished(tmp_path, monkeypatch):
    assert run(tmp_path, "--methods", "moca") == 0
    before = (tmp_path / "curves.csv").read_text()
    import wae_bench.tasks.latent.task as latent

    real = latent.batches

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(latent, "batches", interrupted)
    assert run(tmp_path, "--methods", "mmd", "--overwrite") == 130
    assert (tmp_path / "curves.csv").read_text() == before  # the old run is still all there
    monkeypatch.setattr(latent, "batches", real)
    assert run(tmp_path, "--methods", "mmd", "--overwrite") == 0
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["method"]) == {"mmd"}
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["mmd_seed0.pt"]
    assert not (tmp_path / ".overwrite").exists()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    with RunLock(tmp_path):
        assert run(tmp_path, "--methods", "mmd") == 2
    err = capsys.readouterr().err
    assert f"run folder {tmp_path} is in use by process {os.getpid()}" in err
    assert not (tmp_path / "curves.csv").exists()
    assert run(tmp_path, "--methods", "mmd") == 0  # released: the folder is free again


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    assert run(tmp_path, "--resume", "--overwrite") == 2
    assert "pass one" in capsys.readouterr().err


def test_a_full_disk_names_the_folder_and_the_last_complete_checkpoint(tmp_path, monkeypatch,
                                                                      capsys):  # fmt: skip
    real, calls = torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # moca's second epoch
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    assert run(tmp_path, "--methods", "moca") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"cannot write moca_seed0.pt in {tmp_path / 'checkpoints'}: no space left" in err
    assert "the last complete checkpoint of moca_seed0 is epoch 1" in err
    monkeypatch.undo()
    assert run(tmp_path, "--methods", "moca", "--resume") == 0  # and it continues from there


def test_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        assert run(tmp_path, "--methods", "moca") == 0
    finally:
        os.umask(old)
    for name in ("curves.csv", "config.json", "summary.md", "checkpoints/moca_seed0.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


CUT = b"method,seed,epoch,swd\nmoca,0,0,0.1\nmoca,0,1"


@pytest.mark.parametrize("damage", [b"", CUT, b"\x00\xff" * 50])
def test_report_answers_a_damaged_result_file_with_one_line(tmp_path, capsys, damage):
    assert run(tmp_path, "--methods", "moca") == 0
    (tmp_path / "curves.csv").write_bytes(damage)
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wae-bench: error: curves.csv in ") and err.count("\n") == 1
    assert "is damaged" in err
