"""Evaluators built directly (no spec parser) and run on one response, for the evaluator tests."""

from __future__ import annotations

from typing import Any

from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.evaluation.scoring import prepare
from benchlab.spec.model import EvaluatorSpec


def spec(type_: str, value: Any = None, *, name: str | None = None, threshold: float | None = None,
         weight: float = 1.0, metric: str | None = None, **options: Any) -> EvaluatorSpec:
    """An EvaluatorSpec as the parser hands it over: `not-X` becomes type X with negate; name defaults to type."""
    negate = type_.startswith("not-")
    return EvaluatorSpec(type=type_.removeprefix("not-"), name=name or type_, negate=negate, value=value,
                         threshold=threshold, weight=weight, metric=metric, options=options)


def scores(evaluator: EvaluatorSpec, output: str = "", item: ItemContext | None = None,
           **response: Any) -> list[Score]:
    return prepare(evaluator)(Response(output=output, **response), item or ItemContext())


def score(evaluator: EvaluatorSpec, output: str = "", item: ItemContext | None = None, **response: Any) -> Score:
    """The evaluator's only score for one response."""
    (only,) = scores(evaluator, output, item, **response)
    return only
