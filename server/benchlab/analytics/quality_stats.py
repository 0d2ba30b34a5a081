"""Statistics behind quality summaries (docs/evaluation.md, "Summaries"), in numpy: intervals, tests, agreement.

Like `stats.py`, bootstrap inputs are sorted first and the random generator is passed in, so the same values
and seed always give the same numbers, whatever order the database returned them in.
- Pass rate: Wilson score interval.
- Mean score, and the mean of paired differences between two runs: percentile bootstrap.
- Pass rates of two runs on the same cells: McNemar's exact test (two-sided binomial test on discordant pairs).
- Judge calibration against human labels: accuracy, Cohen's kappa, Pearson's r.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

BOOTSTRAP_CHUNK = 1 << 20  # index-matrix elements drawn at once (8 MiB of int64), bounding a bootstrap's memory
MULTINOMIAL_VALUES = 64     # at most this many distinct values: resample their counts, not indexes
INDEX_BOOTSTRAP_MAX = 20_000  # more values than this, many of them distinct: the normal approximation


def wilson_interval(passes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a pass rate `passes / n`; None without trials (n == 0)."""
    if not 0 <= passes <= n:
        raise ValueError(f"passes must be within 0..n, got {passes} of {n}")
    _check_confidence(confidence)
    if n == 0:
        return None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = passes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if passes == 0 else max(0.0, centre - half)  # exact at the ends, where rounding would miss 0 or 1
    high = 1.0 if passes == n else min(1.0, centre + half)
    return low, high


def bootstrap_mean_interval(values: ArrayLike, confidence: float, resamples: int,
                            rng: np.random.Generator) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the mean; None with fewer than 2 values.

    A resample is n draws with replacement; what its mean depends on is how often each distinct value was
    drawn. Scores mostly take few distinct values (0, 0.5, 1), so with at most MULTINOMIAL_VALUES of them the
    counts are drawn directly (one multinomial per resample: the same distribution as drawing indexes, at a
    cost independent of n, which keeps a million-request run's summary fast). Otherwise resamples are drawn
    as an index matrix, BOOTSTRAP_CHUNK elements at a time; above INDEX_BOOTSTRAP_MAX values with many
    distinct ones, the normal approximation (mean ± z·s/√n) is used, which the bootstrap converges to there.
    The interval is kept within [min, max] of the values, so constant values give (c, c).
    """
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    data = finite_sorted(values)
    n = data.size
    if n < 2:
        return None
    tail = (1 - confidence) / 2
    distinct, counts = np.unique(data, return_counts=True)
    if distinct.size <= MULTINOMIAL_VALUES:
        drawn = rng.multinomial(n, counts / n, size=resamples)
        means = drawn @ distinct / n
    elif n <= INDEX_BOOTSTRAP_MAX:
        means = np.empty(resamples, dtype=np.float64)
        rows = max(1, BOOTSTRAP_CHUNK // n)
        for start in range(0, resamples, rows):
            count = min(rows, resamples - start)
            means[start:start + count] = data[rng.integers(0, n, size=(count, n))].mean(axis=1)
    else:
        z = NormalDist().inv_cdf(1 - tail)
        half = z * float(np.std(data, ddof=1)) / math.sqrt(n)
        centre = float(np.mean(data))
        return max(centre - half, float(data[0])), min(centre + half, float(data[-1]))
    low, high = np.quantile(means, [tail, 1 - tail])
    return max(float(low), float(data[0])), min(float(high), float(data[-1]))


def paired_difference_interval(baseline: ArrayLike, candidate: ArrayLike, confidence: float, resamples: int,
                               rng: np.random.Generator) -> tuple[float, float] | None:
    """Bootstrap interval of mean(candidate - baseline) over pairs (same cell in both runs); None below 2 pairs."""
    base = np.asarray(baseline, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if base.shape != cand.shape or base.ndim != 1:
        raise ValueError(f"paired samples must be two 1-D arrays of one length, got {base.shape} and {cand.shape}")
    return bootstrap_mean_interval(cand - base, confidence, resamples, rng)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2); 1.0 when b + c == 0.

    `b` and `c` count the discordant pairs (passed in one run only). The largest term P(X = k) comes from
    Loader's saddle-point formula (what R's dbinom and scipy compute; relative error near 1e-15 at any n, where
    lgamma differences lose digits and math.comb takes seconds at n = 10^6), the smaller ones as a running
    product of ratios i / (n - i + 1) relative to it, summed in numpy.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got {b} and {c}")
    n, k = b + c, min(b, c)
    if 2 * k >= n:  # no discordant pair, or b == c: P(X <= n/2) >= 1/2
        return 1.0
    if k == 0:
        return min(1.0, 0.5 ** (n - 1))
    i = np.arange(k, 0, -1, dtype=np.float64)  # t_{i-1} / t_i = i / (n - i + 1), for i = k, k - 1, ..., 1
    relative_sum = 1.0 + float(np.cumprod(i / (n - i + 1)).sum())
    return min(1.0, 2.0 * _binomial_half_pmf(k, n) * relative_sum)


def _binomial_half_pmf(k: int, n: int) -> float:
    """P(X = k) for X ~ Bin(n, 1/2), 0 < k < n, by Loader (2000), "Fast and accurate computation of binomial
    probabilities": sqrt(n / (2 pi k (n - k))) exp(stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(k, n/2)
    - bd0(n - k, n/2))."""
    exponent = (_stirling_error(n) - _stirling_error(k) - _stirling_error(n - k)
                - _deviance(k, n / 2) - _deviance(n - k, n / 2))
    return math.sqrt(n / (2 * math.pi * k * (n - k))) * math.exp(exponent)


def _stirling_error(n: int) -> float:
    """log(n!) - log(sqrt(2 pi n) (n / e)^n): lgamma for small n, the Stirling series (error below 1e-17) above."""
    if n <= 15:
        return math.lgamma(n + 1) - (n + 0.5) * math.log(n) + n - 0.5 * math.log(2 * math.pi)
    nn = float(n) * n
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / 1188 / nn) / nn) / nn) / nn) / n


def _deviance(x: float, mean: float) -> float:
    """x log(x / mean) + mean - x, by a series without cancellation when x is near mean."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        total = (x - mean) * v
        term = 2 * x * v
        v *= v
        for j in range(1, 1000):
            term *= v
            following = total + term / (2 * j + 1)
            if following == total:
                return following
            total = following
        return total
    return x * math.log(x / mean) + mean - x


def cohens_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e).

    None when undefined: no items, or expected agreement p_e = 1 (both raters gave every item one and the same
    label, so there is no variation to agree on; sklearn returns NaN there). Computed from integer counts.
    """
    _check_paired(a, b)
    n = len(a)
    if n == 0:
        return None
    agree = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    count_a, count_b = Counter(a), Counter(b)
    chance = sum(count * count_b[label] for label, count in count_a.items())  # n^2 * p_e
    if chance == n * n:
        return None
    return (n * agree - chance) / (n * n - chance)


def accuracy(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Share of items where the two label sequences agree; None without items."""
    _check_paired(a, b)
    if not a:
        return None
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


def pearson_r(x: ArrayLike, y: ArrayLike) -> float | None:
    """Pearson's correlation coefficient; None with fewer than 2 points or when either side is constant."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be two 1-D arrays of one length, got {xs.shape} and {ys.shape}")
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise ValueError("x and y must be finite")
    if xs.size < 2 or np.all(xs == xs[0]) or np.all(ys == ys[0]):
        return None
    dx, dy = xs - xs.mean(), ys - ys.mean()
    r = float(np.dot(dx, dy) / math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy))))
    return max(-1.0, min(1.0, r))


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")


def _check_paired(a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired labels must have one length, got {len(a)} and {len(b)}")


def finite_sorted(values: ArrayLike) -> NDArray[np.float64]:
    """The values as a sorted 1-D float array; ValueError for another shape or a value that is not finite."""
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("values must be finite")
    return np.sort(data)
