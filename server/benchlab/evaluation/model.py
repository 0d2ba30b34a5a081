"""What an evaluator sees of one request and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchlab.spec import DatasetItem


@dataclass(frozen=True)
class Response:
    """One request's outcome as stored (`request_events`): its answer and its measured figures."""

    output: str
    tool_calls: tuple[dict[str, Any], ...] = ()  # {"name": str, "arguments": JSON text}, in the order made
    ok: bool = True
    error_type: str = ""
    ttft_ms: float = 0.0
    tpot_ms: float = 0.0
    e2e_ms: float = 0.0
    cost_usd: float | None = None  # None: no price known for the model


@dataclass(frozen=True)
class ItemContext:
    """The dataset item a request was made for, as evaluator templates and references see it."""

    vars: dict[str, Any] = field(default_factory=dict)
    expected_output: Any = None
    expected_tool_calls: tuple[dict[str, Any], ...] | None = None  # (): the model should call no tool
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, item: DatasetItem) -> ItemContext:
        return cls(item.vars, item.expected_output, item.expected_tool_calls, item.metadata)


@dataclass(frozen=True)
class Score:
    """One score of one request: `value` in [0, 1], whether it passed, and a short reason a person reads."""

    name: str            # the evaluator's name, or `<evaluator>/<part>` for a part (e.g. `calls/recall`)
    value: float
    passed: bool
    reason: str
    label: str = ""      # a category when there is one: win/tie/loss/inconsistent, judge_error, request_error
