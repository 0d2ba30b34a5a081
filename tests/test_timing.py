"""Metric definitions (benchlab.metrics) on hand-built event sequences: exact, no clocks involved."""

from benchlab.engine.timing import StreamEvent, allocate_tokens, compute_timings, estimate_tokens

MS = 1_000_000


def test_definitions_with_role_only_first_event_and_reasoning() -> None:
    send = 1_000 * MS
    events = [
        StreamEvent(send + 5 * MS),                              # role-only: carries no token
        StreamEvent(send + 40 * MS, reasoning="thinking "),      # first token (reasoning): TTFT
        StreamEvent(send + 50 * MS, reasoning="more "),
        StreamEvent(send + 70 * MS, content="Hello "),           # first visible output: TTFOT
        StreamEvent(send + 80 * MS, content="world"),            # last token: E2E
        StreamEvent(send + 81 * MS),                             # finish/usage chunk: no token
    ]
    timings = compute_timings(intended_ns=send - 3 * MS, send_ns=send, end_ns=send + 90 * MS, events=events,
                              completion_tokens=5)
    assert timings.queue_delay_ms == 3.0
    assert timings.ttft_ms == 40.0
    assert timings.ttfot_ms == 70.0
    assert timings.e2e_ms == 80.0
    assert timings.e2e_from_intended_ms == 83.0
    assert timings.stream_end_ms == 90.0
    assert timings.tpot_ms == (80 - 40) / (5 - 1)
    assert timings.inter_event_ms == [10.0, 20.0, 10.0]
    assert sum(timings.tokens_per_event) == 5 and len(timings.tokens_per_event) == 4


def test_tool_call_deltas_count_as_tokens_and_visible_output() -> None:
    send = 0
    events = [StreamEvent(10 * MS, tool_call_chars=8), StreamEvent(30 * MS, tool_call_chars=12)]
    timings = compute_timings(send, send, 35 * MS, events, completion_tokens=6)
    assert (timings.ttft_ms, timings.ttfot_ms, timings.e2e_ms) == (10.0, 10.0, 30.0)
    assert timings.tokens_per_event == [2, 4]  # proportional to the 8 and 12 characters


def test_single_token_has_no_tpot_and_no_events_has_no_ttft() -> None:
    one = compute_timings(0, 0, 20 * MS, [StreamEvent(15 * MS, content="x")], completion_tokens=1)
    assert one.ttft_ms == 15.0 and one.tpot_ms == 0.0 and one.inter_event_ms == []
    none = compute_timings(0, 0, 20 * MS, [StreamEvent(5 * MS)], completion_tokens=0)
    assert none.ttft_ms == 0.0 and none.e2e_ms == 0.0 and none.stream_end_ms == 20.0


def test_multi_token_events_keep_raw_gaps() -> None:
    # 4 tokens per event, events 40 ms apart: gaps stay 40 ms (never divided into per-token latency).
    events = [StreamEvent((50 + 40 * i) * MS, content="a b c d ") for i in range(4)]
    timings = compute_timings(0, 0, 200 * MS, events, completion_tokens=16)
    assert timings.inter_event_ms == [40.0, 40.0, 40.0]
    assert timings.tokens_per_event == [4, 4, 4, 4]
    assert timings.tpot_ms == 120 / 15


def test_token_allocation_is_exact_and_fair() -> None:
    assert allocate_tokens([10, 10, 10], 7) in ([3, 2, 2], [2, 3, 2], [2, 2, 3])
    assert sum(allocate_tokens([1, 50, 3], 9)) == 9
    assert min(allocate_tokens([1, 500, 1], 30)) >= 1
    assert allocate_tokens([], 5) == []
    assert estimate_tokens(0) == 0 and estimate_tokens(40) == 10
