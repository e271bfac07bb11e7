"""No batch of one sample reaches a regularizer (wae_bench/batching.py)."""

import math

import pandas as pd
import pytest
import torch

from wae_bench.batching import steps_per_epoch, without_single_remainder
from wae_bench.cli import main


@pytest.mark.parametrize("batch_size", [1, 2, 3, 32, 64])
@pytest.mark.parametrize("size", [1, 2, 31, 32, 33, 64, 65, 97])
def test_a_last_batch_of_one_is_dropped_and_the_steps_counted(size, batch_size):
    batches = [len(b) for b in without_single_remainder(torch.arange(size).split(batch_size))]
    assert len(batches) == steps_per_epoch(size, batch_size)
    if batch_size > 1 and size > 1:
        assert 1 not in batches
        assert sum(batches) == size - (size % batch_size == 1)  # one sample left out, at most
    else:
        assert sum(batches) == size  # batches of one by choice (or one sample in all)


def test_a_data_set_of_one_more_than_the_batches_trains_mmd_and_unif(tmp_path):
    """65 points in batches of 32: the third batch would be one sample, on which MMD's and
    the uniformity loss's averages over pairs are 0 / 0."""
    args = ["latent", "--methods", "mmd,unif", "--points", "65", "--batch-size", "32",
            "--epochs", "3", "--latent-dim", "8", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    curves = pd.read_csv(tmp_path / "curves.csv")
    trained = curves[curves.epoch > 0]
    assert len(trained) == 2 * 3 and trained["loss"].map(math.isfinite).all()
