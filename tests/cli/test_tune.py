"""`wae-bench tune`: equal budgets, no peeking, a study that survives, bad input."""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from wae_bench import tune, tune_report
from wae_bench.cli import main

from tests.helpers.runs import LATENT_TINY, tune_cli

TINY = LATENT_TINY[1:]

def trials_table(out) -> pd.DataFrame:
    """trials.csv without the wall-clock column."""
    return pd.read_csv(out / "trials.csv").drop(columns="seconds")


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted tune (3 trials, 2 final seeds) the other tests compare with."""
    out = tmp_path_factory.mktemp("tune") / "straight"
    assert tune_cli(out) == 0
    return out


def test_tune_writes_every_output_with_equal_budgets_and_disjoint_seeds(straight):
    tmp_path = straight
    for name in ("config.json", "study.db", "trials.csv", "final.csv", "tune.md", "budget.png"):
        assert (tmp_path / name).is_file(), name
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert trials.groupby("method").size().to_dict() == {"mmd": 3, "swd": 3}
    assert (trials["status"] == "finished").all() and np.isfinite(trials["value"]).all()
    for row in trials.itertuples():  # a trial's score is its own run's last-epoch metric
        run_dir = tmp_path / "runs" / tune_report.trial_id(row.method, row.trial)
        curves = pd.read_csv(run_dir / "curves.csv")
        assert row.value == pytest.approx(curves[curves["epoch"] == 2]["swd"].item(), rel=1e-6)
        assert json.loads((run_dir / "config.json").read_text())["config"]["seeds"] == [
            tune.TUNING_SEED]
    finals = pd.read_csv(tmp_path / "final.csv")
    assert sorted(finals["seed"].unique()) == [0, 1]
    assert finals.groupby(["method", "arm"]).size().to_dict() == {
        ("mmd", "default"): 2, ("mmd", "tuned"): 2, ("swd", "default"): 2, ("swd", "tuned"): 2}
    confirmed = pd.read_csv(tmp_path / "confirm.csv")
    winner = confirmed[(confirmed["method"] == "swd") & confirmed["winner"]].iloc[0]
    final_cfg = json.loads((tmp_path / "runs/final/swd/config.json").read_text())
    assert final_cfg["config"]["params"]["swd"] == {
        k.split(".", 1)[1]: v for k, v in json.loads(winner["setting"]).items()}
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["tune"]["final_seeds"] == [0, 1]
    assert record["tune"]["tuning_seed"] == tune.TUNING_SEED
    text = (tmp_path / "tune.md").read_text()
    assert "| swd |" in text and "[" in text and "Holm-adjusted p" in text
    assert "at the last epoch:" in text  # the verdict line
    assert "expected best" not in text.lower()  # TPE trials are no random draws


def test_more_trials_with_resume_adds_exactly_the_missing_ones(tmp_path, straight):
    assert tune_cli(tmp_path / "short", trials=2) == 0
    first = trials_table(tmp_path / "short")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "short/runs").glob("*/0*/status.json")}
    assert tune_cli(tmp_path / "short", "--resume", trials=3) == 0
    longer = trials_table(tmp_path / "short")
    assert longer.groupby("method").size().to_dict() == {"mmd": 3, "swd": 3}
    kept = longer.merge(first, on=["method", "trial"], suffixes=("", "_before"))
    assert len(kept) == 4 and (kept["setting"] == kept["setting_before"]).all()
    assert (kept["value"] == kept["value_before"]).all()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # no finished trial ran again
    # the same trials as a tune asked for 3 from the start (same settings, same trials)
    pd.testing.assert_frame_equal(longer, trials_table(straight))
    # the tuned arm trains the winner of the longer study, whichever it is now
    confirmed = pd.read_csv(tmp_path / "short/confirm.csv")
    for _, winner in confirmed[confirmed["winner"]].iterrows():
        method = winner["method"]
        saved = json.loads((tmp_path / f"short/runs/final/{method}/config.json").read_text())
        assert saved["config"]["params"][method] == {
            k.split(".", 1)[1]: v for k, v in json.loads(winner["setting"]).items()}
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "short/final.csv"),
                                  pd.read_csv(straight / "final.csv"))  # fmt: skip


def _finished_trials(out) -> int:
    """Complete trials in the tune's study.db, opened read-only: a plain connect would create
    an empty file before the tune makes its own, and the tune would refuse it as damaged."""
    try:
        with sqlite3.connect(f"file:{out / 'study.db'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_9_then_resume_finishes_without_repeating_a_finished_trial(tmp_path, straight):
    args = ["tune", "latent", *TINY, "--methods", "swd,mmd", "--trials", "3",
            "--final-seeds", "2"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "wae_bench", *args, "--out",
                             str(tmp_path / "killed")], start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while _finished_trials(tmp_path / "killed") < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "the tune ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _finished_trials(tmp_path / "killed")
    assert 2 <= done < 6
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "killed/runs").glob("*/0*/status.json")}
    assert main([*args, "--out", str(tmp_path / "killed"), "--resume"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    resumed = trials_table(tmp_path / "killed")
    assert resumed.groupby("method").size().to_dict() == {"mmd": 3, "swd": 3}
    # trial numbers shift by one when the kill cut off a trial while it was being asked
    pd.testing.assert_frame_equal(resumed.drop(columns="trial"),
                                  trials_table(straight).drop(columns="trial"))  # fmt: skip
    final = pd.read_csv(tmp_path / "killed/final.csv")
    pd.testing.assert_frame_equal(final, pd.read_csv(straight / "final.csv"))


def test_a_trial_cut_off_while_asked_never_runs_and_leaves_the_budget(tmp_path, straight):
    """Optuna stores a new trial, then its parameters one by one: a kill in between leaves a
    running trial without (all of) its parameters. The resumed tune tells it failed without
    running it, keeps it out of the budget and trials.csv, and asks the same trials as ever."""
    import optuna

    assert tune_cli(tmp_path, trials=1) == 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.load_study(study_name="swd", storage=f"sqlite:///{tmp_path / 'study.db'}").ask()
    assert tune_cli(tmp_path, "--resume") == 0
    assert not (tmp_path / "runs/swd/0001").exists()  # the cut-off trial never ran
    resumed = trials_table(tmp_path)
    assert resumed.groupby("method").size().to_dict() == {"mmd": 3, "swd": 3}
    pd.testing.assert_frame_equal(resumed.drop(columns="trial"),
                                  trials_table(straight).drop(columns="trial"))  # fmt: skip


def test_ray_executor_runs_the_same_budget_per_method(tmp_path):
    pytest.importorskip("ray")
    import optuna
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert tune_cli(tmp_path, "--executor", "ray", trials=2, final_seeds=1) == 0
    finally:
        ray.shutdown()
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    counts = {m: len(optuna.load_study(study_name=m, storage=storage).trials)
              for m in ("swd", "mmd")}  # fmt: skip
    assert counts == {"swd": 2, "mmd": 2}
    assert (pd.read_csv(tmp_path / "trials.csv")["status"] == "finished").all()


def _space(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return ["--space", str(path)]


@pytest.mark.parametrize("case, message", [
    (["--methods", "nope"], "unknown method 'nope'"),
    (["--trials", "0"], "--trials must be an integer >= 1"),
    (["--final-seeds", "0"], "--final-seeds must be an integer >= 1"),
    (["--seed", "3"], "tune picks its seeds"),
    (["--overwrite"], "tune does not --overwrite"),
    (["--tensorboard", "tb"], "tune does not log to TensorBoard"),
    ("[swd]\nsigma = {low = 1, high = 2}\n", "swd has no parameter 'sigma'"),
    ("[swd]\nL = {low = 50, high = 10}\n", "empty or inverted"),
    ("[swd]\nL = {low = 10, high = 10}\n", "empty or inverted"),
    ("[mmd]\nbase_scale = {low = 0, high = 2, scale = \"log\"}\n", "log range must stay above 0"),
    ("[swd]\nepochs = {low = 1, high = 5}\n", "epochs cannot be tuned"),
    ("[mmd]\nkernel = {low = 1, high = 2}\n", "takes names, not a range"),
    ("[gan]\nlr = {low = 1e-4, high = 1e-3}\n", "not among the methods"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2_before_anything_runs(tmp_path, capsys, case, message):
    args = _space(tmp_path, case) if isinstance(case, str) else case
    argv = ["tune", "latent", *TINY, "--methods", "swd,mmd", "--trials", "2",
            "--out", str(tmp_path / "out")]  # fmt: skip
    if "--methods" in args:
        argv[argv.index("--methods") : argv.index("--methods") + 2] = []
    assert main([*argv, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_unknown_task_is_one_line(capsys):
    assert main(["tune", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused(straight, capsys):
    before = (straight / "trials.csv").read_text()
    assert tune_cli(straight, "--resume", "--epochs", "3") == 2
    assert "--resume: settings differ" in capsys.readouterr().err
    assert tune_cli(straight, "--resume", final_seeds=3) == 2
    assert "--resume: settings differ" in capsys.readouterr().err
    assert tune_cli(straight) == 2  # neither --resume nor a new --out
    assert "holds a tune already" in capsys.readouterr().err
    assert (straight / "trials.csv").read_text() == before


def test_space_file_narrows_a_range_and_set_fixes_a_parameter(tmp_path):
    args = [*_space(tmp_path, "[swd]\nL = {low = 20, high = 30, integer = true}\n"),
            "--set", "mmd.kernel=rbf"]  # fmt: skip
    assert tune_cli(tmp_path / "out", *args, trials=3, final_seeds=1) == 0
    trials = pd.read_csv(tmp_path / "out/trials.csv")
    settings = [json.loads(s) for s in trials["setting"]]
    assert all(20 <= s["swd.L"] <= 30 for s in settings if "swd.L" in s)
    assert all("mmd.kernel" not in s for s in settings)
    cfg = json.loads((tmp_path / "out/runs/mmd/0000/config.json").read_text())["config"]
    assert cfg["params"]["mmd"]["kernel"] == "rbf"


@pytest.mark.parametrize("n_scores, n", [(1, 3), (3, 1), (3, 2), (4, 3)])
def test_expected_best_matches_every_draw_enumerated(n_scores, n):
    scores = np.random.default_rng(n_scores * 10 + n).normal(size=n_scores)
    draws = [min(c) for c in itertools.product(scores, repeat=n)]  # all N^n equally likely
    mean, std = tune_report.expected_best(scores, n)
    # both sum N^n float64 terms of size <= max|score|: rounding ~ N^n * eps * max|score|
    tol = len(draws) * np.finfo(float).eps * np.abs(scores).max() * 4
    assert mean == pytest.approx(np.mean(draws), abs=tol)
    assert std == pytest.approx(np.std(draws), abs=1e-6)


def test_a_failed_trial_counts_as_the_worst_finished_one():
    trials = pd.DataFrame({"method": ["a"] * 3, "trial": [0, 1, 2],
                           "status": ["finished", "diverged", "finished"],
                           "value": [1.0, np.nan, 3.0]})  # fmt: skip
    assert tune_report.scored(trials)["a"].tolist() == [1.0, 3.0, 3.0]


def test_log1m_dimension_samples_momenta_evenly_in_log_one_minus_m():
    from regularizers.search import Range

    dim = Range(0.5, 0.999, "log1m")
    dist = tune._distribution(dim)
    assert (dist.low, dist.high, dist.log) == (pytest.approx(0.001), 0.5, True)
    name = tune_report.optuna_name("moca.m", dim)
    assert tune_report.trial_values({name: 0.01, "moca.tau": 0.2}) == {
        "moca.m": pytest.approx(0.99), "moca.tau": 0.2}
