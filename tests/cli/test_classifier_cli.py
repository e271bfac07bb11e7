"""`wae-bench classifier` and the image task's --classifier, --train-images and --split."""

import hashlib
import json

import pandas as pd
import pytest

from wae_bench.cli import main

from tests.helpers.data import fake_mnist, write_images
from tests.helpers.runs import IMAGE_TINY as TINY


@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory):
    """The digits classifier as the command writes it (about 10 s)."""
    path = tmp_path_factory.mktemp("classifiers") / "digits.pt"
    assert main(["classifier", "--dataset", "digits", "--out", str(path), "--quiet"]) == 0
    return path


def test_the_command_writes_weights_and_a_card_with_their_sha256(digits_classifier, capsys):
    card = json.loads(digits_classifier.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(digits_classifier.read_bytes()).hexdigest()
    assert card["dataset"] == "digits" and card["seed"] == 0 and card["epochs"] == 10
    assert card["train_images"] == 1500 and card["test_images"] == 297
    assert card["test_accuracy"] >= 0.95  # a 10-class problem the network solves


def test_an_existing_classifier_is_kept_without_overwrite(digits_classifier, capsys):
    before = digits_classifier.read_bytes()
    assert main(["classifier", "--dataset", "digits", "--out", str(digits_classifier)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pass --overwrite" in err
    assert digits_classifier.read_bytes() == before


def test_a_data_set_without_labels_is_one_line(tmp_path, capsys):
    write_images([tmp_path / "imgs" / f"{i}.png" for i in range(4)])
    args = ["classifier", "--dataset", "folder", "--data-root", str(tmp_path / "imgs"),
            "--out", str(tmp_path / "f.pt")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("wae-bench: error: classifier: folder has no class labels here; use digits, "
                   "mnist, fashion-mnist")  # fmt: skip
    assert not (tmp_path / "f.pt").exists()


def test_mnist_files_train_a_classifier(tmp_path):
    fake_mnist(tmp_path / "data", n_train=16, n_test=4)
    out = tmp_path / "mnist.pt"
    args = ["classifier", "--dataset", "mnist", "--data-root", str(tmp_path / "data"),
            "--epochs", "1", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["dataset"] == "mnist" and card["epochs"] == 1 and card["train_images"] == 16
    assert card["release"]["verdict"] == "modified"  # written by the test, not the release


def test_image_runs_record_the_classifier_and_add_its_columns(digits_classifier, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--methods", "moca,mmd", "--seeds", "2", "--classifier",
            str(digits_classifier), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    for column in ("classifier_fd", "precision", "recall"):
        assert metrics[column].notna().all(), column
    assert ((metrics["precision"] >= 0) & (metrics["precision"] <= 1)).all()
    saved = json.loads((out / "config.json").read_text())
    card = json.loads(digits_classifier.with_suffix(".json").read_text())
    assert saved["classifier"] == {"path": str(digits_classifier), **card}
    summary = (out / "summary.md").read_text()
    assert "classifier FD @ 3" in summary and "not an FID" in summary
    assert "Classifier FD verdicts:" in summary and "classifier FD at epoch 3:" in summary
    table = pd.read_csv(out / "summary.csv")
    assert {"classifier_fd_last_low", "classifier_fd_vs_ref_p_adj", "precision_last_mean"} <= set(
        table.columns
    )


def test_another_data_sets_classifier_is_refused(digits_classifier, tmp_path, capsys):
    fake_mnist(tmp_path / "data")
    args = [*TINY, "--dataset", "mnist", "--data-root", str(tmp_path / "data"),
            "--eval-samples", "4", "--classifier", str(digits_classifier),
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"wae-bench: error: classifier {digits_classifier}: it was trained on digits, "
                   "not mnist; train it again: wae-bench classifier --dataset mnist")  # fmt: skip


@pytest.mark.parametrize(("split", "evaluated"), [("test", 297), ("validation", 297)])
def test_train_images_come_from_outside_the_validation_split(tmp_path, split, evaluated):
    """1,500 digits training images: 297 (the test set's size) are the validation split, 200
    of the other 1,203 are trained on, whichever split is evaluated."""
    out = tmp_path / split
    args = [*TINY, "--methods", "mmd", "--epochs", "1", "--train-images", "200", "--split", split,
            "--eval-samples", "32", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    data = json.loads((out / "config.json").read_text())["data"]
    assert data["train"] == 200 and data[split] == evaluated
    summary = (out / "summary.md").read_text()  # names the images it measured on
    assert f"between the {split} images" in summary and f"best {split} recon" in summary


def test_more_train_images_than_there_are_is_one_line(tmp_path, capsys):
    args = [*TINY, "--train-images", "1204", "--out", str(tmp_path / "run")]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        "wae-bench: error: --train-images 1204 exceeds the 1203 training images of digits "
        "outside its validation split; lower it"
    )
    assert not (tmp_path / "run").exists()


def test_a_cut_run_never_trains_on_the_validation_images():
    from wae_bench import config as config_io
    from wae_bench import data as datasets
    from wae_bench.tasks.image import ImageConfig
    from wae_bench.tasks.image.task import training_images

    digits = datasets.load("digits")
    rows = {tuple(x.flatten().tolist()): i for i, x in enumerate(digits.train)}
    for split in ("test", "validation"):
        cfg = config_io.build(ImageConfig, {}, {"split": split, "train_images": 300})
        seen = training_images(digits, cfg)
        validation = training_images(digits, config_io.build(ImageConfig, {},
                                                             {"split": "validation"})).test
        trained = {rows[tuple(x.flatten().tolist())] for x in seen.train}
        held = {rows[tuple(x.flatten().tolist())] for x in validation}
        assert len(trained) == 300 and not trained & held
        assert seen.labels[0].tolist() == digits.labels[0][sorted(trained)].tolist()
        if split == "test":
            assert seen.test is digits.test


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--train-images", "100", "--eval-samples", "101"],
         "101 images per evaluation exceed the 100 training images (the floor compares as "
         "many); lower --eval-samples or raise --train-images"),
        (["--classifier", "any.pt", "--eval-samples", "3"],
         "--classifier needs more than 3 images per evaluation (precision and recall use each "
         "image's 3 nearest neighbours); raise --eval-samples"),
    ],
)  # fmt: skip
def test_evaluations_the_cut_data_cannot_hold_are_one_line(tmp_path, capsys, flags, message):
    assert main([*TINY, *flags, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"wae-bench: error: {message}"
    assert not (tmp_path / "run").exists()


def test_a_run_made_before_the_new_settings_resumes(tmp_path):
    """config.json of a run that predates --classifier and --train-images lacks them: --resume
    reads them as their defaults."""
    out = tmp_path / "run"
    assert main([*TINY, "--methods", "mmd", "--epochs", "1", "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    for key in ("classifier", "train_images"):
        del saved["config"][key]
    (out / "config.json").write_text(json.dumps(saved))
    before = (out / "metrics.csv").read_text()
    assert main([*TINY, "--methods", "mmd", "--epochs", "1", "--out", str(out),
                 "--resume"]) == 0  # fmt: skip
    assert (out / "metrics.csv").read_text() == before  # finished: nothing to add
