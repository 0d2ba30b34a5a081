"""benchlab.mockllm as a real subprocess, driven by the openai SDK, litellm and raw httpx (no mocks).

Timing is checked by structure (due times exact, writes never early, monotonic), not by latency bounds:
Timing asserts stay out of the suite (speed belongs in benchmarks); benchmarks/mock_llm_precision.py measures precision.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.helpers.mock_llm import MockLLM, run_mock_llm

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TTFT_MS, GAP_MS, TOKENS = 20, 1, 8
CHAT = [{"role": "user", "content": "say something short"}]  # 3 prompt tokens
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=TTFT_MS, gap_ms=GAP_MS, output_tokens=TOKENS, models=["mock-llm", "other"]) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:  # one client: building one per call costs ~50 ms (TLS context)
        yield client


def words(prefix: str, count: int) -> str:
    return "".join(f"{prefix}{i} " for i in range(count))


def record_of(mock: MockLLM, request_id: str) -> dict[str, Any]:
    matches = mock.ground_truth(request_id)
    assert len(matches) == 1, matches
    return matches[0]


def sse_events(http: httpx.Client, mock: MockLLM, body: dict[str, Any],
               behaviour: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
    """POST a streaming chat request with raw httpx; returns its request id and the decoded SSE data items."""
    request_id = uuid.uuid4().hex
    headers = {"X-Request-ID": request_id, "X-Mock-Behaviour": json.dumps(behaviour or {})}
    with http.stream("POST", mock.base_url + "/chat/completions", json={"stream": True, **body},
                     headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["x-request-id"] == request_id
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return request_id, [json.loads(item) for item in data[:-1]]


def chat_deltas(events: list[Any]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for e in events if e["choices"]]


def test_openai_sdk_streams_text_and_usage(mock: MockLLM) -> None:
    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="mock-llm", messages=CHAT, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == words("tok", TOKENS)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content is None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, TOKENS, 3 + TOKENS)
    assert usage.completion_tokens_details.reasoning_tokens == 0


async def test_litellm_streams_text_and_usage(mock: MockLLM) -> None:
    import litellm

    response = await litellm.acompletion(model="openai/mock-llm?output_tokens=5", api_base=mock.base_url,
                                         api_key="x", messages=CHAT, stream=True,
                                         stream_options={"include_usage": True})
    text, usage = "", None
    async for chunk in response:
        text += "".join(choice.delta.content or "" for choice in chunk.choices)
        usage = getattr(chunk, "usage", None) or usage
    assert text == words("tok", 5)
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (3, 5)


def test_non_streaming_chat_and_capped_by_max_tokens(mock: MockLLM) -> None:
    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    reply = client.chat.completions.create(model="mock-llm", messages=CHAT)
    assert reply.choices[0].message.content == words("tok", TOKENS)
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, TOKENS)
    capped = client.chat.completions.create(model="mock-llm", messages=CHAT, max_tokens=3)
    assert capped.choices[0].message.content == words("tok", 3)
    assert capped.choices[0].finish_reason == "length"
    unset = client.chat.completions.create(model="mock-llm", messages=CHAT, max_tokens=5,
                                           extra_headers={"X-Mock-Behaviour": '{"output_tokens": null}'})
    assert unset.usage.completion_tokens == 5  # no output_tokens configured: the request's max_tokens


def test_text_completions_stream_and_not(mock: MockLLM) -> None:
    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    reply = client.completions.create(model="mock-llm", prompt="one two three four")
    assert reply.choices[0].text == words("tok", TOKENS)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, TOKENS)
    chunks = list(client.completions.create(model="mock-llm", prompt="one two", stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == words("tok", TOKENS)
    assert chunks[-1].usage.completion_tokens == TOKENS


def test_models_lists_the_configured_names(mock: MockLLM, http: httpx.Client) -> None:
    listed = openai.OpenAI(base_url=mock.base_url, api_key="x").models.list()
    assert [m.id for m in listed.data] == ["mock-llm", "other"]
    response = http.post(mock.base_url + "/chat/completions", json={"model": "nope", "messages": CHAT})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_overrides_by_model_name_then_header(mock: MockLLM, http: httpx.Client) -> None:
    body = {"model": "other?output_tokens=3&ttft_ms=30&gap_ms=2", "messages": CHAT}
    request_id, events = sse_events(http, mock, body)
    assert "".join(d.get("content", "") for d in chat_deltas(events)) == words("tok", 3)
    record = record_of(mock, request_id)
    assert (record["ttft_ms"], record["gaps_ms"], record["completion_tokens"]) == (30, [2, 2], 3)

    request_id, events = sse_events(http, mock, {"model": "mock-llm?output_tokens=3&ttft_ms=30", "messages": CHAT},
                                    behaviour={"ttft_ms": 5, "gap_ms": "uniform(1,2)"})
    record = record_of(mock, request_id)
    assert record["ttft_ms"] == 5 and record["completion_tokens"] == 3  # the header wins, the name still counts
    assert all(1 <= gap <= 2 for gap in record["gaps_ms"])
    assert record["behaviour"]["gap_ms"] == {"dist": "uniform", "low": 1, "high": 2}


@pytest.mark.parametrize(("override", "problem"), [
    ({"X-Mock-Behaviour": '{"ttft": 5}'}, "unknown behaviour field 'ttft'"),
    ({"X-Mock-Behaviour": '{"gap_ms": "normal(1)"}'}, "'gap_ms'"),
    ({"X-Mock-Behaviour": '{"fault": "418"}'}, "'fault'"),
])
def test_bad_overrides_are_refused(mock: MockLLM, http: httpx.Client, override: dict[str, str], problem: str) -> None:
    response = http.post(mock.base_url + "/chat/completions", json={"model": "mock-llm", "messages": CHAT},
                          headers=override)
    assert response.status_code == 400
    assert problem in response.json()["error"]["message"]


def test_tokens_per_event_groups_tokens(mock: MockLLM, http: httpx.Client) -> None:
    request_id, events = sse_events(http, mock, {"model": "mock-llm?output_tokens=10&tokens_per_event=4",
                                           "messages": CHAT, "stream_options": {"include_usage": True}})
    contents = [d["content"] for d in chat_deltas(events) if d.get("content")]
    assert contents == ["tok0 tok1 tok2 tok3 ", "tok4 tok5 tok6 tok7 ", "tok8 tok9 "]  # ceil(10 / 4) events
    assert events[-1]["usage"]["completion_tokens"] == 10
    record = record_of(mock, request_id)
    assert record["events"]["kind"] == ["role", "content", "content", "content", "finish", "usage", "done"]
    assert record["events"]["tokens"] == [0, 4, 4, 2, 0, 0, 0]


def test_role_only_first_event_can_be_turned_off(mock: MockLLM, http: httpx.Client) -> None:
    _, with_role = sse_events(http, mock, {"model": "mock-llm", "messages": CHAT})
    assert chat_deltas(with_role)[0] == {"role": "assistant"}
    _, without = sse_events(http, mock, {"model": "mock-llm?role_first_event=false", "messages": CHAT})
    assert chat_deltas(without)[0] == {"role": "assistant", "content": "tok0 "}
    assert len(without) == len(with_role) - 1


def test_reasoning_phase_precedes_content(mock: MockLLM, http: httpx.Client) -> None:
    request_id, events = sse_events(http, mock, {"model": "mock-llm?reasoning_tokens=3&output_tokens=2",
                                           "messages": CHAT, "stream_options": {"include_usage": True}})
    deltas = chat_deltas(events)[1:-1]
    assert deltas == [{"reasoning_content": f"think{i} "} for i in range(3)] + [{"content": f"tok{i} "} for i in
                                                                              range(2)]
    assert events[-1]["usage"]["completion_tokens"] == 5
    assert events[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    record = record_of(mock, request_id)
    assert record["events"]["kind"][1:6] == ["reasoning"] * 3 + ["content"] * 2


def test_tool_call_deltas_reassemble_into_the_configured_call(mock: MockLLM, http: httpx.Client) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    _, events = sse_events(http, mock, {"model": "mock-llm", "messages": CHAT, "tools": TOOLS},
                           behaviour={"tool_call": call})
    calls = [d["tool_calls"][0] for d in chat_deltas(events) if "tool_calls" in d]
    assert calls[0]["id"] and calls[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert len(calls) > 3 and all(set(c) == {"index", "function"} for c in calls[1:])
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == call["arguments"]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"

    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    reply = client.chat.completions.create(model="mock-llm", messages=CHAT, tools=TOOLS,
                                           tool_choice={"type": "function", "function": {"name": "get_time"}})
    tool_call = reply.choices[0].message.tool_calls[0]
    assert (tool_call.function.name, tool_call.function.arguments) == ("get_time", "{}")
    plain = client.chat.completions.create(model="mock-llm", messages=CHAT, tools=TOOLS, tool_choice="none")
    assert plain.choices[0].message.content == words("tok", TOKENS)


def test_usage_only_when_asked(mock: MockLLM, http: httpx.Client) -> None:
    _, without = sse_events(http, mock, {"model": "mock-llm", "messages": CHAT})
    assert all("usage" not in e for e in without)
    body = {"model": "mock-llm", "messages": CHAT, "stream_options": {"include_usage": True}}
    _, asked = sse_events(http, mock, body)
    assert [e["usage"] is not None for e in asked] == [False] * (len(asked) - 1) + [True]


def test_rate_limit_and_server_error_faults(mock: MockLLM, http: httpx.Client) -> None:
    body = {"model": "mock-llm", "messages": CHAT}
    limited = http.post(mock.base_url + "/chat/completions", json=body,
                         headers={"X-Mock-Behaviour": '{"fault": "429", "retry_after_s": 2}'})
    assert limited.status_code == 429
    assert (limited.headers["retry-after"], limited.headers["retry-after-ms"]) == ("2", "2000")
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    failed = http.post(mock.base_url + "/chat/completions", json={**body, "stream": True},
                        headers={"X-Mock-Behaviour": '{"fault": "500"}'})
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "server_error"


def test_fault_rates_draw_faults_reproducibly(mock: MockLLM, http: httpx.Client) -> None:
    headers = {"X-Mock-Behaviour": json.dumps({"fault_rates": {"500": 0.3, "429": 0.3}})}

    def statuses() -> list[int]:
        bodies = [{"model": "mock-llm?output_tokens=1", "messages": CHAT, "seed": seed} for seed in range(20)]
        return [http.post(mock.base_url + "/chat/completions", json=b, headers=headers).status_code for b in bodies]

    first = statuses()
    assert first == statuses()  # a request's seed decides its fault too
    assert {200, 429, 500} <= set(first)


def test_disconnect_fault_cuts_the_stream_without_done(mock: MockLLM, http: httpx.Client) -> None:
    request_id, received = uuid.uuid4().hex, []
    headers = {"X-Request-ID": request_id, "X-Mock-Behaviour": '{"fault": "disconnect", "fault_after_events": 3}'}
    body = {"model": "mock-llm", "messages": CHAT, "stream": True}
    with pytest.raises(httpx.RemoteProtocolError), http.stream(
            "POST", mock.base_url + "/chat/completions", json=body, headers=headers) as response:
        received.extend(line for line in response.iter_lines() if line.startswith("data: "))
    assert len(received) == 3 and "[DONE]" not in received[-1]
    record = record_of(mock, request_id)
    assert (record["fault"], record["outcome"], record["events"]["kind"]) == (
        "disconnect", "disconnected", ["role", "content", "content", "disconnect"])


def test_stall_fault_pauses_or_hangs(mock: MockLLM, http: httpx.Client) -> None:
    request_id, events = sse_events(http, mock, {"model": "mock-llm", "messages": CHAT},
                                    behaviour={"fault": "stall", "fault_after_events": 2, "stall_ms": 50})
    assert len(events) == TOKENS + 2
    due = record_of(mock, request_id)["events"]["due_ns"]
    assert due[2] - due[1] == 50_000_000 + GAP_MS * 1_000_000  # later events shifted by the stall

    request_id, received = uuid.uuid4().hex, []
    headers = {"X-Request-ID": request_id, "X-Mock-Behaviour": '{"fault": "stall", "fault_after_events": 2}'}
    with pytest.raises(httpx.ReadTimeout), http.stream(
            "POST", mock.base_url + "/chat/completions", json={"model": "mock-llm", "messages": CHAT, "stream": True},
            headers=headers, timeout=httpx.Timeout(5, read=0.3)) as response:
        received.extend(line for line in response.iter_lines() if line.startswith("data: "))
    assert len(received) == 2
    record = record_of(mock, request_id)  # written once the server sees the client leave
    assert (record["fault"], record["outcome"], len(record["events"]["kind"])) == ("stall", "client_closed", 2)


def test_fault_times_fails_first_attempts_then_succeeds(mock: MockLLM) -> None:
    key = uuid.uuid4().hex
    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=2)
    reply = client.chat.completions.create(model="mock-llm", messages=CHAT, extra_headers={
        "X-Mock-Request-Key": key,
        "X-Mock-Behaviour": '{"fault": "429", "fault_times": 2, "retry_after_s": 0.01}'})
    assert reply.choices[0].message.content == words("tok", TOKENS)
    attempts = mock.ground_truth(key)
    assert [(r["attempt"], r["status"], r["fault"]) for r in attempts] == [(1, 429, "429"), (2, 429, "429"),
                                                                         (3, 200, None)]


def test_ground_truth_follows_the_absolute_schedule(mock: MockLLM) -> None:
    ids = [uuid.uuid4().hex for _ in range(2)]
    with httpx.Client() as client:  # one keep-alive connection for both requests
        for request_id in ids:
            with client.stream("POST", mock.base_url + "/chat/completions", headers={"X-Request-ID": request_id},
                               json={"model": "mock-llm?tokens_per_event=2", "messages": CHAT, "stream": True}) as r:
                r.read()
    first, second = (record_of(mock, request_id) for request_id in ids)
    assert first["connection_id"] == second["connection_id"]
    assert (first["connection_request"], second["connection_request"]) == (1, 2)
    assert first["first_on_connection"] and not second["first_on_connection"]
    for record in (first, second):
        events, t0 = record["events"], record["arrival_ns"]
        assert record["first_byte_ns"] <= t0 and record["outcome"] == "completed" and record["status"] == 200
        assert events["kind"] == ["role", *["content"] * (TOKENS // 2), "finish", "done"]
        expected_due = [t0] + [t0 + (TTFT_MS + 2 * i * GAP_MS) * 1_000_000 for i in range(TOKENS // 2)]
        assert events["due_ns"][:-2] == expected_due
        assert all(d <= s <= w for d, s, w in zip(events["due_ns"], events["send_ns"], events["write_ns"],
                                                  strict=True))  # never early
        assert events["write_ns"] == sorted(events["write_ns"]) and record["end_ns"] == events["write_ns"][-1]
        assert sum(events["tokens"]) == record["completion_tokens"] == TOKENS


def test_seeded_draws_are_reproducible(http: httpx.Client) -> None:
    behaviour = {"ttft_ms": "lognormal(20,0.5)", "gap_ms": {"dist": "exponential", "mean": 1}, "output_tokens": 4}
    runs = []
    for _ in range(2):
        with run_mock_llm(seed=7, **behaviour) as server:
            for seed in (None, None, 123, 123):
                body = {"model": "mock-llm", "messages": CHAT} | ({"seed": seed} if seed else {})
                http.post(server.base_url + "/chat/completions", json=body).raise_for_status()
            runs.append([(r["ttft_ms"], r["gaps_ms"]) for r in server.ground_truth()])
    assert runs[0] == runs[1]  # same server seed, same request order: same draws
    first, second, seeded, seeded_again = runs[0]
    assert first != second and seeded == seeded_again  # per-request streams; a body seed pins the draws
