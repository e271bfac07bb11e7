"""`wae-bench select image`: lam chosen on the validation split by the stated rule, the best of
a group kept, the comparison on the test split; resumable; bad input in one line."""

import json
import math

import pandas as pd
import pytest

from wae_bench import folders, selection, tasks
from wae_bench.cli import main
from wae_bench.errors import UsageError

from tests.conftest import registered
from tests.helpers.runs import Exploding

TINY = ["--epochs", "2", "--eval-every", "1", "--eval-samples", "64", "--latent-dim", "8",
        "--quiet"]  # fmt: skip
SELECT = ["select", "image", *TINY, "--methods", "moca,unif,energy", "--lambdas", "1,100",
          "--best-of", "unif,energy", "--seeds", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    out = tmp_path_factory.mktemp("select") / "sel"
    assert main([*SELECT, "--out", str(out)]) == 0
    return out


def last_epoch_value(folder):
    """The point's image SWD at its last epoch, read from its metrics.csv directly."""
    rows = pd.read_csv(folder / "metrics.csv")
    return float(rows.loc[rows["epoch"].idxmax(), "image_swd"])


def test_every_point_trains_on_the_selection_seed_and_scores_on_the_validation_split(selected):
    for method in ("moca", "unif", "energy"):
        for lam in (1, 100):
            record = json.loads((selected / "runs" / method / f"lam{lam}" / "config.json")
                                .read_text())  # fmt: skip
            assert record["config"]["split"] == "validation"
            assert record["config"]["seeds"] == [selection.SELECTION_SEED]
            assert record["config"]["lambdas"] == {method: [float(lam)]}
            assert "validation" in record["data"] and "test" not in record["data"]


def test_the_choice_follows_the_rule_on_the_points_own_values(selected):
    values = {(m, lam): last_epoch_value(selected / "runs" / m / f"lam{lam}")
              for m in ("moca", "unif", "energy") for lam in (1, 100)}  # fmt: skip
    chosen = {m: min((1, 100), key=lambda lam, m=m: (values[m, lam], lam))
              for m in ("moca", "unif", "energy")}  # fmt: skip
    other = min(("unif", "energy"), key=lambda m: values[m, chosen[m]])
    choice = json.loads((selected / folders.CHOICE_JSON).read_text())
    assert choice["chosen"] == {m: float(lam) for m, lam in chosen.items()}
    assert choice["best_other"] == other
    assert choice["kept"] == {"moca": chosen["moca"], other: chosen[other]}
    table = (selected / folders.CHOICE_MD).read_text()
    assert f"| moca | {chosen['moca']} | {values['moca', chosen['moca']]:.4g} | yes |" in table


def test_the_comparison_trains_the_kept_settings_on_the_test_split(selected):
    choice = json.loads((selected / folders.CHOICE_JSON).read_text())
    record = json.loads((selected / "comparison" / "config.json").read_text())
    assert record["config"]["methods"] == list(choice["kept"])
    assert record["config"]["lambdas"] == {m: [lam] for m, lam in choice["kept"].items()}
    assert record["config"]["split"] == "test" and record["config"]["seeds"] == [0, 1]
    assert "test" in record["data"]
    rows = pd.read_csv(selected / "comparison" / "metrics.csv")
    assert set(rows["method"]) == set(choice["kept"]) and set(rows["seed"]) == {0, 1}
    assert (selected / "comparison" / folders.SUMMARY_MD).is_file()


def test_resume_trains_nothing_again_and_other_settings_are_refused(selected, capsys):
    """A finished point is never run again (its files untouched); the finished comparison
    resumes to the same rows."""
    points = {p: p.stat().st_mtime_ns for p in (selected / "runs").rglob("*.csv")}
    rows = (selected / "comparison" / "metrics.csv").read_text()
    assert main([*SELECT, "--out", str(selected), "--resume"]) == 0
    assert {p: p.stat().st_mtime_ns for p in (selected / "runs").rglob("*.csv")} == points
    assert (selected / "comparison" / "metrics.csv").read_text() == rows
    capsys.readouterr()
    assert main([*SELECT, "--out", str(selected)]) == 2
    assert "holds a selection already; pass --resume" in capsys.readouterr().err
    other_group = [*SELECT[: SELECT.index("--best-of")], "--best-of", "unif", "--seeds", "2"]
    assert main([*other_group, "--out", str(selected), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "settings differ from the selection" in err and "(best_of)" in err
    assert err.count("\n") == 1


def test_report_of_a_selection_draws_its_comparison(selected, capsys):
    assert main(["report", str(selected)]) == 0
    assert f"figures (PNG and PDF) in {selected / 'comparison'}" in capsys.readouterr().out
    for name in ("swd_vs_epoch.png", "swd_vs_epoch.pdf", "index.html"):
        assert (selected / "comparison" / name).is_file()


def write_point(out, method, lam, status, last_value):
    """A selection point's folder as a finished (or not) run leaves it."""
    folder = out / "runs" / method / f"lam{lam:g}"
    folders.write_status(folder, {"status": status})
    columns = tasks.get("image").results.columns
    rows = [dict.fromkeys(columns, 1.0) | {"method": method, "lam": lam, "seed": 100,
                                           "epoch": epoch, "image_swd": value}
            for epoch, value in ((0, 5000.0), (2, last_value))]  # fmt: skip
    pd.DataFrame(rows, columns=columns).to_csv(folder / "metrics.csv", index=False)


def choice_of(tmp_path, points, best_of=()):
    task = tasks.get("image")
    lambdas = {}
    for method, lam, *_ in points:
        lambdas.setdefault(method, []).append(lam)
    for point in points:
        write_point(tmp_path, *point)
    cfg = task.config(methods=list(lambdas), lambdas=lambdas, epochs=2).validate()
    grid = {f"{m}/lam{lam:g}": (m, lam) for m, lam, *_ in points}
    return selection.choose(task, cfg, tmp_path, grid, list(best_of))


def test_ties_go_to_the_smaller_lam_and_failed_points_are_not_chosen(tmp_path):
    choice = choice_of(tmp_path, [("mmd", 10.0, "finished", 700.0),
                                  ("mmd", 1.0, "finished", 700.0),
                                  ("mmd", 100.0, "diverged", 100.0),
                                  ("mmd", 1000.0, "finished", float("nan"))])  # fmt: skip
    assert choice["chosen"] == {"mmd": 1.0} and choice["edges"] == {"mmd": "bottom"}
    shown = {v["lam"]: v["value"] for v in choice["values"]}
    assert math.isnan(shown[100.0]) and math.isnan(shown[1000.0])


def test_a_winner_inside_the_grid_is_not_flagged_and_the_best_other_is_the_lowest(tmp_path):
    choice = choice_of(tmp_path, [("moca", 1.0, "finished", 900.0),
                                  ("moca", 10.0, "finished", 800.0),
                                  ("moca", 100.0, "finished", 850.0),
                                  ("unif", 1.0, "finished", 810.0),
                                  ("energy", 1.0, "finished", 790.0)],
                       best_of=("unif", "energy"))  # fmt: skip
    assert choice["chosen"]["moca"] == 10.0 and "moca" not in choice["edges"]
    assert choice["best_other"] == "energy"
    assert choice["kept"] == {"moca": 10.0, "energy": 1.0}


def test_a_method_none_of_whose_lams_finished_stops_the_selection_in_one_line(tmp_path, capsys):
    out = tmp_path / "sel"
    args = ["select", "image", *TINY, "--methods", "exploding",
            "--lambdas", "1", "--out", str(out)]  # fmt: skip
    with registered(Exploding):
        assert main(args) == 2
    err = capsys.readouterr().err
    assert "every lam of exploding diverged in the selection" in err and err.count("\n") == 1
    assert json.loads((out / "runs/exploding/lam1/status.json").read_text())["status"] == (
        "diverged")
    assert not (out / "comparison").exists()


def test_a_failed_or_unfinished_point_stops_the_choice(tmp_path):
    """It could have held the method's best lam: no choice, no comparison."""
    with pytest.raises(UsageError, match=r"2 selection run\(s\) did not end: mmd/lam10 "
                       r"\(failed\), mmd/lam100 \(pending\)"):  # fmt: skip
        choice_of(tmp_path, [("mmd", 1.0, "finished", 700.0), ("mmd", 10.0, "failed", 1.0),
                             ("mmd", 100.0, "pending", 1.0)])  # fmt: skip


def test_settings_a_set_up_refuses_fail_before_any_run(tmp_path, capsys):
    out = tmp_path / "sel"
    assert main([*SELECT, "--train-images", "999999", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--train-images 999999 exceeds" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["select", "latent"], "invalid choice: 'latent'"),
    (["select", "image", "--methods", "moca,mmd", "--best-of", "unif"],
     "--best-of unif: not among --methods moca,mmd"),
    (["select", "image", "--overwrite"], "select does not --overwrite"),
    (["select", "image", "--split", "validation"], "drop --split"),
    (["select", "image", "--seed", "100"], "seed 100 is the selection's"),
    (["select", "image", "--methods", "moca,unif,energy", "--best-of", "unif,energy",
      "--baseline", "unif"], "--baseline unif: a --best-of method may be dropped"),
])  # fmt: skip
def test_bad_input_is_one_line(args, message, capsys, tmp_path):
    assert main([*args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
