"""Measured timings against the mock server's ground truth, through both transports (real stores).

How close our numbers are to the truth depends on the machine's load, so that is measured, not asserted:
`benchmarks/timing_accuracy.py` prints the error percentiles of both paths. What holds whatever the speed:
- causality: the client stamps its send before the request reaches the socket, so before the server's first
  read of it (`first_byte_ns`), and stamps each event after its bytes arrived, so after the server began
  writing them (`send_ns`); both processes read CLOCK_MONOTONIC. So, for every request, our TTFT and E2E are
  at least the server's first and last token write minus its first read, which is at least its configured TTFT;
- structure: the tokens, events and gaps we record are the ones the server sent;
- definitions: TPOT and the gaps follow from our own TTFT and E2E.
"""

from __future__ import annotations

from benchlab.engine.deps import EngineDeps
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.mock_llm import run_mock_llm

TOKEN_KINDS = {"reasoning", "content", "tool_call"}
FLOAT32_MS = 1e-3  # latencies are stored as Float32: rounding, not a tolerance for speed


def truth_by_request(records: list[dict]) -> dict[str, dict]:
    """Per request id: the lower bounds the server's log sets on our TTFT and E2E, and what it sent."""
    truths = {}
    for record in records:
        events = record["events"]
        token_events = [(send, tokens) for kind, send, tokens in zip(events["kind"], events["send_ns"],
                                                                     events["tokens"], strict=True)
                        if kind in TOKEN_KINDS]
        if not token_events:
            continue
        truths[record["request_id"]] = {
            "ttft_ms": (token_events[0][0] - record["first_byte_ns"]) / 1e6,
            "e2e_ms": (token_events[-1][0] - record["first_byte_ns"]) / 1e6,
            "tokens_per_event": [tokens for _, tokens in token_events],
            "completion_tokens": record["completion_tokens"],
            "first_on_connection": record["first_on_connection"],
        }
    return truths


def assert_bounded_by_truth(row: dict, truth: dict, configured_ttft_ms: float) -> None:
    assert row["ttft_ms"] >= truth["ttft_ms"] - FLOAT32_MS >= configured_ttft_ms - FLOAT32_MS, (row, truth)
    assert row["e2e_ms"] >= truth["e2e_ms"] - FLOAT32_MS, (row, truth)


async def test_measured_timings_respect_ground_truth_at_low_concurrency(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=40, gap_ms=5, output_tokens=16) as mock:
        run = await run_spec(engine_deps, mock_spec(mock.base_url, items=4, repetitions=2,
                                                    load={"profile": "concurrent", "concurrency": 2}))
        truths = truth_by_request(mock.ground_truth())
    assert run.status == "completed", run.error
    rows = await event_rows(engine_deps, run.id)
    assert len(rows) == 8 and {str(r["event_id"]) for r in rows} == set(truths)
    for row in rows:
        truth = truths[str(row["event_id"])]
        assert row["status"] == "ok" and row["completion_tokens"] == truth["completion_tokens"] == 16
        assert not row["tokens_estimated"]
        assert row["tokens_per_event"] == truth["tokens_per_event"]
        assert len(row["inter_event_ms"]) == len(truth["tokens_per_event"]) - 1
        assert row["first_on_connection"] == truth["first_on_connection"] is False  # connections were warmed
        assert_bounded_by_truth(row, truth, configured_ttft_ms=40)
        assert row["ttfot_ms"] == row["ttft_ms"]  # no reasoning: the first token is visible output
        assert row["ttft_ms"] <= row["e2e_ms"] <= row["stream_end_ms"] + FLOAT32_MS
        span = row["e2e_ms"] - row["ttft_ms"]
        assert abs(row["tpot_ms"] - span / 15) < FLOAT32_MS  # (last - first token event) / (N - 1)
        assert abs(sum(row["inter_event_ms"]) - span) < FLOAT32_MS


async def test_direct_and_litellm_paths_record_the_same_event(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=30, gap_ms=4, output_tokens=12, tokens_per_event=2) as mock:
        direct = await run_spec(engine_deps, mock_spec(mock.base_url, items=3, transport="direct"))
        via_litellm = await run_spec(engine_deps, mock_spec(mock.base_url, items=3, transport="litellm",
                                                            name="engine-test-litellm"))
        truths = truth_by_request(mock.ground_truth())
    assert direct.status == via_litellm.status == "completed"
    columns = "item_id, status, completion_tokens, prompt_tokens, tokens_estimated, finish_reason, " \
              "length(inter_event_ms) AS gaps, arraySum(tokens_per_event) AS tokens, event_id, ttft_ms, e2e_ms"
    a = await event_rows(engine_deps, direct.id, columns)
    b = await event_rows(engine_deps, via_litellm.id, columns)
    strip = ("event_id", "ttft_ms", "e2e_ms")
    assert [{k: v for k, v in r.items() if k not in strip} for r in a] == \
           [{k: v for k, v in r.items() if k not in strip} for r in b]
    assert all(r["gaps"] == 5 and r["tokens"] == 12 for r in a)  # 12 tokens, 2 per event: 6 events, 5 gaps
    # Both paths time where the bytes are, so neither can read a latency shorter than the server's own;
    # how much longer (litellm's per-chunk cost) is the benchmark's business.
    for row in a + b:
        assert_bounded_by_truth(row, truths[str(row["event_id"])], configured_ttft_ms=30)
