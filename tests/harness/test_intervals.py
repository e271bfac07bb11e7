"""Intervals over seeds and verdicts (issue 15, point 5): closed forms, a plain resampling loop,
pairing, degenerate inputs and the sentences."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from wae_bench import intervals
from wae_bench.errors import UsageError

from tests.helpers.imports import heavy_modules_loaded

LEVEL = intervals.LEVEL
Q = (1 - LEVEL) / 2  # the percentile interval's lower quantile


def test_importing_intervals_loads_neither_scipy_nor_torch():
    # scipy comes with the first interval; torch is not needed at all
    loaded = heavy_modules_loaded("""
        import wae_bench.intervals
        assert "torch" not in sys.modules, "wae_bench.intervals loaded torch"
    """)
    assert loaded == []


def test_interval_of_many_normal_values_is_mean_plus_minus_1_96_sigma_over_root_n():
    n, mu, sigma = 200, 5.0, 2.0
    z = np.random.default_rng(1).normal(size=n)
    values = mu + sigma * (z - z.mean()) / z.std()  # mean mu and (ddof 0) std sigma exactly
    mean, low, high = intervals.mean_interval(values, seed=0)
    # The bootstrap distribution of the mean has variance sigma^2 / n exactly (plug-in std);
    # its quantiles are mu -+ z sd up to (Cornish-Fisher) the sample's skewness g and excess
    # kurtosis k: (z^2 - 1) g / (6 sqrt n) + (z^3 - 3 z) k / (24 n), in units of sd.
    sd, zq = sigma / math.sqrt(n), stats.norm.ppf(1 - Q)
    g, k = stats.skew(values), stats.kurtosis(values)
    shape = abs((zq**2 - 1) * g / (6 * math.sqrt(n))) + abs((zq**3 - 3 * zq) * k / (24 * n))
    # Monte-Carlo error of a q-quantile from B resamples: sqrt(q (1 - q) / B) / density(z_q)
    mc = math.sqrt(Q * (1 - Q) / intervals.RESAMPLES) / stats.norm.pdf(zq)
    tolerance = (4 * mc + shape) * sd
    assert mean == pytest.approx(mu, abs=1e-12)
    assert low == pytest.approx(mu - zq * sd, abs=tolerance)
    assert high == pytest.approx(mu + zq * sd, abs=tolerance)


def test_probability_of_improvement_of_two_normals_is_phi_of_d_over_root_2():
    n, d = 1000, 0.5
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.0, 1.0, n), rng.normal(d, 1.0, n)
    theta = stats.norm.cdf(d / math.sqrt(2))
    # Variance of the U statistic (n values each): [theta (1 - theta) + 2 (n - 1)(q - theta^2)]
    # / n^2, q = P(X < Y, X < Y') = P(X < Y, X' < Y) = Phi2(d/sqrt2, d/sqrt2; rho = 1/2).
    q = stats.multivariate_normal(mean=[0, 0], cov=[[1, 0.5], [0.5, 1]]).cdf([d / math.sqrt(2)] * 2)
    se = math.sqrt((theta * (1 - theta) + 2 * (n - 1) * (q - theta**2)) / n**2)
    assert intervals.probability_of_improvement(x, y) == pytest.approx(theta, abs=4 * se)


def test_probability_of_improvement_is_the_mann_whitney_statistic_with_ties_as_half():
    x = np.array([1.0, 2.0, 2.0, 5.0, 0.5])
    y = np.array([2.0, 3.0, 1.0, 2.0, 4.0])
    pairs = sum(1.0 if a < b else 0.5 if a == b else 0.0 for a in x for b in y)
    u_y = stats.mannwhitneyu(y, x).statistic  # pairs with y > x, ties 1/2
    assert intervals.probability_of_improvement(x, y) == pytest.approx(pairs / 25, abs=1e-15)
    assert intervals.probability_of_improvement(x, y) == pytest.approx(u_y / 25, abs=1e-15)


def _assert_is_quantile(value: float, loop: np.ndarray, q: float) -> None:
    """``value`` is the q-quantile of the distribution the loop's draws sample, within the
    Monte-Carlo error of both: the share of draws below it is q and the share at or below it
    is q (atoms of a discrete bootstrap distribution allowed), each +- 4 standard errors of
    a quantile from RESAMPLES draws and of a share from len(loop) draws."""
    tolerance = 4 * math.sqrt(q * (1 - q) * (1 / intervals.RESAMPLES + 1 / loop.size))
    assert np.mean(loop < value) <= q + tolerance
    assert np.mean(loop <= value) >= q - tolerance


def _loop(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """Seed indices of ``draws`` resamples with replacement, one resample a row."""
    return rng.integers(0, n, size=(draws, n))


def test_mean_interval_is_the_percentile_interval_of_a_plain_resampling_loop():
    values = np.random.default_rng(3).exponential(size=30)  # skewed: BCa would move it
    _, low, high = intervals.mean_interval(values, seed=0)
    loop = values[_loop(np.random.default_rng(99), values.size, 100_000)].mean(axis=1)
    _assert_is_quantile(low, loop, Q)
    _assert_is_quantile(high, loop, 1 - Q)


def test_paired_difference_and_probability_follow_a_plain_loop_over_seed_pairs():
    rng = np.random.default_rng(4)
    x = rng.exponential(size=8)
    y = x + rng.normal(0.3, 0.5, size=8)
    resampled = _loop(np.random.default_rng(98), x.size, 40_000)
    xs, ys = x[resampled], y[resampled]
    differences = (xs - ys).mean(axis=1)
    pairs = xs[:, :, None] - ys[:, None, :]  # every pair of seeds of every resample
    chances = ((pairs < 0).sum(axis=(1, 2)) + 0.5 * (pairs == 0).sum(axis=(1, 2))) / 64
    diff, low, high = intervals.paired_difference(x, y, seed=0)
    assert diff == pytest.approx(np.mean(x - y), abs=1e-15)
    _assert_is_quantile(low, differences, Q)
    _assert_is_quantile(high, differences, 1 - Q)
    p, p_low, p_high = intervals.probability_of_improvement_interval(x, y, seed=0)
    assert p == intervals.probability_of_improvement(x, y)
    _assert_is_quantile(p_low, chances, Q)
    _assert_is_quantile(p_high, chances, 1 - Q)


def test_a_shared_seed_effect_makes_the_paired_interval_narrower():
    rng = np.random.default_rng(5)
    seed_effect = rng.normal(0.0, 1.0, size=5)  # the same data and weights for both methods
    x = seed_effect + rng.normal(0.0, 0.02, size=5)
    y = seed_effect + 0.1 + rng.normal(0.0, 0.02, size=5)
    _, low, high = intervals.paired_difference(x, y, seed=0)
    unpaired = (x[_loop(np.random.default_rng(97), 5, 20_000)].mean(axis=1)
                - y[_loop(np.random.default_rng(96), 5, 20_000)].mean(axis=1))  # fmt: skip
    u_low, u_high = np.quantile(unpaired, [Q, 1 - Q])
    # widths scale with the std of x - y (noise, 0.02 sqrt 2) against sqrt 2 (seed effect)
    assert high - low < 0.2 * (u_high - u_low)
    assert high < 0 < u_high and u_low < 0  # paired: a clear difference; unpaired: not
    assert "x is lower than y by" in intervals.verdict("x", "y", x, y, seed=0)


def test_same_seed_same_numbers_other_seed_other_resamples():
    values = np.random.default_rng(6).normal(size=30)
    first = intervals.mean_interval(values, seed=11)
    assert intervals.mean_interval(values, seed=11) == first
    assert intervals.mean_interval(values, seed=12) != first
    x, y = values[:15], values[15:]
    assert (intervals.probability_of_improvement_interval(x, y, seed=3)
            == intervals.probability_of_improvement_interval(x, y, seed=3))  # fmt: skip
    assert intervals.paired_difference(x, y, seed=3) == intervals.paired_difference(x, y, seed=3)


def test_constant_values_give_a_zero_width_interval_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, low, high = intervals.mean_interval([0.25, 0.25, 0.25], seed=0)
        assert mean == low == high == 0.25
        assert intervals.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], seed=0) == (0, 0, 0)
        same = intervals.probability_of_improvement_interval([2.0] * 3, [2.0] * 3, seed=0)
        assert same == (0.5, 0.5, 0.5)
        sentence = intervals.verdict("a", "b", [1.0] * 3, [1.0] * 3, seed=0)
    assert sentence == "no clear difference between a and b (a - b = 0 [0, 0], P = 0.50)"


def test_one_seed_gives_the_value_and_no_interval():
    mean, low, high = intervals.mean_interval([0.3], seed=0)
    assert mean == 0.3 and math.isnan(low) and math.isnan(high)
    p, p_low, p_high = intervals.probability_of_improvement_interval([1.0], [2.0], seed=0)
    assert p == 1.0 and math.isnan(p_low) and math.isnan(p_high)
    assert intervals.verdict("a", "b", [1.0], [2.0], seed=0, where="at epoch 5") == (
        "at epoch 5: one seed, no interval (a - b = -1.000, P = 1.00)"
    )


def test_a_diverged_seed_is_left_out_with_its_pair():
    nan, inf = math.nan, math.inf
    assert intervals.mean_interval([1.0, nan, 3.0, inf], seed=0) == (
        intervals.mean_interval([1.0, 3.0], seed=0)
    )
    x, y = [1.0, nan, 3.0, 4.0, 2.0], [2.0, 2.0, 5.0, nan, 2.5]
    kept_x, kept_y = [1.0, 3.0, 2.0], [2.0, 5.0, 2.5]
    assert intervals.paired_difference(x, y, seed=0) == (
        intervals.paired_difference(kept_x, kept_y, seed=0)
    )
    assert intervals.probability_of_improvement_interval(x, y, seed=0) == (
        intervals.probability_of_improvement_interval(kept_x, kept_y, seed=0)
    )
    assert intervals.verdict("a", "b", x, y, seed=0).endswith("(on 3 of 5 seeds)")
    assert math.isnan(intervals.mean_interval([nan, nan], seed=0)[0])
    assert intervals.verdict("a", "b", [nan] * 3, [1.0] * 3, seed=0) == (
        "no seed where both a and b have a value"
    )


def test_paired_inputs_of_different_lengths_and_levels_outside_0_1_are_refused():
    with pytest.raises(ValueError, match="got 3 and 2; align them by seed and mark a missing"):
        intervals.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0], seed=0)
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1, got 95"):
        intervals.mean_interval([1.0, 2.0], seed=0, level=95)


# With 3 seeds the percentile interval of a mean is [min, max] of the 3 values: a resample of
# one value three times has probability 1/27, about 370 of 9999 resamples (sd 19), more than
# the 2.5% = 250 below the lower quantile; likewise at the top.
X = np.array([0.0100, 0.0110, 0.0095])


def test_verdict_for_a_clear_difference():
    y = X + np.array([0.0040, 0.0046, 0.0052])
    sentence = intervals.verdict("moca", "mmd", X, y, seed=0, where="at epoch 5")
    assert sentence == "at epoch 5: moca is lower than mmd by 0.0046 [0.0040, 0.0052], P = 1.00"
    other_way = intervals.verdict("mmd", "moca", y, X, seed=0, metric_label="swd")
    assert other_way == "swd: mmd is higher than moca by 0.0046 [0.0040, 0.0052], P = 0.00"


def test_verdict_when_the_interval_holds_zero():
    y = X + np.array([-0.0004, 0.0001, 0.0006])  # 0.0096, 0.0111, 0.0101
    # moca below mmd in 2 + 1 + 3 of the 9 pairs: P = 6 / 9
    sentence = intervals.verdict("moca", "mmd", X, y, seed=0, metric_label="swd",
                                 where="at epoch 5")  # fmt: skip
    assert sentence == ("swd at epoch 5: no clear difference between moca and mmd "
                        "(moca - mmd = -0.0001 [-0.0006, 0.0004], P = 0.67)")  # fmt: skip


@pytest.mark.parametrize(
    ("mean", "low", "high", "text"),
    [(0.0046, 0.0040, 0.0052, "0.0046 [0.0040, 0.0052]"),
     (906.3, 860.2, 950.1, "906 [860, 950]"),
     (-0.0001, -0.0006, 0.0004, "-0.0001 [-0.0006, 0.0004]"),
     (0.1, 0.1, 0.1, "0.1000 [0.1000, 0.1000]"),
     (0.0001, -0.0006 + 1e-18, 0.0009999, "0.0001 [-0.0006, 0.0010]"),  # width 0.0009999
     (1000.0, 1000.0 - 1e-9, 1000.0 + 1e-9, "1000.00 [1000.00, 1000.00]"),
     (-1e-19, -0.0003, 0.0003, "0.00000 [-0.00030, 0.00030]"),  # no '-0.00000'
     (0.0046, math.nan, math.nan, "0.004600"),
     (math.nan, math.nan, math.nan, "-")],
)  # fmt: skip
def test_format_interval_gives_the_width_two_significant_digits(mean, low, high, text):
    assert intervals.format_interval(mean, low, high) == text


def test_compare_to_best_measures_every_method_against_the_lowest_mean():
    table = {"mmd": X + [0.0040, 0.0046, 0.0052], "moca": X, "gan": [math.nan] * 3,
             "swd": X + [-0.0004, 0.0001, 0.0006]}  # fmt: skip
    rows, verdicts = intervals.compare_to_best(table, seed=0, where="at epoch 5")
    assert [r["method"] for r in rows] == list(table)
    assert {r["reference"] for r in rows} == {"moca"}
    mmd, moca, gan, swd = rows
    assert math.isnan(moca["diff"]) and moca["mean"] == pytest.approx(X.mean())
    difference = (mmd["diff"], mmd["diff_low"], mmd["diff_high"])
    assert difference == pytest.approx((0.0046, 0.0040, 0.0052))
    assert (mmd["p"], mmd["p_low"], mmd["p_high"]) == (0.0, 0.0, 0.0)  # P(mmd < moca)
    assert gan["seeds"] == 0 and gan["pairs"] == 0 and math.isnan(gan["mean"])
    assert swd["pairs"] == 3 and swd["diff_low"] < 0 < swd["diff_high"]
    assert verdicts == [
        "at epoch 5: moca is lower than mmd by 0.0046 [0.0040, 0.0052], P = 1.00",
        "at epoch 5: no seed where both moca and gan have a value",
        "at epoch 5: no clear difference between moca and swd "
        "(moca - swd = -0.0001 [-0.0006, 0.0004], P = 0.67)",
    ]


def test_compare_to_a_baseline_names_the_lower_mean_first():
    table = {"moca": X, "mmd": X + [0.0040, 0.0046, 0.0052]}
    rows, verdicts = intervals.compare_to_best(table, seed=0, baseline="mmd")
    assert rows[0]["reference"] == "mmd" and rows[0]["diff"] == pytest.approx(-0.0046)
    assert rows[0]["p"] == 1.0  # P(moca < mmd)
    assert verdicts == ["moca is lower than mmd by 0.0046 [0.0040, 0.0052], P = 1.00"]
    with pytest.raises(UsageError, match="--baseline gan is not among the compared methods"):
        intervals.compare_to_best(table, seed=0, baseline="gan")
