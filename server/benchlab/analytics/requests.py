"""One run's requests, page by page, oldest first: the drill-down behind every aggregate.

Ordered by (ts, event_id), ties on ts broken by event id, so the order is total and stable across pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.analytics.columns import epoch_micros, utc
from benchlab.analytics.cursor import decode_cursor, encode_cursor
from benchlab.analytics.scope import runs_scope
from benchlab.analytics.validation import check_whole_number
from benchlab.metrics import LATENCY_DECIMALS
from benchlab.stores.clickhouse import ClickHouseStore

MAX_PAGE_SIZE = 1000
FIELDS = ("event_id", "item_id", "repetition", "attempt", "model", "prompt_version", "params_hash", "load_phase",
           "ts", "status", "error_type", "http_status", "ttft_ms", "ttfot_ms", "tpot_ms", "e2e_ms",
           "queue_delay_ms", "inter_event_ms", "prompt_tokens", "completion_tokens", "reasoning_tokens",
           "tokens_estimated", "cost_usd", "cost_known", "finish_reason", "output", "tool_calls", "error_message",
           "input")
_LATENCIES = ("ttft_ms", "ttfot_ms", "tpot_ms", "e2e_ms", "queue_delay_ms")
_AFTER = ("ts >= fromUnixTimestamp64Micro({after_ts:Int64}, 'UTC') AND (ts, event_id) > "
          "(fromUnixTimestamp64Micro({after_ts:Int64}, 'UTC'), {after_event:UUID})")


@dataclass(frozen=True)
class RequestFilter:
    """Optional conditions, all of which a request must meet; None means "any"."""

    status: str | None = None
    model: str | None = None
    load_phase: str | None = None
    error_type: str | None = None
    min_e2e_ms: float | None = None


# Filter field -> condition on its bound parameter of the same name.
_FILTERS = {
    "status": "status = {status:String}",
    "model": "model = {model:String}",
    "load_phase": "load_phase = {load_phase:String}",
    "error_type": "error_type = {error_type:String}",
    "min_e2e_ms": "e2e_ms >= {min_e2e_ms:Float64}",
}


@dataclass(frozen=True)
class RequestRow:
    """One request as recorded (`benchlab.metrics` defines each value); latencies in ms, 0 where one does not apply."""

    cursor: str
    event_id: UUID
    item_id: str
    repetition: int
    attempt: int
    model: str
    prompt_version: str
    params_hash: str
    load_phase: str
    ts: datetime
    status: str
    error_type: str
    http_status: int
    ttft_ms: float
    ttfot_ms: float
    tpot_ms: float
    e2e_ms: float
    queue_delay_ms: float
    inter_event_ms: list[float]
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    tokens_estimated: bool
    cost_usd: float
    cost_known: bool     # false: no price for the model, cost_usd is 0 but unknown
    finish_reason: str
    output: str          # the answer text (capped at 64 KiB by the engine)
    tool_calls: str      # JSON, empty when none
    error_message: str   # empty when ok
    input: str           # production requests: the input messages as JSON; empty for experiment requests


@dataclass(frozen=True)
class RequestPage:
    items: list[RequestRow]
    has_next_page: bool
    end_cursor: str | None = field(default=None)


async def list_requests(store: ClickHouseStore, project_id: UUID, run_id: UUID, first: int, after: str | None,
                        filters: RequestFilter | None = None) -> RequestPage:
    """Up to `first` (1..1000) requests of the run after the row `after` points at, oldest first."""
    check_whole_number(first, 1, MAX_PAGE_SIZE, "first")
    conditions, parameters = _matching(project_id, run_id, filters)
    if after is not None:
        parameters["after_ts"], parameters["after_event"] = decode_cursor(after)
        conditions.append(_AFTER)
    result = await store.query(
        f"SELECT {', '.join(FIELDS)} FROM request_events WHERE {' AND '.join(conditions)} "
        "ORDER BY ts, event_id LIMIT {limit:UInt32}", {**parameters, "limit": first + 1},
        caller="analytics.list_requests")
    items = [request_row(values) for values in result.dicts()[:first]]
    return RequestPage(items=items, has_next_page=len(result.rows) > first,
                       end_cursor=items[-1].cursor if items else None)


async def count_requests(store: ClickHouseStore, project_id: UUID, run_id: UUID,
                         filters: RequestFilter | None = None) -> int:
    """How many requests of the run meet `filters`: the size of the whole list `list_requests` pages through."""
    conditions, parameters = _matching(project_id, run_id, filters)
    result = await store.query(f"SELECT count() FROM request_events WHERE {' AND '.join(conditions)}", parameters,
                               caller="analytics.count_requests")
    return int(result.rows[0][0])


def _matching(project_id: UUID, run_id: UUID, filters: RequestFilter | None) -> tuple[list[str], dict[str, Any]]:
    """The conditions (and their bound parameters) of the run's requests that meet `filters`."""
    parameters: dict[str, Any] = {"project": project_id, "runs": [run_id]}
    conditions = [runs_scope(False)]
    for name, condition in _FILTERS.items():
        value = getattr(filters, name) if filters is not None else None
        if value is not None:
            parameters[name] = value
            conditions.append(condition)
    return conditions, parameters


def request_row(values: dict[str, Any]) -> RequestRow:
    """A row of FIELDS (as a dict) as a RequestRow with its cursor."""
    values["ts"] = utc(values["ts"])
    for name in _LATENCIES:
        values[name] = round(float(values[name]), LATENCY_DECIMALS)
    values["inter_event_ms"] = [round(float(gap), LATENCY_DECIMALS) for gap in values["inter_event_ms"]]
    return RequestRow(cursor=encode_cursor(epoch_micros(values["ts"]), values["event_id"]), **values)


async def list_recent_requests(store: ClickHouseStore, project_id: UUID, run_id: UUID,
                               count: int) -> list[dict[str, Any]]:
    """The run's `count` most recent requests, oldest first, as plain dicts (a live feed's catch-up)."""
    check_whole_number(count, 1, MAX_PAGE_SIZE, "replay")
    result = await store.query(
        f"SELECT {', '.join(FIELDS)} FROM request_events WHERE {runs_scope(False)} "
        "ORDER BY ts DESC, event_id DESC LIMIT {limit:UInt32}",
        {"project": project_id, "runs": [run_id], "limit": count}, caller="analytics.list_recent_requests")
    return [vars(request_row(values)) for values in reversed(result.dicts())]
