"""SLO evaluators: a request's measured figures against a limit (`threshold`); score 1 or 0.

- `latency` (`metric`: `ttft`, `tpot` or `e2e`): passes when the figure, in ms, is at most the threshold.
- `cost`: passes when the request's cost in USD is at most the threshold; a request whose price is not known
  (`cost_usd` None) fails with the reason `cost unknown` and the label `unknown`, so an unpriced model cannot
  pass a budget.
"""

from __future__ import annotations

from benchlab.evaluation.base import UNKNOWN, ScoreFn, ValueProblem, number
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.spec.model import EvaluatorSpec

SLO_TYPES = frozenset({"latency", "cost"})
LATENCY_METRICS = ("ttft", "tpot", "e2e")


def prepare(spec: EvaluatorSpec) -> ScoreFn:
    if spec.threshold is None:
        raise ValueProblem(f"{spec.type} needs a threshold (its limit)")
    limit = spec.threshold
    if spec.type == "latency":
        if spec.metric not in LATENCY_METRICS:
            raise ValueProblem(f"metric must be one of {', '.join(LATENCY_METRICS)}, not {spec.metric!r}")
        attribute, shown = f"{spec.metric}_ms", spec.metric

        def latency(response: Response, item: ItemContext) -> list[Score]:
            value: float = getattr(response, attribute)
            passed = value <= limit
            relation = "<=" if passed else ">"
            return [Score(spec.name, 1.0 if passed else 0.0, passed,
                          f"{shown} {number(value)} ms {relation} {number(limit)} ms")]
        return latency
    if spec.type == "cost":
        def cost(response: Response, item: ItemContext) -> list[Score]:
            if response.cost_usd is None:
                return [Score(spec.name, 0.0, False, "cost unknown", UNKNOWN)]
            passed = response.cost_usd <= limit
            relation = "<=" if passed else ">"
            return [Score(spec.name, 1.0 if passed else 0.0, passed,
                          f"cost ${number(response.cost_usd)} {relation} ${number(limit)}")]
        return cost
    raise ValueProblem(f"{spec.type!r} is not an SLO evaluator type")
