"""The gate vocabulary (docs/gates.md) and the reading of `gates:` and `gate_options:`.

A gate names one figure of a run, limits on it, and how it is grouped:

    gates:
      - metric: ttft_ms          # a per-request metric of benchlab.metrics (GATE_METRICS) ...
        stat: p95                # p50 | p90 | p95 | p99 | mean (required for per-request metrics)
        max: 800                 # absolute limits in the metric's unit (ms, tokens, USD)
      - metric: ttft_ms
        stat: p50
        regression: "10 %"       # no more than 10 % worse than the baseline (relative to its value) ...
      - metric: e2e_ms
        stat: mean
        regression: 50           # ... or at most 50 ms worse (a number: in the metric's unit)
      - metric: error_rate       # run figures take no stat: the share of requests that failed ...
        max: "1 %"               # rates and scores are fractions: 0.01 or "1 %"
      - metric: cost_per_1k      # ... and USD per 1,000 requests (requests with a known price)
        max: 2
      - score: overall           # an evaluator of the spec (or `overall`, the request's weighted score)
        stat: pass_rate          # pass_rate (default) | mean
        min: 0.9
        regression: 0.02         # for rates and scores: points as a fraction (0.02), or "2 points"
        group_by: [model]        # [] (default: the whole run) or any of model, prompt_version, params
        inconclusive: pass       # fail | pass: what "inconclusive" does (default: gate_options.inconclusive)
        name: quality            # default derived from the figure ("overall pass_rate"); unique
    gate_options:
      inconclusive: fail         # the default of every gate's `inconclusive` (default fail)

Worse is known per figure: up for latencies, tokens, cost and the error rate; down for scores. So a regression
is written once, as the tolerated worsening (`regression`), and `max_increase`/`max_decrease` are refused with
a pointer to it. A percentage is relative to the baseline's value for metrics with a unit; for a rate or a
score, whose values are themselves shares, "2 %" could mean 2 points or 2 % of the rate, so it is refused
there: write 0.02 or "2 points". Every problem is reported with its path (`gates[2].stat: ...`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from benchlab.spec.fields import Located, Section, check_unique, hint, is_number
from benchlab.spec.model import DatasetItem, EvaluatorSpec, GateOptionsSpec, GateSpec

# Per-request metrics a gate may name, with their unit (benchlab.metrics' names and units; a test keeps them
# equal). Inter-event gaps are left out: they are many per request and not independent.
REQUEST_METRICS: dict[str, str] = {
    "ttft_ms": "ms", "ttfot_ms": "ms", "tpot_ms": "ms", "e2e_ms": "ms", "e2e_from_intended_ms": "ms",
    "queue_delay_ms": "ms", "completion_tokens": "tokens", "cost_usd": "USD",
}
RATE = "fraction"  # the unit of shares: error rate, pass rate, mean score
RUN_FIGURES: dict[str, str] = {"error_rate": RATE, "cost_per_1k": "USD"}
GATE_METRICS: dict[str, str] = {**REQUEST_METRICS, **RUN_FIGURES}
METRIC_STATS = ("p50", "p90", "p95", "p99", "mean")
SCORE_STATS = ("pass_rate", "mean")
GROUP_KEYS = ("model", "prompt_version", "params")
INCONCLUSIVE = ("fail", "pass")
OVERALL = "overall"
GATE_KEYS = ("name", "metric", "score", "stat", "max", "min", "regression", "group_by", "inconclusive")
GATE_OPTION_KEYS = ("inconclusive",)
QUANTILE_LEVELS = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,99}")
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
_POINTS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:points?|pp)\s*")
_DIRECTIONAL = ("max_increase", "max_decrease", "max_regression", "tolerance")


def unit_of(gate: GateSpec) -> str:
    """The unit of the gate's figure: ms, tokens, USD, or `fraction` (rates and scores)."""
    if gate.score is not None:
        return RATE
    return GATE_METRICS.get(gate.metric or "", "")


def higher_is_worse(gate: GateSpec) -> bool:
    """Latencies, tokens, cost and the error rate get worse upwards; scores downwards."""
    return gate.score is None


def derived_name(gate: GateSpec) -> str:
    """The default name: the figure and its statistic, e.g. `ttft_ms p95`, `error_rate`, `overall pass_rate`."""
    return " ".join(part for part in (gate.subject, gate.stat) if part)


def read_gate_options(top: Section) -> GateOptionsSpec | None:
    """`gate_options:`, None when absent."""
    if not top.has("gate_options"):
        return None
    section = top.section("gate_options", GATE_OPTION_KEYS)
    return GateOptionsSpec(inconclusive=section.choice("inconclusive", INCONCLUSIVE, default="fail") or "fail")


def read_gates(top: Section, evaluators: Sequence[EvaluatorSpec], items_evaluators: Collection[str],
               options: GateOptionsSpec | None) -> tuple[GateSpec, ...] | None:
    """The gates listed at `gates`, defaults filled in; None when the key is absent.

    `evaluators` are the experiment's, `items_evaluators` the names of the items' own (`assert`): a `score`
    must name one of them, or `overall`.
    """
    if not top.has("gates"):
        return None
    default = (options or GateOptionsSpec()).inconclusive
    scorable = {evaluator.name: evaluator for evaluator in evaluators if evaluator.name}
    names = [*scorable, *(name for name in items_evaluators if name not in scorable)]
    located = [(path, raw, _gate(top.problems, path, raw, scorable, names, default))
               for path, raw in top.entries("gates")]
    problems: list[str] = []
    check_unique(problems, [(f"{path}.name" if isinstance(raw, Mapping) and raw.get("name") is not None
                             else f"{path} (derived name)", gate.name) for path, raw, gate in located], "gate name")
    top.problems.extend(f"{problem}: give each gate its own name" for problem in problems)
    return tuple(gate for _, _, gate in located)


def _gate(problems: list[str], path: str, raw: object, scorable: dict[str, EvaluatorSpec], names: Sequence[str],
          default_inconclusive: str) -> GateSpec:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be a mapping (a gate, e.g. {{metric: ttft_ms, stat: p95, max: 800}})")
        return GateSpec(name="")
    for key in _DIRECTIONAL:
        if key in raw:
            problems.append(f"{path}.{key}: not a gate key: write the tolerated worsening as regression (e.g. "
                            "regression: \"10 %\"); which way is worse is known (latencies, tokens, cost and the "
                            "error rate up, scores down)")
    section = Section(problems, path, {k: v for k, v in raw.items() if k not in _DIRECTIONAL}, GATE_KEYS)
    metric, score = _subject(section, scorable, names)
    stat = _stat(section, metric, score)
    gate = GateSpec(name="", metric=metric, score=score, stat=stat,
                    group_by=_group_by(section),
                    inconclusive=section.choice("inconclusive", INCONCLUSIVE, default=default_inconclusive)
                    or default_inconclusive)
    unit = unit_of(gate) if (metric or score) else ""
    limits = {key: _level(section, key, unit) for key in ("max", "min")}
    regression = _tolerance(section, unit)
    if not any(raw.get(key) is not None for key in ("max", "min", "regression", *_DIRECTIONAL)):
        section.problems.append(f"{path}: no limit: give max, min or regression (e.g. max: 800, or regression: "
                                "\"10 %\" against a baseline)")
    low, high = limits["min"], limits["max"]
    if low is not None and high is not None and low > high:
        section.report("min", f"is above max ({low:g} > {high:g}): no value could pass")
    gate = dataclasses.replace(gate, max=high, min=low, regression=regression)
    name = derived_name(gate) if metric or score else ""  # an unreadable figure: reported, not a duplicate
    if section.has("name"):
        name = section.text("name", max_len=100, pattern=NAME, expected="letters, digits, spaces and _ . : / -, "
                                                                        "starting with a letter or digit") or ""
    return dataclasses.replace(gate, name=name)


def _subject(section: Section, scorable: dict[str, EvaluatorSpec], names: Sequence[str]
             ) -> tuple[str | None, str | None]:
    """(metric, score): exactly one is set when the entry is valid."""
    has_metric, has_score = section.has("metric"), section.has("score")
    if has_metric and has_score:
        section.problems.append(f"{section.path}: give metric or score, not both (one gate per figure)")
        return None, None
    if not has_metric and not has_score:
        section.problems.append(f"{section.path}: required: metric (one of {', '.join(GATE_METRICS)}) or score "
                                "(an evaluator's name, or overall)")
        return None, None
    if has_metric:
        metric = section.raw("metric")
        if not isinstance(metric, str):
            section.report("metric", "must be a string")
            return None, None
        if metric not in GATE_METRICS:
            tip = (": inter-event gaps are many per request; gate on tpot_ms instead" if metric == "inter_event_ms"
                   else hint(metric, GATE_METRICS))
            section.report("metric", f"unknown metric '{metric}'{tip}")
            return None, None
        return metric, None
    score = section.raw("score")
    if not isinstance(score, str):
        section.report("score", "must be a string (an evaluator's name)")
        return None, None
    evaluator = scorable.get(score)
    if evaluator is not None and evaluator.type == "pairwise":
        section.report("score", f"'{score}' is a pairwise evaluator: its scores are relative to another response "
                                "and cannot be gated")
        return None, None
    if not names:
        section.report("score", f"no evaluator named '{score}': the spec has no evaluators, so nothing is scored "
                                "(add evaluators:, or gate on a metric)")
        return None, None
    if score != OVERALL and score not in names:
        section.report("score", f"no evaluator named '{score}'" + hint(score, [OVERALL, *names]))
        return None, None
    return None, score


def _stat(section: Section, metric: str | None, score: str | None) -> str | None:
    if metric in RUN_FIGURES:
        if section.has("stat"):
            section.report("stat", f"{metric} is one figure per run; it takes no stat")
        return None
    if metric is not None:
        return section.choice("stat", METRIC_STATS)
    if score is not None:
        return section.choice("stat", SCORE_STATS, default="pass_rate")
    return None


def _group_by(section: Section) -> tuple[str, ...]:
    located = section.entries("group_by")
    for path, key in located:
        if key not in GROUP_KEYS:
            shown = f"'{key}'" if isinstance(key, str) else "this value"
            section.problems.append(f"{path}: {shown} is not one of {', '.join(GROUP_KEYS)}"
                                    + (hint(key, GROUP_KEYS) if isinstance(key, str) else ""))
    check_unique(section.problems, [(path, key) for path, key in located if isinstance(key, str)], "group key")
    return tuple(key for _, key in located if key in GROUP_KEYS)


def _level(section: Section, key: str, unit: str) -> float | None:
    """An absolute limit: a number in the unit; for rates and scores a fraction (0..1) or a percentage."""
    if not section.has(key):
        return None
    raw: Any = section.raw(key)
    if unit == RATE:
        if isinstance(raw, str):
            match = _PERCENT.fullmatch(raw)
            if match and float(match.group(1)) <= 100:
                return float(match.group(1)) / 100
            section.report(key, "must be a fraction from 0 to 1 (0.01) or a percentage (\"1 %\")")
            return None
        if is_number(raw) and 0 <= raw <= 1:
            return float(raw)
        section.report(key, "must be a fraction from 0 to 1 (0.01), or a percentage (\"1 %\")")
        return None
    if is_number(raw) and raw >= 0:
        return float(raw)
    if unit:
        section.report(key, f"must be a number of at least 0, in {unit}")
    return None


def _tolerance(section: Section, unit: str) -> float | str | None:
    """`regression`: "N %" (relative) or a number in the unit; for rates and scores points only."""
    if not section.has("regression"):
        return None
    raw: Any = section.raw("regression")
    if unit == RATE:
        if is_number(raw) and 0 <= raw <= 1:
            return float(raw)
        match = _POINTS.fullmatch(raw) if isinstance(raw, str) else None
        if match and float(match.group(1)) <= 100:
            return float(match.group(1)) / 100
        if isinstance(raw, str) and _PERCENT.fullmatch(raw):
            section.report("regression", f"'{raw.strip()}' is ambiguous for a rate or score: write the tolerated "
                                         "drop in points, as a fraction (0.02) or \"2 points\"")
        else:
            section.report("regression", "must be points as a fraction from 0 to 1 (0.02), or \"2 points\"")
        return None
    if is_number(raw) and raw >= 0:
        return float(raw)
    if isinstance(raw, str):
        match = _PERCENT.fullmatch(raw)
        if match:
            return f"{match.group(1)} %"
    if unit:
        section.report("regression", f"must be a percentage of the baseline (\"10 %\") or a number of at least 0 "
                                     f"in {unit}")
    return None


def item_evaluator_names(items: Sequence[Located[DatasetItem]]) -> list[str]:
    """Names of the items' own evaluators (`assert`), for `read_gates`."""
    return list(dict.fromkeys(evaluator.name for _, item in items for evaluator in (item.asserts or ())
                              if evaluator.name))
