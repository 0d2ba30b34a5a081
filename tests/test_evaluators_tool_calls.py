"""Tool-call evaluators (docs/evaluation.md, "Types"): names as a multiset, arguments compared as parsed JSON,
reordered and duplicate calls, `[]` expecting no call, arguments that are not JSON, precision/recall/F1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchlab.evaluation.base import MISSING_REFERENCE
from benchlab.evaluation.model import ItemContext, Score
from benchlab.evaluation.tool_calls import INVALID, max_matching
from tests.helpers.evaluators import score, scores, spec


def made(*calls: tuple[str, Any]) -> tuple[dict[str, Any], ...]:
    """The response's calls: arguments given as a dict are sent as JSON text, a string as is."""
    return tuple({"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}
                 for name, args in calls)


def expecting(*calls: tuple[str, dict[str, Any]]) -> ItemContext:
    return ItemContext(expected_tool_calls=tuple({"name": name, "arguments": args} for name, args in calls))


def run(type_: str, calls: tuple[dict[str, Any], ...], item: ItemContext, **kwargs: Any) -> Score:
    return score(spec(type_, **kwargs), "", item, tool_calls=calls)


# -- tool-call-name ----------------------------------------------------------------------------------------------

def test_names_compare_as_a_multiset() -> None:
    item = expecting(("search", {}), ("weather", {}))
    assert run("tool-call-name", made(("weather", {"x": 1}), ("search", {})), item).passed  # order does not matter
    result = run("tool-call-name", made(("search", {}), ("search", {})), item)
    assert (result.passed, result.value) == (False, 0.0)
    assert result.reason == "missing weather; unexpected search"
    assert run("tool-call-name", made(("search", {})), item).reason == "missing weather"
    assert run("tool-call-name", made(("search", {}), ("weather", {}), ("weather", {})), item).reason \
        == "unexpected weather"


def test_names_with_no_call_expected() -> None:
    nothing = expecting()
    result = run("tool-call-name", (), nothing)
    assert result.passed and result.reason == "no tool called, as expected"
    assert run("tool-call-name", made(("search", {})), nothing).reason == "unexpected search"
    assert run("tool-call-name", (), expecting(("search", {}))).reason == "missing search"


# -- tool-call-args ----------------------------------------------------------------------------------------------

WEATHER = ("weather", {"city": "Paris", "unit": "c"})
SEARCH = ("search", {"q": "bistro", "limit": 3})


def test_exact_arguments_ignore_key_order_and_whitespace() -> None:
    item = expecting(WEATHER)
    calls = made(("weather", '{\n  "unit" : "c",   "city":"Paris"\n}'))
    result = run("tool-call-args", calls, item)
    assert (result.passed, result.value) == (True, 1.0)
    assert result.reason == "1 of 1 expected calls matched (exact), 1 made"
    assert not run("tool-call-args", made(("weather", {"city": "Paris"})), item).passed  # a key missing
    assert not run("tool-call-args", made(("weather", {**WEATHER[1], "x": 1})), item).passed  # a key too many
    assert not run("tool-call-args", made(("forecast", WEATHER[1])), item).passed  # another tool


def test_exact_arguments_are_json_values() -> None:
    assert run("tool-call-args", made(("f", '{"n": 1.0}')), expecting(("f", {"n": 1}))).passed
    assert not run("tool-call-args", made(("f", '{"flag": 1}')), expecting(("f", {"flag": True}))).passed
    assert not run("tool-call-args", made(("f", '{"n": "1"}')), expecting(("f", {"n": 1}))).passed


def test_reordered_calls_match() -> None:
    result = run("tool-call-args", made(SEARCH, WEATHER), expecting(WEATHER, SEARCH))
    assert (result.passed, result.value) == (True, 1.0)


def test_exact_scores_matched_over_the_larger_count() -> None:
    extra = run("tool-call-args", made(WEATHER, SEARCH), expecting(WEATHER))
    assert (extra.passed, extra.value) == (False, 0.5)
    assert extra.reason == "1 of 1 expected calls matched (exact), 2 made"
    assert run("tool-call-args", made(WEATHER, SEARCH), expecting(WEATHER), threshold=0.5).passed
    missing = run("tool-call-args", made(WEATHER), expecting(WEATHER, SEARCH))
    assert missing.value == 0.5
    assert missing.reason == ("1 of 2 expected calls matched (exact), 1 made; "
                              "e.g. no search '{\"q\":\"bistro\",\"limit\":3}'")


def test_duplicate_calls_each_need_their_own_match() -> None:
    assert run("tool-call-args", made(WEATHER), expecting(WEATHER, WEATHER)).value == 0.5
    assert run("tool-call-args", made(WEATHER, WEATHER), expecting(WEATHER)).value == 0.5
    assert run("tool-call-args", made(WEATHER, WEATHER), expecting(WEATHER, WEATHER)).value == 1.0


def test_arguments_that_are_not_json_never_match() -> None:
    result = run("tool-call-args", made(("weather", '{"city": Paris, "unit": "c"}')), expecting(WEATHER))
    assert (result.passed, result.value) == (False, 0.0)
    assert result.reason.endswith("; 1 call with arguments that are not JSON")
    assert not run("tool-call-args", made(("f", "{")), expecting(("f", {})), match="subset").passed
    assert run("tool-call-args", made(("f", "")), expecting(("f", {}))).passed  # no arguments sent: {}
    item = ItemContext(expected_tool_calls=({"name": "f"},))  # expected without arguments: {}
    assert run("tool-call-args", made(("f", "{}")), item).passed


def test_no_call_expected() -> None:
    assert run("tool-call-args", (), expecting()).value == 1.0
    result = run("tool-call-args", made(WEATHER), expecting())
    assert (result.passed, result.value, result.reason) == (False, 0.0, "no call expected, called weather")
    assert run("tool-call-args", made(WEATHER), expecting(), match="subset").value == 0.0


def test_subset_holds_the_expected_keys_recursively() -> None:
    item = expecting(("find", {"city": "Paris", "filter": {"open": True}}))
    calls = made(("find", {"filter": {"open": True, "stars": 4}, "city": "Paris", "limit": 5}))
    assert run("tool-call-args", calls, item, match="subset").passed
    assert not run("tool-call-args", calls, item).passed  # exact: the extra keys count
    wrong = made(("find", {"city": "Paris", "filter": {"open": False}}))
    assert not run("tool-call-args", wrong, item, match="subset").passed
    lists = expecting(("f", {"ids": [1]}))
    assert not run("tool-call-args", made(("f", {"ids": [1, 2]})), lists, match="subset").passed  # lists: equal
    assert run("tool-call-args", made(("f", {"ids": [1]})), lists, match="subset").passed


def test_subset_scores_over_the_expected_calls_and_pairs_optimally() -> None:
    # A greedy pairing would give the first call to {"x": 1} and leave nothing for {"x": 1, "y": 2}.
    item = expecting(("f", {"x": 1}), ("f", {"x": 1, "y": 2}))
    calls = made(("f", {"x": 1, "y": 2}), ("f", {"x": 1}))
    assert run("tool-call-args", calls, item, match="subset").value == 1.0
    extra = made(("f", {"x": 1, "y": 2}), ("f", {"x": 1}), ("g", {}))
    assert run("tool-call-args", extra, item, match="subset").value == 1.0  # extra calls do not cost
    assert run("tool-call-args", made(("f", {"x": 1})), item, match="subset").value == 0.5


def test_max_matching_is_maximum() -> None:
    expected = [("f", 1), ("f", 2)]
    actual = [("f", 12), ("f", 1)]

    def fits(wanted: tuple[str, Any], call: tuple[str, Any]) -> bool:
        return call[1] is not INVALID and str(wanted[1]) in str(call[1])

    assert max_matching(expected, actual, fits) == {0: 1, 1: 0}
    assert max_matching([], actual, fits) == {}
    assert max_matching(expected, [], fits) == {}


# -- tool-call-f1 ------------------------------------------------------------------------------------------------

def f1(calls: tuple[dict[str, Any], ...], item: ItemContext, **kwargs: Any) -> dict[str, Score]:
    return {result.name: result for result in scores(spec("tool-call-f1", name="calls", **kwargs), "", item,
                                                     tool_calls=calls)}


def values(results: dict[str, Score]) -> tuple[float, float, float]:
    return results["calls/precision"].value, results["calls/recall"].value, results["calls"].value


def test_f1_counts_exact_matches() -> None:
    # 1 correct of 3 made, 2 expected: precision 1/3, recall 1/2, F1 = 2 * (1/6) / (5/6) = 0.4.
    results = f1(made(WEATHER, ("lookup", {}), ("search", {"q": "bistro"})), expecting(WEATHER, SEARCH))
    assert list(results) == ["calls/precision", "calls/recall", "calls"]  # the deciding score last
    assert values(results) == pytest.approx((1 / 3, 1 / 2, 0.4))
    assert not results["calls"].passed
    assert results["calls"].reason == "f1 0.4: 1 correct of 3 made, 2 expected"


def test_f1_threshold_and_duplicates() -> None:
    results = f1(made(WEATHER, WEATHER), expecting(WEATHER), threshold=0.6)
    assert values(results) == pytest.approx((0.5, 1.0, 2 / 3))
    assert results["calls"].passed and results["calls/recall"].passed and not results["calls/precision"].passed
    assert values(f1(made(SEARCH, WEATHER), expecting(WEATHER, SEARCH))) == (1.0, 1.0, 1.0)


def test_f1_empty_cases() -> None:
    assert values(f1((), expecting())) == (1.0, 1.0, 1.0)
    assert f1((), expecting())["calls"].passed
    assert values(f1(made(WEATHER), expecting())) == (0.0, 1.0, 0.0)  # nothing expected, something called
    assert values(f1((), expecting(WEATHER))) == (1.0, 0.0, 0.0)  # something expected, nothing called
    invalid = f1(made(("weather", "not json")), expecting(WEATHER))
    assert values(invalid) == (0.0, 0.0, 0.0)
    assert invalid["calls"].reason.endswith("1 call with arguments that are not JSON")


@pytest.mark.parametrize("type_", ["tool-call-name", "tool-call-args", "tool-call-f1"])
def test_an_item_without_expected_calls_cannot_be_judged(type_: str) -> None:
    results = scores(spec(type_), "", ItemContext(), tool_calls=made(WEATHER))
    assert results and all((r.passed, r.value, r.label) == (False, 0.0, MISSING_REFERENCE) for r in results)
    assert {r.reason for r in results} == {"the item has no expected_tool_calls"}
    assert len(results) == (3 if type_ == "tool-call-f1" else 1)
