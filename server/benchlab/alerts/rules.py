"""What an alert rule is: its kinds, the settings each kind takes, their validation, and when a figure breaches.

Pure (no I/O): the API validates input with `check_rule` before anything is stored, and the evaluator asks
`breaches` and `describe` of every figure it computes, so the words in a notification and the condition that
sent it come from one place.

Windows (docs/alerts.md): LATENCY_PERCENTILE, ERROR_RATE and JUDGE_PASS_RATE compute ONE figure over the trailing
window `[now − windowMinutes, now)`: the percentile of every qualifying request in it (not each minute's
percentile), the share of failed requests, the share of passed scores. "p95 TTFT above 800 ms for 5 minutes"
therefore means: the p95 of the last five minutes' requests is above 800 ms. With fewer than `minCount`
requests (scores) in the window there is no figure, and a rule without a figure does not fire (and resolves if
it was firing), so three requests in a quiet hour never page anyone. DAILY_COST sums the current UTC day
`[00:00, now)`; GATE_FAILURE looks at the most recently gated run of its scope.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any
from uuid import UUID

from benchlab.errors import InvalidInputError
from benchlab.metrics import METRICS


class RuleKind(Enum):
    LATENCY_PERCENTILE = "latency_percentile"
    ERROR_RATE = "error_rate"
    DAILY_COST = "daily_cost"
    GATE_FAILURE = "gate_failure"
    JUDGE_PASS_RATE = "judge_pass_rate"


class RuleSource(Enum):
    PRODUCTION = "production"   # request_events.source = 'production'; scores of no run (nil run_id)
    EXPERIMENT = "experiment"   # everything else: rows of runs
    ALL = "all"


class RuleState(Enum):
    OK = "ok"
    FIRING = "firing"


NIL_UUID = UUID(int=0)
LATENCY_METRICS = tuple(name for name, metric in METRICS.items() if metric.latency)
DEFAULT_MIN_COUNT = 20
MAX_WINDOW_MINUTES = 1440
_WINDOWED = (RuleKind.LATENCY_PERCENTILE, RuleKind.ERROR_RATE, RuleKind.JUDGE_PASS_RATE)
_NAME = re.compile(r"\S(.{0,198}\S)?", re.DOTALL)


@dataclass(frozen=True)
class RuleSettings:
    """A rule as stored (stores.alerts.RULE_SETTINGS), checked: what `check_rule` returns."""

    name: str
    kind: RuleKind
    threshold: float
    source: RuleSource
    metric: str | None = None
    percentile: float | None = None
    window_minutes: int | None = None
    min_count: int = 0
    evaluator: str | None = None
    experiment_id: UUID | None = None
    model: str | None = None
    enabled: bool = True

    def as_columns(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "metric": self.metric, "percentile": self.percentile,
                "threshold": self.threshold, "window_minutes": self.window_minutes, "min_count": self.min_count,
                "evaluator": self.evaluator, "experiment_id": self.experiment_id, "source": self.source.value,
                "model": self.model, "enabled": self.enabled}


def unit_of(kind: RuleKind) -> str:
    return {RuleKind.LATENCY_PERCENTILE: "ms", RuleKind.ERROR_RATE: "fraction", RuleKind.DAILY_COST: "USD",
            RuleKind.GATE_FAILURE: "failed", RuleKind.JUDGE_PASS_RATE: "fraction"}[kind]


def check_rule(name: str, kind: RuleKind, *, threshold: float | None = None, source: RuleSource | None = None,
               metric: str | None = None, percentile: float | None = None, window_minutes: int | None = None,
               min_count: int | None = None, evaluator: str | None = None, experiment_id: UUID | None = None,
               model: str | None = None, enabled: bool = True) -> RuleSettings:
    """The settings if they make a rule of `kind`; InvalidInputError listing every problem otherwise."""
    problems: list[str] = []
    name = name.strip()
    if not _NAME.fullmatch(name):
        problems.append("name: 1 to 200 characters, not blank")
    windowed = kind in _WINDOWED
    if kind is RuleKind.LATENCY_PERCENTILE:
        if metric not in LATENCY_METRICS:
            problems.append(f"metric: a LATENCY_PERCENTILE rule needs a latency metric ({_metric_names()})")
        if percentile is None or not math.isfinite(percentile) or not 0 < percentile <= 100:
            problems.append("percentile: a number in (0, 100], e.g. 95 or 99.9")
    else:
        if metric is not None:
            problems.append(f"metric: only LATENCY_PERCENTILE rules take a metric, not {kind.name}")
        if percentile is not None:
            problems.append(f"percentile: only LATENCY_PERCENTILE rules take a percentile, not {kind.name}")
    if windowed:
        if window_minutes is None or not 1 <= window_minutes <= MAX_WINDOW_MINUTES:
            problems.append(f"windowMinutes: a {kind.name} rule needs a window of 1 to {MAX_WINDOW_MINUTES} minutes")
        if min_count is not None and not 1 <= min_count <= 1_000_000:
            problems.append("minCount: 1 to 1000000 (the fewest requests or scores a figure is computed from)")
    else:
        if window_minutes is not None:
            problems.append(f"windowMinutes: {kind.name} rules have no window "
                            + ("(they sum the current UTC day)" if kind is RuleKind.DAILY_COST
                               else "(they watch the most recently gated run)"))
        if min_count is not None:
            problems.append(f"minCount: {kind.name} rules take no minimum count")
    if kind is RuleKind.JUDGE_PASS_RATE:
        if not evaluator or not evaluator.strip():
            problems.append("evaluator: a JUDGE_PASS_RATE rule needs the evaluator's name, as its scores carry it")
    elif evaluator is not None:
        problems.append(f"evaluator: only JUDGE_PASS_RATE rules take an evaluator, not {kind.name}")
    problems += _threshold_problems(kind, threshold)
    if kind is RuleKind.GATE_FAILURE:
        if source not in (None, RuleSource.EXPERIMENT):
            problems.append("source: GATE_FAILURE rules watch runs; leave source out (or EXPERIMENT)")
        if model is not None:
            problems.append("model: GATE_FAILURE rules watch whole runs; leave model out")
    elif source is None:
        problems.append("source: PRODUCTION, EXPERIMENT or ALL")
    elif source is RuleSource.PRODUCTION and experiment_id is not None:
        problems.append("experimentId: production traffic belongs to no experiment; use source EXPERIMENT or ALL")
    if model is not None and not model.strip():
        problems.append("model: leave it out for every model, or give a model name")
    if problems:
        raise InvalidInputError(problems)
    return RuleSettings(
        name=name, kind=kind, threshold=0.0 if kind is RuleKind.GATE_FAILURE else float(threshold or 0.0),
        source=RuleSource.EXPERIMENT if kind is RuleKind.GATE_FAILURE else source or RuleSource.PRODUCTION,
        metric=metric, percentile=percentile, window_minutes=window_minutes,
        min_count=(DEFAULT_MIN_COUNT if min_count is None else min_count) if windowed else 0,
        evaluator=evaluator.strip() if evaluator else None, experiment_id=experiment_id, model=model,
        enabled=enabled)


def _threshold_problems(kind: RuleKind, threshold: float | None) -> list[str]:
    if kind is RuleKind.GATE_FAILURE:
        return [] if threshold is None else ["threshold: GATE_FAILURE rules fire on any failed gate; leave it out"]
    if threshold is None or not math.isfinite(threshold):
        return [f"threshold: a {kind.name} rule needs a finite threshold"]
    if kind in (RuleKind.ERROR_RATE, RuleKind.JUDGE_PASS_RATE) and not 0 <= threshold <= 1:
        return [f"threshold: a fraction from 0 to 1 (e.g. 0.05 for 5 %), got {threshold:g}"]
    if kind in (RuleKind.LATENCY_PERCENTILE, RuleKind.DAILY_COST) and threshold <= 0:
        return [f"threshold: a positive number of {unit_of(kind)}, got {threshold:g}"]
    return []


def _metric_names() -> str:
    return ", ".join(LATENCY_METRICS)


def breaches(kind: RuleKind, value: float | None, threshold: float) -> bool:
    """Whether a figure fires the rule: above the threshold, or below it for a pass rate; never without one."""
    if value is None:
        return False
    if kind is RuleKind.JUDGE_PASS_RATE:
        return value < threshold
    return value > threshold


def condition_text(rule: Any) -> str:
    """The rule in words, e.g. `p95 ttft_ms over 5 min > 800 ms` (`rule`: a stored rule record)."""
    kind = RuleKind(rule.kind)
    scope = _scope_text(rule)
    if kind is RuleKind.LATENCY_PERCENTILE:
        return (f"p{rule.percentile:g} {rule.metric} over {rule.window_minutes} min > {rule.threshold:g} ms"
                f"{scope}")
    if kind is RuleKind.ERROR_RATE:
        return f"error rate over {rule.window_minutes} min > {rule.threshold:.2%}{scope}"
    if kind is RuleKind.DAILY_COST:
        return f"cost of the UTC day > ${rule.threshold:g}{scope}"
    if kind is RuleKind.JUDGE_PASS_RATE:
        return f"pass rate of {rule.evaluator} over {rule.window_minutes} min < {rule.threshold:.2%}{scope}"
    return "the latest gated run failed its gates" + (" (one experiment)" if rule.experiment_id else "")


def value_text(kind: RuleKind, value: float | None) -> str:
    if value is None:
        return "no figure"
    if kind is RuleKind.LATENCY_PERCENTILE:
        return f"{value:.1f} ms"
    if kind in (RuleKind.ERROR_RATE, RuleKind.JUDGE_PASS_RATE):
        return f"{value:.2%}"
    if kind is RuleKind.DAILY_COST:
        return f"${value:.4f}"
    return "failed" if value else "passed"


def _scope_text(rule: Any) -> str:
    parts = [] if rule.source == RuleSource.ALL.value else [rule.source]
    if rule.model:
        parts.append(f"model {rule.model}")
    if rule.experiment_id:
        parts.append("one experiment")
    return f" ({', '.join(parts)})" if parts else ""
