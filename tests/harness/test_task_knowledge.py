"""Task knowledge lives in the tasks: the shared modules name no task's column or metric, a
run folder's file names are spelled once, and a task's summary follows its declarations."""

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from wae_bench import folders, plots, sweep, tasks

PACKAGE = Path(__file__).resolve().parents[2] / "wae_bench"
SHARED = ("sweep.py", "compare.py", "plots.py", "cli.py", "summary.py", "report.py")
COMMON = {"method", "lam", "seed", "epoch", "seconds", "loss"}  # every task's row keys


def task_names() -> set[str]:
    """Every task's own column and metric names (not the keys every row has)."""
    names = set()
    for name in tasks.names():
        task = tasks.get(name)
        names |= {task.results.metric, *task.results.columns, *task.results.sweep_columns} - COMMON
    return names


@pytest.mark.parametrize("module", SHARED)
def test_shared_modules_name_no_task_column_or_metric(module):
    source = (PACKAGE / module).read_text()
    quoted = set(re.findall(r"""["']([a-z_]+)["']""", source))
    assert quoted & task_names() == set()


def test_the_check_above_sees_a_task_column():
    assert "image_swd" in task_names() and "noise_floor" in task_names()
    assert "image_swd" in set(re.findall(r"""["']([a-z_]+)["']""", 'row["image_swd"]'))


@pytest.mark.parametrize("name", [folders.CONFIG, folders.STATUS, folders.SWEEP])
def test_a_run_folder_file_name_is_spelled_once(name):
    spelled = [path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
               if f'"{name}"' in path.read_text()]  # fmt: skip
    assert spelled == ["folders.py"]


def test_sweep_axes_are_drawn_as_the_method_declares():
    assert sweep._axis_scale("moca.m") == "log1m"  # momenta: log of 1 - m
    assert sweep._axis_scale("moca.tau") == "log"
    assert sweep._axis_scale("lam") == "linear"
    assert sweep._axis_scale("plugin.x") == "linear"  # not a registered method


def test_a_momentum_axis_is_log_of_one_minus_m(tmp_path, monkeypatch):
    frame = pd.DataFrame({"method": "moca", "moca.m": [0.0, 0.9, 0.99, 0.999],
                          "seed": 0, "status": "finished", "image_swd": [4.0, 3.0, 2.0, 1.0]})
    drawn = {}
    monkeypatch.setattr(plots, "save", lambda fig, stem, pdf=True: drawn.update(fig=fig))
    plots.sweep_axis(frame, "moca.m", "image_swd", "image SWD", tmp_path / "m", scale="log1m")
    ax = drawn["fig"].axes[0]
    x = ax.lines[0].get_xdata()
    assert x == pytest.approx([1.0, 0.1, 0.01, 0.001])  # a decade apart
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "moca.m (axis: log of 1 - moca.m)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.999", "0.99", "0.9", "0"]
    assert ax.get_ylabel() == "image SWD, last epoch"


def image_metrics(last: int) -> pd.DataFrame:
    rows = [dict(method="mmd", lam=10.0, seed=seed, epoch=epoch, image_swd=5.0 - epoch + seed,
                 recon=1.0, latent_swd=0.1, image_swd_floor=0.5, seconds=epoch, loss=1.0)
            for seed in (0, 1) for epoch in range(last + 1)]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("summary_epochs", "columns"), [
    ((5,), ["image_swd_epoch_5_mean", "image_swd_last_mean"]),
    ((2, 3), ["image_swd_epoch_2_mean", "image_swd_epoch_3_mean", "image_swd_last_mean"]),
])  # fmt: skip
def test_the_image_summary_reports_the_task_summary_epochs(tmp_path, monkeypatch,
                                                           summary_epochs, columns):  # fmt: skip
    task = tasks.get("image")
    monkeypatch.setattr(type(task), "results",
                        dataclasses.replace(task.results, summary_epochs=summary_epochs))
    image_metrics(6).to_csv(tmp_path / task.results.file, index=False)
    folders.write_config(tmp_path, {"task": "image", "config": {}})
    task.report(tmp_path)
    summary = pd.read_csv(tmp_path / folders.SUMMARY_CSV)
    assert [c for c in summary.columns if c.startswith("image_swd_") and c.endswith("_mean")] \
        == columns  # fmt: skip
    epochs = [int(e) for e in re.findall(r"image SWD @ epoch (\d+)",
                                         (tmp_path / folders.SUMMARY_MD).read_text())]  # fmt: skip
    assert epochs == [*summary_epochs, 6]
