"""How a tune chooses: the default as the first trial, confirmation on more tuning seeds,
validation data for every trial, spaces relative to the prior, range edges, budget curves
that say what they are, the direction of its differences, and a damaged study."""

import json

import numpy as np
import pandas as pd
import pytest

import regularizers
from regularizers.search import Range
from wae_bench import folders, tune, tune_report
from wae_bench.cli import main
from wae_bench.tasks.base import ResultTable

from tests.helpers.runs import IMAGE_TINY, LATENT_TINY, tune_cli

TINY = LATENT_TINY[1:]


def tune_latent(out, *args, methods="swd", trials=4, final_seeds=2):
    return tune_cli(out, *args, methods=methods, trials=trials, final_seeds=final_seeds)


@pytest.fixture(scope="module")
def random_tune(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "random"
    assert tune_latent(out, "--sampler", "random", trials=5) == 0
    return out


def test_the_first_trial_is_the_default_setting(random_tune):
    trials = pd.read_csv(random_tune / "trials.csv")
    first = trials[trials["trial"] == 0].iloc[0]
    assert bool(first["default"]) and json.loads(first["setting"]) == {}
    assert not trials.loc[trials["trial"] > 0, "default"].any()
    cfg = json.loads((random_tune / "runs/swd/0000/config.json").read_text())
    assert cfg["config"]["params"]["swd"] == {}  # the method's own defaults
    # the default arm is that setting on the final seeds
    default = json.loads((random_tune / "runs/default/swd/config.json").read_text())
    assert default["config"]["params"]["swd"] == {}


def test_the_best_trials_and_the_default_are_confirmed_and_the_lowest_mean_wins(random_tune):
    trials = pd.read_csv(random_tune / "trials.csv")
    confirmed = pd.read_csv(random_tune / "confirm.csv")
    top = set(trials.sort_values("value").head(tune.CONFIRM_TOP)["trial"]) | {0}
    assert set(confirmed["trial"]) == top
    seeds = [f"seed_{s}" for s in (tune.TUNING_SEED, *tune.CONFIRM_SEEDS)]
    for _, row in confirmed.iterrows():
        curves = pd.read_csv(random_tune / "runs" / tune_report.confirm_id("swd", row["trial"])
                             / "curves.csv")  # fmt: skip
        last = curves[curves["epoch"] == 2].set_index("seed")["swd"]
        for seed in tune.CONFIRM_SEEDS:  # each confirmation seed's own last epoch
            assert row[f"seed_{seed}"] == pytest.approx(last[seed], rel=1e-6)
        # confirm.csv keeps 8 significant digits: relative rounding <= 5e-8
        assert row["mean"] == pytest.approx(np.mean([row[c] for c in seeds]), rel=1e-7)
    assert confirmed["winner"].sum() == 1
    assert confirmed.loc[confirmed["winner"], "mean"].item() == confirmed["mean"].min()


def test_random_studies_show_dodges_expected_best_over_their_random_trials(random_tune):
    text = (random_tune / "tune.md").read_text()
    assert "expected best of 4 random" in text
    trials = pd.read_csv(random_tune / "trials.csv").sort_values("trial")
    random = trials.loc[~trials["default"], "value"].to_numpy()
    mean, std = tune_report.expected_best(random, 4)
    assert f"{mean:.4g} ± {std:.2g}" in text
    best = np.minimum.accumulate(trials["value"].to_numpy())
    assert f"| {best[0]:.4g} | {best[0]:.4g} | {best[-1]:.4g} |" in text  # default, 1, 5


def test_best_so_far_follows_the_order_the_trials_ran():
    assert tune_report.best_so_far([3.0, 4.0, 1.0, 2.0]).tolist() == [3.0, 3.0, 1.0, 1.0]


def test_scale_like_ranges_follow_the_prior():
    sphere, gaussian = regularizers.SpherePrior(128), regularizers.GaussianPrior(128)
    space = regularizers.get("mmd").search_space["base_scale"]
    assert space.resolve(sphere).low == pytest.approx(space.low * 2.0)  # E||z - z'||^2 = 2
    assert space.resolve(gaussian).low == pytest.approx(space.low * 256.0)  # 2d
    blur = regularizers.get("sinkhorn").search_space["blur"]
    assert blur.resolve(gaussian).high == pytest.approx(blur.high * 16.0)  # sqrt(2d)
    gamma = regularizers.get("cwae").search_space["gamma"]
    assert gamma.resolve(sphere).high == pytest.approx(gamma.high / 128)  # variance 1/d
    # each derived default lies well inside its range for both priors
    for prior in (sphere, gaussian):
        assert not space.resolve(prior).on_edge(prior.mean_sq_distance)
        assert not gamma.resolve(prior).on_edge(
            (4 / (3 * 64)) ** 0.4 * prior.mean_sq_distance / (2 * prior.dim))


def test_a_tune_records_its_spaces_resolved_against_the_tasks_prior(random_tune):
    record = json.loads((random_tune / "config.json").read_text())
    spec = record["tune"]["spaces"]["swd"]["swd.L"]
    assert Range(**spec) == regularizers.get("swd").search_space["L"]


@pytest.mark.parametrize(
    ("dim", "value", "edge"),
    [(Range(0.02, 500.0, "log"), 0.0202, True),  # the committed MMD winner of the old range
     (Range(1e-4, 1.0, "log"), 1.03e-4, True),  # and CWAE's
     (Range(10, 500, "log", integer=True), 296, False),
     (Range(10, 500, "log", integer=True), 500, True),
     (Range(0.5, 0.999, "log1m"), 0.9989, True),  # 1 - m = 0.0011, near 0.001
     (Range(0.5, 0.999, "log1m"), 0.99, False),
     (Range(0.5, 0.95), 0.52, True), (Range(0.5, 0.95), 0.6, False)],
)  # fmt: skip
def test_range_edges_are_measured_on_the_scale_the_space_declares(dim, value, edge):
    assert dim.on_edge(value) is edge


def test_the_report_flags_a_winner_on_a_range_edge():
    saved = {"tune": {"spaces": {"mmd": {"mmd.base_scale": Range(0.02, 500.0, "log").spec()}}}}
    confirmed = pd.DataFrame({"method": ["mmd"], "winner": [True],
                              "setting": [json.dumps({"mmd.base_scale": 0.0202})]})  # fmt: skip
    (line,) = tune_report.edges(saved, confirmed)
    assert line.startswith("mmd: mmd.base_scale = 0.0202 lies on the low edge of its range")
    assert line.endswith("the optimum may lie outside it")
    inside = confirmed.assign(setting=json.dumps({"mmd.base_scale": 3.0}))
    assert tune_report.edges(saved, inside) == []


class _Task:
    results = ResultTable(file="curves.csv", columns=("method", "seed", "epoch", "swd"),
                          metric="swd")


def _finals(values: dict[tuple[str, str], float], seeds: list[int]) -> pd.DataFrame:
    """final.csv rows: (method, arm) -> its value on seed 0, + 0.01 per seed after it."""
    return pd.DataFrame([{"method": m, "arm": a, "seed": s, "swd": v + 0.01 * s}
                         for (m, a), v in values.items() for s in seeds])  # fmt: skip


def _confirmed(methods):
    return pd.DataFrame({"method": methods, "winner": True, "setting": "{}"})


def test_an_edge_the_space_declares_a_real_limit_says_why():
    dim = regularizers.get("swd").search_space["L"]
    saved = {"tune": {"spaces": {"swd": {"swd.L": dim.spec()}}}}
    confirmed = pd.DataFrame({"method": ["swd"], "winner": [True],
                              "setting": [json.dumps({"swd.L": 3969})]})  # fmt: skip
    (line,) = tune_report.edges(saved, confirmed)
    assert "lies on the high edge" in line and line.endswith(f"a real limit: {dim.high_limit}")


def test_the_tuned_minus_default_sign_and_a_worse_tuned_setting_are_said():
    # tuned higher than default on every seed: a positive difference, said in words
    seeds = [0, 1, 2]
    finals = _finals({("swd", "default"): 1.0, ("swd", "tuned"): 1.5}, seeds)
    finals.loc[(finals["arm"] == "tuned"), "swd"] += [0.0, 0.002, -0.001]
    lines = tune_report._final_table(finals, _Task, seeds, _confirmed(["swd"]), "swd")
    row = next(line for line in lines if line.startswith("| swd |"))
    assert "| 0.5003 [0.4965, 0.5041] |" in row, row
    assert any(line.startswith("- **tuned swd is worse than its default**") for line in lines)
    assert any("default swd is lower than tuned swd by 0.5003" in line for line in lines)


def test_a_tuned_gain_and_the_comparison_with_the_reference_have_their_signs():
    seeds = [0, 1, 2, 3]
    finals = _finals({("moca", "default"): 1.0, ("moca", "tuned"): 0.6,
                      ("mmd", "default"): 2.0, ("mmd", "tuned"): 1.6}, seeds)  # fmt: skip
    finals["swd"] += np.where(finals["arm"] == "tuned", [0.0, 0.003, -0.002, 0.001] * 4, 0.0)
    lines = tune_report._final_table(finals, _Task, seeds, _confirmed(["moca", "mmd"]), "swd")
    text = "\n".join(lines)
    assert "tuned moca is lower than default moca by 0.3995 [" in text, text
    assert "tuned: moca is lower than mmd by 1.000 [" in text  # moca, the declared reference
    # a --baseline recorded by the tune replaces the paper's method as the reference
    lines = tune_report._final_table(finals, _Task, seeds, _confirmed(["moca", "mmd"]), "swd",
                                     "mmd")  # fmt: skip
    assert "tuned: moca is lower than mmd by 1.000 [" in "\n".join(lines)
    assert "Every tuned setting is at least as good" in text


def test_diverged_final_seeds_are_said_and_counted():
    seeds = [0, 1, 2, 3]
    finals = _finals({("swd", "default"): 1.0, ("swd", "tuned"): 0.5}, seeds)
    finals.loc[(finals["arm"] == "tuned") & (finals["seed"] >= 1), "swd"] = np.nan
    lines = tune_report._final_table(finals, _Task, seeds, _confirmed(["swd"]), "swd")
    text = "\n".join(lines)
    assert "**tuned swd diverged or did not finish on 3 of 4 final seeds**" in text
    assert "at least as good" not in text
    assert "one seed, no test" in text


def test_an_image_tune_never_trains_or_scores_a_trial_on_the_test_set(tmp_path):
    argv = ["tune", *IMAGE_TINY[:IMAGE_TINY.index("--seeds")], "--quiet", "--methods", "moca",
            "--trials", "1", "--final-seeds", "1", "--epochs", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    trial = json.loads((tmp_path / "runs/moca/0000/config.json").read_text())
    confirm = json.loads((tmp_path / "runs/confirm/moca/0000/config.json").read_text())
    final = json.loads((tmp_path / "runs/final/moca/config.json").read_text())
    for record in (trial, confirm):
        assert record["config"]["split"] == "validation"
        assert record["data"]["train"] < final["data"]["train"]
        assert record["data"]["validation"] > 0 and "test" not in record["data"]
        assert record["data"]["train"] + record["data"]["validation"] == final["data"]["train"]
    assert final["config"]["split"] == "test" and final["data"]["test"] > 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other database"])
def test_a_damaged_study_is_one_line_and_changes_nothing(tmp_path, capsys, damage):
    out = tmp_path / "tune"
    assert tune_latent(out, trials=2, final_seeds=1) == 0
    study = out / folders.STUDY
    if damage == "garbage":
        study.write_bytes(b"this is not a database\n" * 100)
    elif damage == "truncated":
        study.write_bytes(study.read_bytes()[:3000])
    else:
        import sqlite3

        study.unlink()
        with sqlite3.connect(study) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for argv in (["report", str(out)], ["tune", "latent", *TINY, "--methods", "swd", "--trials",
                                        "2", "--final-seeds", "1", "--out", str(out),
                                        "--resume"]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(study) in err, err
        assert "start the tune again with a new --out" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_study_left_mid_write_by_a_kill_is_not_called_damaged(tmp_path):
    # a writer killed inside a transaction leaves a hot journal, which SQLite rolls back
    import subprocess
    import sys

    out = tmp_path / "tune"
    assert tune_latent(out, trials=2, final_seeds=1) == 0
    before = (out / "trials.csv").read_text()
    study = out / folders.STUDY
    subprocess.run([sys.executable, "-c", f"""if True:
        import os, sqlite3
        db = sqlite3.connect({str(study)!r}, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE studies SET study_name = study_name || 'x'")
        os._exit(0)"""], check=True)  # fmt: skip
    assert (out / f"{folders.STUDY}-journal").is_file()
    assert folders.study_url(out).endswith(str(study))
    assert main(["report", str(out)]) == 0  # SQLite rolls the journal back
    assert (out / "trials.csv").read_text() == before


def test_a_bad_sampler_is_one_line(tmp_path, capsys):
    assert tune_latent(tmp_path / "out", "--sampler", "grid") == 2
    err = capsys.readouterr().err
    assert "--sampler must be one of tpe, random" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_the_validation_split_is_a_fixed_random_draw_disjoint_from_training():
    import torch

    from wae_bench.data import ImageData
    from wae_bench.tasks.image.task import validation_split

    # 10 classes stored class by class, as a folder of class subfolders is read
    train = torch.arange(1000, dtype=torch.float32).reshape(1000, 1, 1, 1)
    data = ImageData("sorted", train, torch.zeros(150, 1, 1, 1), 1, 1)
    split = validation_split(data)
    held_out, kept = split.test.flatten().long(), split.train.flatten().long()
    assert len(held_out) == 150 and len(kept) == 850  # min(test size, 20% of train)
    assert set(held_out.tolist()).isdisjoint(kept.tolist())
    assert len(set(held_out.tolist()) | set(kept.tolist())) == 1000
    assert len(set((held_out // 100).tolist())) == 10  # every class is in the validation part
    assert torch.equal(validation_split(data).test, split.test)  # the same draw every time


def test_a_resumed_tune_whose_winner_changes_trains_the_new_winner(tmp_path):
    out = tmp_path / "tune"
    assert tune_latent(out, "--sampler", "random", trials=2, final_seeds=2) == 0

    def winner_and_final():
        confirmed = pd.read_csv(out / "confirm.csv")
        setting = json.loads(confirmed.loc[confirmed["winner"], "setting"].item())
        final = json.loads((out / "runs/final/swd/config.json").read_text())
        return setting, final["config"]["params"]["swd"]

    before, _ = winner_and_final()
    assert tune_latent(out, "--sampler", "random", "--resume", trials=8, final_seeds=2) == 0
    after, trained = winner_and_final()
    assert after != before  # the longer study found another winner (fixed seeds: it does)
    assert trained == {k.split(".", 1)[1]: v for k, v in after.items()}


def test_a_lam_at_its_off_limit_says_why_and_the_methods_own_edges_are_unidentified():
    """The image task's lam range: a study that recorded its bounds without a reason takes the
    reason from the task; with lam at its low edge, an edge of the method's own range is
    reported as not identified (the penalty is all but off), not as a cut-off optimum."""
    from wae_bench.tasks.image import TASK

    lam = TASK.tuning.knobs(TASK.config())["lam"]
    recorded = Range(lam.low, lam.high, "log").spec()  # as a study recorded before the reason
    blur = regularizers.get("sinkhorn").search_space["blur"]
    saved = {"tune": {"spaces": {"sinkhorn": {"lam": recorded,
                                              "sinkhorn.blur": Range(0.003, 3.0, "log").spec()}}}}
    confirmed = pd.DataFrame({"method": ["sinkhorn"], "winner": [True],
                              "setting": [json.dumps({"lam": 0.0012, "sinkhorn.blur": 2.9})]})
    lam_line, blur_line = tune_report.edges(saved, confirmed, TASK)
    assert lam_line.endswith(f"a real limit: {lam.low_limit}") and "lam -> 0" in lam_line
    assert blur_line.startswith("sinkhorn: sinkhorn.blur = 2.9 lies on the high edge")
    assert blur_line.endswith("not identified, since the winner's lam lies at its low edge, "
                              "where the penalty is all but off")
    # the recorded blur bounds are not today's resolved ones, so its reason is not borrowed
    assert (blur.resolve(TASK.prior(TASK.config())).high, 3.0) != (3.0, 3.0)
    # without the task (or with lam inside its range) the old warning stands
    (plain,) = tune_report.edges(saved, confirmed.assign(
        setting=json.dumps({"lam": 10.0, "sinkhorn.blur": 2.9})), TASK)  # fmt: skip
    assert plain.endswith("the optimum may lie outside it")
