"""Turn one streamed response's timestamps into the per-request metrics `benchlab.metrics` defines.

The definitions are fixed there (and in the README): TTFT, TTFOT, E2E and TPOT are measured from the actual
send to token-bearing events (E2E ends at the last token-bearing event, not the last byte; the stream's end
is kept as stream_end), queue delay and E2E from intended from the intended send. A metric a response cannot
have (no token event, fewer than 2 completion tokens for TPOT) is 0. Inter-event gaps are stored with the
tokens each event carried; they are not per-token latencies (one event may carry several tokens).
All clocks are `time.perf_counter_ns()` (CLOCK_MONOTONIC on Linux, comparable across processes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NS_PER_MS = 1_000_000


@dataclass
class StreamEvent:
    """One parsed server-sent event and when its last byte arrived."""

    t_ns: int
    content: str = ""
    reasoning: str = ""
    tool_call_chars: int = 0  # characters of tool-call name/argument deltas in this event

    @property
    def carries_tokens(self) -> bool:
        return bool(self.content or self.reasoning or self.tool_call_chars)

    @property
    def visible(self) -> bool:
        return bool(self.content or self.tool_call_chars)

    @property
    def chars(self) -> int:
        return len(self.content) + len(self.reasoning) + self.tool_call_chars


@dataclass
class Timings:
    queue_delay_ms: float = 0.0
    ttft_ms: float = 0.0
    ttfot_ms: float = 0.0
    e2e_ms: float = 0.0
    e2e_from_intended_ms: float = 0.0
    stream_end_ms: float = 0.0
    tpot_ms: float = 0.0
    inter_event_ms: list[float] = field(default_factory=list)
    tokens_per_event: list[int] = field(default_factory=list)


def _ms(delta_ns: int) -> float:
    return delta_ns / NS_PER_MS


def compute_timings(intended_ns: int, send_ns: int, end_ns: int, events: list[StreamEvent],
                    completion_tokens: int) -> Timings:
    """Metrics of one request. `completion_tokens` is usage.completion_tokens (or the estimate)."""
    token_events = [e for e in events if e.carries_tokens]
    timings = Timings(queue_delay_ms=max(0.0, _ms(send_ns - intended_ns)), stream_end_ms=_ms(end_ns - send_ns))
    if not token_events:
        return timings
    first, last = token_events[0], token_events[-1]
    visible = next((e for e in token_events if e.visible), None)
    timings.ttft_ms = _ms(first.t_ns - send_ns)
    timings.ttfot_ms = _ms(visible.t_ns - send_ns) if visible else 0.0
    timings.e2e_ms = _ms(last.t_ns - send_ns)
    timings.e2e_from_intended_ms = _ms(last.t_ns - intended_ns)
    if completion_tokens >= 2:
        timings.tpot_ms = _ms(last.t_ns - first.t_ns) / (completion_tokens - 1)
    timings.inter_event_ms = [_ms(b.t_ns - a.t_ns) for a, b in zip(token_events, token_events[1:], strict=False)]
    timings.tokens_per_event = allocate_tokens([e.chars for e in token_events], completion_tokens)
    return timings


def allocate_tokens(chars_per_event: list[int], total_tokens: int) -> list[int]:
    """Spread `total_tokens` over events in proportion to their characters (largest remainder).

    Streams do not say how many tokens each event carried; usage gives only the total. Every event that
    carried tokens gets at least one when there are enough tokens to go round.
    """
    n = len(chars_per_event)
    if n == 0:
        return []
    total_chars = sum(chars_per_event) or n
    shares = [total_tokens * (c or 1) / total_chars for c in chars_per_event]
    counts = [int(s) for s in shares]
    remainders = sorted(range(n), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in remainders[: total_tokens - sum(counts)]:
        counts[i] += 1
    if total_tokens >= n:
        for i in range(n):
            if counts[i] == 0:
                donor = max(range(n), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] = 1
    return [min(c, 65535) for c in counts]


def estimate_tokens(text_chars: int) -> int:
    """Fallback when a provider sends no usage: ~4 characters per token (sets tokens_estimated)."""
    return max(1, round(text_chars / 4)) if text_chars else 0
