"""Intervals over seeds and the verdicts the summaries end with (lower is better).

A seed fixes the data, the initial weights and the batches of every method alike, so method
X's value on seed i and method Y's on seed i form a pair. Over the n seeds:

    mean interval        percentile bootstrap of mean_i x_i
    paired difference    mean_i (x_i - y_i) and its percentile bootstrap, seeds resampled
                         together so each resample keeps x_i with y_i
    P(X < Y)             (1 / n^2) sum_i sum_j [x_i < y_j] + [x_i = y_j] / 2, the
                         Mann-Whitney statistic over all pairs of seeds: the chance that a seed
                         of X ends below a seed of Y (X "improves" on Y)

Bootstrap kind: percentile (``scipy.stats.bootstrap``, ``RESAMPLES`` resamples, seeded by a
numpy Generator, so one seed gives the same numbers). BCa corrects the percentile interval's
bias and skew at order 1/n, which needs more seeds than the suite has. Every resample mean
lies within the seeds' [min, max]; with 3 seeds the percentile interval is that range (each
extreme resample, one seed three times, has probability 1/27 > 2.5%), whose coverage of the
mean of a symmetric noise is 1 - 2 (1/2)^3 = 75%, and BCa's lies inside it. A simulation of
2000 normal samples (2000 resamples each) gave coverage percentile 75% / BCa 72% at n = 3
and 85% / 85% at n = 5 (a t interval: 95%). BCa's jackknife acceleration from 3 to 5 values
is noise, and BCa is undefined (NaN, a warning) for constant data. Percentile is defined for
every input, is what rliable reports, and a plain resampling loop reproduces it. The price,
stated in ``legend``: with 3 to 5 seeds a "95%" interval covers less than 95%, and a clear
verdict at 3 seeds means that every seed's difference has the same sign.

A value that is NaN or infinite (a diverged or missing seed) is left out; in a comparison its
seed is left out for both methods, so the pairs stay pairs. Paired inputs hold one value per
seed, in the same seed order (align by seed, NaN for a missing one).
"""

import math

import numpy as np

from .errors import UsageError

RESAMPLES = 9999
LEVEL = 0.95
COMPARISON = ("pairs", "diff", "diff_low", "diff_high", "p", "p_low", "p_high")


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def _finite_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
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


def _percentile_interval(data: tuple, statistic, seed: int, level: float) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic`` over the seeds (last axis) of
    ``data``; several arrays are resampled together (paired)."""
    from scipy.stats import bootstrap  # scipy loads only when an interval is computed

    result = bootstrap(data, statistic, n_resamples=RESAMPLES, method="percentile",
                       confidence_level=level, paired=len(data) > 1, vectorized=True,
                       axis=-1, rng=np.random.default_rng(seed))  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_interval(values, seed: int, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean over the finite values and its percentile bootstrap
    interval; (mean, nan, nan) for one value, (nan, nan, nan) for none."""
    _check_level(level)
    values = _finite(values)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(values))
    if values.size == 1:
        return mean, math.nan, math.nan
    return (mean, *_percentile_interval((values,), np.mean, seed, level))


def paired_difference(x, y, seed: int, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean of x_i - y_i, low, high) over the seeds where both are finite: the paired
    bootstrap, which resamples seeds with x_i and y_i together, is the bootstrap of the
    differences d_i = x_i - y_i."""
    x, y = _finite_pairs(x, y)
    return mean_interval(x - y, seed, level)


def _probability_below(x, y, axis: int = -1) -> np.ndarray:
    """P(X < Y) over all pairs of the last axis (ties count 1/2); any leading axes batch."""
    x = np.moveaxis(x, axis, -1)[..., :, None]
    y = np.moveaxis(y, axis, -1)[..., None, :]
    return np.mean((x < y) + 0.5 * (x == y), axis=(-2, -1))


def probability_of_improvement(x, y) -> float:
    """P(X < Y): the Mann-Whitney statistic over all pairs of the seeds where both x and y
    are finite (ties count 1/2); NaN when there is none."""
    x, y = _finite_pairs(x, y)
    return float(_probability_below(x, y)) if x.size else math.nan


def probability_of_improvement_interval(
    x, y, seed: int, level: float = LEVEL
) -> tuple[float, float, float]:
    """(P(X < Y), low, high): ``probability_of_improvement`` and its percentile interval from
    resampling the seeds (x_i with y_i); (p, nan, nan) for one seed, (nan, nan, nan) for
    none. Each resample compares all n^2 pairs: cheap for the suite's tens of seeds."""
    _check_level(level)
    x, y = _finite_pairs(x, y)
    p = probability_of_improvement(x, y)
    if x.size < 2:
        return p, math.nan, math.nan
    return (p, *_percentile_interval((x, y), _probability_below, seed, level))


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
    without an interval, '-' without a mean, as ``results.mean_std`` does."""
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


def verdict(name_x: str, name_y: str, x, y, seed: int, metric_label: str = "",
            where: str = "", level: float = LEVEL) -> str:  # fmt: skip
    """One sentence on x against y, e.g. 'swd at epoch 5: moca is lower than mmd by 0.0046
    [0.0040, 0.0052], P = 1.00' (the paired difference's interval, P = P(X < Y)), or '...: no
    clear difference between moca and mmd (moca - mmd = 0.0001 [-0.0003, 0.0005], P = 0.56)'
    when the interval holds 0. Seeds without a value of both are left out and counted."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    paired_x, paired_y = _finite_pairs(x, y)
    head = " ".join(part for part in (metric_label, where) if part)
    head = f"{head}: " if head else ""
    seeds = paired_x.size
    if seeds == 0:
        return f"{head}no seed where both {name_x} and {name_y} have a value"
    used = "" if seeds == x.size else f" (on {seeds} of {x.size} seeds)"
    diff, low, high = paired_difference(paired_x, paired_y, seed, level)
    p = probability_of_improvement(paired_x, paired_y)
    stated = f"{name_x} - {name_y} = {format_interval(diff, low, high)}, P = {p:.2f}"
    if seeds == 1:
        return f"{head}one seed, no interval ({stated}){used}"
    if low <= 0 <= high:
        return f"{head}no clear difference between {name_x} and {name_y} ({stated}){used}"
    sign = -1.0 if diff < 0 else 1.0
    by = format_interval(sign * diff, *sorted((sign * low, sign * high)))
    word = "lower" if diff < 0 else "higher"
    return f"{head}{name_x} is {word} than {name_y} by {by}, P = {p:.2f}{used}"


def compare_to_best(table: dict, seed: int, baseline: str | None = None, *,
                    metric_label: str = "", where: str = "",
                    level: float = LEVEL) -> tuple[list[dict], list[str]]:  # fmt: skip
    """Each method of ``table`` (name -> one value per seed, same seed order) against the
    reference: ``baseline``, or the method with the lowest mean.

    Returns (rows, verdicts). One row per method, in table order: method, seeds (finite
    values), mean, low, high (``mean_interval``), reference, then ``COMPARISON``: pairs
    (seeds both have), diff, diff_low, diff_high (``paired_difference`` method - reference),
    p, p_low, p_high (``probability_of_improvement_interval``: P(method < reference)); NaN
    on the reference's own row.
    One verdict per other method, the lower mean named first.
    """
    if baseline is not None and baseline not in table:
        raise UsageError(
            f"--baseline {baseline} is not among the compared methods "
            f"({', '.join(table)}); pick one of them"
        )
    means = {name: mean_interval(values, seed, level) for name, values in table.items()}
    finished = [name for name in table if math.isfinite(means[name][0])]
    reference = baseline or min(finished, key=lambda name: means[name][0], default=None)
    rows, verdicts = [], []
    for name, values in table.items():
        mean, low, high = means[name]
        row = {"method": name, "seeds": int(_finite(values).size), "mean": mean, "low": low,
               "high": high, "reference": reference}  # fmt: skip
        compared = dict.fromkeys(COMPARISON, math.nan)
        if reference is not None and name != reference:
            ref_values = table[reference]
            pairs = int(_finite_pairs(values, ref_values)[0].size)
            diff = paired_difference(values, ref_values, seed, level)
            p = probability_of_improvement_interval(values, ref_values, seed, level)
            compared = dict(zip(COMPARISON, (pairs, *diff, *p), strict=True))
            first, second = (name, reference)
            if not means[name][0] < means[reference][0]:
                first, second = second, first
            verdicts.append(verdict(first, second, table[first], table[second], seed,
                                    metric_label, where, level))  # fmt: skip
        rows.append(row | compared)
    return rows, verdicts


def legend(level: float = LEVEL) -> str:
    """The sentence a summary prints above its intervals and verdicts."""
    return (
        f"Intervals: {level:.0%} percentile bootstrap over seeds ({RESAMPLES} resamples, "
        "seeded); differences are paired by seed; P = P(X < Y), the share of seed pairs in "
        "which the first method is lower (lower is better). With 3 to 5 seeds such an "
        "interval covers less than its level (at 3 seeds it spans the seeds' min to max)."
    )
