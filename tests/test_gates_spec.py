"""Quality gates in the experiment spec (docs/gates.md): `gates` and `gate_options` parsed with their defaults,
every problem reported with its path, and a snapshot that reads back to the same gates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchlab.metrics import METRICS
from benchlab.spec import GateOptionsSpec, GateSpec, load_spec
from benchlab.spec.gates import GATE_METRICS, REQUEST_METRICS, derived_name, higher_is_worse, unit_of
from benchlab.spec.model import to_plain
from tests.test_spec import assert_problems, minimal, problems_of

EVALUATORS = [{"type": "icontains", "value": "4", "name": "hit"},
              {"type": "llm-rubric", "value": "Correct?", "name": "judged"},
              {"type": "pairwise", "value": "Better?", "name": "preferred"}]
JUDGES = [{"name": "grader", "provider": "mock", "model": "mock-judge"}]


def spec_with(gates: Any, **overrides: Any) -> dict[str, Any]:
    """`minimal()` with two models, evaluators (one pairwise), an item with its own assert, and `gates`."""
    spec = minimal(evaluators=EVALUATORS, judges=JUDGES, gates=gates,
                   dataset={"name": "d", "items": [{"vars": {"question": "2+2?"}, "expected_output": "4",
                                                    "assert": [{"type": "equals", "value": "4", "name": "exact"}]}]},
                   **overrides)
    spec["models"].append({"name": "m2", "provider": "mock", "model": "mock-big"})
    return spec


def test_the_vocabulary_with_its_defaults() -> None:
    gates = [
        {"metric": "ttft_ms", "stat": "p95", "max": 800},
        {"metric": "ttft_ms", "stat": "p50", "regression": "10 %"},
        {"metric": "e2e_ms", "stat": "mean", "regression": 50, "min": 1, "group_by": ["model", "params"]},
        {"metric": "error_rate", "max": "1 %", "inconclusive": "pass"},
        {"metric": "cost_per_1k", "max": 2, "regression": "5%"},
        {"score": "overall", "min": 0.9, "regression": 0.02, "group_by": ["prompt_version"]},
        {"score": "hit", "stat": "mean", "regression": "2 points", "name": "hit-mean"},
        {"score": "exact", "min": "50 %"},  # an item's own evaluator
        {"metric": "completion_tokens", "stat": "p99", "max": 64},
    ]
    spec = load_spec(spec_with(gates, gate_options={"inconclusive": "fail"}))
    assert spec.gate_options == GateOptionsSpec(inconclusive="fail")
    assert spec.gates == (
        GateSpec(name="ttft_ms p95", metric="ttft_ms", stat="p95", max=800.0),
        GateSpec(name="ttft_ms p50", metric="ttft_ms", stat="p50", regression="10 %"),
        GateSpec(name="e2e_ms mean", metric="e2e_ms", stat="mean", min=1.0, regression=50.0,
                 group_by=("model", "params")),
        GateSpec(name="error_rate", metric="error_rate", max=0.01, inconclusive="pass"),
        GateSpec(name="cost_per_1k", metric="cost_per_1k", max=2.0, regression="5 %"),
        GateSpec(name="overall pass_rate", score="overall", stat="pass_rate", min=0.9, regression=0.02,
                 group_by=("prompt_version",)),
        GateSpec(name="hit-mean", score="hit", stat="mean", regression=0.02),
        GateSpec(name="exact pass_rate", score="exact", stat="pass_rate", min=0.5),
        GateSpec(name="completion_tokens p99", metric="completion_tokens", stat="p99", max=64.0),
    )
    ttft, _, _, errors, cost, overall, *_ = spec.gates
    assert ttft.relative_tolerance is None and spec.gates[1].relative_tolerance == pytest.approx(0.1)
    assert cost.relative_tolerance == pytest.approx(0.05) and cost.absolute_tolerance is None
    assert overall.absolute_tolerance == 0.02
    assert [unit_of(gate) for gate in (ttft, errors, cost, overall)] == ["ms", "fraction", "USD", "fraction"]
    assert higher_is_worse(ttft) and higher_is_worse(errors) and not higher_is_worse(overall)


def test_a_snapshot_reads_back_to_the_same_gates() -> None:
    gates = [{"metric": "ttft_ms", "stat": "p50", "regression": "12.5 %", "group_by": ["model"]},
             {"metric": "error_rate", "max": "2.5 %"}, {"score": "hit", "regression": "3 pp", "inconclusive": "fail"}]
    spec = load_spec(spec_with(gates, gate_options={"inconclusive": "pass"}))
    snapshot = json.loads(json.dumps(spec.to_dict()))
    assert snapshot["gates"] == [
        {"name": "ttft_ms p50", "metric": "ttft_ms", "stat": "p50", "regression": "12.5 %", "group_by": ["model"],
         "inconclusive": "pass"},
        {"name": "error_rate", "metric": "error_rate", "max": 0.025, "group_by": [], "inconclusive": "pass"},
        {"name": "hit pass_rate", "score": "hit", "stat": "pass_rate", "regression": 0.03, "group_by": [],
         "inconclusive": "fail"},
    ]
    assert snapshot["gate_options"] == {"inconclusive": "pass"}
    assert load_spec(snapshot) == spec
    assert to_plain(load_spec(snapshot)) == snapshot


def test_a_spec_without_gates_has_none() -> None:
    spec = load_spec(minimal())
    assert spec.gates is None and spec.gate_options is None
    assert "gates" not in spec.to_dict()
    assert load_spec(minimal(gates=[])).gates == ()


def test_the_default_inconclusive_comes_from_gate_options() -> None:
    gates = [{"metric": "ttft_ms", "stat": "p50", "max": 100}, {"metric": "e2e_ms", "stat": "p50", "max": 900,
                                                                 "inconclusive": "fail"}]
    assert [g.inconclusive for g in load_spec(minimal(gates=gates)).gates or ()] == ["fail", "fail"]
    passing = load_spec(minimal(gates=gates, gate_options={"inconclusive": "pass"}))
    assert [g.inconclusive for g in passing.gates or ()] == ["pass", "fail"]


def test_every_problem_is_reported_with_its_path() -> None:
    gates = [
        {"metric": "ttft", "stat": "p95", "max": 800},                            # 0 unknown metric
        {"metric": "ttft_ms", "stat": "p75", "max": 800},                         # 1 unknown stat
        {"metric": "ttft_ms", "max": 800, "name": "no-stat"},                     # 2 stat required
        {"score": "hitt", "min": 0.5},                                            # 3 unknown evaluator
        {"score": "preferred", "min": 0.5},                                       # 4 pairwise
        {"score": "hit", "stat": "p95", "min": 0.5, "name": "bad-stat"},          # 5 stat of a metric
        {"score": "hit", "regression": "2 %", "name": "ambiguous"},               # 6 ambiguous percentage
        {"metric": "error_rate", "stat": "mean", "max": 5, "name": "rate"},       # 7 no stat, a fraction
        {"metric": "ttft_ms", "stat": "p99", "max_increase": "10 %"},             # 8 directional key
        {"metric": "e2e_ms", "stat": "p50", "max": 1, "group_by": ["modle", "model", "model"]},  # 9
        "ttft_ms p95 <= 800",                                                     # 10 not a mapping
        {"metric": "e2e_ms", "score": "hit", "max": 1},                           # 11 both
        {"stat": "p50", "max": 1},                                                # 12 neither
        {"metric": "ttft_ms", "stat": "p90", "max": 5, "min": 6},                 # 13 min above max
        {"metric": "ttft_ms", "stat": "p90", "regression": "ten %", "name": "t"},  # 14 not a tolerance
        {"metric": "tpot_ms", "stat": "p50"},                                     # 15 no limit
        {"metric": "ttft_ms", "stat": "p95", "min": 1},                           # 16 same name as 0? no: 0 failed
        {"metric": "ttft_ms", "stat": "p95", "max": 2},                           # 17 duplicate name
        {"metric": "ttft_ms", "stat": "p50", "max": -1, "inconclusive": "maybe", "colour": "red",
         "name": "neg"},                                                          # 18
        {"metric": "inter_event_ms", "stat": "p50", "max": 1},                    # 19 gaps
    ]
    problems = problems_of(spec_with(gates, gate_options={"inconclusive": "sometimes"}))
    assert_problems(problems, [
        "gates[0].metric: unknown metric 'ttft' (did you mean 'ttft_ms'?)",
        "gates[1].stat: 'p75' is not one of p50, p90, p95, p99, mean",
        "gates[2].stat: required",
        "gates[3].score: no evaluator named 'hitt' (did you mean 'hit'?)",
        "gates[4].score: 'preferred' is a pairwise evaluator",
        "gates[5].stat: 'p95' is not one of pass_rate, mean",
        "gates[6].regression: '2 %' is ambiguous for a rate or score",
        "gates[7].stat: error_rate is one figure per run; it takes no stat",
        "gates[7].max: must be a fraction from 0 to 1",
        "gates[8].max_increase: not a gate key: write the tolerated worsening as regression",
        "gates[9].group_by[0]: 'modle' is not one of model, prompt_version, params (did you mean 'model'?)",
        "gates[9].group_by[2]: duplicate group key 'model' (first at gates[9].group_by[1])",
        "gates[10]: must be a mapping",
        "gates[11]: give metric or score, not both",
        "gates[12]: required: metric (one of ttft_ms",
        "gates[13].min: is above max (6 > 5)",
        "gates[14].regression: must be a percentage of the baseline (\"10 %\") or a number of at least 0 in ms",
        "gates[15]: no limit: give max, min or regression",
        "gates[17] (derived name): duplicate gate name 'ttft_ms p95' (first at gates[16] (derived name))",
        "gates[18].max: must be a number of at least 0, in ms",
        "gates[18].inconclusive: 'maybe' is not one of fail, pass",
        "gates[18].colour: unknown key",
        "gates[19].metric: unknown metric 'inter_event_ms': inter-event gaps are many per request",
        "gate_options.inconclusive: 'sometimes' is not one of fail, pass",
    ])


def test_a_named_duplicate_points_at_its_name() -> None:
    gates = [{"metric": "ttft_ms", "stat": "p95", "max": 1, "name": "speed"},
             {"metric": "e2e_ms", "stat": "p95", "max": 1, "name": "speed"}]
    assert_problems(problems_of(minimal(gates=gates)), [
        "gates[1].name: duplicate gate name 'speed' (first at gates[0].name): give each gate its own name"])


def test_a_score_gate_needs_evaluators() -> None:
    assert_problems(problems_of(minimal(gates=[{"score": "overall", "min": 0.5}])), [
        "gates[0].score: no evaluator named 'overall': the spec has no evaluators, so nothing is scored"])
    only_asserts = minimal(gates=[{"score": "overall", "min": 0.5}], dataset={"name": "d", "items": [
        {"vars": {"question": "2+2?"}, "assert": [{"type": "contains", "value": "4"}]}]})
    assert (load_spec(only_asserts).gates or ())[0].score == "overall"
    assert_problems(problems_of(minimal(gates=[{"score": "hit", "min": 0.5}])), [
        "gates[0].score: no evaluator named 'hit': the spec has no evaluators"])


def test_rates_take_fractions_and_points_metrics_percentages() -> None:
    ok = load_spec(minimal(gates=[{"metric": "error_rate", "max": 0.05, "regression": 0.01},
                                  {"metric": "ttft_ms", "stat": "p90", "regression": 25.5}]))
    assert [(g.max, g.regression) for g in ok.gates or ()] == [(0.05, 0.01), (None, 25.5)]
    assert_problems(problems_of(minimal(gates=[{"metric": "error_rate", "max": "150 %", "name": "a"},
                                               {"metric": "error_rate", "regression": 2, "name": "b"},
                                               {"metric": "ttft_ms", "stat": "p50", "max": "800 %", "name": "c"}])), [
        "gates[0].max: must be a fraction from 0 to 1 (0.01) or a percentage",
        "gates[1].regression: must be points as a fraction from 0 to 1 (0.02), or \"2 points\"",
        "gates[2].max: must be a number of at least 0, in ms",
    ])


def test_the_metric_list_matches_benchlab_metrics() -> None:
    for name, unit in REQUEST_METRICS.items():
        assert METRICS[name].unit == unit and not METRICS[name].array, name
    assert set(GATE_METRICS) - set(REQUEST_METRICS) == {"error_rate", "cost_per_1k"}
    assert {name for name, metric in METRICS.items() if not metric.array} == set(REQUEST_METRICS)


def test_derived_names() -> None:
    assert derived_name(GateSpec(name="", metric="ttft_ms", stat="p95")) == "ttft_ms p95"
    assert derived_name(GateSpec(name="", metric="error_rate")) == "error_rate"
    assert derived_name(GateSpec(name="", score="overall", stat="pass_rate")) == "overall pass_rate"
