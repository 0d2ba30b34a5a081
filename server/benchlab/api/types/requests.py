"""One LLM request as recorded (`request_events`), for `run.requests` and the `runRequests` feed."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api.context import loaders_of, runtime_of
from benchlab.api.types.scoring import RequestScore
from benchlab.metrics import METRICS
from benchlab.stores import production_sample, scoring_passes
from benchlab.stores import scores as score_store

if TYPE_CHECKING:
    from benchlab.analytics.requests import RequestRow
    from benchlab.runtime import Runtime

ScoreKey = tuple[UUID, UUID, str]  # (project, run, event id)


def _as_datetime(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@strawberry.type(description=(
    "One request: identity in the experiment matrix, timing, tokens, cost, status and output. Timings are "
    "milliseconds on one monotonic clock, stamped where bytes arrive; 0 where a metric does not apply."))
class RequestEvent:
    event_id: str = strawberry.field(description="Deterministic per planned request (run, item, cell, repetition).")
    item_id: str
    repetition: int
    attempt: int = strawberry.field(description="1 + retries made before the recorded outcome.")
    model: str
    prompt_version: str
    params_hash: str = strawberry.field(description="Identifies the parameter set (grid cell).")
    load_phase: str = strawberry.field(description="`main`, or the sweep phase (`sync`, `max`, `rate-N`).")
    ts: datetime = strawberry.field(description="When the first byte of the request was written (UTC).")
    status: str = strawberry.field(description="`ok` or `error`.")
    error_type: str = strawberry.field(description=(
        "rate_limited, server_error, timeout, connect_error (no connection could be made: the server never saw "
        "the request), disconnected (the connection was lost before the answer was complete), bad_request, auth "
        "or other; empty when ok."))
    error_message: str
    http_status: int
    queue_delay_ms: float = strawberry.field(description=METRICS["queue_delay_ms"].meaning)
    ttft_ms: float = strawberry.field(description=METRICS["ttft_ms"].meaning)
    ttfot_ms: float = strawberry.field(description=METRICS["ttfot_ms"].meaning)
    tpot_ms: float = strawberry.field(description=METRICS["tpot_ms"].meaning)
    e2e_ms: float = strawberry.field(description=METRICS["e2e_ms"].meaning)
    inter_event_ms: list[float] = strawberry.field(description=METRICS["inter_event_ms"].meaning)
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    tokens_estimated: bool = strawberry.field(description="Token counts estimated (the provider sent no usage).")
    cost_usd: float | None = strawberry.field(description=(
        "USD, from the model's own prices or litellm's price map; null when neither knows the model (set prices "
        "on the model)."))
    finish_reason: str
    output: str = strawberry.field(description="The response text (first 64 KiB).")
    tool_calls: JSON | None = strawberry.field(description="Tool calls the model made, as JSON.")
    input: str = strawberry.field(description=(
        "Production requests: the input messages the application sent, as a JSON text (OTLP traces and the litellm "
        "callback carry them when the producer records content); empty for experiment requests, whose input is "
        "their dataset item."))
    run_key: strawberry.Private[tuple[UUID, UUID] | None] = None  # (project, run): set where the run is known

    @classmethod
    def from_row(cls, row: RequestRow, run_key: tuple[UUID, UUID] | None = None) -> RequestEvent:
        """From a `RequestRow` of `analytics.requests`."""
        event = cls.from_dict(vars(row))
        event.run_key = run_key
        return event

    @strawberry.field(description=(
        "This request's scores with their reasons, from the run's current scoring pass (its newest completed "
        "one); empty before the run was scored. `overall` is the request's weighted score. A production request's "
        "are those of the sampled scoring of production traffic; empty when it was not in the sample."))
    async def scores(self, info: Info) -> list[RequestScore]:
        if self.run_key is None:
            return []
        runtime = runtime_of(info)
        loader = loaders_of(info).keyed("request_scores", lambda keys: _load_scores(runtime, keys))
        return await loader.load((*self.run_key, self.event_id))

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> RequestEvent:
        tool_calls = row.get("tool_calls") or ""
        return cls(
            event_id=str(row["event_id"]), item_id=row["item_id"], repetition=int(row["repetition"]),
            attempt=int(row["attempt"]), model=row["model"], prompt_version=row["prompt_version"],
            params_hash=row["params_hash"], load_phase=row.get("load_phase", "main"), ts=_as_datetime(row["ts"]),
            status=row["status"], error_type=row["error_type"], error_message=row.get("error_message", ""),
            http_status=int(row["http_status"]), queue_delay_ms=float(row["queue_delay_ms"]),
            ttft_ms=float(row["ttft_ms"]), ttfot_ms=float(row["ttfot_ms"]), tpot_ms=float(row["tpot_ms"]),
            e2e_ms=float(row["e2e_ms"]), inter_event_ms=[float(g) for g in row.get("inter_event_ms") or []],
            prompt_tokens=int(row["prompt_tokens"]), completion_tokens=int(row["completion_tokens"]),
            reasoning_tokens=int(row.get("reasoning_tokens", 0)), tokens_estimated=bool(row["tokens_estimated"]),
            cost_usd=float(row["cost_usd"]) if row.get("cost_known", True) else None,
            finish_reason=row.get("finish_reason", ""),
            output=row.get("output", ""), tool_calls=json.loads(tool_calls) if tool_calls else None,
            input=row.get("input", ""))


@strawberry.input(description="Narrow a run's requests; all given conditions must hold.")
class RequestFilterInput:
    status: str | None = strawberry.field(default=None, description="`ok` or `error`.")
    model: str | None = None
    load_phase: str | None = None
    error_type: str | None = None
    min_e2e_ms: float | None = strawberry.field(default=None, description="Only requests at least this slow.")


async def _load_scores(runtime: Runtime, keys: list[ScoreKey]) -> list[list[RequestScore]]:
    """Scores of many requests: one PostgreSQL read for the runs' current passes, one ClickHouse read per run."""
    runs = sorted({(project, run) for project, run, _ in keys})
    async with runtime.pg.acquire() as conn:
        current = await scoring_passes.current_passes(conn, [run for _, run in runs])
    found: dict[ScoreKey, list[RequestScore]] = {}
    for project, run in runs:
        events = [UUID(event) for p, r, event in keys if (p, r) == (project, run)]
        if run == production_sample.NIL:  # a production request: its sampled scoring's scores (docs/production.md)
            stored = await production_sample.production_scores(runtime.clickhouse, project, events)
        elif run in current:
            stored = await score_store.scores_of_requests(runtime.clickhouse, project, run, current[run].id, events)
        else:
            continue
        for score in stored:
            found.setdefault((project, run, str(score.event_id)), []).append(RequestScore.of(score))
    return [found.get(key, []) for key in keys]
