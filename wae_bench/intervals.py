"""Intervals over seeds, paired tests against a declared reference, and the verdicts the
summaries end with (lower is better).

A seed fixes the data, the initial weights and the batches of every method alike, so method
X's value on seed i and method Y's on seed i form a pair. Over the n seeds:

    mean interval        Student's t: m +- t_{n-1, 1-a/2} s / sqrt(n), m and s the mean and
                         standard deviation of the values, a = 1 - level
    paired difference    d_i = x_i - y_i: mean(d), its t interval as above, and the two-sided
                         p of the paired t test, p = 2 T_{n-1}(-|mean(d)| sqrt(n) / s_d)
    a family             every verdict of one summary; Holm's step-down adjustment of their p
                         keeps the chance of any false "is lower" in the summary at most a
                         (p_(1) <= ... <= p_(m): adj_(k) = max_{j <= k} min(1, (m - j + 1) p_(j)))

The t interval is exact for normally distributed seed values at any n (a percentile bootstrap
of 3 values spans their min to max and covers about 74%; rank and sign-flip tests cannot
reject at 3 seeds: their smallest two-sided p is 0.25). The tests of this module simulate the
coverage and the family-wise error. The reference is declared before the data are seen (the
summary's ``--baseline`` or the paper's method): picking the lowest mean as the reference would
inflate the error.

A value that is NaN or infinite (a diverged or missing seed) is left out; in a comparison its
seed is left out for both methods, so the pairs stay pairs. Paired inputs hold one value per
seed, in the same seed order (align by seed, NaN for a missing one).

Student's t distribution comes from ``scipy.special`` (stdtr, stdtrit), which loads in a
fraction of the time of ``scipy.stats`` (every run writes a summary); the tests check these
numbers against ``scipy.stats.ttest_1samp`` and ``ttest_rel``.
"""

import math

import numpy as np

LEVEL = 0.95
ALPHA = round(1 - LEVEL, 12)  # 1 - 0.95 is 0.050000000000000044 in floats
COMPARISON = ("pairs", "diff", "diff_low", "diff_high", "p", "p_adj")


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def finite_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    """x and y at the seeds where both are finite; they must hold one value per seed."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(
            f"paired values need one value per seed for both methods, got {x.size} and "
            f"{y.size}; align them by seed and mark a missing seed NaN"
        )
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def _t_quantile(df: int, q: float) -> float:
    from scipy.special import stdtrit  # loads only when an interval is computed

    return float(stdtrit(df, q))


def _t_test(values: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """(mean, low, high, two-sided p of mean = 0) of at least two finite values. Constant
    values give a zero-width interval and p = 1 (mean 0) or 0 (any other mean)."""
    from scipy.special import stdtr

    n, mean = values.size, float(np.mean(values))
    se = float(np.std(values, ddof=1)) / math.sqrt(n)
    if se == 0:
        return mean, mean, mean, 1.0 if mean == 0 else 0.0
    half = _t_quantile(n - 1, 0.5 + level / 2) * se
    p = float(2 * stdtr(n - 1, -abs(mean) / se))
    return mean, mean - half, mean + half, p


def mean_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean over the finite values and its Student t interval;
    (mean, nan, nan) for one value, (nan, nan, nan) for none."""
    _check_level(level)
    values = _finite(values)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    if values.size == 1:
        return float(values[0]), math.nan, math.nan
    return _t_test(values, level)[:3]


def paired_test(x, y, level: float = LEVEL) -> dict:
    """The paired t test of x against y over the seeds where both are finite: pairs,
    diff = mean(x_i - y_i), its interval diff_low, diff_high, and the two-sided p (NaN with
    fewer than two pairs; no interval and no p then)."""
    _check_level(level)
    x, y = finite_pairs(x, y)
    row = {"pairs": int(x.size), "diff": math.nan, "diff_low": math.nan,
           "diff_high": math.nan, "p": math.nan}  # fmt: skip
    if x.size == 1:
        row["diff"] = float(x[0] - y[0])
    elif x.size > 1:
        row["diff"], row["diff_low"], row["diff_high"], row["p"] = _t_test(x - y, level)
    return row


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p of a family; a NaN p (no test) stays NaN and does not
    count in the family's size.

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float).ravel()
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return adjusted


def detectable_ratio(seeds: int, comparisons: int, level: float = LEVEL) -> float:
    """The smallest |mean difference| / (its seed-to-seed standard deviation) that the first
    step of Holm's procedure can declare with ``seeds`` pairs in a family of ``comparisons``:
    t_{n-1, 1 - a / (2 m)} / sqrt(n); infinite below two seeds."""
    _check_level(level)
    if seeds < 2 or comparisons < 1:
        return math.inf
    return _t_quantile(seeds - 1, 1 - (1 - level) / (2 * comparisons)) / math.sqrt(seeds)


def half_widths(std, count, level: float = LEVEL) -> np.ndarray:
    """Half-widths t_{n-1, (1 + level) / 2} s / sqrt(n) of the mean intervals of groups with
    standard deviations ``std`` over ``count`` values each: the band of a curve over seeds;
    NaN for a group of fewer than two values (no interval)."""
    sizes, which = np.unique(np.asarray(count, dtype=int), return_inverse=True)
    factors = np.array([detectable_ratio(int(n), 1, level) for n in sizes], dtype=float)
    half = factors[which] * np.asarray(std, dtype=float)  # one t quantile per group size
    return np.where(np.isfinite(half), half, np.nan)


def _decimals(magnitude: float, significant: int) -> int:
    """Decimals that show ``magnitude`` with ``significant`` significant digits (0 for 0).
    The exponent is read after rounding, so 0.00099999 counts as 0.0010."""
    if magnitude == 0:
        return 0
    exponent = int(f"{magnitude:.{significant - 1}e}".split("e")[1])
    return max(0, significant - 1 - exponent)


def _fixed(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals; a value that rounds to zero prints without '-'."""
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def format_interval(mean: float, low: float, high: float) -> str:
    """'m [l, h]', all with the decimals that give the interval's width 2 significant digits
    (at most 6 for the largest value, 4 for a zero width); just 'm' (4 significant digits)
    without an interval, '-' without a mean, as ``table_text.mean_std`` does."""
    if not math.isfinite(mean):
        return "-"
    width = high - low
    largest = max(abs(v) for v in (mean, low, high) if math.isfinite(v))
    if not math.isfinite(width):
        return _fixed(mean, _decimals(largest, 4))
    if width > 0:
        decimals = min(_decimals(width, 2), _decimals(largest, 6))
    else:
        decimals = _decimals(largest, 4)
    return f"{_fixed(mean, decimals)} [{_fixed(low, decimals)}, {_fixed(high, decimals)}]"


def format_p(p: float, alpha: float = ALPHA) -> str:
    """'p = 0.046' (two significant digits, more where two would round across ``alpha`` and
    so contradict the verdict), 'p < 0.0001' below that, 'p: -' for none.

    >>> format_p(0.04567), format_p(1.0), format_p(3e-7), format_p(0.0496)
    ('p = 0.046', 'p = 1', 'p < 0.0001', 'p = 0.0496')
    """
    if not math.isfinite(p):
        return "p: -"
    if p < 1e-4:
        return "p < 0.0001"
    digits = 2
    while (float(f"{p:.{digits}g}") < alpha) != (p < alpha) and digits < 6:
        digits += 1
    return f"p = {p:.{digits}g}"


def is_clear(row: dict, level: float = LEVEL) -> bool:
    """Whether a compared row's adjusted p rejects "no difference" at 1 - level."""
    p = row.get("p_adj", math.nan)
    return math.isfinite(p) and p < _alpha(level)


def _alpha(level: float) -> float:
    """1 - level without the float residue (1 - 0.95 is 0.050000000000000044)."""
    return round(1 - level, 12)


def verdict(name: str, reference: str, row: dict, *, head: str = "", seeds: int | None = None,
            level: float = LEVEL) -> str:  # fmt: skip
    """One sentence on ``name`` against ``reference`` from a compared row (``paired_test``
    plus p_adj, diff = name - reference), e.g. 'SWD at epoch 5: moca is lower than mmd by
    0.0046 [0.0040, 0.0052] (paired t, 10 seeds, Holm-adjusted p = 0.0003)', or 'SWD at epoch
    5: no difference detected at family-wise 5% between moca and mmd (moca - mmd = 0.0001
    [-0.0003, 0.0005]; paired t, 10 seeds, Holm-adjusted p = 0.56)'. The lower mean is named
    first. ``seeds``: how many seeds the comparison had in all (a shortfall is said)."""
    head = f"{head}: " if head else ""
    pairs = int(row["pairs"]) if math.isfinite(row["pairs"]) else 0
    if pairs == 0:
        return f"{head}no seed where both {name} and {reference} have a value"
    used = f"{pairs} seeds" if seeds in (None, pairs) else f"{pairs} of {seeds} seeds"
    stated = (f"{name} - {reference} = "
              f"{format_interval(row['diff'], row['diff_low'], row['diff_high'])}")  # fmt: skip
    if pairs == 1:
        return f"{head}one seed, no test ({stated})"
    test = f"paired t, {used}, Holm-adjusted {format_p(row['p_adj'], _alpha(level))}"
    if not is_clear(row, level):
        return (f"{head}no difference detected at family-wise {_alpha(level):.0%} between "
                f"{name} and {reference} ({stated}, {level:.0%} unadjusted; {test})")
    if row["diff"] < 0:
        first, second, by = name, reference, (-row["diff"], -row["diff_high"], -row["diff_low"])
    else:
        first, second, by = reference, name, (row["diff"], row["diff_low"], row["diff_high"])
    return f"{head}{first} is lower than {second} by {format_interval(*by)} ({test})"


def legend(seeds: int, comparisons: int, level: float = LEVEL) -> str:
    """The sentences a summary prints above its intervals and verdicts: what they are, and
    what a family of ``comparisons`` verdicts over ``seeds`` seeds can detect."""
    text = (
        f"Intervals: {level:.0%} Student t intervals over seeds, each for its own comparison "
        "(not simultaneous); differences are paired by seed. A verdict is a paired t test "
        "against the reference declared before the data (--baseline, else the paper's "
        "method), Holm-adjusted over the summary's "
        f"{comparisons} comparison{'s' * (comparisons != 1)}, so that the chance of any false "
        f"'is lower' in it is at most {1 - level:g} for normal seed values."
    )
    strictest = detectable_ratio(seeds, comparisons, level)
    if comparisons == 0:
        text += " Nothing is compared here."
    elif math.isfinite(strictest):
        loosest = detectable_ratio(seeds, 1, level)
        span = f"{strictest:.1f}" if comparisons == 1 else f"{loosest:.1f} to {strictest:.1f}"
        text += (f" With {seeds} seeds a difference is detected only when its mean exceeds "
                 f"{span} times its seed-to-seed standard deviation"
                 + ("" if comparisons == 1 else " (Holm's last to first step)") + ".")
    else:
        text += " With fewer than 2 seeds nothing can be detected."
    return text
