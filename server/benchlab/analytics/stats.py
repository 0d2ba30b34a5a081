"""Two-sample statistics behind `compare_runs`, in numpy: median difference, bootstrap CI, Mann-Whitney U.

Inputs are sorted first and the random generator is passed in, so the same values and seed always give the
same numbers, whatever order the database returned them in.
- CI: percentile bootstrap of median(candidate) - median(baseline), each side resampled independently
  (medians of resamples drawn exactly from order statistics, so cost does not grow with sample size).
- p-value: two-sided Mann-Whitney U, normal approximation with tie correction and continuity correction
  (what scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=True) computes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

MIN_SAMPLES = 5

INSUFFICIENT = "insufficient_data"
NO_DIFFERENCE = "no_difference"


@dataclass(frozen=True)
class SampleComparison:
    baseline_median: float | None
    candidate_median: float | None
    delta_median: float | None
    relative_delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str


def compare_samples(baseline: ArrayLike, candidate: ArrayLike, *, confidence: float, resamples: int,
                    rng: np.random.Generator, labels: tuple[str, str],
                    median: Callable[[list[float]], float | None]) -> SampleComparison:
    """Compare two samples; `labels` name a (decrease, increase), e.g. ("faster", "slower") for latencies.

    `median` (None without values) is the metric's own, so the reported medians are the p50 every other view
    gives for the same values. A direction is claimed only when the CI excludes 0 and p < 1 - confidence;
    either side with fewer than MIN_SAMPLES values gives "insufficient_data" (medians still reported where
    there are values).
    """
    base, cand = _sorted(baseline), _sorted(candidate)
    base_median, cand_median = median(base.tolist()), median(cand.tolist())
    delta = cand_median - base_median if base_median is not None and cand_median is not None else None
    relative = delta / base_median if delta is not None and base_median else None
    if min(base.size, cand.size) < MIN_SAMPLES:
        return SampleComparison(base_median, cand_median, delta, relative, None, None, None, INSUFFICIENT)
    low, high = bootstrap_median_difference(base, cand, confidence=confidence, resamples=resamples, rng=rng)
    p_value = mann_whitney_p_value(base, cand)
    verdict = NO_DIFFERENCE
    if p_value < 1 - confidence and (low > 0 or high < 0):
        verdict = labels[1] if low > 0 else labels[0]
    return SampleComparison(base_median, cand_median, delta, relative, low, high, p_value, verdict)


def bootstrap_median_difference(baseline: NDArray[np.float64], candidate: NDArray[np.float64], *,
                                confidence: float, resamples: int,
                                rng: np.random.Generator) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of median(candidate) - median(baseline); inputs sorted."""
    differences = bootstrap_medians(candidate, resamples, rng) - bootstrap_medians(baseline, resamples, rng)
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def mann_whitney_p_value(baseline: NDArray[np.float64], candidate: NDArray[np.float64]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie and continuity corrected)."""
    n1, n2 = baseline.size, candidate.size
    n = n1 + n2
    ranks, tie_term = _average_ranks(np.concatenate([baseline, candidate]))
    u = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value tied: no evidence of any difference
        return 1.0
    z = max(abs(u - n1 * n2 / 2) - 0.5, 0.0) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))


def _average_ranks(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """1-based ranks with ties sharing their average rank, and sum(t^3 - t) over tie groups."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, values.size])
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(starts + (sizes + 1) / 2, sizes)
    return ranks, float(np.sum(sizes.astype(np.float64) ** 3 - sizes))


def bootstrap_medians(values: NDArray[np.float64], resamples: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Medians of `resamples` bootstrap resamples of sorted `values`, in O(resamples) instead of O(resamples * n).

    A resample draws n indices floor(n * U) with U uniform; since `values` is sorted, its k-th smallest value is
    values[floor(n * U_(k))], and the k-th order statistic of n uniforms is Beta(k, n - k + 1). For even n the
    next one is U_(k) + (1 - U_(k)) * Beta(1, n - k) (the least of the n - k uniforms above it). Same
    distribution as resampling and taking np.median, exactly.
    """
    n = values.size
    k = (n + 1) // 2
    lower_u = rng.beta(k, n - k + 1, size=resamples)
    lower = values[np.minimum((lower_u * n).astype(np.int64), n - 1)]
    if n % 2:
        return lower
    upper_u = lower_u + (1 - lower_u) * rng.beta(1, n - k, size=resamples)
    return (lower + values[np.minimum((upper_u * n).astype(np.int64), n - 1)]) / 2


def _sorted(values: ArrayLike) -> NDArray[np.float64]:
    return np.sort(np.asarray(values, dtype=np.float64))
