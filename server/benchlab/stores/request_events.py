"""The `request_events` table (clickhouse/migrations): one typed record per request, and the run's stored rows.

`RequestEvent` is the one shape of a row: the engine builds it when a request finishes, the event writer
inserts it (`as_row()`, in `COLUMNS` order) and the live feed sends its JSON form (`feed_entry()`). Timing
fields are milliseconds as defined by the metrics module; 0 where a metric does not apply (no Nullable columns).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.stores.clickhouse import ClickHouseStore

TABLE = "request_events"
_NOT_IN_FEED = ("project_id", "run_id", "experiment_id", "source", "input")


@dataclass(frozen=True, slots=True)
class RequestEvent:
    project_id: UUID
    run_id: UUID
    experiment_id: UUID
    event_id: UUID
    item_id: str
    repetition: int
    attempt: int
    provider: str
    model: str
    prompt_version: str
    params_hash: str
    source: str
    load_phase: str
    ts: datetime                 # first byte of the first attempt written (UTC)
    in_window: bool
    run_offset_s: float          # intended send on the run's clock (pauses between executions excluded)
    first_on_connection: bool
    queue_delay_ms: float
    ttft_ms: float
    ttfot_ms: float
    e2e_ms: float
    e2e_from_intended_ms: float
    stream_end_ms: float
    tpot_ms: float
    inter_event_ms: list[float]
    tokens_per_event: list[int]
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    tokens_estimated: bool
    cost_usd: float
    cost_known: bool
    status: str                  # ok | error
    error_type: str
    http_status: int
    finish_reason: str
    output: str
    tool_calls: str              # JSON, "" when none
    error_message: str
    # The input messages as JSON for production rows (migration 0008); experiment rows name their dataset item.
    input: str = ""

    def as_row(self) -> tuple[Any, ...]:
        """The values in COLUMNS order, for the event writer."""
        return tuple(getattr(self, name) for name in COLUMNS)

    def feed_entry(self) -> dict[str, Any]:
        """The JSON-safe part a live subscriber receives (the run's own ids are the channel's). Built field by
        field, not with `dataclasses.asdict`, which deep-copies: this runs once per finished request."""
        entry = {name: getattr(self, name) for name in _FEED_COLUMNS}
        entry["event_id"], entry["ts"] = str(self.event_id), str(self.ts)
        return entry


COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(RequestEvent))
_FEED_COLUMNS = tuple(name for name in COLUMNS if name not in _NOT_IN_FEED)


@dataclass(frozen=True)
class StoredRequest:
    """What a resumed run needs to know about one request an earlier execution recorded."""

    event_id: UUID
    load_phase: str
    ok: bool
    error_type: str
    run_offset_s: float   # intended send, on the run's clock
    finished_s: float     # when it finished, on the run's clock


async def stored_requests(store: ClickHouseStore, project_id: UUID, run_id: UUID) -> list[StoredRequest]:
    """Every request of the run already recorded (for a resume: what to skip, where its clock stood)."""
    result = await store.query(
        "SELECT event_id, load_phase, status = 'ok', error_type, run_offset_s, run_offset_s + "
        "greatest(queue_delay_ms + stream_end_ms, e2e_from_intended_ms) / 1000 FROM request_events "
        "WHERE project_id = {project:UUID} AND run_id = {run:UUID}",
        {"project": project_id, "run": run_id}, caller="run-resume")
    return [StoredRequest(*row) for row in result.rows]
