"""Loggers: the result CSV always, TensorBoard scalars and image grids with --tensorboard."""

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from wae_bench.cli import main

from tests.helpers.runs import IMAGE_TINY as TINY


def test_tensorboard_gets_every_evaluation_and_image_grids(tmp_path):
    board = tmp_path / "tb"
    assert main([*TINY, "--methods", "mmd", "--tensorboard", str(board),
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    events = EventAccumulator(str(board)).Reload()
    swd = events.Scalars("mmd_lam1_seed0/image_swd")
    assert [e.step for e in swd] == list(metrics["epoch"])  # 0, 2, 3
    # TensorBoard keeps float32 (relative rounding 2**-24 = 6e-8), the CSV 8 significant digits
    # (5e-9): the two agree within their sum, whatever the value's last bits
    assert [e.value for e in swd] == pytest.approx(list(metrics["image_swd"]), rel=1e-7)
    assert "mmd_lam1_seed0/loss" in events.Tags()["scalars"]  # NaN at epoch 0 is skipped
    assert len(events.Scalars("mmd_lam1_seed0/loss")) == len(metrics) - 1
    images = events.Tags()["images"]
    assert {"mmd_lam1_seed0/samples", "mmd_lam1_seed0/reconstructions"} <= set(images)


def test_tensorboard_is_not_needed_without_the_flag(tmp_path):
    assert main([*TINY, "--methods", "mmd", "--out", str(tmp_path)]) == 0
    assert not any(p.name.startswith("events.out") for p in tmp_path.rglob("*"))
