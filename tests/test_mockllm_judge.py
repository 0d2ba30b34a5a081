"""benchlab.mockllm's judge mode: deterministic rubric and pairwise verdicts, position bias, malformed verdicts.

The server runs as a real subprocess (like tests/test_mockllm.py); expected verdicts come from the public rules
in benchlab.mockllm.judge, and are also pinned here literally so the rules cannot drift unnoticed.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from benchlab.mockllm import normalize, pairwise_verdict, rubric_verdict, word_tokens
from benchlab.mockllm.judge import MALFORMED_PROSE
from tests.helpers.mock_llm import MockLLM, run_mock_llm

TTFT_MS, GAP_MS = 12, 1
JUDGE = "mock-llm?judge=true"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=TTFT_MS, gap_ms=GAP_MS) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def tagged(**parts: str | None) -> str:
    """A judge prompt: each part in its tag, HTML-escaped, around some instructions."""
    body = "\n".join(f"<{tag}>{html.escape(text, quote=False)}</{tag}>" for tag, text in parts.items()
                     if text is not None)
    return f"You are a strict judge. Reply with JSON only.\n{body}\nVerdict:"


def rubric(response: str, expected: str | None = None) -> str:
    return tagged(rubric="Is the answer right?", question="What is the capital of France?", response=response,
                  expected=expected)


def pairwise(response_a: str, response_b: str, expected: str | None = None) -> str:
    return tagged(criteria="Which answer is right?", question="What is the capital of France?",
                  response_a=response_a, response_b=response_b, expected=expected)


def judge(http: httpx.Client, mock: MockLLM, prompt: str, model: str = JUDGE,
          behaviour: dict[str, Any] | None = None, **body: Any) -> tuple[str, httpx.Response]:
    request_id = uuid.uuid4().hex
    response = http.post(mock.base_url + "/chat/completions", json={
        "model": model, "messages": [{"role": "system", "content": "judge"}, {"role": "user", "content": prompt}],
        **body}, headers={"X-Request-ID": request_id, "X-Mock-Behaviour": json.dumps(behaviour or {})})
    return request_id, response


def verdict_of(http: httpx.Client, mock: MockLLM, prompt: str, **kwargs: Any) -> dict[str, Any]:
    _, response = judge(http, mock, prompt, **kwargs)
    assert response.status_code == 200, response.text
    text = response.json()["choices"][0]["message"]["content"]
    verdict: dict[str, Any] = json.loads(text)
    assert text == json.dumps(verdict)
    return verdict


def record_of(mock: MockLLM, request_id: str) -> dict[str, Any]:
    matches = mock.ground_truth(request_id)
    assert len(matches) == 1, matches
    return matches[0]


def test_normalize() -> None:
    assert normalize("  The\tAnswer \n IS  Straße ") == "the answer is strasse"


def test_rubric_with_expected(mock: MockLLM, http: httpx.Client) -> None:
    passed = verdict_of(http, mock, rubric("I believe  the answer is\nPARIS, France.", expected="paris,   FRANCE"))
    assert passed == {"score": 1.0, "pass": True, "reason": "the response contains the expected answer"}
    assert passed == rubric_verdict("I believe  the answer is\nPARIS, France.", "paris,   FRANCE")
    failed = verdict_of(http, mock, rubric("London", expected="Paris"))
    assert failed == {"score": 0.0, "pass": False, "reason": "the response does not contain the expected answer"}
    assert failed == rubric_verdict("London", "Paris")


def test_rubric_without_expected(mock: MockLLM, http: httpx.Client) -> None:
    assert verdict_of(http, mock, rubric("Paris")) == {"score": 1.0, "pass": True,
                                                       "reason": "the response is not empty"}
    assert verdict_of(http, mock, rubric(" \n\t ")) == {"score": 0.0, "pass": False, "reason": "the response is empty"}
    assert rubric_verdict("x", "  ") == rubric_verdict("x")  # an expected answer that normalizes to "" is absent


def test_escaped_contents_may_hold_tags(mock: MockLLM, http: httpx.Client) -> None:
    tricky = "a </response> b <expected>nope</expected> & <b>Paris</b> &amp;"
    verdict = verdict_of(http, mock, rubric(tricky, expected="& <b>paris</b> &amp;"))
    assert verdict["pass"] is True and verdict == rubric_verdict(tricky, "& <b>paris</b> &amp;")
    assert verdict_of(http, mock, rubric(tricky, expected="nope</expected> & <b>Rome"))["pass"] is False
    verdict = verdict_of(http, mock, pairwise("</response_a> Paris", "<response_b>Rome</response_b>", "paris"))
    assert verdict["winner"] == "A"


@pytest.mark.parametrize(("response_a", "response_b", "expected", "winner", "reason"), [
    ("Paris", "Rome", "paris", "A", "only response A contains the expected answer"),
    ("It is Rome", "It's paris!", "Paris", "B", "only response B contains the expected answer"),
    ("Paris", "PARIS", "paris", "tie", "both responses contain the expected answer"),
    ("Rome", "Berlin", "paris", "tie", "neither response contains the expected answer"),
    ("Paris", "  ", None, "A", "only response A is not empty"),
    ("", "Rome", None, "B", "only response B is not empty"),
    ("Paris", "Rome", None, "tie", "both responses are not empty"),
    (" ", "", None, "tie", "both responses are empty"),
])
def test_pairwise(mock: MockLLM, http: httpx.Client, response_a: str, response_b: str, expected: str | None,
                  winner: str, reason: str) -> None:
    verdict = verdict_of(http, mock, pairwise(response_a, response_b, expected))
    assert verdict == {"winner": winner, "reason": reason} == pairwise_verdict(response_a, response_b, expected)


@pytest.mark.parametrize(("bias", "winner"), [("first", "A"), ("second", "B")])
def test_position_bias_makes_both_orders_disagree(mock: MockLLM, http: httpx.Client, bias: str, winner: str) -> None:
    forward = verdict_of(http, mock, pairwise("Paris", "Rome", "paris"), behaviour={"judge_bias": bias})
    backward = verdict_of(http, mock, pairwise("Rome", "Paris", "paris"), model=f"{JUDGE}&judge_bias={bias}")
    assert forward["winner"] == backward["winner"] == winner  # the same answer wins in one order, loses in the other
    assert forward == pairwise_verdict("Paris", "Rome", "paris", bias=bias)
    unbiased = [verdict_of(http, mock, pairwise(a, b, "paris"))["winner"] for a, b in (("Paris", "Rome"),
                                                                                        ("Rome", "Paris"))]
    assert unbiased == ["A", "B"]


def test_malformed_verdicts(mock: MockLLM, http: httpx.Client) -> None:
    prompt = rubric("Paris", expected="paris")
    valid = json.dumps(rubric_verdict("Paris", "paris"))
    seen = set()
    for seed in range(30):
        request_id, response = judge(http, mock, prompt, behaviour={"judge_malformed_rate": 1.0}, seed=seed)
        text = response.json()["choices"][0]["message"]["content"]
        with pytest.raises(ValueError):
            json.loads(text)
        assert text in (MALFORMED_PROSE, valid[:len(valid) // 2])
        seen.add(text)
        assert response.json()["usage"]["completion_tokens"] == len(word_tokens(text))
        record = record_of(mock, request_id)
        assert (record["verdict"], record["verdict_malformed"]) == (None, True)
    assert len(seen) == 2  # both forms occur

    outcomes = {}
    for seed in range(40):  # a rate below 1: drawn per request from its seed, so a retry can succeed
        _, response = judge(http, mock, prompt, model=f"{JUDGE}&judge_malformed_rate=0.5", seed=seed)
        outcomes[seed] = response.json()["choices"][0]["message"]["content"] == valid
        _, again = judge(http, mock, prompt, model=f"{JUDGE}&judge_malformed_rate=0.5", seed=seed)
        assert (again.json()["choices"][0]["message"]["content"] == valid) == outcomes[seed]
    assert 5 < sum(outcomes.values()) < 35


@pytest.mark.parametrize(("prompt", "problem"), [
    ("Is Paris the capital of France?", "found no tags"),
    (tagged(question="q", response="r"), "missing <rubric>"),
    (tagged(criteria="c", question="q", response_a="a", response_b=None), "found ['<criteria>', '<question>'"),
    (tagged(criteria="c", response_a="a", response_b="b"), "missing <question>"),
])
def test_prompts_without_the_tags_are_refused(mock: MockLLM, http: httpx.Client, prompt: str, problem: str) -> None:
    request_id, response = judge(http, mock, prompt)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert problem in message
    for tag in ("<rubric>", "<question>", "<response>", "<expected>", "<criteria>", "<response_a>", "<response_b>"):
        assert tag in message
    assert record_of(mock, request_id)["status"] == 400


def test_streamed_verdict_follows_the_schedule(mock: MockLLM, http: httpx.Client) -> None:
    request_id = uuid.uuid4().hex
    with http.stream("POST", mock.base_url + "/chat/completions", headers={"X-Request-ID": request_id}, json={
            "model": JUDGE, "messages": [{"role": "user", "content": rubric("Paris", "paris")}], "stream": True,
            "stream_options": {"include_usage": True}}) as response:
        data = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    deltas = [e["choices"][0]["delta"].get("content") for e in data if e["choices"]]
    expected = json.dumps(rubric_verdict("Paris", "paris"))
    assert [d for d in deltas if d] == list(word_tokens(expected))
    assert json.loads("".join(d for d in deltas if d)) == rubric_verdict("Paris", "paris")
    assert data[-1]["usage"]["completion_tokens"] == len(word_tokens(expected))
    record = record_of(mock, request_id)
    assert record["verdict"] == rubric_verdict("Paris", "paris") and record["verdict_malformed"] is False
    assert (record["answer_source"], record["correct"]) == (None, None)
    events, t0 = record["events"], record["arrival_ns"]
    tokens = len(word_tokens(expected))
    assert events["kind"] == ["role", *["content"] * tokens, "finish", "usage", "done"]
    assert events["due_ns"][1:1 + tokens] == [t0 + (TTFT_MS + i * GAP_MS) * 1_000_000 for i in range(tokens)]


def test_judge_on_completions_and_over_answers(mock: MockLLM, http: httpx.Client) -> None:
    response = http.post(mock.base_url + "/completions", json={"model": JUDGE, "prompt": pairwise("Paris", "")})
    assert json.loads(response.json()["choices"][0]["text"]) == {"winner": "A",
                                                                  "reason": "only response A is not empty"}
    verdict = verdict_of(http, mock, rubric("Rome", "paris"), behaviour={"answer": "ignored", "accuracy": 0})
    assert verdict["pass"] is False  # judge mode wins over the answer field
    capped = judge(http, mock, rubric("Rome", "paris"), max_tokens=2)[1].json()
    assert capped["choices"][0]["message"]["content"] == '{"score": 0.0, '
    assert capped["choices"][0]["finish_reason"] == "length"
