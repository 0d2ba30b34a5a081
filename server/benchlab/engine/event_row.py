"""One `request_events` row from a finished request, columns in table order (clickhouse/migrations)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.engine.executor import Outcome
from benchlab.engine.planner import PlannedRequest

REQUEST_EVENT_COLUMNS = (
    "project_id", "run_id", "experiment_id", "event_id", "item_id", "repetition", "attempt", "provider", "model",
    "prompt_version", "params_hash", "source", "load_phase", "ts", "in_window", "first_on_connection",
    "queue_delay_ms", "ttft_ms", "ttfot_ms", "e2e_ms", "e2e_from_intended_ms", "stream_end_ms", "tpot_ms",
    "inter_event_ms", "tokens_per_event", "prompt_tokens", "completion_tokens", "reasoning_tokens",
    "cached_tokens", "tokens_estimated", "cost_usd", "status", "error_type", "http_status", "finish_reason",
    "output", "tool_calls", "error_message",
)
OUTPUT_LIMIT_CHARS = 65_536


def request_event_row(project_id: UUID, run_id: UUID, experiment_id: UUID, planned: PlannedRequest,
                      outcome: Outcome, *, ts: datetime, in_window: bool, phase: str,
                      cost_usd: float) -> tuple[Any, ...]:
    record, timings = outcome.record, outcome.timings
    return (
        project_id, run_id, experiment_id, planned.event_id, planned.item_id, planned.repetition,
        min(outcome.attempts, 255), planned.provider.name, planned.model.name, planned.prompt_version,
        planned.params_hash, "experiment", phase, ts, in_window, record.first_on_connection,
        timings.queue_delay_ms, timings.ttft_ms, timings.ttfot_ms, timings.e2e_ms, timings.e2e_from_intended_ms,
        timings.stream_end_ms, timings.tpot_ms, timings.inter_event_ms, timings.tokens_per_event,
        outcome.prompt_tokens, outcome.completion_tokens, outcome.reasoning_tokens, outcome.cached_tokens,
        outcome.tokens_estimated, cost_usd, "ok" if record.ok else "error", record.error_type, record.http_status,
        record.finish_reason or "", record.output_text[:OUTPUT_LIMIT_CHARS],
        json.dumps(record.tool_calls)[:OUTPUT_LIMIT_CHARS] if record.tool_calls else "", record.error_message,
    )
