"""Intervals, paired tests and verdicts: scipy.stats as the independent computation, Holm
against closed testing, simulated coverage and family-wise error, degenerate inputs and the
sentences.

The simulations use a fixed seed and R repetitions; a rate r has Monte-Carlo standard error
sqrt(r (1 - r) / R), so R = 20000 resolves 95% coverage to 0.15% (3 standard errors: 0.46%)
and a 5% error rate to 0.15%, well within the 1% the statistics must resolve.
"""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wae_bench import intervals, summary

from tests.helpers.imports import heavy_modules_loaded

LEVEL = intervals.LEVEL
ALPHA = 1 - LEVEL
REPEATS = 20_000


def _within_monte_carlo(rate: float, expected: float, repeats: int = REPEATS) -> bool:
    return abs(rate - expected) <= 3 * math.sqrt(expected * (1 - expected) / repeats)


def test_importing_intervals_loads_neither_scipy_nor_torch():
    # scipy.special comes with the first interval; torch is not needed at all
    loaded = heavy_modules_loaded("""
        import wae_bench.intervals
        assert "torch" not in sys.modules, "wae_bench.intervals loaded torch"
    """)
    assert loaded == []


def test_computing_intervals_does_not_load_scipy_stats():
    loaded = heavy_modules_loaded("""
        import wae_bench.intervals as i
        i.paired_test([1.0, 2.0, 3.5], [1.5, 2.0, 4.0]); i.mean_interval([1.0, 2.0])
        assert "scipy.stats" not in sys.modules, "intervals loaded scipy.stats"
    """)
    assert loaded == ["scipy"]  # scipy.special only


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_mean_interval_is_scipys_one_sample_t_interval(n):
    values = np.random.default_rng(n).normal(3.0, 2.0, n)
    mean, low, high = intervals.mean_interval(values)
    expected = stats.ttest_1samp(values, 0.0).confidence_interval(LEVEL)
    assert mean == pytest.approx(values.mean(), rel=1e-12)
    assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-9)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_paired_test_is_scipys_paired_t_test(n):
    rng = np.random.default_rng(100 + n)
    x, y = rng.normal(0, 1, n), rng.normal(0.5, 1, n)
    row = intervals.paired_test(x, y)
    expected = stats.ttest_rel(x, y)
    interval = expected.confidence_interval(LEVEL)
    assert row["pairs"] == n
    assert row["diff"] == pytest.approx(np.mean(x - y), rel=1e-12)
    assert (row["diff_low"], row["diff_high"]) == pytest.approx((interval.low, interval.high),
                                                                rel=1e-9)  # fmt: skip
    assert row["p"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_other_levels_follow_scipy_too():
    values = np.array([1.0, 2.5, 2.0, 4.0])
    for level in (0.5, 0.9, 0.99):
        _, low, high = intervals.mean_interval(values, level)
        expected = stats.ttest_1samp(values, 0.0).confidence_interval(level)
        assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-9)


def test_holm_equals_closed_testing_with_bonferroni_local_tests():
    # closed testing: H_i is rejected at level a iff every intersection S containing i is,
    # by Bonferroni (|S| min_{j in S} p_j <= a); the adjusted p is the largest such value
    rng = np.random.default_rng(7)
    for m in (1, 2, 3, 5, 6):
        for _ in range(20):
            p = rng.uniform(0, 0.2, m) ** rng.uniform(0.5, 3)
            brute = [max(min(1.0, len(s) * min(p[j] for j in s))
                         for k in range(1, m + 1) for s in itertools.combinations(range(m), k)
                         if i in s) for i in range(m)]  # fmt: skip
            assert intervals.holm(p) == pytest.approx(brute, rel=1e-12)


def test_holm_leaves_a_missing_test_out_of_the_family():
    adjusted = intervals.holm([0.01, math.nan, 0.02])
    assert math.isnan(adjusted[1])
    assert adjusted[[0, 2]] == pytest.approx([0.02, 0.02])


def test_detectable_ratio_is_the_threshold_of_the_first_holm_step():
    for seeds, comparisons in ((3, 32), (5, 32), (10, 32), (3, 1)):
        ratio = intervals.detectable_ratio(seeds, comparisons)
        base = np.linspace(-1, 1, seeds)
        base = base / base.std(ddof=1)  # mean 0, standard deviation 1
        for factor, rejects in ((1.01, True), (0.99, False)):
            p = intervals.paired_test(base + factor * ratio, np.zeros(seeds))["p"]
            assert (p * comparisons < ALPHA) == rejects
    # the figures: about 15, 4 and 2 times the spread for 32 comparisons
    assert intervals.detectable_ratio(3, 32) == pytest.approx(14.6, abs=0.1)
    assert intervals.detectable_ratio(10, 32) == pytest.approx(1.41, abs=0.01)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_mean_interval_covers_normal_means_at_its_level(n):
    rng = np.random.default_rng(n)
    covered = sum(low <= 0.0 <= high for _, low, high in
                  (intervals.mean_interval(rng.normal(0.0, 1.0, n)) for _ in range(REPEATS)))
    assert _within_monte_carlo(covered / REPEATS, LEVEL), covered / REPEATS


@pytest.mark.parametrize("n", [3, 5, 10])
def test_paired_difference_covers_the_true_difference_at_its_level(n):
    rng = np.random.default_rng(50 + n)
    covered = 0
    for _ in range(REPEATS):
        seed_effect = rng.normal(0, 5, n)  # shared by both methods on a seed
        x, y = seed_effect + rng.normal(1.0, 1, n), seed_effect + rng.normal(0.0, 1, n)
        row = intervals.paired_test(x, y)
        covered += row["diff_low"] <= 1.0 <= row["diff_high"]
    assert _within_monte_carlo(covered / REPEATS, LEVEL), covered / REPEATS


def test_skewed_values_undercover():
    # the t interval assumes normal seed values; for lognormal ones (sigma 1) it covers about
    # 84% at 3 to 10 seeds (docs/tuning.md quotes these rates)
    rng = np.random.default_rng(11)
    true_mean = math.exp(0.5)
    for n in (3, 10):
        hits = sum(low <= true_mean <= high for _, low, high in
                   (intervals.mean_interval(rng.lognormal(0, 1, n)) for _ in range(REPEATS)))
        print(f"lognormal(0, 1), {n} seeds: the 95% t interval covers {hits / REPEATS:.3f}")
        assert hits / REPEATS < LEVEL - 0.05


@pytest.mark.parametrize(("seeds", "methods", "epochs"), [(3, 2, 4), (3, 9, 4), (5, 9, 4)])
def test_tables_of_identical_methods_say_is_lower_at_most_at_the_level(seeds, methods, epochs):
    # the family of one summary: every method against the reference at every epoch, Holm;
    # a table with any "is lower" among identical methods is a false finding
    rng = np.random.default_rng(seeds * 100 + methods)
    repeats = REPEATS // 4
    false_tables = 0
    for _ in range(repeats):
        seed_effect = rng.normal(0, 3, (1, epochs, seeds))
        values = seed_effect + rng.normal(0, 1, (methods, epochs, seeds))
        p = [intervals.paired_test(values[m, e], values[0, e])["p"]
             for e in range(epochs) for m in range(1, methods)]  # fmt: skip
        false_tables += bool(np.any(intervals.holm(p) < ALPHA))
    rate = false_tables / repeats
    assert rate <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / repeats), rate


def _frame(values: np.ndarray, methods: list[str]) -> pd.DataFrame:
    """A latent-style result frame: values[method, epoch, seed] at epochs 1..E."""
    rows = [{"method": name, "epoch": e + 1, "seed": s, "swd": values[m, e, s]}
            for m, name in enumerate(methods) for e in range(values.shape[1])
            for s in range(values.shape[2])]  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_judges_the_same_family_as_the_direct_computation():
    rng = np.random.default_rng(3)
    methods = ["mmd", "moca", "swd"]
    values = rng.normal(0, 1, (3, 4, 3))
    values[2] += 2.0  # swd clearly higher
    found = summary.compare_epochs(_frame(values, methods), ["method"], "swd", [1, 2, 3, 4],
                                   label="swd")  # fmt: skip
    p = [intervals.paired_test(values[m, e], values[1, e])["p"]
         for e in range(4) for m in (0, 2)]  # moca, the paper's method, is the reference
    rows = pd.concat([found[e][0] for e in found])
    assert rows["p_adj"].dropna().to_numpy() == pytest.approx(intervals.holm(p), rel=1e-12)
    assert set(rows["reference"].dropna()) == {"moca"}


def test_identical_methods_through_the_summary_rarely_read_as_a_finding():
    # the wiring of the summaries (reference, family, words), on fewer repetitions
    rng = np.random.default_rng(5)
    repeats, said = 400, 0
    for _ in range(repeats):
        values = rng.normal(0, 1, (2, 4, 3))
        found = summary.compare_epochs(_frame(values, ["moca", "mmd"]), ["method"], "swd",
                                       [1, 2, 3, 4], label="swd")  # fmt: skip
        said += any("is lower than" in v for _, verdicts in found.values() for v in verdicts)
    assert said / repeats <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / repeats)


def test_the_verdict_names_the_lower_method_first_whatever_the_reference():
    low, high = np.array([1.0, 1.1, 0.9]), np.array([2.0, 2.2, 1.9])
    for name, reference, x, y in (("a", "b", low, high), ("b", "a", high, low)):
        row = intervals.paired_test(x, y) | {"p_adj": 0.001}
        sentence = intervals.verdict(name, reference, row, head="swd at epoch 5")
        assert sentence.startswith("swd at epoch 5: a is lower than b by 1.03 [")
        assert sentence.endswith("(paired t, 3 seeds, Holm-adjusted p = 0.001)")


def test_the_verdict_says_no_difference_detected_when_the_adjusted_p_is_large():
    row = intervals.paired_test([1.0, 2.0, 3.0], [1.2, 1.9, 3.2]) | {"p_adj": 0.6}
    sentence = intervals.verdict("moca", "mmd", row, head="swd at epoch 5", seeds=4)
    assert sentence == ("swd at epoch 5: no difference detected at family-wise 5% between moca "
                        "and mmd (moca - mmd = -0.10 [-0.53, 0.33], 95% unadjusted; paired t, "
                        "3 of 4 seeds, Holm-adjusted p = 0.6)")  # fmt: skip


def test_an_adjusted_p_of_exactly_the_level_is_no_finding():
    # 1 - 0.95 is 0.050000000000000044 in floats: p = 0.05 must not count as below it
    assert not intervals.is_clear({"p_adj": 0.05})
    assert intervals.is_clear({"p_adj": 0.0499999})


def test_a_clear_raw_p_that_holm_raises_above_the_level_is_no_finding():
    row = intervals.paired_test([1.0, 1.1, 0.9], [2.0, 2.2, 1.9])
    assert row["p"] < ALPHA
    assert "no difference detected" in intervals.verdict("a", "b", row | {"p_adj": 0.07})


def test_constant_values_give_a_zero_width_interval_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert intervals.mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
        same = intervals.paired_test([1.0, 2.0], [1.0, 2.0])
        shifted = intervals.paired_test([2.0, 3.0], [1.0, 2.0])
    assert (same["diff"], same["p"]) == (0.0, 1.0)
    assert (shifted["diff"], shifted["diff_low"], shifted["diff_high"], shifted["p"]) == (
        1.0, 1.0, 1.0, 0.0)


def test_one_seed_gives_the_value_and_no_test():
    assert intervals.mean_interval([3.0])[0] == 3.0
    assert all(math.isnan(v) for v in intervals.mean_interval([3.0])[1:])
    row = intervals.paired_test([3.0], [1.0])
    assert row["diff"] == 2.0 and math.isnan(row["p"])
    assert intervals.verdict("a", "b", row | {"p_adj": math.nan}).startswith("one seed, no test")
    assert intervals.mean_interval([]) == pytest.approx((math.nan,) * 3, nan_ok=True)


def test_a_diverged_seed_is_left_out_with_its_pair():
    x, y = [1.0, math.nan, 3.0, 4.0], [1.5, 2.0, math.inf, 4.2]
    row = intervals.paired_test(x, y)
    expected = stats.ttest_rel([1.0, 4.0], [1.5, 4.2])
    assert row["pairs"] == 2
    assert row["p"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_paired_inputs_of_different_lengths_and_levels_outside_0_1_are_refused():
    with pytest.raises(ValueError, match="one value per seed"):
        intervals.paired_test([1.0, 2.0], [1.0])
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            intervals.mean_interval([1.0, 2.0], level)


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.04567, "p = 0.046"), (1.0, "p = 1"), (3e-7, "p < 0.0001"), (0.00012, "p = 0.00012"),
     (math.nan, "p: -"), (0.0496, "p = 0.0496"), (0.0504, "p = 0.05")],
)  # fmt: skip
def test_format_p_gives_two_significant_digits(p, text):
    assert intervals.format_p(p) == text


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


def test_the_legend_states_what_the_seeds_can_detect():
    text = intervals.legend(3, 32)
    assert "Holm-adjusted over the summary's 32 comparisons" in text
    assert "2.5 to 14.6 times its seed-to-seed standard deviation" in text
    assert "nothing can be detected" in intervals.legend(1, 4)
