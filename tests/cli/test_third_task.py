"""The complete third task that docs/layout.md shows, run as written through the commands a
task gets for free: a run, its report, a sweep and a tune."""

import json
import re
import types
from pathlib import Path

import pandas as pd
import pytest

from wae_bench import tasks
from wae_bench.cli import main
from wae_bench.tasks.base import Task

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "docs" / "layout.md"


def documented_task() -> Task:
    """The ``TASK`` of the Python block under "A third task, complete" in docs/layout.md."""
    text = LAYOUT.read_text()
    after = text[text.index("**A third task, complete.**"):]
    code = re.search(r"```python\n(.*?)```", after, re.S).group(1)
    module = types.ModuleType("moments")
    exec(compile(code, str(LAYOUT), "exec"), module.__dict__)  # noqa: S102 - the docs' own code
    return module.TASK


@pytest.fixture
def moments(monkeypatch):
    task = documented_task()
    monkeypatch.setitem(tasks._discover(), task.name, task)
    return task


def test_the_documented_task_has_about_a_dozen_members_each_declared_by_the_seam(moments):
    members = {m for m in [*vars(Task), *Task.__annotations__] if not m.startswith("_")}
    assert len(members) <= 14, sorted(members)
    own = {m for m in vars(type(moments)) if not m.startswith("_")}
    assert own <= members, own - members  # nothing a task defines lies outside the seam


def test_the_documented_task_runs_reports_sweeps_and_tunes(moments, tmp_path):
    run = tmp_path / "run"
    assert main(["moments", "--epochs", "3", "--seeds", "2", "--quiet", "--out", str(run)]) == 0
    rows = pd.read_csv(run / "moments.csv")
    assert set(rows["method"]) == {"mmd", "swd"} and set(rows["epoch"]) == {0, 1, 2, 3}
    assert rows["gap"].notna().all() and (rows["gap"] >= 0).all()
    summary = (run / "summary.md").read_text()
    assert "gap @ epoch 3" in summary and "Verdicts:" in summary
    table = pd.read_csv(run / "summary.csv")
    means = rows[rows["epoch"] == 3].groupby("method")["gap"].mean()
    assert table.set_index("method")["gap_epoch_3_mean"].to_dict() == pytest.approx(means.to_dict())

    assert main(["report", str(run)]) == 0
    assert (run / "curves.png").stat().st_size > 0 and (run / "index.html").is_file()

    grid = tmp_path / "grid.toml"
    grid.write_text('task = "moments"\n[settings]\nepochs = 2\n'
                    '[grid]\nmethods = ["swd"]\nseeds = [0]\n"swd.L" = [5, 10]\n')  # fmt: skip
    assert main(["sweep", str(grid), "--jobs", "1", "--quiet", "--out", str(tmp_path / "sw")]) == 0
    points = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    assert list(points["status"]) == ["finished", "finished"] and points["gap"].notna().all()

    tune = tmp_path / "tune"
    assert main(["tune", "moments", "--methods", "swd", "--epochs", "1", "--trials", "2",
                 "--final-seeds", "2", "--quiet", "--out", str(tune)]) == 0  # fmt: skip
    record = json.loads((tune / "config.json").read_text())
    assert record["task"] == "moments" and record["tune"]["trials"] == 2
    finals = pd.read_csv(tune / "final.csv")
    assert list(finals.columns) == ["method", "arm", "seed", "gap"]
    assert set(finals["seed"]) == {0, 1} and finals["gap"].notna().all()
    assert "# Tuning the moments task: 2 trials per method" in (tune / "tune.md").read_text()
