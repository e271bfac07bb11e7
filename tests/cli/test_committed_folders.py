"""Every committed result folder stays valid as the code moves on: each run's own record
(config.json) resumes it, with no setting found changed and the same run ids; a sweep finds
every point in the folder it was trained in; and the report of every top-level folder,
written again from its files, gives the committed tables byte for byte."""

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from wae_bench import command, folders, report, run_files, sweep, tasks
from wae_bench import config as config_io
from wae_bench.run import RunKey, run_keys

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
FIGURES = {".png", ".pdf", ".html"}  # drawn, not compared: their bytes follow matplotlib's


def run_folders() -> list[Path]:
    """Every committed folder holding a run: its config.json names a task and its result
    file is there (tune trials and sweep points included; studies and tunes hold runs)."""
    found = []
    for record_file in sorted(RESULTS.rglob(folders.CONFIG)):
        record, folder = run_files.read_json(record_file), record_file.parent
        if "task" in record and (folder / tasks.get(record["task"]).results.file).is_file():
            found.append(folder)
    return found


def top_folders() -> list[Path]:
    """The committed folders that ``wae-bench report`` is pointed at: runs, studies, sweeps
    and tunes that no other such folder holds."""
    records = sorted({*RESULTS.rglob(folders.CONFIG), *RESULTS.rglob(folders.SWEEP)},
                     key=lambda record: (len(record.parts), record))  # holders first
    tops = []
    for folder in (r.parent for r in records):
        if not any(top in folder.parents for top in tops):
            tops.append(folder)
    return tops


def resumed(folder: Path) -> tuple:
    """What resuming ``folder`` with the settings its record gives would train: (the
    settings, the ids of its runs); refused settings raise as ``--resume`` would."""
    saved = folders.read_config(folder)
    task = tasks.get(saved["task"])
    fields = task.config().to_dict()
    cfg = config_io.build(task.config, {}, {k: v for k, v in saved["config"].items()
                                            if k in fields})  # fmt: skip
    command.check_resumable(folder, cfg)
    return cfg, {key.id for seed in cfg.seeds for key in run_keys(cfg, seed)}


def test_there_are_committed_folders_of_every_kind():
    runs, tops = run_folders(), top_folders()
    assert len(runs) > 400
    kinds = {folders.read_config(t).get("command") or ("sweep" if (t / folders.SWEEP).is_file()
             else "study" if "study" in folders.read_config(t) else "run") for t in tops}
    assert kinds == {"run", "study", "sweep", "tune"}, tops


def test_every_committed_run_resumes_with_the_settings_it_records():
    wrong = []
    for folder in run_folders():
        cfg, ids = resumed(folder)
        task = tasks.get(folders.read_config(folder)["task"])
        rows = pd.read_csv(folder / task.results.file)
        lams = rows["lam"] if "lam" in rows else [math.nan] * len(rows)
        found = {RunKey(m, None if math.isnan(lam) else lam, int(s)).id
                 for m, lam, s in zip(rows["method"], lams, rows["seed"], strict=True)}
        if found != ids:
            wrong.append(f"{folder.relative_to(ROOT)}: trains {sorted(ids)}, holds {sorted(found)}")
    assert not wrong, "\n".join(wrong)


def test_resume_refuses_a_run_whose_measured_settings_changed(tmp_path):
    folder = RESULTS / "latent" / "reference"
    cfg, _ = resumed(folder)
    shutil.copy(folder / folders.CONFIG, tmp_path / folders.CONFIG)
    changed = config_io.build(type(cfg), {}, {**cfg.to_dict(), "epochs": cfg.epochs + 1})
    with pytest.raises(config_io.UsageError, match=r"settings differ .* \(epochs\)"):
        command.check_resumable(tmp_path, changed)


@pytest.mark.parametrize("folder", sorted((RESULTS / "sweeps").glob("*/")),
                         ids=lambda p: p.name)  # fmt: skip
def test_a_committed_sweep_continues_in_the_folders_it_trained(folder):
    saved = run_files.read_json(folder / folders.SWEEP)
    grid = sweep.keep_folders(sweep.expand(saved["spec"]), saved["spec"], saved)
    assert [point["id"] for point in grid] == saved["runs"]
    for point in grid:  # each folder holds what its point measures, and finished
        trained = folder / folders.POINTS / point["id"]
        assert folders.read_status(trained)["status"] == "finished"
        cfg = tasks.get(point["task"]).config(**point["settings"])
        assert cfg.differences(folders.read_config(trained)["config"]) == [], trained


@pytest.mark.parametrize("top", top_folders(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_the_report_of_a_committed_folder_gives_its_committed_tables(top, tmp_path):
    copy = tmp_path / top.name
    shutil.copytree(top, copy)
    report._redraw_files(copy)
    for written in sorted(copy.rglob("*")):
        if written.is_file() and written.suffix not in FIGURES:
            committed = top / written.relative_to(copy)
            assert committed.is_file(), f"the report wrote {written.relative_to(copy)} anew"
            assert written.read_bytes() == committed.read_bytes(), written.relative_to(copy)
