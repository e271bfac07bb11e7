import math
import re

import pandas as pd
import pytest

from wae_bench.summary import group_label
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
    # two seeds: the 95% t interval is mean +- t_{1, 0.975} |x_1 - x_2| / 2 = mean +- 12.706 x
    # 0.4 at epoch 1 (2.0, 1.2) and +- 12.706 x 0.1 at epoch 3 (1.0, 1.2); two significant
    # digits of the width
    assert ("| a | 2 [-3, 7] | 1.1 [-0.2, 2.4] | reference | 2.0 (1/2 seeds) | 1.00 (1/2 seeds) "
            "| 0.500 |" in text), text
    assert "Noise floor (two independent prior sets): 1.0000 ± 0.0000" in text


def two_methods_frame(shift: float, noise: float = 0.0, first: str = "a"):
    """Method b = method a + shift on every seed (plus seed noise shared by both); ``first``
    is listed first (the declared reference without moca or --baseline)."""
    rows = []
    for seed in range(4):
        base = 1.0 + noise * seed
        values = {"a": base, "b": base + shift}
        for method in (first, *(m for m in "ab" if m != first)):
            for epoch in (0, 1):
                rows.append(dict(method=method, seed=seed, epoch=epoch, swd=values[method],
                                 seconds=epoch, loss=1.0, noise_floor=0.1))  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("first", ["a", "b"])
def test_summary_ends_with_a_paired_verdict_that_sees_through_seed_noise(first):
    # the seeds differ by 0.5 each, the methods by 0.01 (+-0.001) on every seed: paired, b is
    # clearly higher (an unpaired comparison of these spreads could not tell), whichever of the
    # two is the reference
    curves = two_methods_frame(0.01, noise=0.5, first=first)
    jitter = curves["method"].eq("b") * curves["seed"].map({0: 0.001, 1: -0.001, 2: 0, 3: 0})
    curves["swd"] += jitter
    text = tables(curves, EPOCHS)[1]
    pattern = (r"SWD at epoch 1: a is lower than b by 0\.0100 \[0\.0087, 0\.0113\] \(paired t, "
               r"4 seeds, Holm-adjusted p = 0\.00\d+\)")
    assert re.search(pattern, text), text
    summary = tables(curves, EPOCHS)[0].set_index("method")
    other = "b" if first == "a" else "a"
    assert summary.loc[other, "vs_ref_diff"] == pytest.approx(0.01 if other == "b" else -0.01)
    assert summary.loc[other, "reference_method"] == first
    assert f"'- {first}': the paired difference to {first}" in text


def test_summary_says_no_difference_detected_when_the_test_cannot_tell():
    curves = two_methods_frame(0.0, noise=0.5)
    curves.loc[(curves["method"] == "b") & (curves["seed"] == 0), "swd"] += 0.2
    curves.loc[(curves["method"] == "b") & (curves["seed"] == 1), "swd"] -= 0.2
    text = tables(curves, EPOCHS)[1]
    assert "SWD at epoch 1: no difference detected at family-wise 5% between b and a" in text


def test_moca_is_the_reference_when_present_and_baseline_replaces_it():
    curves = two_methods_frame(0.01).replace({"method": {"b": "moca"}})
    summary = tables(curves, EPOCHS)[0].set_index("method")
    assert summary.loc["a", "reference_method"] == "moca"
    assert summary.loc["a", "vs_ref_diff"] == pytest.approx(-0.01)
    summary = tables(curves, EPOCHS, baseline="a")[0].set_index("method")
    assert summary.loc["moca", "reference_method"] == "a"
    assert summary.loc["moca", "vs_ref_diff"] == pytest.approx(0.01)


def test_a_groups_label_is_the_same_however_its_file_spelled_the_number():
    # pandas reads lam 10000000 as an integer, or as 1e7 when another row says 1e+08
    keys = ["method", "lam"]
    assert group_label(keys, ("swd", 10000000)) == "swd lam=1e+07"
    assert group_label(keys, ("swd", 1e7)) == "swd lam=1e+07"
    assert group_label(keys, ("moca", 100.0)) == group_label(keys, ("moca", 100)) == "moca lam=100"
    assert group_label(["method", "symmetric"], ("moca", True)) == "moca symmetric=True"
