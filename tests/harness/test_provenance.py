"""The git commit and date every run's config.json records (environment.record)."""

import datetime
import subprocess
from pathlib import Path

import torch

from wae_bench import environment


def fake_checkout(root, head, refs=None, packed=""):
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head)
    for name, sha in (refs or {}).items():
        (git / "refs" / "heads" / name).write_text(sha + "\n")
    if packed:
        (git / "packed-refs").write_text(packed)
    (root / "pkg").mkdir()
    return root / "pkg" / "module.py"


def test_a_branch_ref_file_gives_its_commit(tmp_path):
    start = fake_checkout(tmp_path, "ref: refs/heads/main\n", {"main": "a" * 40})
    assert environment.git_commit(start) == "a" * 40


def test_a_packed_ref_gives_its_commit(tmp_path):
    packed = f"# pack-refs with: peeled\n{'b' * 40} refs/heads/other\n{'c' * 40} refs/heads/main\n"
    start = fake_checkout(tmp_path, "ref: refs/heads/main\n", packed=packed)
    assert environment.git_commit(start) == "c" * 40


def test_a_detached_head_is_the_commit_and_no_checkout_is_empty(tmp_path):
    assert environment.git_commit(fake_checkout(tmp_path / "d", "d" * 40 + "\n")) == "d" * 40
    (tmp_path / "plain").mkdir()
    assert environment.git_commit(tmp_path / "plain" / "x.py") == ""


def test_this_checkout_matches_git_and_the_date_is_now():
    """Where the suite runs from a git checkout (this repository), the commit is git's own."""
    found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                           cwd=Path(environment.__file__).parent)  # fmt: skip
    env = environment.record(torch.device("cpu"))
    assert env["git_commit"] == (found.stdout.strip() if found.returncode == 0 else "")
    recorded = datetime.datetime.fromisoformat(env["date"])
    assert abs(datetime.datetime.now(datetime.UTC) - recorded) < datetime.timedelta(minutes=5)
