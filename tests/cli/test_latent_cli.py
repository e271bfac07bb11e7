import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

import regularizers
from wae_bench.cli import main

from tests.conftest import registered
from tests.helpers.runs import LATENT_TINY as TINY
from tests.helpers.runs import Exploding, run_cli

OUTPUTS = ["config.json", "curves.csv", "summary.csv", "summary.md"]  # figures: report




def test_cli_end_to_end_writes_every_output(tmp_path, capsys):
    methods = regularizers.available()  # every registered method
    assert run_cli("--methods", ",".join(methods), "--seeds", 2, "--out", tmp_path) == 0
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert {"method", "seed", "epoch", "swd", "seconds", "loss", "noise_floor"} <= set(curves)
    assert len(curves) == len(methods) * 2 * 3  # methods x seeds x (epoch 0 + 2 epochs)
    assert curves.groupby(["method", "seed"])["epoch"].apply(list).map([0, 1, 2].__eq__).all()
    assert curves.loc[curves.epoch == 0, "loss"].isna().all()
    assert (curves.loc[curves.epoch > 0, "seconds"] > 0).all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["method"]) == methods
    assert {"swd_epoch_1_mean", "swd_epoch_2_std", "seconds_per_epoch"} <= set(summary)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["config"]["seeds"] == [0, 1]
    assert config["hparams"]["moca"] == {"tau": 0.1, "K": 64, "m": 0.99}
    assert config["environment"]["packages"]["torch"] == torch.__version__.split("+")[0] or config[
        "environment"
    ]["packages"]["torch"].startswith(torch.__version__.split("+")[0])
    assert config["environment"]["device"] == "cpu" or torch.cuda.is_available()
    assert "| moca |" in capsys.readouterr().out


def test_same_seed_gives_identical_curves_on_cpu(tmp_path):
    for name in ("a", "b"):
        assert run_cli("--seed", 3, "--device", "cpu", "--out", tmp_path / name) == 0
    a, b = (pd.read_csv(tmp_path / n / "curves.csv") for n in ("a", "b"))
    # wall-clock seconds are the only column allowed to differ
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    c = run_cli("--seed", 4, "--device", "cpu", "--out", tmp_path / "c")
    assert c == 0
    assert not pd.read_csv(tmp_path / "c" / "curves.csv")["swd"].equals(a["swd"])


def test_every_method_is_measured_on_the_same_fixtures(tmp_path):
    assert run_cli("--out", tmp_path) == 0
    curves = pd.read_csv(tmp_path / "curves.csv")
    start = curves[curves.epoch == 0]
    assert start["swd"].nunique() == 1  # same data, initial encoder, prior set, directions
    assert curves["noise_floor"].nunique() == 1


def test_report_redraws_tables_and_figure_from_the_csv_and_config(tmp_path):
    assert run_cli("--out", tmp_path) == 0
    before = (tmp_path / "summary.md").read_text()
    for name in OUTPUTS:
        if name not in ("curves.csv", "config.json"):  # the run's record; the rest is derived
            (tmp_path / name).unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "summary.md").read_text() == before
    assert (tmp_path / "curves.png").exists() and (tmp_path / "curves.pdf").exists()


def test_the_recorded_baseline_is_the_reference_in_new_and_old_records(tmp_path):
    run = tmp_path / "run"
    assert main([*TINY, "--methods", "moca,mmd", "--baseline", "mmd", "--out", str(run)]) == 0
    assert "| - mmd @ epoch 2 |" in (run / "summary.md").read_text()
    record = json.loads((run / "config.json").read_text())
    assert record["execution"]["baseline"] == "mmd" and "baseline" not in record["config"]
    how = record.pop("execution")
    old = {**record, "config": {**record["config"], **how}}  # the format before "execution"
    (run / "config.json").write_text(json.dumps(old))
    (run / "summary.md").unlink()
    assert main(["report", str(run)]) == 0
    assert "| - mmd @ epoch 2 |" in (run / "summary.md").read_text()


def test_a_run_writes_tables_and_report_draws_the_figures(tmp_path, capsys):
    assert run_cli("--epochs", 1, "--out", tmp_path) == 0
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.pdf"))
    assert f"`wae-bench report {tmp_path}` draws the figures" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "curves.pdf").read_bytes().startswith(b"%PDF")


def test_set_and_config_file_reach_the_regularizer(tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text('methods = ["moca", "mmd"]\nepochs = 1\n[params.moca]\ntau = 0.3\nK = 32\n')
    out = tmp_path / "run"
    assert (
        run_cli(
            "--config", config, "--set", "moca.tau=0.2", "--set", "mmd.kernel=rbf", "--out", out
        )
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["hparams"]["moca"] == {"tau": 0.2, "K": 32, "m": 0.99}
    assert saved["hparams"]["mmd"]["kernel"] == "rbf"
    assert saved["config"]["epochs"] == 2  # the flag overrides the file
    assert set(pd.read_csv(out / "curves.csv")["method"]) == {"moca", "mmd"}


class PluginEnergy(regularizers.Regularizer):
    """Energy distance to the prior: a third-party method registered at runtime."""

    name = "plugin-energy"

    def forward(self, z, x):
        y = self.prior.sample(len(z), device=z.device)
        return 2 * torch.cdist(z, y).mean() - torch.cdist(z, z).mean() - torch.cdist(y, y).mean()


def test_third_party_regularizer_runs_through_the_cli(tmp_path):
    with registered(PluginEnergy):
        assert run_cli("--methods", "plugin-energy,mmd", "--out", tmp_path) == 0
    curves = pd.read_csv(tmp_path / "curves.csv")
    energy = curves[curves.method == "plugin-energy"].set_index("epoch")["swd"]
    assert energy[2] < energy[0]


BAD_INPUTS = [
    (["--methods", "moca,vae"],
     f"unknown method 'vae'; choose from {', '.join(regularizers.available())}"),
    (["--set", "moca.tau=0"], "moca.tau must be a finite number > 0, got 0"),
    (["--set", "moca.tau=-0.5"], "moca.tau must be a finite number > 0, got -0.5"),
    (["--set", "moca.K=8"], "moca.K (queue size) must be at least the batch size 16, got 8"),
    (["--set", "moca.m=1"], r"moca.m must be a number in [0, 1), got 1"),
    (["--set", "moca.temp=1"], "moca has no hyper-parameter 'temp'; known: tau, K, m"),
    (["--set", "gan.lr=1"], "settings given for 'gan', which is not among the methods"),
    (["--set", "moca.tau"], "--set expects METHOD.PARAM=VALUE"),
    (["--set", "moca.tau=nan"], "NaN is not a valid setting"),
    (["--epochs", "0"], "epochs must be an integer > 0, got 0"),
    (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["--batch-size", "100"], "batch_size 100 exceeds the 64 data points"),
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--seed", "1", "--seeds", "2"], "not allowed with argument --seed"),
    (["--lr", "-1"], "lr must be a finite number > 0, got -1.0"),
    (["--device", "tpu"], "unknown device 'tpu'; use auto, cpu or cuda"),
    (["--config", "missing.toml"], "config file missing.toml not found"),
    (["--methods", ","], "argument --methods: expects a comma-separated list"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[m[:30] for _, m in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_keeps_files(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    out.mkdir()
    (out / "curves.csv").write_text("method,seed,epoch,swd\nmoca,0,0,0.5\n")
    assert run_cli(*args, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wae-bench: error: ")
    assert message in err
    assert (out / "curves.csv").read_text() == "method,seed,epoch,swd\nmoca,0,0,0.5\n"
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv"]


def test_bad_config_file_keys_and_types(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('lr = "fast"\n')
    assert run_cli("--config", config, "--out", tmp_path / "x") == 2
    config.write_text("epoch = 3\n")
    assert run_cli("--config", config, "--out", tmp_path / "x") == 2
    errors = capsys.readouterr().err.splitlines()
    assert "lr must be a finite number > 0, got 'fast'" in errors[0]
    assert "unknown setting epoch; known: methods, seeds, epochs" in errors[1]


def test_unwritable_out_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    assert run_cli("--out", blocker / "run") == 2
    assert "cannot write to output folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_report_of_a_folder_without_results_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "config.json not found or names no task" in capsys.readouterr().err


def test_process_exit_status_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "wae_bench", *TINY, "--set", "moca.tau=0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_latent_resume_after_an_interruption_gives_the_same_curves(tmp_path, monkeypatch):
    import wae_bench.tasks.latent.task as latent

    assert run_cli("--methods", "moca,mmd", "--out", tmp_path / "straight") == 0
    real, calls = latent.batches, {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:  # mmd's first epoch, after moca finished
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(latent, "batches", interrupted)
    assert run_cli("--methods", "moca,mmd", "--out", tmp_path / "resumed") == 130
    monkeypatch.undo()
    assert run_cli("--methods", "moca,mmd", "--resume", "--out", tmp_path / "resumed") == 0
    a, b = (pd.read_csv(tmp_path / n / "curves.csv") for n in ("straight", "resumed"))
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))




def test_nan_loss_stops_the_run_with_diverged(tmp_path, capsys):
    with registered(Exploding):
        assert run_cli("--methods", "exploding", "--out", tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith("wae-bench: diverged: exploding_seed0: loss became nan in epoch 1")
    assert err.count("\n") == 1
