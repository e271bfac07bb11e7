import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wae_bench.settling import settling, settling_lines


def curves(method: str, last_values, earlier_shift: float, epochs=(0, 5, 10, 15, 20)):
    """Seeds 0..n-1 of one method: value at the last epoch as given, ``earlier_shift`` more
    at every earlier evaluation."""
    rows = []
    for seed, final in enumerate(last_values):
        for epoch in epochs:
            value = final if epoch == epochs[-1] else final + earlier_shift
            rows.append({"method": method, "seed": seed, "epoch": epoch, "swd": value})
    return pd.DataFrame(rows)


def as_summary(table: pd.DataFrame) -> pd.DataFrame:
    """``settling``'s table in summary.csv's shape: the method column and settling_* ones."""
    return table.rename(columns={"group": "method"}).rename(
        columns=lambda c: c if c == "method" else f"settling_{c}")


FINAL = np.array([10.0, 12.0, 11.0, 9.0, 13.0])  # mean 11, sample std sqrt(2.5)
HALF = stats.t.ppf(0.975, 4) * np.sqrt(2.5) / np.sqrt(5)  # about 1.96


def test_a_change_inside_the_seed_interval_is_settled_and_one_outside_is_not():
    frame = pd.concat([curves("flat", FINAL, 1.5), curves("moving", FINAL, 2.5)])
    table = settling(frame, ["method"], "swd").set_index("group")
    assert table.loc["flat", "half_width"] == pytest.approx(HALF, rel=1e-12)
    assert table.loc["flat", "change"] == pytest.approx(-1.5, rel=1e-12)
    assert table.loc["flat", "settled"] and not table.loc["moving", "settled"]
    lines = settling_lines(as_summary(table.reset_index()), ["method"], "SWD")
    assert "- moving: -2.5 from epoch 15 to 20, half-width 1.96: **still moving**" in lines


def test_the_span_starts_at_the_last_evaluation_at_or_before_four_fifths_of_the_run():
    frame = curves("m", FINAL, 0.0, epochs=(0, 10, 20, 30))  # 0.8 x 30 = 24: from epoch 20
    assert settling(frame, ["method"], "swd")["from_epoch"].item() == 20
    frame = curves("m", FINAL, 0.0, epochs=(0, 4, 8, 12, 16, 20))  # 16 = 0.8 x 20 itself
    assert settling(frame, ["method"], "swd")["from_epoch"].item() == 16


def test_one_seed_has_no_interval_and_is_never_called_settled():
    table = settling(curves("m", [10.0], 0.0), ["method"], "swd")
    assert np.isnan(table["half_width"].item()) and not table["settled"].item()
    lines = settling_lines(as_summary(table), ["method"], "SWD")
    assert lines[-1].endswith(": one seed, no interval")
