"""Judge mode (`judge: true`): the mock is a deterministic LLM judge, so evaluation code can be tested exactly.

The request's prompt (answers.prompt_of: its last user message) holds tagged parts whose contents are
HTML-escaped (`&lt;`, `&gt;`, `&amp;`; they are read with html.unescape, so a response may contain any text,
`</response>` included). The first occurrence of each tag counts.

Rubric: `<rubric>`, `<question>`, `<response>`, optional `<expected>` -> `rubric_verdict(response, expected)`:

    {"score": 1.0, "pass": true, "reason": "..."}    (score 0.0 and pass false when it fails)

    with an expected answer: pass when normalize(expected) is a substring of normalize(response);
    without: pass when the response is not empty after strip.

Pairwise: `<criteria>`, `<question>`, `<response_a>`, `<response_b>`, optional `<expected>` ->
`pairwise_verdict(response_a, response_b, expected, bias)`:

    {"winner": "A" | "B" | "tie", "reason": "..."}

    with an expected answer: the response that contains it (as above) wins when exactly one does, else tie;
    without: the non-empty response wins when exactly one is empty, else tie.
    `judge_bias` "first" / "second": always A / B, whatever the responses (position bias: asking both orders
    of one pair gives inconsistent verdicts).

`normalize(text)`: casefolded, whitespace runs collapsed to one space, stripped. An `<expected>` that
normalizes to "" counts as absent. A prompt with `<response_a>` and `<response_b>` is pairwise, else one with
`<response>` is a rubric; missing tags are answered with 400 naming the expected tags.

The verdict is the content: `json.dumps(verdict)`, sent as word tokens like answers, on the usual schedule.
Malformed verdicts (`judge_malformed_rate`, drawn from the request's seeded rng, see behaviour.py): with
u < rate / 2 the verdict JSON cut to its first half (an object never closed), else the prose
`I think it is good.`; neither parses as JSON. The `tool_call`, `answer` and answer key do not apply.
"""

from __future__ import annotations

import html
import json
import re

from benchlab.mockllm.behaviour import Behaviour, InvalidRequest, Reply, text_of

RUBRIC_TAGS = ("rubric", "question", "response")
PAIRWISE_TAGS = ("criteria", "question", "response_a", "response_b")
MALFORMED_PROSE = "I think it is good."
_TAG = re.compile(r"<(rubric|question|response|response_a|response_b|criteria|expected)>(.*?)</\1>", re.DOTALL)


def normalize(text: str) -> str:
    """Casefolded, whitespace runs collapsed to one space, stripped."""
    return " ".join(text.casefold().split())


def contains_expected(response: str, expected: str) -> bool:
    """Whether the response holds the expected answer: normalize(expected) in normalize(response)."""
    return normalize(expected) in normalize(response)


def _expected(expected: str | None) -> str | None:
    return expected if expected is not None and normalize(expected) else None


def rubric_verdict(response: str, expected: str | None = None) -> dict[str, object]:
    """The rubric verdict the mock judge gives (see the module docstring)."""
    expected = _expected(expected)
    if expected is not None:
        passed = contains_expected(response, expected)
        reason = "the response contains the expected answer" if passed else \
            "the response does not contain the expected answer"
    else:
        passed = bool(response.strip())
        reason = "the response is not empty" if passed else "the response is empty"
    return {"score": 1.0 if passed else 0.0, "pass": passed, "reason": reason}


def pairwise_verdict(response_a: str, response_b: str, expected: str | None = None,
                     bias: str = "none") -> dict[str, object]:
    """The pairwise verdict the mock judge gives (see the module docstring)."""
    if bias in ("first", "second"):
        return {"winner": "A" if bias == "first" else "B", "reason": f"position bias: the {bias} response wins"}
    expected = _expected(expected)
    if expected is not None:
        a, b = contains_expected(response_a, expected), contains_expected(response_b, expected)
        what = "contains the expected answer"
        both = ("both responses contain" if a else "neither response contains") + " the expected answer"
    else:
        a, b = bool(response_a.strip()), bool(response_b.strip())
        what = "is not empty"
        both = "both responses are not empty" if a else "both responses are empty"
    if a != b:
        winner = "A" if a else "B"
        return {"winner": winner, "reason": f"only response {winner} {what}"}
    return {"winner": "tie", "reason": both}


def judge_parts(prompt: str) -> dict[str, str]:
    """The tagged parts of a judge prompt, unescaped; the first occurrence of each tag."""
    parts: dict[str, str] = {}
    for match in _TAG.finditer(prompt):
        parts.setdefault(match[1], html.unescape(match[2]))
    return parts


def judge_reply(behaviour: Behaviour, prompt: str) -> Reply:
    """The verdict of a judge request; raises InvalidRequest (400) when its tags are not recognised."""
    parts = judge_parts(prompt)
    pairwise = "response_a" in parts and "response_b" in parts
    tags = PAIRWISE_TAGS if pairwise else RUBRIC_TAGS if "response" in parts else ()
    missing = [f"<{tag}>" for tag in tags if tag not in parts]
    if not tags or missing:
        found = f"missing {', '.join(missing)}" if missing else f"found {[f'<{t}>' for t in parts] or 'no tags'}"
        raise InvalidRequest("judge mode: the last user message must hold the tagged parts of a rubric "
                             "(<rubric>, <question>, <response>, optional <expected>) or of a pairwise "
                             "comparison (<criteria>, <question>, <response_a>, <response_b>, optional "
                             f"<expected>), their contents HTML-escaped; {found}")
    if pairwise:
        verdict = pairwise_verdict(parts["response_a"], parts["response_b"], parts.get("expected"),
                                   behaviour.judge_bias)
    else:
        verdict = rubric_verdict(parts["response"], parts.get("expected"))
    content = json.dumps(verdict)
    return Reply(text=text_of(content), verdict=verdict,
                 malformed=(text_of(content[:len(content) // 2]), text_of(MALFORMED_PROSE)))
