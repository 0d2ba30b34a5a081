"""Which production requests are scored, and reading them: the sample, defined once, in SQL and in Python.

A production request (`request_events` with `source = 'production'`) is in the sample of rate r when its key,
the first 8 bytes of SHA-256 over its event id's text (`str(uuid)`, lowercase with hyphens) read as a big-endian
unsigned 64-bit number, is below ⌊r · 2^64⌋. So every replica and every retry picks the same requests, whatever
order they arrive in, without remembering anything; and anyone can check a request with hashlib. (ClickHouse's
cityHash64 or sipHash64 would be cheaper but have no standard-library twin in Python; SHA-256 over 36 bytes costs
well under a microsecond per row, nothing next to reading the row.) Only successful requests are sampled: a
failed one has no answer to judge, and the error rate is its own figure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from benchlab.metrics import SUCCEEDED
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.scores import RESPONSE_COLUMNS, StoredResponse, StoredScore

SOURCE = "production"
NIL = UUID(int=0)  # run_id and experiment_id of production rows, and of their scores
SAMPLE_KEY_SQL = "reinterpretAsUInt64(reverse(substring(SHA256(toString(event_id)), 1, 8)))"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCOPE = (f"project_id = {{project:UUID}} AND source = '{SOURCE}' AND {SUCCEEDED.sql}")


def sample_key(event_id: UUID) -> int:
    """The request's place in [0, 2^64): SAMPLE_KEY_SQL, in Python."""
    return int.from_bytes(hashlib.sha256(str(event_id).encode()).digest()[:8], "big")


def sample_threshold(rate: float) -> int | None:
    """Keys below this are sampled; None at rate 1 (everything). Exact: r · 2^64 of a float is a float."""
    if not 0 < rate <= 1:
        raise ValueError(f"a sample rate is in (0, 1], got {rate}")
    return None if rate == 1 else int(rate * 2 ** 64)


def is_sampled(event_id: UUID, rate: float) -> bool:
    threshold = sample_threshold(rate)
    return threshold is None or sample_key(event_id) < threshold


def _micros(moment: datetime) -> int:
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


async def next_sample(store: ClickHouseStore, project_id: UUID, after: tuple[datetime, UUID], before: datetime,
                      rate: float, models: Sequence[str], limit: int) -> tuple[list[UUID], datetime, UUID]:
    """Up to `limit` sampled requests after `after` (ts, event id) and sent before `before`, in (ts, event id)
    order, and where to continue from: after the last one when `limit` were found, else from `before`."""
    parameters = {"project": project_id, "after_us": _micros(after[0]), "after_event": after[1],
                  "before_us": _micros(before), "limit": limit}
    conditions = [_SCOPE, "ts >= fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')",
                  "(ts, event_id) > (fromUnixTimestamp64Micro({after_us:Int64}, 'UTC'), {after_event:UUID})",
                  "ts < fromUnixTimestamp64Micro({before_us:Int64}, 'UTC')"]
    if models:
        conditions.append("model IN {models:Array(String)}")
        parameters["models"] = list(models)
    threshold = sample_threshold(rate)
    if threshold is not None:
        conditions.append(f"{SAMPLE_KEY_SQL} < {{threshold:UInt64}}")
        parameters["threshold"] = threshold
    result = await store.query(
        f"SELECT event_id, ts FROM request_events WHERE {' AND '.join(conditions)} ORDER BY ts, event_id "
        "LIMIT {limit:UInt32}", parameters, caller="production.sample")
    events = list(dict.fromkeys(row[0] for row in result.rows))  # a row ingested twice is one request
    if len(result.rows) < limit:
        return events, before, NIL
    last_event, last_ts = result.rows[-1]
    return events, _aware(last_ts), last_event


@dataclass(frozen=True)
class ProductionResponse:
    """A production request as the scorer reads it: the stored response, and what the application asked."""

    response: StoredResponse
    provider: str
    input: str  # the input messages as JSON (migration 0008), "" when the producer did not send them


async def production_responses(store: ClickHouseStore, project_id: UUID, events: Sequence[UUID],
                               first: datetime, last: datetime) -> list[ProductionResponse]:
    """The requests `events`, sent within [first, last] (which keeps the scan to their hours), one row each."""
    if not events:
        return []
    result = await store.query(
        f"SELECT {RESPONSE_COLUMNS}, provider, input FROM request_events WHERE {_SCOPE} "
        "AND ts >= fromUnixTimestamp64Micro({first_us:Int64}, 'UTC') "
        "AND ts <= fromUnixTimestamp64Micro({last_us:Int64}, 'UTC') AND event_id IN {events:Array(UUID)} "
        "ORDER BY ts, event_id LIMIT 1 BY event_id",
        {"project": project_id, "first_us": _micros(first), "last_us": _micros(last), "events": list(events)},
        caller="production.responses")
    return [ProductionResponse(StoredResponse(*row[:-2]), row[-2], row[-1]) for row in result.rows]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def production_scores(store: ClickHouseStore, project_id: UUID, events: Sequence[UUID]) -> list[StoredScore]:
    """The production scores of some requests (run_id nil), every version's, for `RequestEvent.scores`."""
    if not events:
        return []
    result = await store.query(
        "SELECT event_id, evaluator, evaluator_type, score_name, value, passed, label, reason, judge_model, "
        "judge_cost_usd, judge_latency_ms, judge_cached, counterpart FROM scores "
        "WHERE project_id = {project:UUID} AND run_id = {nil:UUID} AND event_id IN {events:Array(UUID)} "
        "ORDER BY event_id, evaluator = 'overall', evaluator, score_name, pass_id",
        {"project": project_id, "nil": NIL, "events": list(events)}, caller="production.request_scores")
    return [StoredScore(*row) for row in result.rows]
