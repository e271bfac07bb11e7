import json

import pandas as pd
import pytest
import torch

import regularizers
import wae_bench.data
from wae_bench.cli import main

from tests.helpers.data import fake_cifar10
from tests.helpers.runs import IMAGE_TINY as TINY

OUTPUTS = [
    "config.json",
    "metrics.csv",
    "summary.csv",
    "summary.md",
    "singular_values.csv",
]  # the figures: wae-bench report


def run_cli(*args):
    return main([*TINY, *map(str, args)])


@pytest.mark.parametrize("method", regularizers.available())
def test_tiny_run_per_method_writes_every_output(tmp_path, method):
    assert run_cli("--methods", method, "--out", tmp_path) == 0
    for name in [*OUTPUTS, f"visuals/{method}_lam1.png", f"checkpoints/{method}_lam1_seed0.pt"]:
        assert (tmp_path / name).stat().st_size > 0, name
    state = torch.load(tmp_path / f"checkpoints/{method}_lam1_seed0.pt", weights_only=True)
    assert state["epoch"] == 3 and set(state["modules"]) == {"encoder", "decoder", "regularizer"}
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 2, 3]  # epoch 0, every 2nd, and the last
    assert {"method", "lam", "seed", "image_swd", "recon", "latent_swd", "seconds"} <= set(metrics)
    assert metrics["image_swd"].iloc[-1] < metrics["image_swd"].iloc[0]
    assert metrics["recon"].iloc[-1] < metrics["recon"].iloc[0]
    spectrum = pd.read_csv(tmp_path / "singular_values.csv")
    for _, rows in spectrum.groupby("method"):
        assert len(rows) == 8 and rows["value"].is_monotonic_decreasing
    prior = spectrum[spectrum.method == "prior"]["value"]
    assert prior.max() / prior.min() < 1.5  # 1500 uniform samples on S^7 are nearly isotropic


def test_lambdas_per_method_and_report_from_csv(tmp_path, capsys):
    assert (
        run_cli(
            "--methods",
            "moca,mmd",
            "--lambdas",
            "moca=1,10",
            "--lambdas",
            "mmd=5",
            "--epochs",
            "1",
            "--out",
            tmp_path,
        )
        == 0
    )
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert sorted(set(zip(metrics["method"], metrics["lam"], strict=True))) == [
        ("mmd", 5.0),
        ("moca", 1.0),
        ("moca", 10.0),
    ]
    summary_before = (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "swd_vs_epoch.png").exists()  # a run writes the tables only
    for name in ("summary.md", "summary.csv"):
        (tmp_path / name).unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "summary.md").read_text() == summary_before
    assert (tmp_path / "swd_vs_epoch.png").exists() and (tmp_path / "singular_values.png").exists()
    assert "rewrote the summary tables and figures" in capsys.readouterr().out


def interrupt_batches(monkeypatch, on_call, after_batches):
    """Make the on_call-th epoch's batch iterator raise KeyboardInterrupt mid-epoch."""
    real = wae_bench.data.batches
    calls = {"n": 0}

    def batches(*args, **kwargs):
        calls["n"] += 1
        for i, x in enumerate(real(*args, **kwargs)):
            if calls["n"] == on_call and i == after_batches:
                raise KeyboardInterrupt
            yield x

    monkeypatch.setattr(wae_bench.data, "batches", batches)


def test_resume_after_an_interruption_gives_the_same_metrics(tmp_path, monkeypatch, capsys):
    args = ["--methods", "moca,gan", "--device", "cpu"]
    assert run_cli(*args, "--out", tmp_path / "straight") == 0
    interrupt_batches(monkeypatch, on_call=5, after_batches=7)  # 2nd run (gan), epoch 2
    assert run_cli(*args, "--out", tmp_path / "resumed") == 130
    assert "interrupted" in capsys.readouterr().err
    partial = pd.read_csv(tmp_path / "resumed" / "metrics.csv")
    assert set(partial["method"]) == {"moca", "gan"} and len(partial) == 4  # moca 3 rows, gan 1
    monkeypatch.undo()
    assert run_cli(*args, "--resume", "--out", tmp_path / "resumed") == 0
    straight, resumed = (pd.read_csv(tmp_path / n / "metrics.csv") for n in ("straight", "resumed"))
    pd.testing.assert_frame_equal(straight.drop(columns="seconds"), resumed.drop(columns="seconds"))


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    assert run_cli("--methods", "mmd", "--epochs", "1", "--out", tmp_path) == 0
    assert run_cli("--methods", "mmd", "--epochs", "2", "--resume", "--out", tmp_path) == 2
    assert "settings differ from the run" in capsys.readouterr().err


def test_corrupt_checkpoint_exits_2_and_is_left_alone(tmp_path, capsys):
    assert run_cli("--methods", "mmd", "--epochs", "1", "--out", tmp_path) == 0
    checkpoint = tmp_path / "checkpoints" / "mmd_lam1_seed0.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    metrics = (tmp_path / "metrics.csv").read_text()
    assert run_cli("--methods", "mmd", "--epochs", "1", "--resume", "--out", tmp_path) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "delete it to restart that run" in err
    assert checkpoint.read_bytes() == b"not a checkpoint"
    assert (tmp_path / "metrics.csv").read_text() == metrics


def test_a2_on_a_cifar10_folder_prints_its_parameter_count(tmp_path, capsys):
    fake_cifar10(tmp_path / "data", per_batch=8, n_test=16)
    assert (
        main(
            [
                "image",
                "--dataset",
                "cifar10",
                "--data-root",
                str(tmp_path / "data"),
                "--arch",
                "a2",
                "--methods",
                "mmd",
                "--lambdas",
                "1",
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--eval-samples",
                "16",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "image on cifar10 (3x32x32), latent 128: encoder 11.23M + decoder 14.55M = 25.78M" in out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    batches = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    release = {"verdict": "modified", "files": dict.fromkeys(batches, "modified")}
    folder = str(tmp_path / "data" / "cifar-10-batches-py")
    assert saved["data"] == {"name": "cifar10", "train": 40, "test": 16, "channels": 3, "size": 32,
                             "folder": folder, "release": release}  # not the official files
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert (f"Data: MODIFIED cifar10: {', '.join(batches)} differ from the official release (md5 "
            "as torchvision lists it); these results are not on the official data; read from "
            f"{folder}.") in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "cifar10", "--data-root", "nowhere"], "cifar10: expected data_batch_1"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["--arch", "vgg"], "unknown architecture 'vgg'"),
        (["--lambdas", "a,b"], "expects numbers such as 1,10 or moca=1,10"),
        (["--lambdas", "swd=1"], "lambdas given for 'swd', which is not among the methods"),
        (["--lambdas", "-1"], "lambda must be a finite number >= 0"),
        (["--eval-samples", "5000"], "eval_samples 5000 exceeds the 297 test images of digits"),
        (["--eval-every", "0"], "eval_every must be an integer > 0, got 0"),
        (["--set", "moca.K=16"], "moca.K (queue size) must be at least the batch size 64"),
    ],
)
def test_bad_image_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    assert run_cli(*args, "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "run").exists()


def test_interrupted_and_finished_files_are_never_torn(tmp_path):
    assert run_cli("--methods", "mmd", "--epochs", "1", "--out", tmp_path) == 0
    state = torch.load(tmp_path / "checkpoints" / "mmd_lam1_seed0.pt", weights_only=True)
    assert state["epoch"] == 1 and len(state["rows"]) == 2
    hidden = [p.name for p in tmp_path.rglob(".*") if p.is_file()]
    assert hidden == [".lock"]  # no temporary file left; the lock file stays, emptied
    assert (tmp_path / ".lock").read_text() == ""


def test_bf16_autocast_trains(tmp_path):
    assert run_cli("--methods", "moca", "--amp", "bf16", "--out", tmp_path) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics[["image_swd", "recon", "loss"]].iloc[1:].notna().all().all()
    assert metrics["recon"].iloc[-1] < metrics["recon"].iloc[0]


def test_compiled_models_train_and_checkpoint(tmp_path):
    assert run_cli("--methods", "moca", "--compile", "--epochs", "1", "--out", tmp_path) == 0
    state = torch.load(tmp_path / "checkpoints" / "moca_lam1_seed0.pt", weights_only=True)
    assert not any(key.startswith("_orig_mod") for key in state["modules"]["encoder"])


def test_sigkill_mid_run_then_resume_gives_the_same_metrics(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [*TINY, "--methods", "moca", "--epochs", "8", "--eval-every", "1", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "wae_bench", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    checkpoint = out / "checkpoints" / "moca_lam1_seed0.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists() and torch.load(checkpoint, weights_only=True)["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = torch.load(checkpoint, weights_only=True)
    assert 3 <= state["epoch"] < 8
    assert main([*args, "--resume", "--out", str(out)]) == 0
    straight, resumed = (pd.read_csv(tmp_path / n / "metrics.csv") for n in ("straight", "killed"))
    pd.testing.assert_frame_equal(straight.drop(columns="seconds"), resumed.drop(columns="seconds"))
