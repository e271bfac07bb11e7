import math

import pandas as pd
import pytest

from wae_bench.tasks.latent import summarize, summary_markdown


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
    summary = summarize(curves_frame()).iloc[0]
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
    text = summary_markdown(summarize(curves), curves)
    assert (
        "| a | 1.6000 ± 0.5657 | 1.1000 ± 0.1414 | 2.0 (1/2 seeds) | 1.00 (1/2 seeds) | 0.500 |"
        in text
    )
    assert "Noise floor (two independent prior sets): 1.0000 ± 0.0000" in text
