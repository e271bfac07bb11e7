"""`wae-bench latent --latent-dims ... --batch-sizes ...`: one run per (d, B), one table."""

import json

import pandas as pd

from wae_bench.cli import main


def test_study_runs_each_dimension_and_batch_size_with_its_own_floor(tmp_path, capsys):
    args = ["latent", "--latent-dims", "4,16", "--batch-sizes", "16,32", "--methods",
            "moca,mmd", "--seeds", "2", "--epochs", "2", "--points", "64",
            "--eval-directions", "20", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    runs = ["dim4_batch16", "dim4_batch32", "dim16_batch16", "dim16_batch32"]
    assert json.loads((tmp_path / "config.json").read_text())["study"] == runs
    sub = json.loads((tmp_path / "dim16_batch32" / "config.json").read_text())["config"]
    assert (sub["latent_dim"], sub["batch_size"], sub["data_dim"], sub["hidden_dim"]) == (
        16, 32, 12, 32)  # data and hidden width scale with d (100/128, 2)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 2 * 2 * 2 and set(summary["seeds"]) == {2}
    floors = summary.groupby("latent_dim")["noise_floor"].first()
    assert floors[4] > floors[16]  # SWD of two prior sets shrinks with the dimension
    curves = pd.read_csv(tmp_path / "dim4_batch16" / "curves.csv")
    last = curves[curves.epoch == 2]
    moca = summary[(summary.method == "moca") & (summary.latent_dim == 4)
                   & (summary.batch_size == 16)].iloc[0]  # fmt: skip
    expected = (last[last.method == "moca"]["swd"] / last[last.method == "moca"]["noise_floor"])
    assert abs(moca["ratio_mean"] - expected.mean()) < 1e-6 * expected.mean()  # 8 digits
    assert not (tmp_path / "study.png").exists()  # a run writes the tables only
    assert "| moca |" in capsys.readouterr().out
    (tmp_path / "summary.md").unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "summary.md").exists() and (tmp_path / "study.png").stat().st_size > 0


def test_study_batch_size_above_the_points_is_refused(tmp_path, capsys):
    assert main(["latent", "--latent-dims", "4", "--batch-sizes", "16,128", "--points", "64",
                 "--out", str(tmp_path)]) == 2  # fmt: skip
    assert "batch size 128 exceeds the 64 data points" in capsys.readouterr().err


def test_a_finished_study_is_not_overwritten_without_being_asked(tmp_path, capsys):
    args = ["latent", "--latent-dims", "4", "--methods", "mmd", "--epochs", "1", "--points",
            "32", "--batch-size", "16", "--eval-directions", "10", "--quiet", "--out",
            str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    before = (tmp_path / "config.json").read_text()
    assert main([*args, "--seeds", "2"]) == 2
    assert "holds a study already" in capsys.readouterr().err
    assert (tmp_path / "config.json").read_text() == before
    assert main([*args, "--resume"]) == 0  # continuing it is fine
