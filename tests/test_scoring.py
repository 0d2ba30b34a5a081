"""Scoring a request (docs/evaluation.md): dispatch over every evaluator family, judges left to the engine, failed
requests, SLO limits, and the weighted `overall` score."""

from __future__ import annotations

import pytest

from benchlab.errors import InvalidInputError
from benchlab.evaluation import scoring
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.evaluation.scoring import (
    EVALUATOR_TYPES,
    failed_scores,
    is_judge,
    overall,
    prepare,
    prepared,
    score_names,
    score_request,
)
from tests.helpers.evaluators import score, spec

ITEM = ItemContext(vars={"city": "Paris"}, expected_output="Paris",
                   expected_tool_calls=({"name": "weather", "arguments": {"city": "Paris"}},))
CALL = ({"name": "weather", "arguments": '{"city": "Paris"}'},)


def test_score_request_runs_every_evaluator_but_the_judges_in_order() -> None:
    evaluators = [spec("icontains", "{{vars.city}}"), spec("llm-rubric", "Is it right?", name="grader"),
                  spec("tool-call-f1", name="calls"), spec("levenshtein", name="close"),
                  spec("latency", metric="ttft", threshold=800), spec("pairwise", "Which is better?"),
                  spec("not-regex", r"\d")]
    response = Response("The answer: Paris", tool_calls=CALL, ttft_ms=120.0)
    results = score_request(evaluators, response, ITEM)
    assert [r.name for r in results] == ["icontains", "calls/precision", "calls/recall", "calls", "close", "latency",
                                         "not-regex"]
    assert [r.passed for r in results] == [True, True, True, True, False, True, True]
    assert results[4].value == pytest.approx(10 / 22)  # "Paris" in order in "The answer: Paris": 2 * 5 / (5 + 17)


def test_judges_are_told_apart_and_not_prepared() -> None:
    assert is_judge(spec("llm-rubric", "x")) and is_judge(spec("pairwise", "x"))
    assert not is_judge(spec("contains", "x"))
    assert score_request([spec("llm-rubric", "x")], Response("out"), ITEM) == []
    with pytest.raises(InvalidInputError, match="scored by the engine"):
        prepare(spec("llm-rubric", "x"))
    assert {"equals", "tool-call-f1", "rouge-n", "latency", "cost", "llm-rubric", "pairwise"} <= EVALUATOR_TYPES


def test_prepare_refuses_what_cannot_be_scored() -> None:
    with pytest.raises(InvalidInputError, match="unknown evaluator type 'sentiment'"):
        prepare(spec("sentiment"))
    with pytest.raises(InvalidInputError, match="only deterministic types can be negated"):
        prepare(spec("not-levenshtein", "x"))
    with pytest.raises(InvalidInputError, match="latency needs a threshold"):
        prepare(spec("latency", metric="ttft"))
    with pytest.raises(InvalidInputError, match="metric must be one of ttft, tpot, e2e, not 'ttlt'"):
        prepare(spec("latency", metric="ttlt", threshold=1))
    with pytest.raises(InvalidInputError, match="match must be exact or subset"):
        prepare(spec("tool-call-args", match="fuzzy"))
    with pytest.raises(InvalidInputError, match="n must be a whole number"):
        prepare(spec("rouge-n", "x", n=0))


def test_a_spec_is_prepared_once() -> None:
    evaluator = spec("regex", "a+")
    first = prepared(evaluator)
    assert prepared(evaluator) is first
    twin = spec("regex", "a+")
    assert prepared(twin) is not first  # by identity: an equal spec object is a different entry
    for _ in range(scoring.PREPARED_MAX + 10):
        prepared(spec("contains", "x"))  # short-lived specs: their ids are reused, never their evaluators
    assert len(scoring._PREPARED) <= scoring.PREPARED_MAX
    assert prepared(evaluator) is not first  # evicted, prepared again
    assert prepared(evaluator)(Response("aaa"), ITEM)[0].passed


# -- failed requests ---------------------------------------------------------------------------------------------

def test_a_failed_request_fails_every_evaluator() -> None:
    evaluators = [spec("contains", "x"), spec("not-contains", "x", name="no-x"), spec("tool-call-f1", name="calls"),
                  spec("latency", metric="e2e", threshold=10_000), spec("cost", threshold=1.0),
                  spec("rouge-l"), spec("llm-rubric", "x", name="grader")]
    response = Response("", ok=False, error_type="timeout", e2e_ms=5.0, cost_usd=0.0)
    results = score_request(evaluators, response, ITEM)
    assert [r.name for r in results] == ["contains", "no-x", "calls/precision", "calls/recall", "calls", "latency",
                                         "cost", "rouge-l"]
    for result in results:
        assert (result.value, result.passed, result.reason, result.label) == (
            0.0, False, "no response: timeout", "request_error")
    judged = failed_scores(evaluators[-1], response)  # the engine's judge evaluators
    assert judged == [Score("grader", 0.0, False, "no response: timeout", "request_error")]
    assert failed_scores(spec("contains", "x"), Response("", ok=False))[0].reason == "no response: error"
    assert score_names(spec("tool-call-f1", name="c")) == ("c/precision", "c/recall", "c")


# -- SLO ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("metric", "field"), [("ttft", "ttft_ms"), ("tpot", "tpot_ms"), ("e2e", "e2e_ms")])
def test_latency_passes_at_or_below_the_limit(metric: str, field: str) -> None:
    evaluator = spec("latency", metric=metric, threshold=800)
    at = score(evaluator, "x", **{field: 800.0})
    assert (at.passed, at.value, at.reason) == (True, 1.0, f"{metric} 800 ms <= 800 ms")
    over = score(evaluator, "x", **{field: 812.34})
    assert (over.passed, over.value, over.reason) == (False, 0.0, f"{metric} 812.3 ms > 800 ms")


def test_cost_limit_and_unknown_price() -> None:
    evaluator = spec("cost", threshold=0.002)
    assert score(evaluator, "x", cost_usd=0.002).reason == "cost $0.002 <= $0.002"
    over = score(evaluator, "x", cost_usd=0.0031)
    assert (over.passed, over.reason) == (False, "cost $0.0031 > $0.002")
    unknown = score(evaluator, "x", cost_usd=None)
    assert (unknown.passed, unknown.value, unknown.reason, unknown.label) == (False, 0.0, "cost unknown", "unknown")


# -- overall -----------------------------------------------------------------------------------------------------

def verdict(name: str, value: float, passed: bool, label: str = "") -> Score:
    return Score(name, value, passed, "", label)


def test_overall_is_the_weighted_mean() -> None:
    heavy, light = spec("contains", "x", name="a", weight=2), spec("contains", "y", name="b")
    scores = [(heavy, verdict("a", 1.0, True)), (light, verdict("b", 0.0, False))]
    result = overall(scores, None)
    assert result.name == "overall" and result.value == pytest.approx(2 / 3)
    assert not result.passed  # no threshold: every evaluator must pass
    assert result.reason == "1 of 2 evaluators passed; weighted score 0.6667"
    assert overall(scores, 0.6).passed
    failing = overall(scores, 0.7)
    assert not failing.passed and failing.reason == "1 of 2 evaluators passed; weighted score 0.6667 < 0.7"


def test_overall_weights_of_zero() -> None:
    counted, informative = spec("contains", "x", name="a"), spec("contains", "y", name="b", weight=0)
    result = overall([(counted, verdict("a", 1.0, True)), (informative, verdict("b", 0.0, False))], None)
    assert (result.value, result.passed) == (1.0, True)  # weight 0: reported, not deciding
    zero_a, zero_b = spec("contains", "x", name="a", weight=0), spec("contains", "y", name="b", weight=0)
    unweighted = overall([(zero_a, verdict("a", 1.0, True)), (zero_b, verdict("b", 0.5, False))], None)
    assert (unweighted.value, unweighted.passed) == (0.75, False)  # all weights 0: plain mean, all must pass


def test_overall_counts_each_evaluator_by_its_deciding_score() -> None:
    f1 = spec("tool-call-f1", name="calls")
    rubric = spec("llm-rubric", "x", name="grader")  # a judge's verdict, computed by the engine
    scores = [(f1, verdict("calls/precision", 0.5, False)), (f1, verdict("calls/recall", 1.0, True)),
              (f1, verdict("calls", 2 / 3, True)), (rubric, verdict("grader", 0.8, True))]
    result = overall(scores, 0.7)
    assert result.value == pytest.approx((2 / 3 + 0.8) / 2) and result.passed
    assert result.reason.startswith("2 of 2 evaluators passed")
    pairwise = spec("pairwise", "x", name="pref")  # several scores named after one evaluator: their mean
    both = overall([(pairwise, verdict("pref", 1.0, True)), (pairwise, verdict("pref", 0.5, True))], None)
    assert (both.value, both.passed) == (0.75, True)


def test_overall_threshold_tolerates_float_rounding() -> None:
    specs = [spec("contains", "x", name=f"e{i}") for i in range(3)]
    result = overall([(s, verdict(s.name, 0.7, True)) for s in specs], 0.7)
    assert result.passed


def test_overall_of_a_failed_request_and_of_nothing() -> None:
    response = Response("", ok=False, error_type="server_error")
    evaluators = [spec("contains", "x"), spec("tool-call-f1", name="calls")]
    results = [(e, s) for e in evaluators for s in prepare(e)(response, ITEM)]
    result = overall(results, None)
    assert (result.value, result.passed, result.label) == (0.0, False, "request_error")
    with pytest.raises(ValueError, match="at least one"):
        overall([], None)
