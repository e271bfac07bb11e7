"""--protocol (the paper's settings in one flag) and --fid-weights through the image task."""

import json

import pandas as pd
import pytest

from wae_bench import config as config_io
from wae_bench.cli import main
from wae_bench.tasks.image import PROTOCOLS, ImageConfig

from tests.helpers.data import fake_cifar10, fake_mnist, random_conv, write_images
from tests.helpers.runs import IMAGE_TINY as TINY


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_a_protocol_sets_the_papers_values_and_flags_override_them(name):
    cfg = config_io.build(ImageConfig, {}, {"protocol": name, "epochs": 3})
    expected = PROTOCOLS[name]
    assert cfg.epochs == 3  # the flag wins
    for key in ("dataset", "arch", "latent_dim", "batch_size", "lr_halve_every", "eval_samples"):
        assert getattr(cfg, key) == expected[key], key
    assert cfg.lambdas == {m: expected["lambdas"] for m in ("moca", "mmd")}
    assert cfg.params == {"moca": {"K": 16384}}


def test_protocol_queue_size_is_dropped_for_methods_not_run_and_kept_under_set():
    cfg = config_io.build(ImageConfig, {}, {"protocol": "paper-cifar10", "methods": ["mmd"]})
    assert cfg.params == {} and cfg.lambdas == {"mmd": [10.0, 100.0, 1000.0]}
    cfg = config_io.build(ImageConfig, {}, {"protocol": "paper-cifar10",
                                            "params": {"moca": {"tau": 0.2}}})  # fmt: skip
    assert cfg.params == {"moca": {"K": 16384, "tau": 0.2}}


def write_celeba(root):
    folder = root / "celeba"
    names = [f"{i:06d}.jpg" for i in range(8)]
    write_images([folder / "img_align_celeba" / n for n in names], size=(178, 218))
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{n} {0 if i < 6 else 2}\n" for i, n in enumerate(names))
    )


@pytest.mark.parametrize(
    ("protocol", "make"),
    [("paper-cifar10", fake_cifar10), ("paper-mnist", fake_mnist), ("paper-celeba", write_celeba)],
)
def test_each_protocol_runs_on_its_datasets_format(tmp_path, protocol, make):
    make(tmp_path / "data")
    args = ["image", "--protocol", protocol, "--data-root", str(tmp_path / "data"),
            "--epochs", "1", "--eval-samples", "2", "--batch-size", "4", "--lambdas", "10",
            "--methods", "mmd", "--latent-dim", "8", "--quiet", "--out", str(tmp_path / "run")]
    assert main(args) == 0  # fmt: skip
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["arch"] == "a2" and saved["config"]["protocol"] == protocol
    assert saved["config"]["lr_halve_every"] == 60
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 2


def test_the_mnist_protocol_runs_on_fashion_mnist_too(tmp_path):
    fake_mnist(tmp_path / "data", folder="FashionMNIST")
    args = ["image", "--protocol", "paper-mnist", "--dataset", "fashion-mnist", "--data-root",
            str(tmp_path / "data"), "--epochs", "1", "--eval-samples", "2", "--batch-size", "4",
            "--lambdas", "10", "--methods", "mmd", "--latent-dim", "8", "--quiet", "--out",
            str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["protocol"] == "paper-mnist" and saved["config"]["arch"] == "a2"
    assert saved["data"]["name"] == "fashion-mnist" and saved["data"]["size"] == 32


def test_fid_and_kid_columns_come_from_the_given_feature_extractor(tmp_path, monkeypatch):
    import wae_bench.fid

    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"stand-in")
    loaded = []
    monkeypatch.setattr(wae_bench.fid, "load_inception",
                        lambda path: loaded.append(path) or random_conv())  # fmt: skip
    assert main([*TINY, "--methods", "mmd", "--fid-weights", str(weights),
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    assert loaded == [str(weights)]
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert {"fid", "kid", "kid_std"} <= set(metrics) and metrics["fid"].notna().all()
    assert (metrics["fid"] > 0).all()
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "FID @ 3" in summary and "not computed" not in summary


def test_without_fid_weights_the_summary_says_how_to_enable_them(tmp_path):
    assert main([*TINY, "--methods", "mmd", "--out", str(tmp_path)]) == 0
    assert "fid" not in pd.read_csv(tmp_path / "metrics.csv")
    assert "FID/KID: not computed; pass --fid-weights PATH" in (tmp_path / "summary.md").read_text()


def test_a_wrong_weights_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "pt_inception.pth"
    bad.write_bytes(b"\x00" * 100)
    assert main([*TINY, "--methods", "mmd", "--fid-weights", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err


def test_swd_padding_reaches_the_metric(tmp_path):
    fake_cifar10(tmp_path / "data")  # 32 px: two pyramid levels, so borders matter
    for padding in ("zeros", "reflect"):
        assert main([*TINY, "--methods", "mmd", "--swd-padding", padding, "--dataset", "cifar10",
                     "--data-root", str(tmp_path / "data"), "--eval-samples", "6",
                     "--out", str(tmp_path / padding)]) == 0  # fmt: skip
    zeros, reflect = (pd.read_csv(tmp_path / p / "metrics.csv") for p in ("zeros", "reflect"))
    assert (zeros["image_swd"] != reflect["image_swd"]).all()
    assert (zeros["recon"] == reflect["recon"]).all()  # training is the same
