"""What every evaluator family shares: the prepared-callable shape, short reasons, labels, value problems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchlab.evaluation.model import ItemContext, Response, Score

ScoreFn = Callable[[Response, ItemContext], list[Score]]
"""A prepared evaluator's work: one response (of a request that succeeded) and its item in, its scores out."""

REASON_CHARS = 200  # the longest reason written
QUOTE_CHARS = 60    # the most of an output (or a value) a reason quotes

# Labels (Score.label) written by the evaluators of this package; judges add their own.
REQUEST_ERROR = "request_error"          # the request has no response: every evaluator fails
MISSING_REFERENCE = "missing_reference"  # the item lacks what the evaluator compares with (a var, expected_*)
INVALID_VALUE = "invalid_value"          # the evaluator's value, once templated for this item, is unusable
UNKNOWN = "unknown"                      # the figure is not known (cost of a model without a price)


class ValueProblem(ValueError):
    """An evaluator's value cannot be used (a bad regex, a schema that is not one, a missing var); the message is
    the reason a person reads. Raised when preparing a fixed value, recorded as a failed score when a templated
    value is only wrong for some items."""

    def __init__(self, reason: str, label: str = INVALID_VALUE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.label = label


def quote(text: Any, limit: int = QUOTE_CHARS) -> str:
    """A short quotation of a text for a reason: its repr, cut to about `limit` characters with an ellipsis."""
    text = text if isinstance(text, str) else str(text)
    if len(text) > limit:
        return repr(text[:limit - 1]) + "…"
    return repr(text)


def shorten(reason: str, limit: int = REASON_CHARS) -> str:
    """A reason cut to `limit` characters (ending with an ellipsis when cut)."""
    return reason if len(reason) <= limit else reason[:limit - 1] + "…"


def number(value: float) -> str:
    """A figure as reasons write it: at most 4 significant decimals, no trailing zeros (812.3, 0.5, 1e-05)."""
    return f"{value:.4g}"


def problem_scores(names: tuple[str, ...], problem: ValueProblem) -> list[Score]:
    """The failed scores of an evaluator that could not judge this request (never inverted by `not-`)."""
    reason = shorten(problem.reason)
    return [Score(name, 0.0, False, reason, problem.label) for name in names]
