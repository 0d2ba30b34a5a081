"""Messages of the live subscriptions: run progress and finished requests."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from benchlab.api.ids import encode_global_id
from benchlab.api.types.requests import RequestEvent
from benchlab.api.types.run_lists import RunStatus


@strawberry.type(description=(
    "A run's progress. The first message is the current state (`snapshot: true`); then at most about two "
    "per second while it runs, and a last one with the final status. `sequence` grows by one per message "
    "of the run, so a jump means messages were missed; `gap: true` says so explicitly (slow client or a "
    "realtime outage): re-read `run(id)` if you need exact counters."))
class RunProgressEvent:
    run_id: strawberry.ID
    sequence: int = strawberry.field(description="Per-run message number (0 for a snapshot from the database).")
    status: RunStatus
    done: int = strawberry.field(description="Requests finished, successful or not.")
    total: int | None = strawberry.field(description="Requests planned; null when bound by duration.")
    failed: int
    requests_per_second: float = strawberry.field(description="Finished requests per second since the start.")
    ttft_p50_ms: float = strawberry.field(description="Median TTFT of the last 2,000 successful requests.")
    ttft_p99_ms: float = strawberry.field(description="p99 TTFT of the last 2,000 successful requests.")
    errors: JSON = strawberry.field(description="Failed requests by error class.")
    elapsed_seconds: float
    snapshot: bool = strawberry.field(description="This message was read from the database, not the live feed.")
    gap: bool = strawberry.field(description="Messages before this one may have been lost.")
    missed: int = strawberry.field(description="How many messages were dropped, when known (0 otherwise).")
    phase: str = strawberry.field(default="measuring", description=(
        "measuring (requests are being sent), finishing (the summary is computed), scoring (the responses are "
        "scored by the experiment's evaluators, after the measurement window) or ended."))
    scored: int = strawberry.field(default=0, description="Requests scored so far by the run's scoring pass.")
    scoring_total: int | None = strawberry.field(default=None, description="Requests the scoring pass scores.")

    @classmethod
    def from_message(cls, message: dict[str, Any], fallback: RunStatus) -> RunProgressEvent:
        return cls(run_id=strawberry.ID(encode_global_id("Run", message["runId"])),
                   sequence=message["sequence"], status=RunStatus(message["status"]) if message["status"]
                   in RunStatus._value2member_map_ else fallback, done=message["done"],
                   total=message["total"], failed=message["failed"],
                   requests_per_second=message["requestsPerSecond"], ttft_p50_ms=message["ttftP50Ms"],
                   ttft_p99_ms=message["ttftP99Ms"], errors=message["errors"],
                   elapsed_seconds=message["elapsedSeconds"], snapshot=False, gap=False, missed=0,
                   phase=message.get("phase", "measuring"), scored=message.get("scored", 0),
                   scoring_total=message.get("scoringTotal"))


@strawberry.type(description="Requests that finished since the previous message, in finishing order.")
class RunRequestsBatch:
    requests: list[RequestEvent]
    gap: bool = strawberry.field(description="Requests before these may have been lost (slow client, outage).")
    missed: int = strawberry.field(description="Requests known to be missing from the feed; all of them are "
                                               "in `run.requests`.")
    replay: bool = strawberry.field(description="These requests were read back from storage on subscribing.")
