"""The `scores` table (clickhouse/migrations/0006): one typed record per scoring pass x request x score name.

`ScoreRow` is the one shape of a row: the scoring pass builds it, the event writer inserts it (`as_row()`, in
`COLUMNS` order). `stored_responses` reads what a pass scores: a run's requests as recorded, in pages.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.stores.clickhouse import ClickHouseStore

TABLE = "scores"


@dataclass(frozen=True, slots=True)
class ScoreRow:
    project_id: UUID
    run_id: UUID
    experiment_id: UUID
    pass_id: UUID
    event_id: UUID
    ts: datetime
    item_id: str
    repetition: int
    load_phase: str
    model: str
    prompt_version: str
    params_hash: str
    evaluator: str
    evaluator_type: str
    score_name: str
    weight: float
    value: float
    passed: bool
    label: str
    reason: str
    reference: str = ""
    counterpart: str = ""
    judge_model: str = ""
    judge_cached: bool = False
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_cost_usd: float = 0.0
    judge_latency_ms: float = 0.0

    def as_row(self) -> tuple[Any, ...]:
        return _AS_ROW(self)


COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(ScoreRow))
_AS_ROW = operator.attrgetter(*COLUMNS)  # one C call per row: a pass writes millions of them


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One recorded request as a scoring pass reads it."""

    event_id: UUID
    ts: datetime
    item_id: str
    repetition: int
    load_phase: str
    model: str
    prompt_version: str
    params_hash: str
    ok: bool
    error_type: str
    output: str
    tool_calls: str        # JSON, "" when none
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float
    cost_usd: float | None  # None: no price known


RESPONSE_COLUMNS = ("event_id, ts, item_id, repetition, load_phase, model, prompt_version, params_hash, "
                     "status = 'ok', error_type, output, tool_calls, ttft_ms, tpot_ms, e2e_ms, "
                     "if(cost_known, cost_usd, NULL)")
PAGE_ROWS = 5000


async def stored_responses(store: ClickHouseStore, project_id: UUID, run_id: UUID, *,
                           after: UUID | None = None, limit: int = PAGE_ROWS) -> list[StoredResponse]:
    """One page of a run's recorded requests in event-id order (keyset: pass the last id seen as `after`), so a
    run of a million requests is scored without holding its outputs in memory at once."""
    condition = "AND event_id > {after:UUID}" if after is not None else ""
    result = await store.query(
        f"SELECT {RESPONSE_COLUMNS} FROM request_events WHERE project_id = {{project:UUID}} "
        f"AND run_id = {{run:UUID}} {condition} ORDER BY event_id LIMIT {{limit:UInt32}}",
        {"project": project_id, "run": run_id, "after": after, "limit": limit}, caller="scoring-read")
    return [StoredResponse(*row) for row in result.rows]


async def count_responses(store: ClickHouseStore, project_id: UUID, run_id: UUID) -> int:
    result = await store.query(
        "SELECT count() FROM request_events WHERE project_id = {project:UUID} AND run_id = {run:UUID}",
        {"project": project_id, "run": run_id}, caller="scoring-count")
    return int(result.rows[0][0])


@dataclass(frozen=True)
class StoredScore:
    """One score of one request, as the API shows it."""

    event_id: UUID
    evaluator: str
    evaluator_type: str
    score_name: str
    value: float
    passed: bool
    label: str
    reason: str
    judge_model: str
    judge_cost_usd: float
    judge_latency_ms: float
    judge_cached: bool
    counterpart: str


async def scores_of_requests(store: ClickHouseStore, project_id: UUID, run_id: UUID, pass_id: UUID,
                             event_ids: list[UUID]) -> list[StoredScore]:
    """The scores of some requests of one pass (for `RequestEvent.scores`, batched per page of requests)."""
    if not event_ids:
        return []
    result = await store.query(
        "SELECT event_id, evaluator, evaluator_type, score_name, value, passed, label, reason, judge_model, "
        "judge_cost_usd, judge_latency_ms, judge_cached, counterpart FROM scores "
        "WHERE project_id = {project:UUID} AND run_id = {run:UUID} AND pass_id = {pass:UUID} "
        "AND event_id IN {events:Array(UUID)} "
        "ORDER BY event_id, evaluator = 'overall', evaluator, score_name, counterpart",
        {"project": project_id, "run": run_id, "pass": pass_id, "events": event_ids}, caller="request-scores")
    return [StoredScore(*row) for row in result.rows]
