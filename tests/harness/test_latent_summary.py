import math
import re

import pandas as pd
import pytest

from wae_bench.tasks.latent.report import tables

EPOCHS = (1, 5, 20)  # the latent task's summary epochs


def curves_frame():
    rows = []
    for seed, swds in ((0, [3.0, 2.0, 1.05, 1.0]), (1, [3.0, 1.2, 1.2, 1.2])):
        for epoch, swd in enumerate(swds):
            rows.append(
                dict(
                    method="a",
                    seed=seed,
                    epoch=epoch,
                    swd=swd,
                    seconds=0.5 * epoch,
                    loss=float("nan") if epoch == 0 else 1.0,
                    noise_floor=1.0,
                )
            )
    return pd.DataFrame(rows)


def test_summary_reports_swd_at_epochs_and_time_to_noise_floor():
    summary = tables(curves_frame(), EPOCHS)[0].iloc[0]
    assert summary["swd_epoch_1_mean"] == pytest.approx(1.6)
    assert summary["swd_epoch_1_std"] == pytest.approx(pd.Series([2.0, 1.2]).std())
    assert summary["swd_epoch_3_mean"] == pytest.approx(1.1)
    assert "swd_epoch_5_mean" not in summary  # only epochs the run reached
    assert summary["reached_floor"] == 1  # seed 1 never comes within 10%
    assert summary["epochs_to_floor_mean"] == 2 and math.isnan(summary["epochs_to_floor_std"])
    assert summary["seconds_to_floor_mean"] == pytest.approx(1.0)
    assert summary["seconds_per_epoch"] == pytest.approx(0.5)


def test_summary_markdown_marks_seeds_that_never_reached_the_floor():
    curves = curves_frame()
    text = tables(curves, EPOCHS)[1]
    # two seeds: a resample is both draws of one seed with probability 1/4 > 2.5% on each
    # side, so the 95% percentile interval of the mean is exactly [min, max]
    assert (
        "| a | 1.60 [1.20, 2.00] | 1.10 [1.00, 1.20] | reference | 2.0 (1/2 seeds) "
        "| 1.00 (1/2 seeds) | 0.500 |" in text
    )
    assert "Noise floor (two independent prior sets): 1.0000 ± 0.0000" in text


def two_methods_frame(shift: float, noise: float = 0.0):
    """Method b = method a + shift on every seed (plus seed noise shared by both)."""
    rows = []
    for seed in range(4):
        base = 1.0 + noise * seed
        for method, value in (("a", base), ("b", base + shift)):
            for epoch in (0, 1):
                rows.append(dict(method=method, seed=seed, epoch=epoch, swd=value, seconds=epoch,
                                 loss=1.0, noise_floor=0.1))  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_ends_with_a_paired_verdict_that_sees_through_seed_noise():
    # the seeds differ by 0.5 each, the methods by 0.01 on every seed: paired, b is clearly
    # higher (an unpaired comparison of these spreads could not tell)
    curves = two_methods_frame(0.01, noise=0.5)
    text = tables(curves, EPOCHS)[1]
    # P(a < b) over all 16 seed pairs: a_i < a_j + 0.01 holds for j >= i, 10 pairs -> 0.625
    pattern = r"SWD at epoch 1: a is lower than b by 0\.010*0 \[0\.010*, 0\.010*\], P = 0\.62"
    assert re.search(pattern, text), text
    summary = tables(curves, EPOCHS)[0].set_index("method")
    assert summary.loc["b", "vs_best_diff"] == pytest.approx(0.01)
    assert summary.loc["b", "best_method"] == "a"


def test_summary_says_no_clear_difference_when_the_interval_holds_zero():
    curves = two_methods_frame(0.0, noise=0.5)
    curves.loc[(curves["method"] == "b") & (curves["seed"] == 0), "swd"] += 0.2
    curves.loc[(curves["method"] == "b") & (curves["seed"] == 1), "swd"] -= 0.2
    text = tables(curves, EPOCHS)[1]
    assert "SWD at epoch 1: no clear difference between a and b" in text


def test_baseline_replaces_the_best_method_as_reference():
    curves = two_methods_frame(0.01)
    summary = tables(curves, EPOCHS, baseline="b")[0].set_index("method")
    assert summary.loc["a", "best_method"] == "b"
    assert summary.loc["a", "vs_best_diff"] == pytest.approx(-0.01)
