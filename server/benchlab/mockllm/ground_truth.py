"""The mock server's own account of every completion request, to score clients' timing against.

All times are `time.monotonic_ns()`: CLOCK_MONOTONIC on Linux, system-wide, so a client process on the same
machine can compare its own `time.monotonic_ns()` / `time.perf_counter_ns()` stamps with these directly.
One JSON object per line (JSONL) per request, queued when its response has ended (completed, failed, aborted
or left by the client) and written in small slices between events, so logging does not disturb the schedule.
A `GET /v1/models` writes everything queued before it answers: a barrier for readers of the file.

    request_id          X-Request-ID header, else X-Mock-Request-Key, else "req-<request_index>"
    request_index       1, 2, ... per server (also the seed ordinal, see behaviour.py)
    connection_id       1, 2, ... per accepted connection
    connection_request  1 for the connection's first request (it paid connection set-up), 2, 3, ... after
    first_on_connection connection_request == 1
    path, model, stream, seed (the body's seed or null), attempt (per X-Mock-Request-Key when fault_times is
                        set, else null)
    first_byte_ns       when the request's first byte was read
    arrival_ns          when the request was complete: t0 of the schedule
    behaviour           the effective behaviour (server defaults + overrides), durations as given
    ttft_ms, gaps_ms    the drawn time to first token and per-token gaps actually used (gaps_ms[j] separates
                        token j from token j+1 across the reasoning and answer phases)
    prompt_tokens, reasoning_tokens, content_tokens, tool_call_tokens, completion_tokens, finish_reason
    fault               null | "429" | "500" | "disconnect" | "stall" | "overloaded"
    answer_source       null | "header" (the `answer` behaviour field: header, model name or server default) |
                        "key" (the --answer-key entry of the prompt): a known answer was selected
    correct             null (no answer selected) | whether the answer was the correct one (answers.py)
    verdict             judge mode: the verdict object sent as the content; null when it was malformed or
                        not in judge mode
    verdict_malformed   null (not judge mode) | whether an unparseable verdict was sent (judge_malformed_rate)
    status              HTTP status sent (null if the connection was dropped before any header)
    outcome             completed | error (4xx/5xx answered, or an Anthropic stream ended by an error event) |
                        disconnected (disconnect fault) |
                        client_closed (the client went away first, e.g. during a stall)
    error               the error message sent, if any
    events              columns, one entry per write: kind (role | reasoning | content | tool_call | finish |
                        usage | done | response | disconnect | error), tokens, due_ns (absolute, stalls included),
                        send_ns (just before the write call) and write_ns (right after it returned; for
                        "disconnect" the abort). On loopback the kernel wakes the reader inside the write
                        call, so a client may see the bytes before write_ns: the truth is [send_ns, write_ns].
    buffered_writes     writes the kernel did not take at once (the client was not reading): their write_ns
                        is when they were queued, not when they left
    end_ns              when the response ended
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchlab.mockllm.behaviour import Plan


@dataclass(slots=True)
class RequestRecord:
    """Filled in while the request is served; serialized once, after the response has ended."""

    request_id: str
    request_index: int
    connection_id: int
    connection_request: int
    path: str
    first_byte_ns: int
    arrival_ns: int
    model: str | None = None
    stream: bool | None = None
    seed: int | None = None
    attempt: int | None = None
    plan: Plan | None = None
    status: int | None = None
    outcome: str = "client_closed"
    error: str | None = None
    buffered_writes: int = 0
    end_ns: int | None = None
    kinds: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    due_ns: list[int] = field(default_factory=list)
    send_ns: list[int] = field(default_factory=list)
    write_ns: list[int] = field(default_factory=list)

    def add_event(self, kind: str, tokens: int, due_ns: int, send_ns: int, write_ns: int) -> None:
        self.kinds.append(kind)
        self.tokens.append(tokens)
        self.due_ns.append(due_ns)
        self.send_ns.append(send_ns)
        self.write_ns.append(write_ns)

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "request_index": self.request_index,
            "connection_id": self.connection_id, "connection_request": self.connection_request,
            "first_on_connection": self.connection_request == 1,
            "path": self.path, "model": self.model, "stream": self.stream, "seed": self.seed,
            "attempt": self.attempt, "first_byte_ns": self.first_byte_ns, "arrival_ns": self.arrival_ns,
            **_plan_json(self.plan),
            "status": self.status, "outcome": self.outcome, "error": self.error,
            "events": {"kind": self.kinds, "tokens": self.tokens, "due_ns": self.due_ns, "send_ns": self.send_ns,
                       "write_ns": self.write_ns},
            "buffered_writes": self.buffered_writes, "end_ns": self.end_ns,
        }


_PLAN_KEYS = ("behaviour", "ttft_ms", "gaps_ms", "prompt_tokens", "reasoning_tokens", "content_tokens",
              "tool_call_tokens", "completion_tokens", "finish_reason", "fault", "answer_source", "correct", "verdict",
              "verdict_malformed")


def _plan_json(plan: Plan | None) -> dict[str, Any]:
    """The decided response; all null for requests refused before planning (bad body, unknown model)."""
    if plan is None:
        return dict.fromkeys(_PLAN_KEYS)
    reply = plan.reply
    judged = reply is not None and reply.verdict is not None
    values = (plan.behaviour.as_json, plan.ttft_ms, list(plan.gaps_ms), plan.params.prompt_tokens,
              plan.reasoning_tokens, plan.content_tokens, plan.tool_call_tokens, plan.completion_tokens,
              plan.finish_reason, plan.fault, reply.source if reply else None, reply.correct if reply else None,
              reply.verdict if reply and not plan.malformed else None, plan.malformed if judged else None)
    return dict(zip(_PLAN_KEYS, values, strict=True))


class GroundTruthLog:
    """Queues finished records and writes them as JSON lines on request, within a time budget.

    Serializing a 64-token record takes ~80 µs; when hundreds of streams end together, writing them at once
    would make the next events late by tens of ms, so the server drains the queue in short slices.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._queue: deque[RequestRecord] = deque()

    def add(self, record: RequestRecord) -> None:
        self._queue.append(record)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def write_queued(self, budget_ns: int | None = None) -> None:
        """Write queued records (at least one) until `budget_ns` has passed, or all of them."""
        deadline = None if budget_ns is None else time.monotonic_ns() + budget_ns
        lines: list[str] = []
        while self._queue and (deadline is None or not lines or time.monotonic_ns() < deadline):
            lines.append(json.dumps(self._queue.popleft().to_json(), separators=(",", ":")) + "\n")
        self._file.write("".join(lines))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_ground_truth(path: Path) -> list[dict[str, Any]]:
    """The records written so far (a line still being written is left out)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines[:-1] if line]
