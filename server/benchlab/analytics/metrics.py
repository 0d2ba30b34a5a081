"""The metrics analytics can aggregate, and which rows count for each (DESIGN.md §5).

Latency metrics take the same rows as the stored run summary (`engine.summary.LATENCY_METRICS`): successful
requests only, TPOT only with two or more completion tokens. Inter-event gaps are an array per request and are
aggregated element-wise (ClickHouse's -Array combinator), never averaged per request first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.summary import LATENCY_METRICS
from benchlab.analytics.validation import reject_duplicates

LATENCY_DECIMALS = 3  # latencies are stored as Float32 ms: a microsecond is the most they can honestly say


@dataclass(frozen=True)
class Metric:
    """A `request_events` column and the condition a row must meet to contribute a value to it."""

    name: str
    condition: str
    latency: bool
    array: bool = False

    def aggregate(self, function: str, parameters: str = "", *, conditional: bool = True) -> str:
        """`function` over this metric's values, e.g. `avg` -> `avgIf(ttft_ms, status = 'ok' AND ...)`."""
        combinators = ("Array" if self.array else "") + ("If" if conditional else "")
        levels = f"({parameters})" if parameters else ""
        arguments = f"{self.name}, {self.condition}" if conditional else self.name
        return f"{function}{combinators}{levels}({arguments})"

    def count(self, *, conditional: bool = True) -> str:
        """How many values the metric has: one per row, or one per array element."""
        if self.array:
            return f"sumIf(length({self.name}), {self.condition})" if conditional else f"sum(length({self.name}))"
        return f"countIf({self.condition})" if conditional else "count()"

    def clean(self, value: float) -> float | None:
        """NaN (an aggregate over no values) becomes None; Float32 latency noise is rounded away."""
        number = float(value)
        if math.isnan(number):
            return None
        return round(number, LATENCY_DECIMALS) if self.latency else number


METRICS: dict[str, Metric] = {
    **{name: Metric(name, condition, latency=True) for name, condition in LATENCY_METRICS.items()},
    "e2e_from_intended_ms": Metric("e2e_from_intended_ms", "status = 'ok' AND e2e_from_intended_ms > 0",
                                   latency=True),
    "inter_event_ms": Metric("inter_event_ms", "status = 'ok'", latency=True, array=True),
    # Output size of answers that completed; failed requests would only add truncated outputs.
    "completion_tokens": Metric("completion_tokens", "status = 'ok'", latency=False),
    # Every request with a known price (failed ones can be billed too); an unknown cost is not a free request.
    "cost_usd": Metric("cost_usd", "cost_known", latency=False),
}


def resolve_metric(name: str, argument: str = "metric") -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise AnalyticsInputError(argument, f"unknown metric {name!r}; use one of {', '.join(METRICS)}") from None


def resolve_metrics(names: Sequence[str], argument: str = "metrics") -> list[Metric]:
    if isinstance(names, str):
        raise AnalyticsInputError(argument, "pass a list of metric names, not a single string")
    reject_duplicates(names, argument)
    return [resolve_metric(name, argument) for name in names]

