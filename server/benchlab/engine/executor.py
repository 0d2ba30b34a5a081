"""Run one planned request: provider concurrency limit, attempts with backoff, timings, tokens and cost.

Retries are recorded, not hidden: the event keeps the attempt count, its queue delay is measured on the first
attempt (open-loop fidelity), its latency metrics on the attempt that produced the answer, and
`e2e_from_intended` spans everything the caller waited, retries included.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Protocol

from benchlab.engine.response import ResponseRecord
from benchlab.engine.timing import Timings, compute_timings, estimate_tokens
from benchlab.engine.transport_direct import LLMRequest


class Transport(Protocol):
    async def send(self, request: LLMRequest) -> ResponseRecord: ...
    async def warm_up(self, connections: int) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    retry_on: frozenset[str] = frozenset({"rate_limited", "server_error", "timeout", "connect_error",
                                          "disconnected"})

    def delay_s(self, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Retry-After wins when the server sent one; otherwise exponential backoff with jitter."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_backoff_s)
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s) * rng.uniform(0.5, 1.0)


@dataclass
class Outcome:
    record: ResponseRecord          # the final attempt
    timings: Timings
    attempts: int
    first_send_ns: int
    completion_tokens: int
    prompt_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    tokens_estimated: bool
    dispatch_ns: int                # when this client decided to send the first attempt (for send lag)


async def execute(request: LLMRequest, intended_ns: int, transport: Transport, policy: RetryPolicy,
                  provider_limit: asyncio.Semaphore | None, rng: random.Random) -> Outcome:
    attempts = 0
    first_send_ns = 0
    dispatch_ns = 0
    while True:
        attempts += 1
        if provider_limit is not None:
            async with provider_limit:
                record, sent_at = await _send(transport, request)
        else:
            record, sent_at = await _send(transport, request)
        if attempts == 1:
            dispatch_ns, first_send_ns = sent_at, record.send_ns
        if record.ok or record.error_type not in policy.retry_on or attempts >= policy.max_attempts:
            break
        await asyncio.sleep(policy.delay_s(attempts, record.retry_after_s, rng))
    return _outcome(record, intended_ns, first_send_ns, attempts, dispatch_ns)


async def _send(transport: Transport, request: LLMRequest) -> tuple[ResponseRecord, int]:
    decided_ns = time.perf_counter_ns()
    return await transport.send(request), decided_ns


def _outcome(record: ResponseRecord, intended_ns: int, first_send_ns: int, attempts: int,
             dispatch_ns: int) -> Outcome:
    usage = record.usage or {}
    reported = usage.get("completion_tokens")
    estimated = reported is None
    completion = int(reported) if reported is not None else estimate_tokens(
        len(record.output_text) + len(record.reasoning_text)
        + sum(len(c["arguments"]) + len(c["name"]) for c in record.tool_calls))
    details = usage.get("completion_tokens_details") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    timings = compute_timings(intended_ns, record.send_ns, record.end_ns, record.events, completion)
    timings.queue_delay_ms = max(0.0, (first_send_ns - intended_ns) / 1e6)
    return Outcome(record, timings, attempts, first_send_ns, completion, int(usage.get("prompt_tokens") or 0),
                   int(details.get("reasoning_tokens") or 0), int(prompt_details.get("cached_tokens") or 0),
                   estimated, dispatch_ns)
