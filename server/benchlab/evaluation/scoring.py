"""Scoring one request: every evaluator of a spec applied to its response, and the request's `overall` score.

`prepare(spec)` resolves an evaluator once into a callable (compiled regex, built schema validator, casefolded
needle, compiled templates); `score_request` keeps the prepared form of the spec objects it sees (`prepared`, by
identity), so scoring many requests pays the preparation once. Judge evaluators
(`llm-rubric`, `pairwise`) are scored by the engine, which calls a judge model: `is_judge` tells them apart,
`score_request` skips them, and `failed_scores` gives the engine their scores for a request that failed.

A failed request (`response.ok` False) scores 0 and fails on every evaluator, with the reason
`no response: <error type>` and the label `request_error`, so a model that errors cannot look good.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from benchlab.errors import InvalidInputError
from benchlab.evaluation import deterministic, similarity, slo, tool_calls
from benchlab.evaluation.base import REQUEST_ERROR, ScoreFn, ValueProblem, number
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.spec.model import EvaluatorSpec

JUDGE_TYPES = frozenset({"llm-rubric", "pairwise"})
EVALUATOR_TYPES = (deterministic.DETERMINISTIC_TYPES | tool_calls.TOOL_CALL_TYPES | similarity.SIMILARITY_TYPES
                   | slo.SLO_TYPES | JUDGE_TYPES)
"""Every type an evaluator may have (written without `not-`)."""

OVERALL = "overall"


def is_judge(spec: EvaluatorSpec) -> bool:
    """Scored by a judge model (the engine's work), not here."""
    return spec.type in JUDGE_TYPES


def score_names(spec: EvaluatorSpec) -> tuple[str, ...]:
    """The names of the scores the evaluator writes per request; the last is the deciding one (`spec.name`)."""
    if spec.type in tool_calls.TOOL_CALL_TYPES:
        return tool_calls.score_names(spec)
    return (spec.name,)


class Evaluator:
    """An evaluator resolved once: call it with a response and its item for the evaluator's scores."""

    __slots__ = ("_score", "names", "spec")

    def __init__(self, spec: EvaluatorSpec, score: ScoreFn) -> None:
        self.spec = spec
        self.names = score_names(spec)
        self._score = score

    def __call__(self, response: Response, item: ItemContext) -> list[Score]:
        if not response.ok:
            return failed_scores(self.spec, response)
        return self._score(response, item)


def prepare(spec: EvaluatorSpec) -> Evaluator:
    """The evaluator ready to score. Raises InvalidInputError for a judge type (scored by the engine), a type
    this package does not know, `not-` on a type that cannot be negated, and a fixed value that cannot be used
    (a regex that does not compile, a schema that is not one); a templated value that is unusable for one item
    gives that request a failed score instead."""
    try:
        return Evaluator(spec, _prepare(spec))
    except ValueProblem as problem:
        raise InvalidInputError(f"evaluator {spec.name!r} ({spec.type}): {problem.reason}") from None


def _prepare(spec: EvaluatorSpec) -> ScoreFn:
    if spec.type in JUDGE_TYPES:
        raise ValueProblem("a judge evaluator is scored by the engine with its judge model, not by prepare()")
    if spec.negate and spec.type not in deterministic.DETERMINISTIC_TYPES:
        raise ValueProblem("only deterministic types can be negated with not-")
    if spec.type in deterministic.DETERMINISTIC_TYPES:
        return deterministic.prepare(spec)
    if spec.type in tool_calls.TOOL_CALL_TYPES:
        return tool_calls.prepare(spec)
    if spec.type in similarity.SIMILARITY_TYPES:
        return similarity.prepare(spec)
    if spec.type in slo.SLO_TYPES:
        return slo.prepare(spec)
    raise ValueProblem(f"unknown evaluator type {spec.type!r}")


PREPARED_MAX = 4096
_PREPARED: dict[int, tuple[EvaluatorSpec, Evaluator]] = {}
_PREPARED_LOCK = threading.Lock()


def prepared(spec: EvaluatorSpec) -> Evaluator:
    """`prepare(spec)`, kept for the spec object: EvaluatorSpec holds dicts, so it is keyed by identity, and the
    entry holds the spec, so its id cannot be reused by another object while the entry exists. At most
    PREPARED_MAX entries are kept (the oldest go first): a pass over many items' own `assert` lists stays bounded."""
    entry = _PREPARED.get(id(spec))
    if entry is not None and entry[0] is spec:
        return entry[1]
    evaluator = prepare(spec)
    with _PREPARED_LOCK:
        while len(_PREPARED) >= PREPARED_MAX:
            del _PREPARED[next(iter(_PREPARED))]
        _PREPARED[id(spec)] = (spec, evaluator)
    return evaluator


def score_request(evaluators: Sequence[EvaluatorSpec], response: Response, item: ItemContext) -> list[Score]:
    """The scores of every evaluator that is not a judge, in the evaluators' order (see `score_names`)."""
    scores: list[Score] = []
    for spec in evaluators:
        if spec.type not in JUDGE_TYPES:
            scores.extend(prepared(spec)(response, item))
    return scores


def failed_scores(spec: EvaluatorSpec, response: Response) -> list[Score]:
    """The scores of any evaluator, judges included, for a request without a response: 0, failed, labelled."""
    reason = f"no response: {response.error_type or 'error'}"
    return [Score(name, 0.0, False, reason, REQUEST_ERROR) for name in score_names(spec)]


def overall(evaluated: Sequence[tuple[EvaluatorSpec, Score]], threshold: float | None) -> Score:
    """The request's own score (`overall`) from its evaluators' scores, whatever computed them (judges too).

    Each evaluator counts once, by its deciding score: the one named after it (`tool-call-f1`'s precision and
    recall parts do not count); when the engine passes several scores named after one evaluator (or none named
    after it), their mean counts and they must all pass. The value is the mean weighted by the evaluators'
    weights (all weights 0: unweighted). It passes when the value reaches `threshold`; with no threshold, when
    every evaluator of weight above 0 passed (all of them, when every weight is 0). Raises ValueError when there
    is no score at all.
    """
    groups: dict[int, tuple[EvaluatorSpec, list[Score]]] = {}
    for spec, score in evaluated:
        groups.setdefault(id(spec), (spec, []))[1].append(score)
    if not groups:
        raise ValueError("overall() needs at least one evaluator's score")
    counted: list[tuple[float, float, bool]] = []  # (weight, value, passed)
    for spec, scores in groups.values():
        deciding = [score for score in scores if score.name == spec.name] or scores
        counted.append((spec.weight, sum(s.value for s in deciding) / len(deciding), all(s.passed for s in deciding)))
    if sum(weight for weight, _, _ in counted) <= 0:
        counted = [(1.0, value, passed) for _, value, passed in counted]
    total = sum(weight for weight, _, _ in counted)
    value = sum(weight * value for weight, value, _ in counted) / total
    passed_count = sum(1 for _, _, passed in counted if passed)
    reason = f"{passed_count} of {len(counted)} evaluators passed; weighted score {number(value)}"
    if threshold is None:
        passed = all(passed for weight, _, passed in counted if weight > 0)
    else:
        passed = value >= threshold - 1e-9  # a mean of 0.7s may come out as 0.6999999999999998
        reason += f" {'>=' if passed else '<'} {number(threshold)}"
    label = REQUEST_ERROR if any(score.label == REQUEST_ERROR for _, score in evaluated) else ""
    return Score(OVERALL, min(1.0, max(0.0, value)), passed, reason, label)
