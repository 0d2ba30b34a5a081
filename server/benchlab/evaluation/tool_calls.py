"""Tool-call evaluators: the calls a response made against the item's `expected_tool_calls`.

A response's calls are `{"name": str, "arguments": JSON text}`; arguments that are not JSON never match (an
empty text counts as `{}`, as some providers send for a call without arguments). Expected calls are
`{"name": str, "arguments": object}` (missing arguments: `{}`); an empty list expects no call at all. Arguments
are compared as parsed JSON, so key order and whitespace do not matter (and `true` is not `1`).

- `tool-call-name`: the multiset of called names equals the expected one (order does not matter, counts do).
  Score 1 or 0.
- `tool-call-args`: each expected call is matched by a distinct call of that name whose arguments are equal
  (`match: exact`, the default) or hold the expected keys with equal values, recursively through objects
  (`match: subset`; lists must be equal). The pairing is a maximum matching, so the order of calls never
  matters. Score: matched / max(expected, made) for `exact` (extra calls cost), matched / expected for `subset`;
  expecting no call scores 1 when none was made, else 0.
- `tool-call-f1`: a call is correct when its name and exact arguments match a not-yet-used expected call.
  Three scores: `<name>/precision` (correct / made), `<name>/recall` (correct / expected) and `<name>` (their
  F1, the one that decides). Empty cases, defined so that nothing is divided by zero: no call expected and none
  made scores 1 for all three; none expected but some made: precision 0, recall 1 (nothing was missed), F1 0;
  some expected but none made: precision 1 (nothing wrong was called), recall 0, F1 0.

Every score passes when it reaches the threshold (default 1). An item without `expected_tool_calls` cannot be
judged: its scores fail with the label `missing_reference`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from benchlab.evaluation.base import (
    MISSING_REFERENCE,
    ScoreFn,
    ValueProblem,
    number,
    problem_scores,
    quote,
    shorten,
)
from benchlab.evaluation.jsonvalues import NotJSON, compact_json, json_contains, json_equal, parse_json
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.spec.model import EvaluatorSpec

TOOL_CALL_TYPES = frozenset({"tool-call-name", "tool-call-args", "tool-call-f1"})
MATCH_MODES = ("exact", "subset")

INVALID = object()
"""The arguments of a call whose arguments text is not JSON: equal to nothing."""

Call = tuple[str, Any]  # (name, parsed arguments or INVALID)


def score_names(spec: EvaluatorSpec) -> tuple[str, ...]:
    """The names of the scores the evaluator writes, the deciding one last."""
    if spec.type == "tool-call-f1":
        return f"{spec.name}/precision", f"{spec.name}/recall", spec.name
    return (spec.name,)


def prepare(spec: EvaluatorSpec) -> ScoreFn:
    threshold = 1.0 if spec.threshold is None else spec.threshold
    names = score_names(spec)
    if spec.type == "tool-call-name":
        judge: Callable[[list[Call], list[Call]], list[tuple[float, str]]] = _names
    elif spec.type == "tool-call-args":
        mode = spec.options.get("match") or "exact"
        if mode not in MATCH_MODES:
            raise ValueProblem(f"match must be exact or subset, not {quote(mode)}")
        judge = _arguments(subset=mode == "subset")
    elif spec.type == "tool-call-f1":
        judge = _f1
    else:
        raise ValueProblem(f"{spec.type!r} is not a tool-call evaluator type")

    def evaluate(response: Response, item: ItemContext) -> list[Score]:
        try:
            expected = expected_calls(item)
        except ValueProblem as problem:
            return problem_scores(names, problem)
        results = judge(actual_calls(response), expected)
        return [Score(name, value, value >= threshold - 1e-12, shorten(reason))
                for name, (value, reason) in zip(names, results, strict=True)]
    return evaluate


def actual_calls(response: Response) -> list[Call]:
    """The response's calls with their arguments parsed (INVALID when not JSON)."""
    return [(str(call.get("name", "")), _parsed_arguments(call.get("arguments"))) for call in response.tool_calls]


def expected_calls(item: ItemContext) -> list[Call]:
    """The item's expected calls; ValueProblem (`missing_reference`) when the item states none."""
    if item.expected_tool_calls is None:
        raise ValueProblem("the item has no expected_tool_calls", MISSING_REFERENCE)
    return [(str(call.get("name", "")), _parsed_arguments(call.get("arguments"))) for call in item.expected_tool_calls]


def _parsed_arguments(arguments: Any) -> Any:
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            return parse_json(arguments)
        except NotJSON:
            return INVALID
    return arguments


def max_matching(expected: Sequence[Call], actual: Sequence[Call], fits: Callable[[Call, Call], bool]
                 ) -> dict[int, int]:
    """A largest pairing of expected calls (index) with distinct actual calls (index) that fit them.

    Kuhn's augmenting paths: optimal, so a greedy choice cannot take the only call another expectation could use
    (subset matching needs this; for exact matching any greedy pairing is as large).
    """
    candidates = [[j for j, call in enumerate(actual) if fits(wanted, call)] for wanted in expected]
    owner = [-1] * len(actual)

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j not in seen:
                seen.add(j)
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(expected)):
        augment(i, set())
    return {i: j for j, i in enumerate(owner) if i >= 0}


def _exact(wanted: Call, call: Call) -> bool:
    return call[0] == wanted[0] and call[1] is not INVALID and json_equal(call[1], wanted[1])


def _subset(wanted: Call, call: Call) -> bool:
    return call[0] == wanted[0] and call[1] is not INVALID and json_contains(call[1], wanted[1])


def _listing(calls: Sequence[Call] | Counter[str]) -> str:
    names = sorted(calls.elements()) if isinstance(calls, Counter) else [name for name, _ in calls]
    return ", ".join(names) if names else "none"


def _names(actual: list[Call], expected: list[Call]) -> list[tuple[float, str]]:
    made, wanted = Counter(name for name, _ in actual), Counter(name for name, _ in expected)
    if made == wanted:
        return [(1.0, f"called {_listing(actual)}, as expected" if actual else "no tool called, as expected")]
    parts = []
    if wanted - made:
        parts.append(f"missing {_listing(wanted - made)}")
    if made - wanted:
        parts.append(f"unexpected {_listing(made - wanted)}")
    return [(0.0, "; ".join(parts))]


def _invalid_note(actual: Sequence[Call]) -> str:
    invalid = sum(1 for _, arguments in actual if arguments is INVALID)
    return f"; {invalid} call{'s' if invalid > 1 else ''} with arguments that are not JSON" if invalid else ""


def _arguments(subset: bool) -> Callable[[list[Call], list[Call]], list[tuple[float, str]]]:
    fits = _subset if subset else _exact
    mode = "subset" if subset else "exact"

    def judge(actual: list[Call], expected: list[Call]) -> list[tuple[float, str]]:
        if not expected:
            if not actual:
                return [(1.0, "no tool called, as expected")]
            return [(0.0, f"no call expected, called {_listing(actual)}")]
        pairs = max_matching(expected, actual, fits)
        matched = len(pairs)
        value = matched / len(expected) if subset else matched / max(len(expected), len(actual))
        reason = f"{matched} of {len(expected)} expected calls matched ({mode}), {len(actual)} made"
        if matched < len(expected):
            unmatched = next(call for i, call in enumerate(expected) if i not in pairs)
            reason += f"; e.g. no {unmatched[0]} {quote(compact_json(unmatched[1]), 50)}"
        return [(value, reason + _invalid_note(actual))]
    return judge


def _f1(actual: list[Call], expected: list[Call]) -> list[tuple[float, str]]:
    correct = len(max_matching(expected, actual, _exact))
    precision = correct / len(actual) if actual else 1.0  # no call made: none was wrong
    recall = correct / len(expected) if expected else 1.0  # no call expected: none was missed
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    counts = f"{correct} correct of {len(actual)} made, {len(expected)} expected"
    return [(precision, f"precision {number(precision)}: {counts}{_invalid_note(actual)}"),
            (recall, f"recall {number(recall)}: {counts}"),
            (f1, f"f1 {number(f1)}: {counts}{_invalid_note(actual)}")]

