"""The direct Anthropic transport (Messages API) against the mock's /v1/messages, with its ground truth.

As for the OpenAI-compatible direct path (test_engine_timing.py), timing is held to what holds whatever the
machine's speed: causality against the server's own log (our send stamp before the server read the request,
each event stamped after the server began writing it, so TTFT and E2E are at least the server's), and structure
(the tokens and events we record are the ones the server sent). How close, `benchmarks/timing_accuracy.py --api
anthropic` measures. The record must equal litellm's for the same answer (litellm's anthropic provider is a real
Anthropic client, so this also proves the mock speaks Anthropic's format), and failures are classified as on
the OpenAI path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from benchlab.engine.cost import model_prices
from benchlab.engine.deps import EngineDeps
from benchlab.engine.response import ResponseRecord
from benchlab.engine.transport_anthropic import AnthropicTransport
from benchlab.engine.transport_direct import DirectTransport, LLMRequest
from benchlab.engine.transport_litellm import LiteLLMTransport
from benchlab.engine.transports import open_transport
from benchlab.spec import ProviderSpec, ProviderTransport
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.test_engine_timing import assert_bounded_by_truth, truth_by_request

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TOKEN_KINDS = {"reasoning", "content", "tool_call"}
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "say something short"}]
TOOLS = [{"type": "function", "function": {"name": "add", "description": "Adds.", "parameters": {
    "type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}}]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=15, gap_ms=2, output_tokens=8) as server:
        yield server


def root(mock: MockLLM) -> str:
    """The API root both Anthropic clients append /v1/messages to."""
    return mock.base_url.removesuffix("/v1")


@contextlib.asynccontextmanager
async def direct(mock: MockLLM, connections: int = 2) -> AsyncIterator[AnthropicTransport]:
    transport = AnthropicTransport(root(mock), "test-key", max_connections=connections, timeout_s=10)
    await transport.warm_up(connections)
    try:
        yield transport
    finally:
        await transport.close()


def request(behaviour: dict[str, Any] | None = None, stream: bool = True, **params: Any) -> LLMRequest:
    headers = {"X-Request-ID": uuid.uuid4().hex, "X-Mock-Behaviour": json.dumps(behaviour or {})}
    return LLMRequest("mock-llm", messages=CHAT, params={"max_tokens": 16, **params}, headers=headers, stream=stream)


def token_events(record: ResponseRecord) -> list[tuple[str, str, int]]:
    return [(e.content, e.reasoning, e.tool_call_chars) for e in record.events if e.carries_tokens]


def answer_of(record: ResponseRecord) -> dict[str, Any]:
    """What both paths must agree on: text, events, tool calls (ids from the mock's per-request counter set
    aside), finish reason, and the usage the engine reads."""
    usage = record.usage or {}
    return {
        "ok": record.ok, "output": record.output_text, "reasoning": record.reasoning_text,
        "finish_reason": record.finish_reason, "token_events": token_events(record),
        "tool_calls": [{k: v for k, v in call.items() if k != "id"} for call in record.tool_calls],
        "tool_ids": [call["id"].startswith("toolu_mock_") for call in record.tool_calls],
        "usage": (usage.get("prompt_tokens"), usage.get("completion_tokens"),
                  (usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
                  (usage.get("prompt_tokens_details") or {}).get("cached_tokens")),
    }


async def test_events_are_stamped_where_the_mock_wrote_them(mock: MockLLM) -> None:
    async with direct(mock) as transport:
        sent = [request() for _ in range(4)]
        records = await asyncio.gather(*(transport.send(r) for r in sent))
    truths = {t["request_id"]: t for t in mock.ground_truth()}
    for req, record in zip(sent, records, strict=True):
        truth = truths[req.headers["X-Request-ID"]]
        assert record.ok and record.http_status == 200, record.error_message
        assert truth["path"] == "/v1/messages" and not record.first_on_connection  # warmed connections
        events = truth["events"]
        writes = [(send, tokens) for kind, send, tokens in zip(events["kind"], events["send_ns"], events["tokens"],
                                                               strict=True) if kind in TOKEN_KINDS]
        mine = [e for e in record.events if e.carries_tokens]
        assert [len(e.content.split()) for e in mine] == [tokens for _, tokens in writes]  # one event per write
        assert record.send_ns <= truth["first_byte_ns"]  # one clock (CLOCK_MONOTONIC) in both processes
        assert all(e.t_ns >= send for e, (send, _) in zip(mine, writes, strict=True))
        assert (mine[0].t_ns - record.send_ns) / 1e6 >= (writes[0][0] - truth["first_byte_ns"]) / 1e6 >= 15
        assert record.output_text == "".join(f"tok{i} " for i in range(8))
        assert record.finish_reason == "stop" and record.usage is not None
        assert (record.usage["prompt_tokens"], record.usage["completion_tokens"]) == (5, 8)  # system counts


SCENARIOS = {
    "text": ({"tokens_per_event": 2, "output_tokens": 7}, {}),
    "cut by max_tokens": ({"output_tokens": 40}, {}),
    "reasoning": ({"reasoning_tokens": 3, "output_tokens": 4}, {}),
    "tool call": ({"tool_call": {"name": "add", "arguments": {"a": 2, "b": 2}}}, {"tools": TOOLS}),
    "known answer": ({"answer": 'Paris, "the" capital.\n'}, {}),
    "no tokens": ({"output_tokens": 0}, {}),
}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_record_is_litellms_for_the_same_answer(mock: MockLLM, scenario: str, stream: bool) -> None:
    behaviour, params = SCENARIOS[scenario]
    via_litellm = LiteLLMTransport("anthropic", root(mock), "test-key", timeout_s=10)
    async with direct(mock) as transport:
        mine = await transport.send(request(behaviour, stream, **params))
    theirs = await via_litellm.send(request(behaviour, stream, **params))
    assert mine.ok, mine.error_message
    ours, litellms = answer_of(mine), answer_of(theirs)
    if scenario == "no tokens" and stream:
        # litellm reads message_delta's output_tokens 0 as missing and keeps message_start's 1; 0 is the truth.
        assert (ours.pop("usage"), litellms.pop("usage")) == ((5, 0, 0, 0), (5, 1, 0, 0))
    assert ours == litellms
    if scenario == "tool call":
        assert json.loads(mine.tool_calls[0]["arguments"]) == {"a": 2, "b": 2} and mine.finish_reason == "tool_calls"
    if scenario == "cut by max_tokens":
        assert mine.finish_reason == "length" and mine.usage and mine.usage["completion_tokens"] == 16


async def test_faults_are_classified_as_on_the_openai_path(mock: MockLLM) -> None:
    faults = [({"fault": "429", "retry_after_s": 2}, True), ({"fault": "500"}, True),
              ({"fault": "overloaded", "fault_after_events": 3}, True), ({"fault": "overloaded"}, False),
              ({"fault": "disconnect", "fault_after_events": 2}, True)]
    openai = DirectTransport(mock.base_url, None, max_connections=2, timeout_s=10)
    via_litellm = LiteLLMTransport("anthropic", root(mock), "test-key", timeout_s=10)
    results = []
    async with direct(mock) as transport:
        for behaviour, stream in faults:
            mine = await transport.send(request(behaviour, stream))
            on_openai = await openai.send(request(behaviour, stream))
            theirs = await via_litellm.send(request(behaviour, stream))
            results.append((mine.error_type, mine.http_status, mine.retry_after_s, mine.error_message))
            assert mine.error_type == on_openai.error_type == theirs.error_type, (behaviour, mine, theirs)
    await openai.close()
    assert results == [
        ("rate_limited", 429, 2.0, "HTTP 429: Rate limit reached (mock fault 429)"),
        ("server_error", 500, None,
         "HTTP 500: The server had an error while processing your request (mock fault 500)"),
        ("server_error", 200, None, "overloaded_error: Overloaded (mock fault overloaded)"),  # an error event
        ("server_error", 529, None, "HTTP 529: Overloaded (mock fault overloaded)"),
        ("disconnected", 200, None, "the server closed the connection mid-response"),
    ]


async def test_a_stream_that_ends_before_message_stop_is_disconnected() -> None:
    """A server that ends the body cleanly but early (a proxy cutting it): the events so far are kept."""
    events = [{"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await answer_requests(reader, writer)

    async def answer_requests(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = AnthropicTransport(f"http://127.0.0.1:{port}/v1/messages", None, max_connections=1, timeout_s=5)
    try:
        record = await transport.send(request())
    finally:
        await transport.close()
        server.close()
    assert (record.error_type, record.error_message) == ("disconnected", "the stream ended without message_stop")
    assert record.output_text == "Hel" and record.usage is None  # no message_delta: tokens will be estimated


def test_the_mock_paces_both_apis_alike(mock: MockLLM) -> None:
    """Same behaviour, same schedule and ground truth on /v1/messages as on /v1/chat/completions; Anthropic's
    event sequence, its error bodies, and max_tokens required as Anthropic requires it."""
    behaviour = {"X-Mock-Behaviour": json.dumps({"reasoning_tokens": 2, "output_tokens": 3, "tokens_per_event": 2})}
    ids = {"openai": uuid.uuid4().hex, "anthropic": uuid.uuid4().hex}
    with httpx.Client(timeout=10) as http:
        http.post(mock.base_url + "/chat/completions", headers={"X-Request-ID": ids["openai"], **behaviour},
                  json={"model": "mock-llm", "messages": CHAT[1:], "stream": True, "max_tokens": 16})
        with http.stream("POST", mock.base_url + "/messages", headers={"X-Request-ID": ids["anthropic"], **behaviour},
                         json={"model": "mock-llm", "messages": CHAT[1:], "stream": True, "max_tokens": 16}) as reply:
            assert reply.status_code == 200
            kinds = [line[7:] for line in reply.iter_lines() if line.startswith("event: ")]
        refused = http.post(mock.base_url + "/messages", json={"model": "mock-llm", "messages": CHAT})
        unknown = http.post(mock.base_url + "/messages", json={"model": "nope", "messages": CHAT, "max_tokens": 1})
    assert kinds == ["message_start", "ping", "content_block_start", "content_block_delta",
                     "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    truths = {name: mock.ground_truth(request_id)[0] for name, request_id in ids.items()}
    schedules = {name: [(kind, tokens, due - truth["arrival_ns"]) for kind, tokens, due in zip(
        truth["events"]["kind"], truth["events"]["tokens"], truth["events"]["due_ns"], strict=True)]
        for name, truth in truths.items()}
    assert schedules["anthropic"] == schedules["openai"]
    assert [kind for kind, _, _ in schedules["anthropic"]] == ["role", "reasoning", "content", "content", "finish",
                                                               "done"]
    assert refused.status_code == 400 and refused.json()["type"] == "error"
    assert refused.json()["error"] == {"type": "invalid_request_error",
                                       "message": "max_tokens: an integer >= 1 is required"}
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


def test_requests_are_mapped_to_the_messages_api() -> None:
    transport = AnthropicTransport("https://api.example.com/", "sk-test", max_connections=1, timeout_s=5)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "No lists."},
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a":2}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "4"}]
    params = {"temperature": 0.2, "stop": "END", "tools": TOOLS, "tool_choice": "required", "n": 1, "top_k": 5}
    path, payload = transport.encode(LLMRequest("claude-x", messages=messages, params=params))
    assert path == "/v1/messages"
    assert json.loads(payload) == {
        "model": "claude-x",
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "No lists."}],
        "messages": [{"role": "user", "content": "2+2?"},
                     {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "add",
                                                        "input": {"a": 2}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "4"}]}],
        "max_tokens": 1024,  # Anthropic requires one; specs always set it
        "temperature": 0.2, "stop_sequences": ["END"], "tool_choice": {"type": "any"}, "top_k": 5,
        "tools": [{"name": "add", "description": "Adds.", "input_schema": TOOLS[0]["function"]["parameters"]}],
        "stream": True,
    }
    assert dict(transport._headers) == {"content-type": "application/json", "anthropic-version": "2023-06-01",
                                        "x-api-key": "sk-test"}
    _, completion = transport.encode(LLMRequest("claude-x", prompt="Once", params={"max_completion_tokens": 9}))
    assert json.loads(completion)["messages"] == [{"role": "user", "content": "Once"}]
    assert json.loads(completion)["max_tokens"] == 9


def test_anthropic_providers_with_an_api_base_go_direct() -> None:
    def provider(type_: str, api_base: str | None, transport: str = "auto") -> ProviderSpec:
        return ProviderSpec("p", type_, api_base=api_base, transport=ProviderTransport(transport))

    assert provider("anthropic", "https://api.anthropic.com").resolved_transport is ProviderTransport.DIRECT
    assert provider("anthropic", None).resolved_transport is ProviderTransport.LITELLM
    assert provider("anthropic", "http://x", "litellm").resolved_transport is ProviderTransport.LITELLM
    assert provider("gemini", "http://x").resolved_transport is ProviderTransport.LITELLM
    kinds = [type(open_transport(provider(t, "http://127.0.0.1:1"), None, 1, 5, "m"))
             for t in ("anthropic", "openai", "hosted_vllm")]
    assert kinds == [AnthropicTransport, DirectTransport, DirectTransport]
    assert isinstance(open_transport(provider("anthropic", None, "litellm"), None, 1, 5, "m"), LiteLLMTransport)


def test_claude_models_are_priced_from_litellms_map() -> None:
    assert model_prices(None, None, "anthropic/claude-haiku-4-5") == pytest.approx((1.0, 5.0))  # USD per Mtok


async def test_an_engine_run_records_the_same_events_as_litellms(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=30, gap_ms=4, output_tokens=12, tokens_per_event=2) as mock:
        specs = {transport: mock_spec(root(mock), items=3, repetitions=2, transport=transport,
                                      name=f"anthropic-{transport}", load={"profile": "concurrent", "concurrency": 2},
                                      providers=[{"name": "mock", "type": "anthropic", "api_base": root(mock),
                                                  "transport": transport}])
                 for transport in ("auto", "litellm")}
        runs = {transport: await run_spec(engine_deps, spec) for transport, spec in specs.items()}
        truths = truth_by_request(mock.ground_truth())
    assert all(run.status == "completed" for run in runs.values()), [run.error for run in runs.values()]
    columns = "item_id, status, completion_tokens, prompt_tokens, tokens_estimated, finish_reason, output, " \
              "tokens_per_event, length(inter_event_ms) AS gaps, event_id, ttft_ms, e2e_ms, first_on_connection, " \
              "cost_known"
    rows = {transport: await event_rows(engine_deps, run.id, columns) for transport, run in runs.items()}
    direct_rows = rows["auto"]
    assert len(direct_rows) == 6
    for row in direct_rows:
        truth = truths[str(row["event_id"])]
        assert row["status"] == "ok" and row["completion_tokens"] == truth["completion_tokens"] == 12
        assert row["tokens_per_event"] == truth["tokens_per_event"] == [2] * 6 and row["gaps"] == 5
        assert row["first_on_connection"] is False and not row["tokens_estimated"]
        assert_bounded_by_truth(row, truth, configured_ttft_ms=30)
    varying = ("event_id", "ttft_ms", "e2e_ms", "first_on_connection")  # litellm's pool is not pre-opened

    def same(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in varying}

    assert sorted(map(same, direct_rows), key=str) == sorted(map(same, rows["litellm"]), key=str)
    for row in rows["litellm"]:
        assert_bounded_by_truth(row, truths[str(row["event_id"])], configured_ttft_ms=30)
