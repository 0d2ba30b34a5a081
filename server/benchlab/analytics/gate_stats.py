"""Bootstrap distributions behind quality gates (docs/gates.md), in numpy.

A gate's interval is a percentile bootstrap of the statistic's difference, candidate minus baseline, each side
resampled independently (the two runs are different requests, so there is nothing to pair on), from a
generator the caller seeds. Each function returns the statistic of `resamples` bootstrap resamples of one side:
- a quantile (type 7, `benchlab.metrics`): from order statistics, O(resamples) whatever the sample size
  (the generalisation of `stats.bootstrap_medians` to any level);
- a mean: multinomial counts when the values take few distinct values, an index matrix otherwise, the normal
  approximation above INDEX_BOOTSTRAP_MAX values (where the bootstrap converges to it);
- a rate (successes of n): binomial draws, the exact bootstrap of a 0/1 sample.
Inputs are sorted first, so the same values and seed give the same numbers in whatever order they were read.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from benchlab.analytics.quality_stats import BOOTSTRAP_CHUNK, INDEX_BOOTSTRAP_MAX, MULTINOMIAL_VALUES, finite_sorted

Draws = NDArray[np.float64]


def bootstrap_quantiles(values: ArrayLike, level: float, resamples: int, rng: np.random.Generator) -> Draws:
    """The type-7 quantile at `level` of `resamples` resamples of `values` (at least one value).

    With h = level (n - 1), j = ⌊h⌋, the quantile of a resample y (sorted) is y[j] + (h - j) (y[j+1] - y[j]).
    A resample draws n indexes ⌊n U⌋; its (j+1)-th smallest value is values[⌊n U_(j+1)⌋] with U_(j+1) ~
    Beta(j+1, n-j), and the next one U_(j+1) + (1 - U_(j+1)) Beta(1, n-j-1): the same distribution as drawing
    every index and sorting, exactly.
    """
    data = finite_sorted(values)
    n = data.size
    if n == 0:
        raise ValueError("a quantile needs at least one value")
    h = level * (n - 1)
    j = min(int(math.floor(h)), n - 1)
    fraction = h - j
    rank = j + 1
    lower_u = rng.beta(rank, n - rank + 1, size=resamples)
    lower = data[np.minimum((lower_u * n).astype(np.int64), n - 1)]
    if fraction == 0 or rank >= n:
        return lower
    upper_u = lower_u + (1 - lower_u) * rng.beta(1, n - rank, size=resamples)
    upper = data[np.minimum((upper_u * n).astype(np.int64), n - 1)]
    return lower + fraction * (upper - lower)


def bootstrap_means(values: ArrayLike, resamples: int, rng: np.random.Generator) -> Draws:
    """The means of `resamples` resamples of `values` (at least one value)."""
    data = finite_sorted(values)
    n = data.size
    if n == 0:
        raise ValueError("a mean needs at least one value")
    distinct, counts = np.unique(data, return_counts=True)
    if distinct.size <= MULTINOMIAL_VALUES:
        drawn = rng.multinomial(n, counts / n, size=resamples)
        return np.asarray(drawn @ distinct / n, dtype=np.float64)
    if n > INDEX_BOOTSTRAP_MAX:
        return rng.normal(float(np.mean(data)), float(np.std(data, ddof=1)) / math.sqrt(n), size=resamples)
    means = np.empty(resamples, dtype=np.float64)
    rows = max(1, BOOTSTRAP_CHUNK // n)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        means[start:start + count] = data[rng.integers(0, n, size=(count, n))].mean(axis=1)
    return means


def bootstrap_rates(successes: int, n: int, resamples: int, rng: np.random.Generator) -> Draws:
    """The rates of `resamples` resamples of a 0/1 sample with `successes` ones among `n` (n >= 1)."""
    if not 0 <= successes <= n or n < 1:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    return rng.binomial(n, successes / n, size=resamples) / n


def percentile_interval(draws: Draws, confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap draws."""
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)
