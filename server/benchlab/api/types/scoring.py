"""Scores as GraphQL types: a run's scoring passes, their summaries, and one request's scores.

A scoring pass is one scoring of a run's stored responses (right after the run, or a re-scoring with
`scoreRun` / `benchlab eval`); a run's current scores are its newest completed pass. Figures come from the
pass's summary, computed in ClickHouse over the pass's score rows (docs/evaluation.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from benchlab.stores.scores import StoredScore
from benchlab.stores.scoring_passes import ScoringPass as PassRecord


@strawberry.type(description="One score of one request: value in [0, 1], pass/fail and the reason.")
class RequestScore:
    evaluator: str = strawberry.field(description="The evaluator's name (`overall`: the request's weighted score).")
    type: str = strawberry.field(description="The evaluator type as written (e.g. `not-contains`, `llm-rubric`).")
    name: str = strawberry.field(description="The score's name: the evaluator's, or `<evaluator>/<part>`.")
    value: float
    passed: bool
    label: str = strawberry.field(description=(
        "A category when there is one: win, tie, loss or inconsistent (pairwise), judge_error, request_error "
        "(the request failed), unknown."))
    reason: str
    counterpart: str = strawberry.field(description="Pairwise: the model (or prompt version) compared with.")
    judge_model: str = strawberry.field(description="The judge that gave this score; empty for other evaluators.")
    judge_cost_usd: float
    judge_latency_ms: float
    judge_cached: bool = strawberry.field(description="The verdict came from the cache (no judge call).")

    @classmethod
    def of(cls, score: StoredScore) -> RequestScore:
        return cls(evaluator=score.evaluator, type=score.evaluator_type, name=score.score_name, value=score.value,
                   passed=score.passed, label=score.label, reason=score.reason, counterpart=score.counterpart,
                   judge_model=score.judge_model, judge_cost_usd=score.judge_cost_usd,
                   judge_latency_ms=score.judge_latency_ms, judge_cached=score.judge_cached)


@strawberry.type(description=(
    "Scores of one evaluator (and score name) over the whole run (`model` null) or one group: model × prompt "
    "version × parameter set. Pass rate with its 95 % Wilson interval; mean score with its 95 % percentile "
    "bootstrap interval (fixed seed). Failed requests count as fails."))
class EvaluatorScore:
    evaluator: str
    type: str
    score_name: str
    model: str | None
    prompt_version: str | None
    params_hash: str | None
    params: JSON | None = strawberry.field(description="The parameter set's values, e.g. {\"temperature\": 0.7}.")
    count: int
    passed: int
    pass_rate: float | None
    pass_rate_low: float | None
    pass_rate_high: float | None
    mean: float | None
    mean_low: float | None
    mean_high: float | None
    judge_errors: int = strawberry.field(description="Verdicts that could not be read (counted as fails).")
    request_errors: int = strawberry.field(description="Requests that failed, so had nothing to score.")
    judge_cost_usd: float

    @classmethod
    def of(cls, entry: dict[str, Any]) -> EvaluatorScore:
        group = entry.get("group") or {}
        low_high = entry.get("pass_rate_ci") or [None, None]
        mean_ci = entry.get("mean_ci") or [None, None]
        return cls(evaluator=entry["evaluator"], type=entry["type"], score_name=entry["score_name"],
                   model=group.get("model"), prompt_version=group.get("prompt_version"),
                   params_hash=group.get("params_hash"), params=group.get("params") if group else None,
                   count=entry["count"], passed=entry["passed"], pass_rate=entry["pass_rate"],
                   pass_rate_low=low_high[0], pass_rate_high=low_high[1], mean=entry["mean"], mean_low=mean_ci[0],
                   mean_high=mean_ci[1], judge_errors=entry["judge_errors"],
                   request_errors=entry.get("request_errors", 0), judge_cost_usd=entry["judge_cost_usd"])


@strawberry.type(description=(
    "A pairwise evaluator's results for one subject against one counterpart: the judge compared their responses "
    "on the same item and repetition in both orders; a verdict that flipped with the order is `inconsistent` "
    "and counts as a tie. Win rate = (wins + ties/2 + inconsistent/2) / judged comparisons."))
class PairwiseResult:
    evaluator: str
    compare: str = strawberry.field(description="`model` or `prompt`: what differs between the two responses.")
    subject: str
    counterpart: str
    comparisons: int
    wins: int
    ties: int
    losses: int
    inconsistent: int
    judge_errors: int
    win_rate: float | None
    win_rate_low: float | None
    win_rate_high: float | None

    @classmethod
    def of(cls, entry: dict[str, Any]) -> PairwiseResult:
        interval = entry.get("win_rate_ci") or [None, None]
        return cls(evaluator=entry["evaluator"], compare=entry["compare"], subject=entry["subject"],
                   counterpart=entry["counterpart"], comparisons=entry["comparisons"], wins=entry["wins"],
                   ties=entry["ties"], losses=entry["losses"], inconsistent=entry["inconsistent"],
                   judge_errors=entry["judge_errors"], win_rate=entry["win_rate"], win_rate_low=interval[0],
                   win_rate_high=interval[1])


@strawberry.type(description=(
    "How far a judge evaluator agrees with the human labels of the dataset items (`labels`): accuracy and "
    "Cohen's kappa of pass/fail; Pearson's r between human and judge scores for numeric labels."))
class JudgeCalibration:
    evaluator: str
    labelled: int
    accuracy: float | None
    kappa: float | None
    numeric_labels: int
    pearson_r: float | None


@strawberry.type(description="One scoring of a run's stored responses, and its results.")
class ScoringPass:
    id: strawberry.ID
    status: str = strawberry.field(description="queued, running, completed or failed.")
    trigger: str = strawberry.field(description="run (right after the run), cli (`benchlab eval`) or api.")
    evaluators: JSON = strawberry.field(description="The evaluators, judges and evaluation settings used.")
    total_requests: int
    scored_requests: int
    judge_calls: int = strawberry.field(description="Calls made to judges (retries included).")
    judge_cached_calls: int = strawberry.field(description="Verdicts reused from the cache: no call made.")
    judge_errors: int
    judge_cost_usd: float = strawberry.field(description="What the judges cost, apart from the models under test.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: strawberry.Private[dict[str, Any] | None]

    @classmethod
    def of(cls, record: PassRecord) -> ScoringPass:
        counters = record.counters
        return cls(id=strawberry.ID(str(record.id)), status=record.status.value, trigger=record.trigger.value,
                   evaluators=JSON(record.evaluators), total_requests=counters.total_requests,
                   scored_requests=counters.scored_requests, judge_calls=counters.judge_calls,
                   judge_cached_calls=counters.judge_cached, judge_errors=counters.judge_errors,
                   judge_cost_usd=counters.judge_cost_usd, error=record.error, created_at=record.created_at,
                   started_at=record.started_at, finished_at=record.finished_at, summary=record.summary)

    @strawberry.field(name="summary", description=(
        "The pass's results as stored, one JSON document (`evaluators`, `pairwise`, `calibration`, `judge`): what "
        "`benchlab eval --json` prints under `scores`. Null until the pass ends."))
    def stored_summary(self) -> JSON | None:
        return None if self.summary is None else JSON(self.summary)

    @strawberry.field(description="Per evaluator: the whole run first, then each group.")
    def scores(self, evaluator: str | None = None) -> list[EvaluatorScore]:
        entries = (self.summary or {}).get("evaluators", [])
        return [EvaluatorScore.of(e) for e in entries if evaluator is None or e["evaluator"] == evaluator]

    @strawberry.field
    def pairwise(self) -> list[PairwiseResult]:
        return [PairwiseResult.of(entry) for entry in (self.summary or {}).get("pairwise", [])]

    @strawberry.field
    def calibration(self) -> list[JudgeCalibration]:
        return [JudgeCalibration(**entry) for entry in (self.summary or {}).get("calibration", [])]


def pass_uuid(value: str) -> UUID:
    """A scoring pass id as given by a client."""
    from benchlab.errors import InvalidInputError

    try:
        return UUID(value)
    except ValueError:
        raise InvalidInputError(f"passId: not a scoring pass id: {value[:40]!r}") from None


@strawberry.enum(description="What a leaderboard ranks.")
class LeaderboardBy(Enum):
    MODEL = "model"
    PROMPT_VERSION = "prompt_version"


@strawberry.type(description=(
    "One model (or prompt version): its quality score (mean of the chosen evaluator's score, with a 95 % "
    "bootstrap interval; pass rate with a Wilson interval), TTFT and E2E p50/p95 in ms (successful requests "
    "in the measurement window, each with a 95 % bootstrap interval) and cost per 1,000 requests in USD "
    "(requests whose price is known; bootstrap interval). Ranked by the quality score, best first."))
class LeaderboardRow:
    rank: int
    subject: str
    requests: int
    score_count: int
    score_mean: float | None
    score_low: float | None
    score_high: float | None
    pass_rate: float | None
    pass_rate_low: float | None
    pass_rate_high: float | None
    ttft_p50_ms: float | None
    ttft_p50_low: float | None
    ttft_p50_high: float | None
    ttft_p95_ms: float | None
    ttft_p95_low: float | None
    ttft_p95_high: float | None
    e2e_p50_ms: float | None
    e2e_p50_low: float | None
    e2e_p50_high: float | None
    e2e_p95_ms: float | None
    e2e_p95_low: float | None
    e2e_p95_high: float | None
    cost_per_1k_usd: float | None
    cost_per_1k_low: float | None
    cost_per_1k_high: float | None

    @classmethod
    def of(cls, entry: Any) -> LeaderboardRow:
        values = vars(entry)
        flat: dict[str, Any] = {}
        for name, value in values.items():
            if name.endswith("_interval"):
                stem = name.removesuffix("_interval")
                flat[f"{stem}_low"], flat[f"{stem}_high"] = value if value else (None, None)
            else:
                flat[name] = value
        return cls(**flat)


@strawberry.type(description="A leaderboard and the scored runs it was computed from.")
class Leaderboard:
    by: LeaderboardBy
    evaluator: str
    run_ids: list[strawberry.ID] = strawberry.field(description="The runs taken (each with its current pass).")
    rows: list[LeaderboardRow]
