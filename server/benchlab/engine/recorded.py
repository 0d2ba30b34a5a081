"""What earlier executions of a run left in ClickHouse: where a resumed run goes on from."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from benchlab.stores import request_events
from benchlab.stores.clickhouse import ClickHouseStore


@dataclass(frozen=True)
class RecordedState:
    """What earlier executions of a run left in ClickHouse (nothing for a first start).

    A resumed run goes on from here: recorded cells are skipped and count towards the request budget, the
    counters (and so the error-rate stop rule) continue from the stored rows, and the run's clock resumes
    where the last recorded request finished, so the pause before the resume is not part of the run.
    """

    event_ids: frozenset[UUID] = frozenset()
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    end_s: float = 0.0                                                      # run clock at the last finish
    per_phase: dict[str, tuple[int, float]] = field(default_factory=dict)  # phase -> (requests, seconds)


async def recorded_state(clickhouse: ClickHouseStore, project_id: UUID, run_id: UUID) -> RecordedState:
    stored = await request_events.stored_requests(clickhouse, project_id, run_id)
    if not stored:
        return RecordedState()
    errors: dict[str, int] = {}
    phases: dict[str, list[float]] = {}  # phase -> [requests, first intended send, last finish]
    for request in stored:
        if not request.ok:
            errors[request.error_type] = errors.get(request.error_type, 0) + 1
        span = phases.setdefault(request.load_phase, [0, request.run_offset_s, request.finished_s])
        span[0] += 1
        span[1], span[2] = min(span[1], request.run_offset_s), max(span[2], request.finished_s)
    return RecordedState(frozenset(request.event_id for request in stored), sum(errors.values()), errors,
                         max(span[2] for span in phases.values()),
                         {phase: (int(n), last - first) for phase, (n, first, last) in phases.items()})
