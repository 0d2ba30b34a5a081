"""The leaderboard: "which model (or prompt version) is best for my data", in one table.

Subjects (models, or prompt versions) of a set of scored runs are ranked by a quality score — the mean of
one evaluator's score (default `overall`, the request's weighted score) in each run's current scoring pass —
shown with latency and cost from the same runs: TTFT and E2E p50/p95 (successful requests in the measurement
window, the metrics' own definitions and quantile method), cost per 1,000 requests (requests whose price is
known). Every figure has a 95 % percentile-bootstrap interval (fixed seed; quantile intervals over at most
`MAX_SAMPLES` values per subject, picked by a seeded hash of the event id), the pass rate a Wilson interval.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np

from benchlab.analytics.quality_stats import bootstrap_mean_interval, wilson_interval
from benchlab.metrics import METRICS, Metric
from benchlab.stores.clickhouse import ClickHouseStore

CONFIDENCE = 0.95
RESAMPLES = 1000
MAX_SAMPLES = 2000  # per subject and metric: bounds the bootstrap's work (RESAMPLES x MAX_SAMPLES)
SUBJECTS = ("model", "prompt_version")
Interval = tuple[float, float] | None


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    subject: str
    requests: int
    score_count: int
    score_mean: float | None
    score_interval: Interval
    pass_rate: float | None
    pass_rate_interval: Interval
    ttft_p50_ms: float | None
    ttft_p50_interval: Interval
    ttft_p95_ms: float | None
    ttft_p95_interval: Interval
    e2e_p50_ms: float | None
    e2e_p50_interval: Interval
    e2e_p95_ms: float | None
    e2e_p95_interval: Interval
    cost_per_1k_usd: float | None
    cost_per_1k_interval: Interval


async def leaderboard(store: ClickHouseStore, project_id: UUID, scored_runs: Sequence[tuple[UUID, UUID]], *,
                      by: str, evaluator: str, seed: int = 0) -> list[LeaderboardEntry]:
    """`scored_runs`: (run id, its scoring pass id); `by`: model or prompt_version."""
    if by not in SUBJECTS:
        raise ValueError(f"by must be one of {SUBJECTS}")
    if not scored_runs:
        return []
    pairs = [(run, scoring) for run, scoring in scored_runs]
    quality = await store.query(
        f"SELECT {by}, count(), countIf(passed), groupArray(value) FROM scores "
        "WHERE project_id = {project:UUID} AND (run_id, pass_id) IN {pairs:Array(Tuple(UUID, UUID))} "
        "AND evaluator = {evaluator:String} AND score_name = {evaluator:String} AND counterpart = '' "
        f"GROUP BY {by}", {"project": project_id, "pairs": pairs, "evaluator": evaluator},
        caller="analytics.leaderboard")
    ttft, e2e = METRICS["ttft_ms"], METRICS["e2e_ms"]
    timing = await store.query(
        f"SELECT {by}, count(), "
        f"arrayMap(p -> p.2, arraySlice(arraySort(groupArrayIf((cityHash64(event_id, {{seed:UInt64}}), ttft_ms), "
        f"{ttft.condition})), 1, {MAX_SAMPLES})), "
        f"arrayMap(p -> p.2, arraySlice(arraySort(groupArrayIf((cityHash64(event_id, {{seed:UInt64}}), e2e_ms), "
        f"{e2e.condition})), 1, {MAX_SAMPLES})), "
        f"arrayMap(p -> p.2, arraySlice(arraySort(groupArrayIf((cityHash64(event_id, {{seed:UInt64}}), cost_usd), "
        f"cost_known)), 1, {MAX_SAMPLES})) "
        "FROM request_events WHERE project_id = {project:UUID} AND run_id IN {runs:Array(UUID)} AND in_window "
        f"GROUP BY {by}", {"project": project_id, "runs": [run for run, _ in pairs], "seed": seed},
        caller="analytics.leaderboard")
    scored = {row[0]: row[1:] for row in quality.rows}
    timed = {row[0]: row[1:] for row in timing.rows}
    entries = []
    for subject in sorted(scored.keys() | timed.keys()):
        rng = np.random.default_rng([seed, zlib.crc32(subject.encode())])
        count, passed, values = scored.get(subject, (0, 0, []))
        requests, ttfts, e2es, costs = timed.get(subject, (0, [], [], []))
        mean = float(np.mean(values)) if values else None
        cost_mean = float(np.mean(costs)) * 1000 if costs else None
        cost_interval = bootstrap_mean_interval(costs, CONFIDENCE, RESAMPLES, rng)
        entries.append(LeaderboardEntry(
            0, subject, requests, count, mean, bootstrap_mean_interval(values, CONFIDENCE, RESAMPLES, rng),
            passed / count if count else None, wilson_interval(passed, count, CONFIDENCE),
            *_quantile(ttft, ttfts, 0.5, rng), *_quantile(ttft, ttfts, 0.95, rng),
            *_quantile(e2e, e2es, 0.5, rng), *_quantile(e2e, e2es, 0.95, rng),
            cost_mean, (cost_interval[0] * 1000, cost_interval[1] * 1000) if cost_interval else None))
    ranked = sorted(entries, key=lambda e: (e.score_mean is None, -(e.score_mean or 0.0), e.subject))
    return [_ranked(index + 1, entry) for index, entry in enumerate(ranked)]


def _ranked(rank: int, entry: LeaderboardEntry) -> LeaderboardEntry:
    return LeaderboardEntry(**{**vars(entry), "rank": rank})


def _quantile(metric: Metric, values: list[float], level: float,
              rng: np.random.Generator) -> tuple[float | None, Interval]:
    """The metric's quantile and a percentile-bootstrap interval of it."""
    point = metric.clean(metric.quantile(values, level))
    if len(values) < 2:
        return point, None
    sample = np.asarray(values, dtype=float)
    draws = rng.integers(0, sample.size, size=(RESAMPLES, sample.size))
    estimates = np.quantile(sample[draws], level, axis=1)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(estimates, [alpha, 1 - alpha])
    clean: Callable[[float | None], float | None] = metric.clean
    return point, (clean(float(low)) or 0.0, clean(float(high)) or 0.0)

