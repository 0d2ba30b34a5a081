"""The `request_events` record of a finished request (stores/request_events.py), and its bounded JSON parts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.engine.executor import Outcome
from benchlab.engine.planner import PlannedRequest
from benchlab.stores.request_events import RequestEvent

OUTPUT_LIMIT_CHARS = 65_536


def request_event(project_id: UUID, run_id: UUID, experiment_id: UUID, planned: PlannedRequest, outcome: Outcome,
                  *, ts: datetime, in_window: bool, run_offset_s: float, phase: str,
                  cost_usd: float | None) -> RequestEvent:
    """`cost_usd` None means no price is known for the model: stored as 0 with `cost_known` false."""
    record, timings = outcome.record, outcome.timings
    return RequestEvent(
        project_id=project_id, run_id=run_id, experiment_id=experiment_id, event_id=planned.event_id,
        item_id=planned.item_id, repetition=planned.repetition, attempt=min(outcome.attempts, 255),
        provider=planned.provider.name, model=planned.model.name, prompt_version=planned.prompt_version,
        params_hash=planned.params_hash, source="experiment", load_phase=phase, ts=ts, in_window=in_window,
        run_offset_s=run_offset_s, first_on_connection=record.first_on_connection,
        queue_delay_ms=timings.queue_delay_ms, ttft_ms=timings.ttft_ms, ttfot_ms=timings.ttfot_ms,
        e2e_ms=timings.e2e_ms, e2e_from_intended_ms=timings.e2e_from_intended_ms,
        stream_end_ms=timings.stream_end_ms, tpot_ms=timings.tpot_ms, inter_event_ms=timings.inter_event_ms,
        tokens_per_event=timings.tokens_per_event, prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens, reasoning_tokens=outcome.reasoning_tokens,
        cached_tokens=outcome.cached_tokens, tokens_estimated=outcome.tokens_estimated, cost_usd=cost_usd or 0.0,
        cost_known=cost_usd is not None, status="ok" if record.ok else "error", error_type=record.error_column,
        http_status=record.http_status, finish_reason=record.finish_reason or "",
        output=record.output_text[:OUTPUT_LIMIT_CHARS], tool_calls=tool_calls_json(record.tool_calls),
        error_message=record.error_message,
    )


def tool_calls_json(calls: list[dict[str, Any]], limit: int = OUTPUT_LIMIT_CHARS) -> str:
    """The tool calls as JSON of at most `limit` characters that always parses.

    Cutting the JSON text would store something no reader can parse (and break every view of the run), so an
    oversized answer is cut inside its `arguments` strings instead: each cut call says so with
    `arguments_truncated: true` and the full length in `arguments_length`. Calls that do not fit even with
    empty arguments are left out, and the last kept call counts them in `omitted_calls`.
    """
    if not calls:
        return ""
    text = json.dumps(calls)
    if len(text) <= limit:
        return text
    kept = [{**call, "arguments": "", "arguments_truncated": True,
             "arguments_length": len(str(call.get("arguments", "")))} for call in calls]
    room, fits = limit - 2 - 40, 0  # the list's brackets, and room for the omitted_calls marker
    for call in kept:  # the longest prefix of calls that fits with empty arguments (", " between them)
        room -= len(json.dumps(call)) + (2 if fits else 0)
        if room < 0 and fits:
            break
        fits += 1
    kept = kept[:fits]
    if len(kept) < len(calls):
        kept[-1]["omitted_calls"] = len(calls) - len(kept)
    spare = limit - len(json.dumps(kept))
    by_size = sorted(range(len(kept)), key=lambda i: len(str(calls[i].get("arguments", ""))))
    for position, index in enumerate(by_size):  # small arguments stay whole; the large share what is left
        call, arguments = kept[index], str(calls[index].get("arguments", ""))
        call["arguments"] = _json_string_prefix(arguments, spare // (len(kept) - position))
        spare -= len(json.dumps(call["arguments"])) - 2
        if call["arguments"] == arguments:
            del call["arguments_truncated"], call["arguments_length"]
    return json.dumps(kept)


def _json_string_prefix(value: str, budget: int) -> str:
    """The longest prefix of `value` whose JSON encoding adds at most `budget` characters to an empty string."""
    low, high = 0, min(len(value), max(budget, 0))
    while low < high:  # binary search: escaping makes the encoded length grow unevenly
        middle = (low + high + 1) // 2
        if len(json.dumps(value[:middle])) - 2 <= budget:
            low = middle
        else:
            high = middle - 1
    return value[:low]
