"""Analytics results as GraphQL types: columnar (one list per column), never thousands of objects.

Row i of a result is the i-th element of every column. Metric names are the `Metric` enum; each value's
description is its definition in `benchlab.metrics`, the one every view computes it by.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, cast
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.analytics.columns import KeyColumn, PercentileColumn
from benchlab.api.context import runtime_of
from benchlab.metrics import APPROXIMATE_QUANTILE_METHOD, METRICS, QUANTILE_METHOD
from benchlab.stores import scoring_passes

if TYPE_CHECKING:  # the analytics modules are imported when a resolver first needs them (numpy)
    from benchlab.analytics.compare import RunComparison
    from benchlab.analytics.run_metrics import RunMetrics
    from benchlab.analytics.series import LatencySeries
    from benchlab.analytics.timeline import RunTimeline


def _described(value: str, description: str) -> str:
    """An enum value with a description. Typed as the plain value it becomes: registering the enum puts
    `value` in place of strawberry's EnumValueDefinition, so `member.value` is a str wherever it is read."""
    return cast(str, strawberry.enum_value(value, description=description))


def _defined(name: str) -> str:
    """An enum value named and described by its metric definition."""
    return _described(name, METRICS[name].description)


@strawberry.enum(description="What can be aggregated. Latency metrics count successful requests only.")
class Metric(Enum):
    TTFT = _defined("ttft_ms")
    TTFOT = _defined("ttfot_ms")
    TPOT = _defined("tpot_ms")
    E2E = _defined("e2e_ms")
    E2E_FROM_INTENDED = _defined("e2e_from_intended_ms")
    QUEUE_DELAY = _defined("queue_delay_ms")
    INTER_EVENT = _defined("inter_event_ms")
    COMPLETION_TOKENS = _defined("completion_tokens")
    COST = _defined("cost_usd")


@strawberry.enum(description="How a result's percentiles were computed.")
class QuantileMethod(Enum):
    EXACT = _described("exact", f"From every value: {QUANTILE_METHOD}, as in a run's summary.")
    APPROXIMATE = _described("approximate", (
        f"From the rollups, for queries over many requests: {APPROXIMATE_QUANTILE_METHOD}."))


EXACT_ARGUMENT = ("true: percentiles from every value (EXACT) even where the rollups could answer; slower over "
                  "many requests.")
_QUANTILE_METHOD_FIELD = ("EXACT, or APPROXIMATE when the query covered many requests and was answered from the "
                          "rollups (see the enum's values for the error bound).")


@strawberry.enum(description="How to group requests.")
class GroupBy(Enum):
    MODEL = "model"
    PROMPT_VERSION = "prompt_version"
    PARAMS = _described("params", "The parameter set (grid cell), by its hash.")
    LOAD_PHASE = _described("load_phase", "Sweep phase: sync, max, rate-N; else main.")


@strawberry.type(description="Values of one grouping key, one per row.")
class KeyValues:
    name: str
    values: list[str]

    @classmethod
    def of(cls, column: KeyColumn) -> KeyValues:
        return cls(name=column.name, values=column.values)


@strawberry.type(description="Values of one percentile, one per row (null where a row has no values). How they "
                             "were computed is the result's `quantileMethod`.")
class PercentileValues:
    percentile: float
    values: list[float | None]

    @classmethod
    def of(cls, column: PercentileColumn) -> PercentileValues:
        return cls(percentile=column.percentile, values=column.values)


@strawberry.type(description="Aggregates of one metric, one value per row.")
class MetricValues:
    metric: Metric
    n: list[int] = strawberry.field(description="Values aggregated (gaps for INTER_EVENT, else requests).")
    mean: list[float | None]
    min: list[float | None]
    max: list[float | None]
    sum: list[float]
    percentiles: list[PercentileValues]


@strawberry.type(description="Per-group aggregates of a run's requests (measurement window only).")
class RunMetricsResult:
    group_by: list[GroupBy]
    keys: list[KeyValues]
    count: list[int] = strawberry.field(description="Requests per row, successful or not.")
    errors: list[int] = strawberry.field(description="Failed requests per row.")
    metrics: list[MetricValues]
    quantile_method: QuantileMethod = strawberry.field(description=_QUANTILE_METHOD_FIELD)

    @classmethod
    def of(cls, result: RunMetrics) -> RunMetricsResult:
        return cls(group_by=[GroupBy(g) for g in result.group_by], keys=[KeyValues.of(k) for k in result.keys],
                   count=result.count, errors=result.errors, quantile_method=QuantileMethod(result.quantile_method),
                   metrics=[MetricValues(metric=Metric(m.metric), n=m.n, mean=m.mean, min=m.min, max=m.max, sum=m.sum,
                                         percentiles=[PercentileValues.of(p) for p in m.percentiles])
                            for m in result.metrics])


@strawberry.type(description="A run over time: one row per bucket.")
class RunTimelineResult:
    interval_seconds: float
    bucket_start: list[datetime]
    requests: list[int]
    errors: list[int]
    requests_per_second: list[float] = strawberry.field(description="Successful requests per second.")
    output_tokens_per_second: list[float]
    ttft_p50_ms: list[float | None]
    ttft_p99_ms: list[float | None]
    e2e_p50_ms: list[float | None]
    e2e_p99_ms: list[float | None]

    @classmethod
    def of(cls, t: RunTimeline) -> RunTimelineResult:
        return cls(interval_seconds=t.interval_s, bucket_start=t.bucket_start, requests=t.requests, errors=t.errors,
                   requests_per_second=t.requests_per_s, output_tokens_per_second=t.output_tokens_per_s,
                   ttft_p50_ms=t.ttft_p50_ms, ttft_p99_ms=t.ttft_p99_ms, e2e_p50_ms=t.e2e_p50_ms,
                   e2e_p99_ms=t.e2e_p99_ms)


@strawberry.type(description="A metric's percentiles per time bucket and model, over all runs of a project. "
                             "Percentiles are exact, as in a run's summary and metrics, unless `quantileMethod` "
                             "says APPROXIMATE.")
class LatencySeriesResult:
    metric: Metric
    interval_seconds: float
    bucket_start: list[datetime]
    model: list[str]
    count: list[int]
    values: list[PercentileValues]
    quantile_method: QuantileMethod = strawberry.field(description=_QUANTILE_METHOD_FIELD)

    @classmethod
    def of(cls, s: LatencySeries) -> LatencySeriesResult:
        return cls(metric=Metric(s.metric), interval_seconds=s.interval_s, bucket_start=s.bucket_start,
                   model=s.model, count=s.count, values=[PercentileValues.of(p) for p in s.values],
                   quantile_method=QuantileMethod(s.quantile_method))


@strawberry.type(description="One evaluator's scores, candidate vs baseline, on the cells both runs share.")
class ScoreComparisonRow:
    evaluator: str
    score_name: str
    shared_cells: int
    baseline_pass_rate: float | None
    candidate_pass_rate: float | None
    pass_rate_delta: float | None = strawberry.field(description="candidate − baseline.")
    passed_before_only: int = strawberry.field(description="Cells that passed in the baseline only (McNemar b).")
    passed_after_only: int = strawberry.field(description="Cells that pass in the candidate only (McNemar c).")
    mcnemar_p: float | None = strawberry.field(description="Two-sided exact McNemar p-value.")
    mean_delta: float | None = strawberry.field(description="Mean of candidate − baseline score per cell.")
    mean_delta_low: float | None
    mean_delta_high: float | None
    verdict: str = strawberry.field(description="better, worse, no_difference or insufficient_data (< 5 cells).")
    paired_on: list[str] = strawberry.field(description="The cell dimensions rows were paired on.")


@strawberry.type(description=(
    "Candidate vs baseline per group and metric: the difference in medians with a bootstrap confidence "
    "interval (percentile method, fixed seed: the same data always gives the same answer) and a two-sided "
    "Mann-Whitney U p-value. `verdict` says faster/slower (latency) or lower/higher only when the interval "
    "excludes 0 and p < 1 − confidence; else no_difference, or insufficient_data under 5 samples a side."))
class RunComparisonResult:
    group_by: list[GroupBy]
    confidence: float
    resamples: int
    keys: list[KeyValues]
    metric: list[Metric]
    baseline_n: list[int]
    candidate_n: list[int]
    baseline_median: list[float | None]
    candidate_median: list[float | None]
    delta_median: list[float | None] = strawberry.field(description="candidate − baseline.")
    relative_delta: list[float | None] = strawberry.field(description="delta / baseline median.")
    ci_low: list[float | None]
    ci_high: list[float | None]
    p_value: list[float | None]
    verdict: list[str]
    runs: strawberry.Private[tuple[UUID, UUID, UUID] | None] = None  # (project, baseline, candidate)

    @strawberry.field(description=(
        "Scores compared on the cells both runs share (each run's current scoring pass), per evaluator: pass "
        "rates with McNemar's exact test on the discordant pairs, and the mean paired score difference with a "
        "95 % bootstrap interval. A dimension (model, prompt version, parameter set) in which the runs share "
        "no value is left out of the pairing, so a new model pairs with the old one on the same items. Empty "
        "when either run has no completed scoring pass."))
    async def scores(self, info: Info) -> list[ScoreComparisonRow]:
        from benchlab.analytics.score_compare import compare_scores

        if self.runs is None:
            return []
        project, baseline, candidate = self.runs
        runtime = runtime_of(info)
        async with runtime.pg.acquire() as conn:
            current = await scoring_passes.current_passes(conn, [baseline, candidate])
        if baseline not in current or candidate not in current:
            return []
        rows = await compare_scores(runtime.clickhouse, project, (baseline, current[baseline].id),
                                    (candidate, current[candidate].id), confidence=self.confidence)
        return [ScoreComparisonRow(**vars(row)) for row in rows]

    @classmethod
    def of(cls, c: RunComparison) -> RunComparisonResult:
        return cls(group_by=[GroupBy(g) for g in c.group_by], confidence=c.confidence, resamples=c.resamples,
                   keys=[KeyValues.of(k) for k in c.keys], metric=[Metric(m) for m in c.metric],
                   baseline_n=c.baseline_n, candidate_n=c.candidate_n, baseline_median=c.baseline_median,
                   candidate_median=c.candidate_median, delta_median=c.delta_median,
                   relative_delta=c.relative_delta, ci_low=c.ci_low, ci_high=c.ci_high, p_value=c.p_value,
                   verdict=c.verdict)
