"""benchlab.mockllm's known answers: the `answer` field, the answer key, accuracy, tool calls from the key.

The server runs as a real subprocess (like tests/test_mockllm.py); answer-key parsing and the planned schedule
are also checked in-process. Expected correctness comes from the public rule, `answers_correctly`.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from benchlab.mockllm import MockLLMServer, answers_correctly, load_answer_key, word_tokens
from benchlab.mockllm.answers import AnswerKeyError
from benchlab.mockllm.behaviour import Behaviour, Reply, RequestParams, ToolCall, plan_response, text_of
from benchlab.mockllm.cli import _parser, main_mock_llm
from tests.helpers.mock_llm import MockLLM, run_mock_llm

SEED = 11
PROMPTS = 200
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
              {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
UNICODE = "こんにちは、世界 🌍 — «ça va?»\n\t\"quoted\" \\ back"
WEATHER_CALLS = [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}},
                 {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}]
ENTRIES: list[dict[str, Any]] = [
    {"prompt": "What is 2+2?", "answer": "4", "wrong": "5"},
    {"prompt": "Say hello", "answer": UNICODE},
    {"prompt": "Weather and time in Paris?", "answer": "It is sunny.", "tool_calls": WEATHER_CALLS},
    {"prompt": "Count to six", "answer": "one two three four five six"},
    {"prompt": "Look at this:\nWhat is it?", "answer": "A cat."},
    *({"prompt": f"question {i}", "answer": f"answer {i}"} for i in range(PROMPTS)),
]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("answer-key") / "key.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in ENTRIES), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mock(key_file: Path) -> Iterator[MockLLM]:
    with run_mock_llm(seed=SEED, ttft_ms=0, gap_ms=0, answer_key=key_file, models=["mock-llm", "other"]) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def chat(http: httpx.Client, mock: MockLLM, prompt: str, model: str = "mock-llm",
         behaviour: dict[str, Any] | None = None, **body: Any) -> tuple[str, dict[str, Any]]:
    """A non-streaming chat request; returns its request id and the response JSON."""
    request_id = uuid.uuid4().hex
    response = http.post(mock.base_url + "/chat/completions",
                         json={"model": model, "messages": [{"role": "user", "content": prompt}], **body},
                         headers={"X-Request-ID": request_id, "X-Mock-Behaviour": json.dumps(behaviour or {})})
    assert response.status_code == 200, response.text
    return request_id, response.json()


def stream_chat(http: httpx.Client, mock: MockLLM, prompt: str, model: str = "mock-llm",
                behaviour: dict[str, Any] | None = None, **body: Any) -> tuple[str, list[dict[str, Any]]]:
    """A streaming chat request (usage asked for); returns its request id and the decoded SSE data items."""
    request_id = uuid.uuid4().hex
    with http.stream("POST", mock.base_url + "/chat/completions", headers={
            "X-Request-ID": request_id, "X-Mock-Behaviour": json.dumps(behaviour or {})}, json={
            "model": model, "messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}, **body}) as response:
        assert response.status_code == 200, response.read()
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return request_id, [json.loads(item) for item in data[:-1]]


def streamed_content(events: list[dict[str, Any]]) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])


def content(reply: dict[str, Any]) -> str:
    return reply["choices"][0]["message"]["content"]


def record_of(mock: MockLLM, request_id: str) -> dict[str, Any]:
    matches = mock.ground_truth(request_id)
    assert len(matches) == 1, matches
    return matches[0]


def test_answer_by_header_and_by_model_query(mock: MockLLM, http: httpx.Client) -> None:
    request_id, reply = chat(http, mock, "anything at all", behaviour={"answer": "Paris is the capital."})
    assert content(reply) == "Paris is the capital."
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"]["completion_tokens"] == 4 == len(word_tokens("Paris is the capital."))
    record = record_of(mock, request_id)
    assert (record["answer_source"], record["correct"], record["verdict"]) == ("header", True, None)
    assert record["content_tokens"] == 4 and record["behaviour"]["answer"] == "Paris is the capital."

    _, reply = chat(http, mock, "anything", model="mock-llm?answer=Blue%20sky%2C%20mostly")
    assert content(reply) == "Blue sky, mostly"
    _, events = stream_chat(http, mock, "anything", model="mock-llm?answer=Blue%20sky")
    assert streamed_content(events) == "Blue sky" and events[-1]["usage"]["completion_tokens"] == 2

    # the answer field wins over the key, and the header over the model name
    _, reply = chat(http, mock, "What is 2+2?", model="mock-llm?answer=three", behaviour={"answer": "four"})
    assert content(reply) == "four"


def test_answer_field_refuses_non_text(mock: MockLLM, http: httpx.Client) -> None:
    response = http.post(mock.base_url + "/chat/completions", json={
        "model": "mock-llm?answer=42", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 400 and "'answer'" in response.json()["error"]["message"]
    _, reply = chat(http, mock, "x", model='mock-llm?answer="42"')
    assert content(reply) == "42"
    for bad in ({"accuracy": 1.5}, {"judge_bias": "middle"}, {"judge_malformed_rate": -0.1}, {"wrong_answer": None}):
        response = http.post(mock.base_url + "/chat/completions", json={
            "model": "mock-llm", "messages": [{"role": "user", "content": "x"}]},
            headers={"X-Mock-Behaviour": json.dumps(bad)})
        assert response.status_code == 400 and repr(next(iter(bad))) in response.json()["error"]["message"]


def test_answer_key_by_prompt_chat_and_completions(mock: MockLLM, http: httpx.Client) -> None:
    request_id, reply = chat(http, mock, "  What is 2+2?\n")  # stripped before matching
    assert content(reply) == "4" and reply["usage"]["completion_tokens"] == 1
    record = record_of(mock, request_id)
    assert (record["answer_source"], record["correct"]) == ("key", True)

    _, reply = chat(http, mock, "ignored", messages=[  # the last user message counts, text parts joined by newlines
        {"role": "user", "content": "Count to six"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "Look at this:"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                                     {"type": "text", "text": "What is it?"}]},
        {"role": "system", "content": "be brief"}])
    assert content(reply) == "A cat."

    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    completion = client.completions.create(model="mock-llm", prompt=" Count to six ")
    assert completion.choices[0].text == "one two three four five six"
    assert completion.usage.completion_tokens == 6 and completion.choices[0].finish_reason == "stop"
    chunks = list(client.completions.create(model="mock-llm", prompt="Count to six", stream=True,
                                            stream_options={"include_usage": True}))
    assert [c.choices[0].text for c in chunks if c.choices and c.choices[0].text] == [
        "one ", "two ", "three ", "four ", "five ", "six"]
    assert chunks[-1].usage.completion_tokens == 6

    request_id, reply = chat(http, mock, "not in the key")
    assert content(reply) == "".join(f"tok{i} " for i in range(64))
    record = record_of(mock, request_id)
    assert (record["answer_source"], record["correct"], record["verdict"], record["verdict_malformed"]) == (
        None, None, None, None)


def test_wrong_answers(mock: MockLLM, http: httpx.Client) -> None:
    request_id, reply = chat(http, mock, "What is 2+2?", model="mock-llm?accuracy=0")
    assert content(reply) == "5"  # the entry's own wrong answer
    assert (record_of(mock, request_id)["answer_source"], record_of(mock, request_id)["correct"]) == ("key", False)
    _, reply = chat(http, mock, "Count to six", model="mock-llm?accuracy=0")
    assert content(reply) == "I don't know." and reply["usage"]["completion_tokens"] == 3
    _, reply = chat(http, mock, "Count to six", behaviour={"accuracy": 0, "wrong_answer": "seven"})
    assert content(reply) == "seven"
    request_id, reply = chat(http, mock, "x", behaviour={"answer": "right", "accuracy": 0.0})
    assert content(reply) == "I don't know."
    assert record_of(mock, request_id)["correct"] is False


@pytest.mark.parametrize("accuracy", [0.0, 1.0, 0.8])
def test_accuracy_over_many_prompts_follows_the_public_rule(mock: MockLLM, http: httpx.Client,
                                                            accuracy: float) -> None:
    model = f"mock-llm?accuracy={accuracy}"
    correct = {}
    for i in range(PROMPTS):
        _, reply = chat(http, mock, f"question {i}", model=model)
        assert content(reply) in (f"answer {i}", "I don't know.")
        correct[i] = content(reply) == f"answer {i}"
        assert correct[i] == answers_correctly(SEED, f"question {i}", "mock-llm", accuracy)  # query ignored
    share = sum(correct.values()) / PROMPTS
    if accuracy in (0.0, 1.0):
        assert share == accuracy
    else:
        assert 0.7 <= share <= 0.9  # 160 expected, sd ~5.7
    for i in range(0, PROMPTS, 10):  # repetitions agree, whatever the request's seed or ordinal
        _, reply = chat(http, mock, f"question {i}", model=model, seed=i + 1000)
        assert (content(reply) == f"answer {i}") == correct[i]


def test_correctness_rule_is_per_prompt_model_and_seed() -> None:
    assert answers_correctly(1, "p", "m", 1.0) and not answers_correctly(1, "p", "m", 0.0)
    assert answers_correctly(1, "p", "m?accuracy=0.3", 0.5) == answers_correctly(1, "p", "m", 0.5)
    draws = [answers_correctly(seed, f"p{i}", "m", 0.5) for seed in range(3) for i in range(300)]
    assert 0.4 < sum(draws) / len(draws) < 0.6
    assert draws[:300] != draws[300:600]  # another server seed, another draw


def test_tool_calls_from_the_key(mock: MockLLM, http: httpx.Client) -> None:
    prompt = "Weather and time in Paris?"
    request_id, reply = chat(http, mock, prompt, tools=CHAT_TOOLS)
    message = reply["choices"][0]["message"]
    assert message["content"] is None and reply["choices"][0]["finish_reason"] == "tool_calls"
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == [
        (c["name"], json.dumps(c["arguments"])) for c in WEATHER_CALLS]
    assert len({c["id"] for c in message["tool_calls"]}) == 2
    tokens = sum(1 + math.ceil(len(json.dumps(c["arguments"])) / 4) for c in WEATHER_CALLS)
    assert reply["usage"]["completion_tokens"] == tokens
    record = record_of(mock, request_id)
    assert (record["tool_call_tokens"], record["completion_tokens"], record["content_tokens"]) == (tokens, tokens, 0)

    for per_event in (1, 3):
        request_id, events = stream_chat(http, mock, prompt, model=f"mock-llm?tokens_per_event={per_event}",
                                         tools=CHAT_TOOLS)
        deltas = [d for e in events if e["choices"] for d in e["choices"][0]["delta"].get("tool_calls", [])]
        assert all(len(e["choices"][0]["delta"].get("tool_calls", [])) <= 1 for e in events if e["choices"])
        openings = [d for d in deltas if "id" in d]
        assert [(d["index"], d["function"]["name"]) for d in openings] == [(0, "get_weather"), (1, "get_time")]
        for index, call in enumerate(WEATHER_CALLS):
            arguments = "".join(d["function"]["arguments"] for d in deltas if d["index"] == index)
            assert arguments == json.dumps(call["arguments"])
        assert [d["index"] for d in deltas] == sorted(d["index"] for d in deltas)
        assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
        assert events[-1]["usage"]["completion_tokens"] == tokens
        record = record_of(mock, request_id)
        assert sum(record["events"]["tokens"]) == tokens
        assert record["events"]["kind"].count("tool_call") == sum(
            1 + math.ceil((ToolCall(c["name"], json.dumps(c["arguments"])).tokens - 1) / per_event)
            for c in WEATHER_CALLS)

    client = openai.OpenAI(base_url=mock.base_url, api_key="x", max_retries=0)
    with client.chat.completions.stream(model="mock-llm", messages=[{"role": "user", "content": prompt}],
                                             tools=CHAT_TOOLS) as stream:  # the SDK reassembles the calls
        final = stream.get_final_completion()
    assert [(c.function.name, json.loads(c.function.arguments)) for c in final.choices[0].message.tool_calls] == [
        (c["name"], c["arguments"]) for c in WEATHER_CALLS]

    _, reply = chat(http, mock, prompt)  # no tools in the request: the text answer
    assert content(reply) == "It is sunny."
    _, reply = chat(http, mock, prompt, tools=CHAT_TOOLS, tool_choice="none")
    assert content(reply) == "It is sunny."
    _, reply = chat(http, mock, prompt, model="mock-llm?accuracy=0", tools=CHAT_TOOLS)
    assert content(reply) == "I don't know." and "tool_calls" not in reply["choices"][0]["message"]
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_cuts_the_answer(mock: MockLLM, http: httpx.Client) -> None:
    request_id, reply = chat(http, mock, "Count to six", max_tokens=3)
    assert content(reply) == "one two three " and reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 3
    assert record_of(mock, request_id)["finish_reason"] == "length"
    _, reply = chat(http, mock, "Count to six", max_completion_tokens=6)
    assert content(reply) == "one two three four five six" and reply["choices"][0]["finish_reason"] == "stop"
    _, events = stream_chat(http, mock, "Count to six", max_tokens=2)
    assert streamed_content(events) == "one two " and events[-1]["usage"]["completion_tokens"] == 2
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_unicode_answers_and_exact_concatenation(mock: MockLLM, http: httpx.Client) -> None:
    tokens = len(word_tokens(UNICODE))
    _, reply = chat(http, mock, "Say hello")
    assert content(reply) == UNICODE and reply["usage"]["completion_tokens"] == tokens
    for per_event in (1, 2, 5):
        request_id, events = stream_chat(http, mock, "Say hello", model=f"mock-llm?tokens_per_event={per_event}")
        assert streamed_content(events) == UNICODE
        assert events[-1]["usage"]["completion_tokens"] == tokens
        assert sum(record_of(mock, request_id)["events"]["tokens"]) == tokens
    spaced = "  leading, inner   runs,\ttabs\nand trailing  "
    _, events = stream_chat(http, mock, "x", behaviour={"answer": spaced})
    pieces = [e["choices"][0]["delta"]["content"] for e in events if e["choices"] and e["choices"][0]["delta"].get(
        "content")]
    assert pieces == ["  leading, ", "inner   ", "runs,\t", "tabs\n", "and ", "trailing  "] == list(word_tokens(spaced))
    assert events[-1]["usage"]["completion_tokens"] == 6
    _, reply = chat(http, mock, "x", behaviour={"answer": ""})
    assert content(reply) == "" and reply["usage"]["completion_tokens"] == 0
    assert word_tokens("   ") == ("   ",) and word_tokens("") == ()


def test_usage_counts_include_reasoning(mock: MockLLM, http: httpx.Client) -> None:
    _, events = stream_chat(http, mock, "What is 2+2?", model="mock-llm?reasoning_tokens=3")
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "think0 think1 think2 "
    assert streamed_content(events) == "4"
    assert events[-1]["usage"]["completion_tokens"] == 4
    assert events[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_schedule_is_the_same_with_an_answer() -> None:
    """A known answer of N tokens is due exactly like N tok{i} words: same draws, same events, same due times."""
    answer = "one two three four five six seven"
    body = {"model": "mock-llm", "messages": [{"role": "user", "content": "q"}], "stream": True}
    for latencies in ({"ttft_ms": 37, "gap_ms": 4}, {"ttft_ms": "normal(40,5)", "gap_ms": "lognormal(5,0.3)"}):
        for per_event in (1, 3):
            behaviour = Behaviour().with_overrides({**latencies, "tokens_per_event": per_event, "output_tokens": 7})
            params = RequestParams.from_body(body, chat=True)
            plain = plan_response(behaviour, params, random.Random("0:1"))
            known = plan_response(behaviour.with_overrides({"answer": answer}), params, random.Random("0:1"),
                                  Reply(text=text_of(answer), source="header", correct=True))
            assert (known.ttft_ms, known.gaps_ms, known.events) == (plain.ttft_ms, plain.gaps_ms, plain.events)
            assert known.completion_tokens == plain.completion_tokens == 7


def test_schedule_is_the_same_with_an_answer_on_the_server(http: httpx.Client) -> None:
    """The same through the server: the ground truth's planned due times, relative to arrival, agree."""
    with run_mock_llm(ttft_ms=15, gap_ms=2, tokens_per_event=2) as server:
        ids = []
        for model in ("mock-llm?output_tokens=6", "mock-llm?answer=one%20two%20three%20four%20five%20six"):
            request_id, events = stream_chat(http, server, "q", model=model)
            assert events[-1]["usage"]["completion_tokens"] == 6
            ids.append(request_id)
        plain, known = (record_of(server, request_id) for request_id in ids)
    assert known["answer_source"] == "header" and plain["answer_source"] is None
    for key in ("ttft_ms", "gaps_ms", "completion_tokens", "finish_reason"):
        assert plain[key] == known[key]
    relative = [[due - record["arrival_ns"] for due in record["events"]["due_ns"]] for record in (plain, known)]
    assert relative[0] == relative[1]
    assert plain["events"]["kind"] == known["events"]["kind"] and plain["events"]["tokens"] == known["events"]["tokens"]


async def test_yaml_answer_key_in_process(tmp_path: Path) -> None:
    path = tmp_path / "key.yaml"
    path.write_text('- prompt: "What is 2+2?"\n  answer: "4"\n  wrong: "five"\n'
                    "- prompt: Capital of France?\n  answer: Paris\n"
                    "  tool_calls:\n    - name: lookup\n      arguments: {city: Paris}\n", encoding="utf-8")
    key = load_answer_key(path)
    assert len(key) == 2 and key.get("Capital of France?") is not None
    server = MockLLMServer(Behaviour().with_overrides({"ttft_ms": 0, "gap_ms": 0}), answer_key=path, seed=SEED)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}/v1") as client:
            reply = (await client.post("/chat/completions", json={
                "model": "mock-llm", "messages": [{"role": "user", "content": "What is 2+2?"}]})).json()
            assert content(reply) == "4"
            reply = (await client.post("/completions", json={"model": "mock-llm?accuracy=0",
                                                                "prompt": "What is 2+2?"})).json()
            assert reply["choices"][0]["text"] == "five"
            reply = (await client.post("/chat/completions", json={
                "model": "mock-llm", "messages": [{"role": "user", "content": "Capital of France?"}],
                "tools": [{"type": "function", "function": {"name": "lookup"}}]})).json()
            assert reply["choices"][0]["message"]["tool_calls"][0]["function"] == {
                "name": "lookup", "arguments": '{"city": "Paris"}'}
    finally:
        await server.close()


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("bad.jsonl", '{"prompt": "a", "answer": "b"}\n\n{"prompt": "c", "answer": "d"\n', "line 3: not a JSON object"),
    ("bad.jsonl", '{"prompt": "a", "answer": "b"}\n{"prompt": "c"}\n', "line 2: 'answer' must be text"),
    ("bad.jsonl", '{"prompt": "a", "answer": "b", "wrongg": "x"}\n', "line 1: unknown keys ['wrongg']"),
    ("bad.jsonl", '["a", "b"]\n', "line 1: expected an object"),
    ("bad.jsonl", '{"prompt": " ", "answer": "b"}\n', "line 1: 'prompt' must be non-empty text"),
    ("bad.jsonl", '{"prompt": "a", "answer": "b"}\n{"prompt": " a ", "answer": "c"}\n',
     "line 2: prompt 'a' is already given on line 1"),
    ("bad.jsonl", '{"prompt": "a", "answer": "b", "tool_calls": [{"name": "f", "arguments": 3}]}\n',
     "line 1: 'tool_calls' must be a list"),
    ("bad.yaml", "- prompt: a\n  answer: b\n- prompt: c\n  answer: yes\n", "line 3: 'answer' must be text"),
    ("bad.yml", "- prompt: a\n  answer: [b\n- prompt: c\n", "line 3: not valid YAML"),
    ("bad.yaml", "prompt: a\nanswer: b\n", "line 1: expected a YAML list"),
])
def test_bad_answer_keys_name_the_line(tmp_path: Path, name: str, text: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnswerKeyError) as caught:
        load_answer_key(path)
    assert str(path) in str(caught.value) and problem in str(caught.value), caught.value


def test_cli_refuses_a_bad_answer_key_and_documents_the_fields(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a"}\n', encoding="utf-8")
    assert main_mock_llm(["--port", "0", "--answer-key", str(path)]) == 2
    assert f"answer key {path}, line 1: 'answer' must be text" in capsys.readouterr().err
    assert main_mock_llm(["--port", "0", "--answer-key", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read it" in capsys.readouterr().err
    assert main_mock_llm(["--port", "0", "--accuracy", "2"]) == 2
    assert "'accuracy'" in capsys.readouterr().err
    help_text = " ".join(_parser().format_help().split())
    for flag in ("--answer-key FILE", "--answer VALUE", "--accuracy VALUE", "--wrong-answer VALUE", "--judge VALUE",
                 "--judge-bias VALUE", "--judge-malformed-rate VALUE"):
        assert flag in help_text
    assert '(default: "I don\'t know.")' in help_text and "(default: 1.0)" in help_text
