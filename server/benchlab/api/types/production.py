"""Production traffic as GraphQL types: the `productionTraffic` view and a project's production scoring rule set.

Figures are columnar like every analytics result (row i is the i-th element of each list); metric values reuse
`MetricValues`, whose metric descriptions are `benchlab.metrics`' definitions. Requests are `RequestEvent`s.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.pagination import Connection, Page, check_first, to_connection
from benchlab.api.types.analytics import Metric, MetricValues, PercentileValues
from benchlab.api.types.requests import RequestEvent
from benchlab.stores.production_sample import NIL

if TYPE_CHECKING:  # the analytics modules are imported when a resolver first needs them (numpy)
    from benchlab.analytics.production import ProductionTraffic
    from benchlab.analytics.requests import RequestRow
    from benchlab.stores.production_scoring import RuleSet


@strawberry.enum(description="Where a request came from.")
class RequestSource(Enum):
    EXPERIMENT = cast(str, strawberry.enum_value("experiment", description="Sent by a run of an experiment."))
    PRODUCTION = cast(str, strawberry.enum_value("production", description=(
        "An application's own traffic, ingested (OTLP traces, the litellm callback, the ingest endpoint) with the "
        "project's API key; run and experiment are the nil UUID.")))


SOURCE_ARGUMENT = "Only requests of this source; null (the default): every request, experiments and production."


@strawberry.type(description=(
    "Production requests per provider and model over the range, one row per (provider, model). Latency "
    "percentiles are exact, over the successful requests each metric takes (see the `Metric` values)."))
class ProductionModelTraffic:
    provider: list[str]
    model: list[str]
    requests: list[int] = strawberry.field(description="Requests, successful or not.")
    errors: list[int] = strawberry.field(description="Failed requests (status other than ok).")
    error_rate: list[float] = strawberry.field(description="errors / requests, a fraction in [0, 1].")
    metrics: list[MetricValues] = strawberry.field(description="TTFT, E2E and TPOT, in ms.")
    prompt_tokens: list[int] = strawberry.field(description="Input tokens of every request.")
    completion_tokens: list[int] = strawberry.field(description="Output tokens of every request.")
    cost_usd: list[float | None] = strawberry.field(description=(
        "USD of the requests whose price is known; null when no request of the row has a known price."))
    cost_unknown_requests: list[int] = strawberry.field(description="Requests without a known price (not free).")


@strawberry.type(description=(
    "The sampled scoring of production requests sent in the range (setProductionScoring), per evaluator, "
    "`overall` (a request's weighted score) first."))
class ProductionJudgedShare:
    evaluator: list[str]
    evaluator_type: list[str] = strawberry.field(description="The type as written, e.g. `llm-rubric`.")
    scored: list[int] = strawberry.field(description="Requests scored by the evaluator.")
    passed: list[int]
    pass_rate: list[float] = strawberry.field(description="passed / scored, a fraction.")
    pass_rate_low: list[float] = strawberry.field(description="Lower end of the pass rate's 95 % Wilson interval.")
    pass_rate_high: list[float] = strawberry.field(description="Upper end of the 95 % Wilson interval.")
    mean_score: list[float] = strawberry.field(description="Mean score in [0, 1].")
    judge_errors: list[int] = strawberry.field(description="Scores without a verdict (counted as fails).")
    judge_cost_usd: list[float] = strawberry.field(description="What the judge calls cost, USD.")


@strawberry.type(description="A project's production traffic over [from, to): per model, its judged share, requests.")
class ProductionTrafficResult:
    from_: datetime = strawberry.field(name="from", description="Start of the range (included).")
    to: datetime = strawberry.field(description="End of the range (excluded).")
    models: ProductionModelTraffic
    judged: ProductionJudgedShare
    scored_requests: int = strawberry.field(description="Distinct production requests of the range with scores.")
    successful_requests: int = strawberry.field(description=(
        "Successful production requests of the range (of the chosen models): what the sample is drawn from."))
    scope: strawberry.Private[tuple[UUID, list[str] | None]]

    @strawberry.field(description="The range's production requests, newest first (keyset cursors).")
    async def requests(self, info: Info, first: int, after: str | None = None) -> Connection[RequestEvent]:
        from benchlab.analytics.production import count_production_requests, list_production_requests

        store = runtime_of(info).clickhouse
        project, models = self.scope
        page = await list_production_requests(store, project, self.from_, self.to, models, check_first(first),
                                              after)
        return to_connection(Page(page.items, page.has_next_page, after is not None, _cursor_of),
                             lambda row: RequestEvent.from_row(row, (project, NIL)),
                             lambda: count_production_requests(store, project, self.from_, self.to, models))

    @classmethod
    def of(cls, traffic: ProductionTraffic, project_id: UUID, models: list[str] | None) -> ProductionTrafficResult:
        m, j = traffic.models, traffic.judged
        return cls(
            from_=traffic.start, to=traffic.end, scope=(project_id, models),
            models=ProductionModelTraffic(
                provider=m.provider, model=m.model, requests=m.requests, errors=m.errors, error_rate=m.error_rate,
                metrics=[MetricValues(metric=Metric(c.metric), n=c.n, mean=c.mean, min=c.min, max=c.max, sum=c.sum,
                                      percentiles=[PercentileValues.of(p) for p in c.percentiles])
                         for c in m.metrics],
                prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens, cost_usd=m.cost_usd,
                cost_unknown_requests=m.cost_unknown_requests),
            judged=ProductionJudgedShare(
                evaluator=j.evaluator, evaluator_type=j.evaluator_type, scored=j.scored, passed=j.passed,
                pass_rate=j.pass_rate, pass_rate_low=j.pass_rate_low, pass_rate_high=j.pass_rate_high,
                mean_score=j.mean_score, judge_errors=j.judge_errors, judge_cost_usd=j.judge_cost_usd),
            scored_requests=traffic.scored_requests, successful_requests=traffic.successful_requests)


def _cursor_of(row: RequestRow) -> str:
    return row.cursor


@strawberry.type(description=(
    "How a sample of the project's production traffic is scored (docs/production.md): evaluators in the "
    "experiment spec's vocabulary, a sample rate, optionally only some models. Scores are `scores` rows with "
    "the nil UUID as run id and this version's `passId`."))
class ProductionScoring:
    rules: JSON = strawberry.field(description=(
        "`evaluators` (defaults spelled out), `judges` (the project's models, by name), `evaluation`."))
    sample_rate: float = strawberry.field(description="Share of successful production requests scored, in (0, 1].")
    models: list[str] = strawberry.field(description="Only these models' requests; empty: every model.")
    enabled: bool = strawberry.field(description="false: paused (nothing is scored; the position is kept).")
    version: int = strawberry.field(description="Raised by every change of rules, rate or models.")
    pass_id: str = strawberry.field(description="The `pass_id` of this version's score rows.")
    scored_through: datetime = strawberry.field(description=(
        "Requests sent up to here have been looked at (sampled ones scored); later ones are next."))
    scored_requests: int = strawberry.field(description="Requests scored by every version so far.")
    judge_calls: int
    judge_errors: int
    judge_cost_usd: float = strawberry.field(description="USD spent on judge calls so far.")
    last_scored_at: datetime | None
    last_error: str | None = strawberry.field(description=(
        "Why the last batch could not be scored (it is tried again at the next tick); null after a success."))
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, rules: RuleSet) -> ProductionScoring:
        return cls(rules=cast(JSON, rules.document), sample_rate=rules.sample_rate, models=list(rules.models),
                   enabled=rules.enabled, version=rules.version, pass_id=str(rules.pass_id),
                   scored_through=rules.watermark_ts, scored_requests=rules.scored_requests,
                   judge_calls=rules.judge_calls, judge_errors=rules.judge_errors, judge_cost_usd=rules.judge_cost_usd,
                   last_scored_at=rules.last_scored_at, last_error=rules.last_error, created_at=rules.created_at,
                   created_by=rules.created_by, updated_at=rules.updated_at, updated_by=rules.updated_by)


async def production_scoring_of(info: Info, project_id: UUID) -> ProductionScoring | None:
    """The project's rule set, if it has one."""
    from benchlab.stores.production_scoring import get_rules

    async with runtime_of(info).pg.acquire() as conn:
        rules = await get_rules(conn, project_id)
    return ProductionScoring.of(rules) if rules is not None else None
