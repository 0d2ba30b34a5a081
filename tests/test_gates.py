"""Quality gates (docs/gates.md) against the real engine, the mock and ClickHouse.

The mock's latencies are fixed by its model name and its answers come from an answer key with a known,
seeded accuracy (`answers_correctly`), so what every gate must say is known before the runs start: identical
runs pass every gate run after run, a 20 % slower model fails the TTFT regression gate, a less accurate one
the pass-rate gate, a tiny run is inconclusive and says how many requests it needs. Verdict rules on chosen
values run on rows written directly to ClickHouse.

Latencies: 100 ms to the first token (a 10 % tolerance is then 10 ms, well above the few milliseconds a busy
machine adds to a p95), 200 requests per run (a p95 needs 200 per side) at concurrency 20.
A stall of the whole machine (seen once on CI: +40 ms on one run's mean) really slows the run it lands on;
the identical-runs test sets such runs aside by comparing each run with the mock's fixed schedule, and fails
if more than a few are.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import numpy as np
import pytest

from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.gate_reports import as_json, junit_xml, markdown
from benchlab.analytics.gate_stats import bootstrap_means, bootstrap_quantiles, bootstrap_rates
from benchlab.analytics.gates import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    GateReport,
    evaluate_gates,
    flaky_items,
    format_change,
    format_value,
    needed_samples,
)
from benchlab.engine.deps import EngineDeps
from benchlab.mockllm.answers import answers_correctly
from benchlab.spec import GateSpec, load_spec
from benchlab.stores.runs import RunRecord
from benchlab.stores.scores import COLUMNS as SCORE_COLUMNS
from benchlab.stores.scores import ScoreRow
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.event_rows import BASE_TS, PROJECT_ID, event_row, table_columns
from tests.helpers.mock_llm import run_mock_llm
from tests.test_gate_reports import assert_valid_junit

ITEMS = 200
FAST = "mock-llm?ttft_ms=100&gap_ms=1"
SLOW = "mock-llm?ttft_ms=120&gap_ms=1"  # 20 % slower


def question(n: int) -> str:
    return f"Which code does entry {n} have?"


@pytest.fixture
def answer_key(tmp_path: Path) -> Path:
    """One-token answers (`ans7`), so the answer fits max_tokens and E2E is the TTFT."""
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": question(n), "answer": f"ans{n}", "wrong": "no"}) + "\n"
                            for n in range(ITEMS)))
    return path


def gated_spec(base_url: str, model: str, gates: list[dict[str, Any]], *, items: int = ITEMS,
               models: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """`items` questions of the answer key asked of `model` at concurrency 20, scored by `hit`, with `gates`."""
    spec = mock_spec(base_url, models=models or {"m": model}, load={"profile": "concurrent", "concurrency": 20},
                     **extra)
    for entry in spec["models"]:
        entry.update(input_price_per_mtok=1.0, output_price_per_mtok=2.0)
    spec["prompts"] = [{"name": "qa", "messages": [{"role": "user", "content": "{{question}}"}]}]
    spec["dataset"] = {"name": "codes", "items": [{"id": f"q{n}", "vars": {"question": question(n)},
                                                   "expected_output": f"ans{n}"} for n in range(items)]}
    spec["params"] = {"max_tokens": 2}
    spec.setdefault("evaluators", [{"type": "icontains", "value": "{{expected_output}}", "name": "hit"}])
    spec["gates"] = gates
    return spec


def pass_id(run: RunRecord) -> UUID:
    assert run.summary is not None and run.summary["scores"]["status"] == "completed", run.summary
    return UUID(run.summary["scores"]["pass_id"])


async def gate(deps: EngineDeps, spec: dict[str, Any], candidate: RunRecord, baseline: RunRecord | None,
               **options: Any) -> GateReport:
    gates = load_spec(spec).gates or ()
    return await evaluate_gates(deps.clickhouse, candidate.project_id, candidate.id, pass_id(candidate),
                                (baseline.id, pass_id(baseline)) if baseline is not None else None, gates,
                                **options)


def by_gate(report: GateReport) -> dict[str, Any]:
    return {result.gate: result for result in report.results}


IDENTICAL_GATES: list[dict[str, Any]] = [
    {"metric": "ttft_ms", "stat": "p50", "regression": "10 %"},
    {"metric": "ttft_ms", "stat": "p95", "regression": "10 %", "max": 1000},
    {"metric": "ttft_ms", "stat": "mean", "regression": "10 %"},
    {"metric": "e2e_ms", "stat": "p95", "regression": "10 %"},
    {"metric": "e2e_ms", "stat": "p50", "regression": "10 %", "group_by": ["model", "prompt_version", "params"]},
    {"metric": "completion_tokens", "stat": "mean", "regression": "10 %"},
    {"metric": "error_rate", "max": "1 %", "regression": 0.01},
    {"metric": "cost_per_1k", "max": 1, "regression": "10 %"},
    {"score": "overall", "stat": "pass_rate", "min": 0.5, "regression": 0.02},
    {"score": "hit", "stat": "mean", "regression": 0.02, "group_by": ["model"]},
]


PLANNED_TTFT_MS = 100  # FAST's time to first token, exact (no jitter)
# A run measured further above the plan than this was disturbed: half the 10 ms tolerance for the mean, the
# whole tolerance for the p95 (undisturbed runs measure 1-2 ms above on the mean, 3-7 ms on the p95).
DISTURBED_MEAN_MS, DISTURBED_P95_MS = 5, 10
MAX_DISTURBED = 5


async def measured_overhead_ms(deps: EngineDeps, run: RunRecord) -> tuple[float, float]:
    """How far the run's measured TTFTs (mean, p95) lie above what the mock was told to do."""
    ttfts = sorted(row["ttft_ms"] for row in await event_rows(deps, run.id, "ttft_ms"))
    return (sum(ttfts) / len(ttfts) - PLANNED_TTFT_MS,
            ttfts[math.ceil(0.95 * len(ttfts)) - 1] - PLANNED_TTFT_MS)


async def undisturbed_run(deps: EngineDeps, spec: dict[str, Any], disturbed: list[tuple[float, float]]) -> RunRecord:
    """A run whose measurements match the mock's fixed schedule within DISTURBED_MEAN_MS / DISTURBED_P95_MS.

    "Identical runs" means identical as measured: on a shared 2-core CI machine a stall of a few hundred ms
    (another tenant, the host) lands on the 20 requests in flight and really makes that run slower, which a
    gate must report. Such a run is set aside (and counted: more than MAX_DISTURBED fails the test, so a
    systematically slow measurement cannot hide here); the gates' own statistics must not flap on the rest.
    """
    while True:
        run = await run_spec(deps, spec)
        overhead = await measured_overhead_ms(deps, run)
        if overhead[0] <= DISTURBED_MEAN_MS and overhead[1] <= DISTURBED_P95_MS:
            return run
        disturbed.append(overhead)
        assert len(disturbed) <= MAX_DISTURBED, f"runs measured this far above the mock's schedule: {disturbed}"


async def test_identical_runs_pass_every_gate_twenty_times_in_a_row(engine_deps: EngineDeps,
                                                                      answer_key: Path) -> None:
    disturbed: list[tuple[float, float]] = []
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = gated_spec(mock.base_url, FAST + "&accuracy=0.8", IDENTICAL_GATES)
        baseline = await undisturbed_run(engine_deps, spec, disturbed)
        reports = []
        for _ in range(20):
            candidate = await undisturbed_run(engine_deps, spec, disturbed)
            reports.append(await gate(engine_deps, spec, candidate, baseline))
    expected_passes = sum(answers_correctly(0, question(n), "mock-llm", 0.8) for n in range(ITEMS))
    for report in reports:
        failing = [result.message for result in report.results if result.verdict != PASS]
        assert not failing and report.passed, failing
        assert len(report.results) == len(IDENTICAL_GATES)
        results = by_gate(report)
        rate = results["overall pass_rate"]
        assert rate.candidate == rate.baseline == expected_passes / ITEMS and rate.delta == 0
        p95 = results["ttft_ms p95"]
        assert p95.candidate_n == p95.baseline_n == ITEMS and 100 <= p95.candidate < 1000
        assert p95.tolerance == pytest.approx(0.1 * p95.baseline)
        assert p95.delta_low is not None and p95.delta_high is not None and p95.delta_low < p95.tolerance
        assert results["e2e_ms p50"].group == {"model": "m", "prompt_version": "qa@v1",
                                               "params": results["e2e_ms p50"].group["params"]}
        # Noise may put the point estimate past the tolerance; the gate still passes ("not significant").
        assert any(note in results["ttft_ms p50"].message for note in ("within the tolerance", "not significant"))
        assert report.flaky is not None and report.flaky.total == 0


async def test_a_slower_model_fails_the_ttft_regression_gate_with_its_numbers(engine_deps: EngineDeps,
                                                                               answer_key: Path) -> None:
    gates = [{"metric": "ttft_ms", "stat": "p50", "regression": "10 %"},
             {"metric": "ttft_ms", "stat": "p95", "regression": "10 %"},
             {"metric": "ttft_ms", "stat": "p50", "regression": "25 %", "name": "lenient"},
             {"metric": "ttft_ms", "stat": "mean", "regression": 5, "name": "five-ms"},
             {"score": "overall", "regression": 0.02}]
    with run_mock_llm(answer_key=answer_key) as mock:
        baseline = await run_spec(engine_deps, gated_spec(mock.base_url, FAST, gates))
        spec = gated_spec(mock.base_url, SLOW, gates)
        candidate = await run_spec(engine_deps, spec)
        report = await gate(engine_deps, spec, candidate, baseline)
    results = by_gate(report)
    p50 = results["ttft_ms p50"]
    assert p50.verdict == FAIL and p50.blocking and not report.passed
    measured = {row["ttft_ms"] for row in await event_rows(engine_deps, candidate.id, "ttft_ms")}
    assert p50.candidate is not None and p50.baseline is not None and p50.delta is not None
    assert min(measured) <= p50.candidate <= max(measured)
    assert 120 <= p50.candidate < 130 and 100 <= p50.baseline < 110
    assert p50.delta == pytest.approx(p50.candidate - p50.baseline)
    assert p50.relative_delta == pytest.approx(0.2, abs=0.05)
    assert p50.tolerance == pytest.approx(0.1 * p50.baseline)
    assert p50.delta_low is not None and p50.delta_high is not None
    assert p50.tolerance < p50.delta_low <= p50.delta <= p50.delta_high < 30
    for number in (format_value(p50.candidate, "ms"), format_value(p50.baseline, "ms"), format_change(p50.delta, "ms"),
                   f"({p50.relative_delta:+.1%})".replace("%", " %"), "worse beyond the tolerance 10 %",
                   f"({format_change(p50.tolerance, 'ms')})", "95 % interval"):
        assert number in p50.message, (number, p50.message)
    assert p50.message.startswith(f"fail: ttft_ms p50 {format_value(p50.candidate, 'ms')} (200): ")
    assert results["ttft_ms p95"].verdict == FAIL
    assert results["five-ms"].verdict == FAIL and results["five-ms"].tolerance == 5
    lenient = results["lenient"]
    assert lenient.verdict == PASS and "within the tolerance 25 %" in lenient.message
    assert results["overall pass_rate"].verdict == PASS  # the same answers, only slower
    assert report.counts == {PASS: 2, FAIL: 3, INCONCLUSIVE: 0}
    # The reports carry the same numbers.
    suite = assert_valid_junit(junit_xml(report)).find("testsuite")
    assert suite is not None and (suite.attrib["tests"], suite.attrib["failures"]) == ("5", "3")
    failure = next(case for case in suite.iter("testcase") if case.attrib["classname"] == "ttft_ms p50").find("failure")
    assert failure is not None and failure.attrib["message"] == p50.message
    assert f"| ttft_ms p50 | overall | regression 10 % | {format_value(p50.baseline, 'ms')} |" in markdown(report)
    assert as_json(report)["results"][0]["delta"] == p50.delta and as_json(report)["passed"] is False


async def test_a_less_accurate_model_fails_the_pass_rate_gate(engine_deps: EngineDeps, answer_key: Path) -> None:
    gates = [{"score": "overall", "stat": "pass_rate", "regression": 0.02},
             {"score": "hit", "stat": "mean", "regression": "2 points"},
             {"score": "hit", "stat": "pass_rate", "regression": 0.5, "name": "lenient"},
             {"metric": "ttft_ms", "stat": "p50", "regression": "10 %"}]
    with run_mock_llm(answer_key=answer_key) as mock:
        baseline = await run_spec(engine_deps, gated_spec(mock.base_url, FAST + "&accuracy=0.9", gates))
        spec = gated_spec(mock.base_url, FAST + "&accuracy=0.75", gates)
        candidate = await run_spec(engine_deps, spec)
        report = await gate(engine_deps, spec, candidate, baseline)
    right_before = sum(answers_correctly(0, question(n), "mock-llm", 0.9) for n in range(ITEMS))
    right_after = sum(answers_correctly(0, question(n), "mock-llm", 0.75) for n in range(ITEMS))
    assert right_before - right_after >= 20  # at least 10 points less accurate
    results = by_gate(report)
    rate = results["overall pass_rate"]
    assert (rate.verdict, rate.candidate, rate.baseline) == (FAIL, right_after / ITEMS, right_before / ITEMS)
    assert rate.delta == pytest.approx((right_after - right_before) / ITEMS)
    assert rate.delta_high is not None and rate.delta_high < -0.02 and rate.tolerance == 0.02
    assert (f"overall pass rate {right_after / ITEMS * 100:.1f} % ({right_after} of {ITEMS})" in rate.message
            and f"vs baseline {right_before / ITEMS * 100:.1f} %" in rate.message
            and f"{(right_after - right_before) / ITEMS * 100:+.1f} pp" in rate.message
            and "worse beyond the tolerance -2.0 pp" in rate.message), rate.message
    assert results["hit mean"].verdict == FAIL
    assert results["lenient"].verdict == PASS and "within the tolerance" in results["lenient"].message
    assert results["ttft_ms p50"].verdict == PASS


async def test_absolute_gates_per_group(engine_deps: EngineDeps, answer_key: Path) -> None:
    gates = [{"metric": "error_rate", "max": "1 %", "group_by": ["model"]},
             {"metric": "ttft_ms", "stat": "p50", "max": 1000, "min": 50, "group_by": ["model"]},
             {"metric": "ttft_ms", "stat": "p50", "max": 80, "name": "too-strict"},
             {"metric": "cost_per_1k", "max": 0.02, "name": "cost"},
             {"metric": "cost_per_1k", "max": 0.001, "name": "cheap"},
             {"score": "overall", "min": 0.5, "group_by": ["model"]},
             {"metric": "ttft_ms", "stat": "p99", "max": 1000, "name": "p99", "inconclusive": "pass"}]
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = gated_spec(mock.base_url, "", gates, items=30,
                          models={"good": FAST + "&accuracy=0.8", "broken": FAST + "&fault=500"})
        run = await run_spec(engine_deps, spec)
        report = await gate(engine_deps, spec, run, None)
    rows = [row for row in await event_rows(engine_deps, run.id, "model, status, cost_usd, cost_known, in_window")
            if row["in_window"]]
    results = {(result.gate, result.group.get("model")): result for result in report.results}
    assert results[("error_rate", "good")].verdict == PASS and results[("error_rate", "good")].candidate == 0
    broken = results[("error_rate", "broken")]
    assert (broken.verdict, broken.candidate, broken.candidate_n) == (FAIL, 1.0, 30)
    assert broken.message == "fail: error_rate 100.0 % (30): above max 1 %"
    assert results[("ttft_ms p50", "good")].verdict == PASS
    no_values = results[("ttft_ms p50", "broken")]  # every request failed: there, inconclusive, not missing
    assert (no_values.verdict, no_values.candidate_n, no_values.candidate) == (INCONCLUSIVE, 0, None)
    assert "needs at least 20 requests per side (candidate 0)" in no_values.message
    strict = results[("too-strict", None)]
    assert strict.verdict == FAIL and "above max 80 ms" in strict.message
    priced = [row["cost_usd"] for row in rows if row["cost_known"]]
    cost = results[("cost", None)]
    assert cost.candidate == pytest.approx(1000 * float(np.mean(priced)), rel=1e-6) and cost.verdict == PASS
    assert results[("cheap", None)].verdict == FAIL and cost.unit == "USD"
    assert results[("overall pass_rate", "good")].verdict == PASS
    assert results[("overall pass_rate", "broken")].verdict == FAIL
    assert results[("overall pass_rate", "broken")].candidate == 0
    p99 = results[("p99", None)]
    assert (p99.verdict, p99.needed_n, p99.blocking) == (INCONCLUSIVE, 1000, False)
    assert "p99 needs at least 1000 requests per side (candidate 30)" in p99.message
    assert report.flaky is not None and report.flaky.total == 0


async def test_a_tiny_run_is_inconclusive_and_says_what_it_needs(engine_deps: EngineDeps, answer_key: Path) -> None:
    gates = [{"metric": "ttft_ms", "stat": "p95", "max": 800},
             {"metric": "ttft_ms", "stat": "p50", "regression": "10 %", "inconclusive": "pass"},
             {"score": "overall", "regression": 0.02}]
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = gated_spec(mock.base_url, FAST, gates, items=3)
        baseline = await run_spec(engine_deps, spec)
        candidate = await run_spec(engine_deps, spec)
        report = await gate(engine_deps, spec, candidate, baseline)
        alone = await gate(engine_deps, spec, candidate, None)
    results = by_gate(report)
    p95 = results["ttft_ms p95"]
    assert (p95.verdict, p95.blocking, p95.needed_n, p95.candidate_n) == (INCONCLUSIVE, True, 200, 3)
    assert p95.message.endswith("too few values: ttft_ms p95 needs at least 200 requests per side (candidate 3)")
    p50 = results["ttft_ms p50"]
    assert (p50.verdict, p50.blocking, p50.needed_n) == (INCONCLUSIVE, False, 20)
    assert "needs at least 20 requests per side (candidate 3, baseline 3)" in p50.message
    assert "needs at least 20 scored requests per side" in results["overall pass_rate"].message
    assert not report.passed and report.counts == {PASS: 0, FAIL: 0, INCONCLUSIVE: 3}
    without = by_gate(alone)
    assert without["ttft_ms p50"].message.endswith("no baseline run to compare with")
    assert without["ttft_ms p50"].baseline_n is None


async def test_score_gates_without_a_scoring_pass_are_inconclusive(engine_deps: EngineDeps,
                                                                   answer_key: Path) -> None:
    gates = [GateSpec(name="quality", score="overall", stat="pass_rate", min=0.5, regression=0.02),
             GateSpec(name="errors", metric="error_rate", max=0.5)]
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = gated_spec(mock.base_url, FAST, [], items=20)
        baseline = await run_spec(engine_deps, spec)
        candidate = await run_spec(engine_deps, spec)
    report = await evaluate_gates(engine_deps.clickhouse, candidate.project_id, candidate.id, None,
                                  (baseline.id, None), gates)
    quality, errors = report.results
    assert quality.message == ("inconclusive: overall pass rate: no values: the candidate run has no scoring pass; "
                               "the baseline run has no scoring pass to compare with")
    assert errors.verdict == PASS and report.flaky is None
    only_candidate = await evaluate_gates(engine_deps.clickhouse, candidate.project_id, candidate.id,
                                          pass_id(candidate), (baseline.id, None), gates[:1])
    assert only_candidate.results[0].verdict == INCONCLUSIVE
    assert "the baseline run has no scoring pass to compare with" in only_candidate.results[0].message
    with pytest.raises(AnalyticsInputError, match="baseline: is the candidate run itself"):
        await evaluate_gates(engine_deps.clickhouse, candidate.project_id, candidate.id, None,
                             (candidate.id, None), gates)
    with pytest.raises(AnalyticsInputError, match="confidence"):
        await evaluate_gates(engine_deps.clickhouse, candidate.project_id, candidate.id, None, None, gates,
                             confidence=1.5)


async def test_flaky_items_are_the_cells_whose_verdict_flips(engine_deps: EngineDeps, answer_key: Path) -> None:
    """A model failing 30 % of its requests (seeded per request, so repetitions of one item differ): each item whose
    repetitions both passed and failed is listed, with how often it passed."""
    gates = [{"score": "overall", "min": 0.1}]
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = gated_spec(mock.base_url, FAST + "&fault_rates=" + quote('{"500": 0.3}'), gates, items=20,
                          repetitions=3)
        run = await run_spec(engine_deps, spec)
        report = await gate(engine_deps, spec, run, None)
    statuses: dict[str, list[bool]] = {}
    for row in await event_rows(engine_deps, run.id, "item_id, status"):
        statuses.setdefault(row["item_id"], []).append(row["status"] == "ok")
    expected = {item: sum(oks) for item, oks in statuses.items() if 0 < sum(oks) < len(oks)}
    assert expected  # 20 items x 3 repetitions at a 30 % failure rate: some flip (seeded, so always the same)
    assert report.flaky is not None and report.flaky.total == 2 * len(expected)  # overall and hit
    listed = {(item.evaluator, item.item_id): (item.passed, item.repetitions) for item in report.flaky.items}
    assert listed == {(evaluator, item): (passed, 3) for item, passed in expected.items()
                      for evaluator in ("overall", "hit")}
    assert [item.evaluator for item in report.flaky.items] == ["overall"] * len(expected) + ["hit"] * len(expected)
    assert_valid_junit(junit_xml(report))
    flaky = report.flaky.items[0]
    assert (f"| overall | {flaky.item_id} | m | qa@v1 | {flaky.params_hash} | {flaky.passed} of 3 |"
            in markdown(report))


def score_row(run: UUID, pass_: UUID, item: str, repetition: int, passed: bool, *, evaluator: str = "overall",
              score_name: str | None = None, counterpart: str = "", model: str = "m") -> ScoreRow:
    return ScoreRow(project_id=PROJECT_ID, run_id=run, experiment_id=uuid.uuid4(), pass_id=pass_,
                    event_id=uuid.uuid5(run, f"{item}/{repetition}/{model}"), ts=BASE_TS, item_id=item,
                    repetition=repetition, load_phase="main", model=model, prompt_version="v1", params_hash="p0",
                    evaluator=evaluator, evaluator_type="pairwise" if counterpart else "contains",
                    score_name=score_name or evaluator, weight=1.0, value=1.0 if passed else 0.0, passed=passed,
                    label="", reason="", counterpart=counterpart)


async def test_flaky_items_from_stored_scores(engine_deps: EngineDeps) -> None:
    run, pass_, other_pass = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    verdicts = {"a": (True, True, False), "b": (True, True, True), "c": (False, False, True), "d": (False,) * 3}
    rows = [score_row(run, pass_, item, rep, passed) for item, flips in verdicts.items()
            for rep, passed in enumerate(flips)]
    rows += [score_row(run, pass_, item, rep, passed, evaluator="hit") for item, flips in verdicts.items()
             for rep, passed in enumerate(flips) if item != "c"]
    rows += [score_row(run, pass_, "b", rep, rep == 0, model="other") for rep in range(2)]  # another cell
    # Not verdicts of the cell: a pairwise comparison, a sub-score, another scoring pass.
    rows += [score_row(run, pass_, "b", rep, rep == 1, evaluator="pref", counterpart="other") for rep in range(3)]
    rows += [score_row(run, pass_, "b", rep, rep == 1, evaluator="f1", score_name="f1/recall") for rep in range(3)]
    rows += [score_row(run, other_pass, "b", rep, rep == 1) for rep in range(3)]
    await engine_deps.clickhouse.insert("scores", [row.as_row() for row in rows], SCORE_COLUMNS, caller="tests")
    found = await flaky_items(engine_deps.clickhouse, PROJECT_ID, run, pass_)
    assert found.total == 4 and found.limit == 100
    assert [(i.evaluator, i.item_id, i.model, i.passed, i.repetitions) for i in found.items] == [
        ("overall", "a", "m", 2, 3), ("overall", "b", "other", 1, 2), ("overall", "c", "m", 1, 3),
        ("hit", "a", "m", 2, 3)]
    first = await flaky_items(engine_deps.clickhouse, PROJECT_ID, run, pass_, limit=2)
    assert first.total == 4 and [(i.evaluator, i.item_id) for i in first.items] == [("overall", "a"), ("overall", "b")]
    other = await flaky_items(engine_deps.clickhouse, PROJECT_ID, run, other_pass)  # its own verdicts only
    assert [(i.evaluator, i.item_id, i.passed, i.repetitions) for i in other.items] == [("overall", "b", 1, 3)]


# -- verdict rules on chosen values --------------------------------------------------------------------------

BASELINE_RUN = uuid.UUID("00000000-0000-4000-8000-00000000000b")
CANDIDATE_RUN = uuid.UUID("00000000-0000-4000-8000-00000000000c")


async def insert_ttfts(deps: EngineDeps, run: UUID, ttfts: list[float]) -> None:
    columns = await table_columns(deps.clickhouse)
    rows = [event_row(columns, n, run_id=run, event_id=uuid.uuid5(run, str(n)), ttft_ms=value,
                      ts=BASE_TS + timedelta(milliseconds=n)) for n, value in enumerate(ttfts)]
    await deps.clickhouse.insert("request_events", rows, columns, caller="tests")


async def judge(deps: EngineDeps, baseline: list[float], candidate: list[float], *gates: GateSpec) -> GateReport:
    await insert_ttfts(deps, BASELINE_RUN, baseline)
    await insert_ttfts(deps, CANDIDATE_RUN, candidate)
    return await evaluate_gates(deps.clickhouse, PROJECT_ID, CANDIDATE_RUN, None, (BASELINE_RUN, None), gates)


async def test_a_change_beyond_the_tolerance_that_is_not_significant_passes(engine_deps: EngineDeps) -> None:
    # The candidate's median is 15 % up, but half its values are the baseline's: the interval reaches 0.
    report = await judge(engine_deps, [100.0] * 100, [100.0] * 50 + [130.0] * 50,
                         GateSpec(name="p50", metric="ttft_ms", stat="p50", regression="10 %"),
                         GateSpec(name="mean", metric="ttft_ms", stat="mean", regression="10 %"),
                         GateSpec(name="abs", metric="ttft_ms", stat="mean", regression=20.0))
    p50, mean, absolute = report.results
    assert (p50.candidate, p50.baseline, p50.delta) == (115.0, 100.0, 15.0)
    assert p50.delta_low is not None and p50.delta_low <= 10 < 15 <= (p50.delta_high or 0)
    assert p50.verdict == PASS and "not significant, the interval reaches within the tolerance 10 %" in p50.message
    # The mean moves by 15 ms too, but with every value drawn from two, its interval is narrow: beyond 10 ms.
    assert mean.verdict == FAIL and mean.delta_low is not None and mean.delta_low > 10
    assert absolute.verdict == PASS and "within the tolerance +20.00 ms" in absolute.message


async def test_an_improvement_passes_whatever_its_size(engine_deps: EngineDeps) -> None:
    report = await judge(engine_deps, [200.0 + n % 7 for n in range(50)], [100.0 + n % 7 for n in range(50)],
                         GateSpec(name="p50", metric="ttft_ms", stat="p50", regression="1 %"))
    [result] = report.results
    assert result.verdict == PASS and result.delta == -100 and (result.delta_high or 0) < 0
    assert result.relative_delta == pytest.approx(-100 / 203)


async def test_the_same_rows_give_the_same_report(engine_deps: EngineDeps) -> None:
    values = [100.0 + (n * 37) % 23 for n in range(300)]
    gates = (GateSpec(name="p95", metric="ttft_ms", stat="p95", regression="5 %"),
             GateSpec(name="p90", metric="ttft_ms", stat="p90", regression="5 %", max=1000.0))
    first = await judge(engine_deps, values, [v + 3 for v in values], *gates)
    again = await evaluate_gates(engine_deps.clickhouse, PROJECT_ID, CANDIDATE_RUN, None, (BASELINE_RUN, None),
                                 gates)
    assert first == again
    other_seed = await evaluate_gates(engine_deps.clickhouse, PROJECT_ID, CANDIDATE_RUN, None,
                                      (BASELINE_RUN, None), gates, seed=7)
    assert [r.delta for r in other_seed.results] == [r.delta for r in first.results]


# -- the bootstrap ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "level"), [(7, 0.9), (8, 0.5), (12, 0.95), (5, 0.99), (1, 0.5)])
def test_bootstrap_quantiles_match_resampling(n: int, level: float) -> None:
    values = np.random.default_rng(n).lognormal(3, 0.5, size=n)
    draws = bootstrap_quantiles(values, level, 200_000, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    brute = np.quantile(values[rng.integers(0, n, size=(200_000, n))], level, axis=1)
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert np.quantile(draws, q) == pytest.approx(np.quantile(brute, q), rel=0.02)
    assert draws.mean() == pytest.approx(brute.mean(), rel=0.01)


def test_bootstrap_means_and_rates() -> None:
    rng = np.random.default_rng(0)
    few = np.array([0.0, 0.5, 1.0] * 10)
    assert bootstrap_means(few, 50_000, rng).std() == pytest.approx(few.std() / math.sqrt(few.size), rel=0.03)
    many = rng.normal(10, 2, size=500)
    assert bootstrap_means(many, 20_000, rng).std() == pytest.approx(many.std() / math.sqrt(500), rel=0.05)
    rates = bootstrap_rates(30, 100, 50_000, rng)
    assert rates.mean() == pytest.approx(0.3, abs=0.005) and rates.std() == pytest.approx(math.sqrt(0.21 / 100),
                                                                                           rel=0.03)


def test_needed_samples() -> None:
    assert [needed_samples(stat) for stat in ("p50", "p90", "p95", "p99", "mean", "pass_rate", None)] == [
        20, 100, 200, 1000, 20, 20, 20]
