"""Quality statistics (analytics/quality_stats.py) against reference values.

Reference numbers were computed once with statsmodels 0.14 / scipy 1.17 / scikit-learn 1.9 (named at each use)
and are hard-coded: none of those is a dependency of benchlab or of its tests.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from benchlab.analytics.quality_stats import (
    accuracy,
    bootstrap_mean_interval,
    cohens_kappa,
    mcnemar_exact_p,
    paired_difference_interval,
    pearson_r,
    wilson_interval,
)

# -- Wilson ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("passes", "n", "confidence", "expected"), [
    # statsmodels.stats.proportion.proportion_confint(81, 263, alpha=0.05, method="wilson")
    (81, 263, 0.95, (0.2552885198782742, 0.36620957698280004)),
    # ... alpha=0.01
    (81, 263, 0.99, (0.24013690268760773, 0.38528250231822986)),
    # ... proportion_confint(3, 7, alpha=0.10, method="wilson")
    (3, 7, 0.90, (0.186443190363956, 0.7105229089864071)),
    # the ends: statsmodels gives (0.0, 0.27753279986288926) and (0.7224672001371106, 1.0)
    (0, 10, 0.95, (0.0, 0.27753279986288926)),
    (10, 10, 0.95, (0.7224672001371106, 1.0)),
    (1, 1, 0.95, (0.2065493143772374, 1.0)),
])
def test_wilson_matches_statsmodels(passes: int, n: int, confidence: float, expected: tuple[float, float]) -> None:
    interval = wilson_interval(passes, n, confidence)
    assert interval == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) is None
    none_passed, all_passed, half = wilson_interval(0, 50), wilson_interval(50, 50), wilson_interval(500, 1000)
    assert none_passed is not None and none_passed[0] == 0.0 and 0 < none_passed[1] < 0.1
    assert all_passed is not None and all_passed[1] == 1.0 and 0.9 < all_passed[0] < 1
    assert half is not None and half[0] < 0.5 < half[1]
    assert 0.5 - half[0] == pytest.approx(half[1] - 0.5)  # symmetric around one half
    for bad in [(-1, 10), (11, 10)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


# -- bootstrap -------------------------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_and_order_free() -> None:
    values = np.random.default_rng(7).uniform(size=200)
    first = bootstrap_mean_interval(values, 0.95, 2000, np.random.default_rng(1))
    again = bootstrap_mean_interval(values[::-1].copy(), 0.95, 2000, np.random.default_rng(1))
    other = bootstrap_mean_interval(values, 0.95, 2000, np.random.default_rng(2))
    assert first == again and first != other
    assert first is not None and first[0] < float(values.mean()) < first[1]


def test_bootstrap_covers_the_true_mean_like_the_normal_interval() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(0.6, 0.2, size=5000)  # spans several index-matrix chunks
    interval = bootstrap_mean_interval(values, 0.95, 1000, np.random.default_rng(3))
    assert interval is not None
    low, high = interval
    assert low < 0.6 < high
    half = 1.959964 * values.std(ddof=1) / math.sqrt(values.size)  # the normal approximation's half-width
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert (low + high) / 2 == pytest.approx(values.mean(), abs=half / 5)


def test_bootstrap_interval_narrows_with_more_values() -> None:
    rng = np.random.default_rng(5)
    widths = []
    for n in (20, 200, 2000):
        interval = bootstrap_mean_interval(rng.binomial(1, 0.7, size=n), 0.95, 1000, np.random.default_rng(0))
        assert interval is not None
        widths.append(interval[1] - interval[0])
    assert widths[0] > widths[1] > widths[2] > 0


def test_bootstrap_edges() -> None:
    rng = np.random.default_rng(0)
    assert bootstrap_mean_interval([], 0.95, 100, rng) is None
    assert bootstrap_mean_interval([0.5], 0.95, 100, rng) is None
    assert bootstrap_mean_interval([1.0] * 30, 0.95, 100, rng) == (1.0, 1.0)  # all pass
    assert bootstrap_mean_interval([0.0] * 30, 0.95, 100, rng) == (0.0, 0.0)  # all fail
    assert bootstrap_mean_interval([0.1] * 10, 0.95, 100, rng) == (0.1, 0.1)  # kept within [min, max]
    with pytest.raises(ValueError):
        bootstrap_mean_interval([0.0, math.nan], 0.95, 100, rng)
    with pytest.raises(ValueError):
        bootstrap_mean_interval([0.0, 1.0], 0.95, 0, rng)


def test_paired_difference_uses_the_pairs() -> None:
    # Items differ a lot from each other, the candidate is better by 0.25 on most of them: unpaired intervals
    # overlap, the paired one excludes 0.
    rng = np.random.default_rng(2)
    baseline = rng.choice([0.0, 0.25, 0.5, 0.75], size=300)
    candidate = np.minimum(baseline + rng.choice([0.0, 0.25, 0.25, 0.25], size=300), 1.0)
    paired = paired_difference_interval(baseline, candidate, 0.95, 2000, np.random.default_rng(1))
    assert paired is not None and 0 < paired[0] < paired[1]
    same_draws = bootstrap_mean_interval(candidate - baseline, 0.95, 2000, np.random.default_rng(1))
    assert paired == same_draws
    assert paired_difference_interval([0.5, 1.0], [0.5, 1.0], 0.95, 100, rng) == (0.0, 0.0)
    assert paired_difference_interval([1.0], [0.0], 0.95, 100, rng) is None
    with pytest.raises(ValueError):
        paired_difference_interval([1.0, 0.0], [0.0], 0.95, 100, rng)


# -- McNemar ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("b", "c", "expected"), [
    # scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue
    (5, 20, 0.004077315330505371),
    (12, 30, 0.007915897334896727),
    (40, 0, 1.8189894035458565e-12),  # = 2 / 2^40
    (1, 9, 0.021484375),  # by hand: 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    (0, 6, 0.03125),  # 2 / 2^6
    (3, 4, 1.0),
    # n = 10^6: scipy gives 0.0456082998653896 (two-sided normal approximation: 0.0455)
    (499_000, 501_000, 0.0456082998653896),
])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact_p(c, b) == mcnemar_exact_p(b, c)


def test_mcnemar_matches_exact_rationals() -> None:
    for b in range(0, 45):
        for c in range(0, 45):
            n, k = b + c, min(b, c)
            exact = 1.0 if n == 0 else min(1.0, float(Fraction(2 * sum(math.comb(n, i) for i in range(k + 1)), 2**n)))
            assert mcnemar_exact_p(b, c) == pytest.approx(exact, rel=1e-12), (b, c)


def test_mcnemar_edges() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(7, 7) == 1.0
    assert mcnemar_exact_p(400_000, 600_000) == 0.0  # far below the smallest float
    assert 0.0 <= mcnemar_exact_p(0, 1_000_000) < 1e-300
    with pytest.raises(ValueError):
        mcnemar_exact_p(-1, 3)


# -- agreement -------------------------------------------------------------------------------------------------


def table(rows: dict[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    a = [label for (label, _), count in rows.items() for _ in range(count)]
    b = [label for (_, label), count in rows.items() for _ in range(count)]
    return a, b


def test_cohens_kappa_wikipedia_example() -> None:
    # Wikipedia, "Cohen's kappa", simple example: 50 items, yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    # p_o = 35/50 = 0.7; rater A says yes 25/50, B 30/50; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5;
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4 (sklearn.metrics.cohen_kappa_score: 0.4).
    a, b = table({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15})
    assert cohens_kappa(a, b) == pytest.approx(0.4, rel=1e-12)
    assert accuracy(a, b) == 0.7


def test_cohens_kappa_three_labels() -> None:
    # rows: rater A, columns: rater B     x  y  z | A
    #                                 x   6  2  1 | 9
    #                                 y   1  5  0 | 6
    #                                 z   0  2  3 | 5
    #                                 B   7  9  4 | n = 20
    # p_o = 14/20 = 0.7; p_e = (9*7 + 6*9 + 5*4) / 400 = 137/400 = 0.3425;
    # kappa = 0.3575 / 0.6575 = 0.5437262357414449 (sklearn.metrics.cohen_kappa_score: same).
    counts = {("x", "x"): 6, ("x", "y"): 2, ("x", "z"): 1, ("y", "x"): 1, ("y", "y"): 5,
              ("z", "y"): 2, ("z", "z"): 3}
    a, b = table(counts)
    assert cohens_kappa(a, b) == pytest.approx(0.5437262357414449, rel=1e-12)
    assert accuracy(a, b) == 0.7


def test_agreement_edges() -> None:
    assert cohens_kappa([], []) is None and accuracy([], []) is None
    assert cohens_kappa([True] * 5, [True] * 5) is None  # p_e = 1: undefined (sklearn: nan)
    assert accuracy([True] * 5, [True] * 5) == 1.0
    assert cohens_kappa([True, False, True], [True, False, True]) == 1.0
    assert cohens_kappa([True, False], [False, True]) == -1.0
    assert cohens_kappa(["x"] * 4, ["y"] * 4) == 0.0  # p_o = p_e = 0
    with pytest.raises(ValueError):
        cohens_kappa([1, 2], [1])
    with pytest.raises(ValueError):
        accuracy([1], [])


def test_pearson_matches_scipy() -> None:
    # scipy.stats.pearsonr(...).statistic
    x = [0.1, 0.4, 0.35, 0.8, 0.9, 0.55, 0.2]
    y = [0, 0.5, 0.25, 1, 0.75, 0.5, 0.25]
    assert pearson_r(x, y) == pytest.approx(0.9266793621551825, rel=1e-12)
    assert pearson_r([1, 2, 3, 4], [8, 6, 7, 1]) == pytest.approx(-0.8304547985373998, rel=1e-12)
    assert pearson_r(x, y) == pytest.approx(float(np.corrcoef(x, y)[0, 1]), rel=1e-12)
    assert pearson_r([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)


def test_pearson_edges() -> None:
    assert pearson_r([], []) is None
    assert pearson_r([1.0], [2.0]) is None
    assert pearson_r([0.1] * 5, [1, 2, 3, 4, 5]) is None  # constant, even where its mean rounds
    assert pearson_r([1, 2, 3], [1, 1, 1]) is None
    for r in (pearson_r(np.arange(50) * 0.1, np.arange(50) * 0.3), pearson_r(np.arange(50), -np.arange(50))):
        assert r is not None and -1.0 <= r <= 1.0 and abs(r) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        pearson_r([1, 2], [1])
    with pytest.raises(ValueError):
        pearson_r([1, math.inf], [1, 2])
