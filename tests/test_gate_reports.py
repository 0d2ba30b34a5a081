"""Gate reports (`analytics.gate_reports`): JUnit XML valid against tests/data/junit.xsd (the JUnit format CI
servers read), a Markdown table for a pull request, JSON; pure functions of a GateReport."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from benchlab.analytics.gate_reports import as_json, junit_xml, markdown
from benchlab.analytics.gates import FAIL, INCONCLUSIVE, PASS, FlakyItem, FlakyItems, GateReport, GateResult

SCHEMA_PATH = Path(__file__).parent / "data" / "junit.xsd"
CANDIDATE = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
BASELINE = uuid.UUID("00000000-0000-4000-8000-0000000000b1")


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA_PATH)


def assert_valid_junit(document: str) -> ET.Element:
    junit_schema().validate(document)
    return ET.fromstring(document.encode())


def result(gate: str, verdict: str, *, blocking: bool | None = None, group: dict[str, str] | None = None,
           message: str = "", **values: object) -> GateResult:
    fields: dict[str, Any] = {"subject": "ttft_ms", "kind": "metric", "stat": "p50", "unit": "ms",
                                 "limits": "regression 10 %", "candidate": 120.5, "candidate_n": 200,
                                 "inconclusive_policy": "fail"}
    fields.update(values)
    return GateResult(gate=gate, verdict=verdict, group=group or {},
                      blocking=verdict == FAIL if blocking is None else blocking,
                      message=message or f"{verdict}: {gate}", **fields)


def sample_report(*, flaky_total: int = 3) -> GateReport:
    results = (
        result("ttft_ms p50", FAIL, baseline=100.2, baseline_n=200, delta=20.3, relative_delta=0.2026,
               delta_low=19.8, delta_high=20.9, tolerance=10.02,
               message="fail: ttft_ms p50 120.50 ms (200): +20.30 ms (+20.3 %) vs baseline 100.20 ms (200), 95 % "
                       "interval [+19.80, +20.90] ms: worse beyond the tolerance 10 % (+10.02 ms)"),
        result("ttft_ms p95", PASS, baseline=110.0, baseline_n=200, delta=1.0, relative_delta=0.009,
               delta_low=-2.0, delta_high=3.5, tolerance=11.0),
        result("overall pass_rate", PASS, subject="overall", kind="score", stat="pass_rate", unit="fraction",
               group={"model": "strong", "params": "0a1b2c3d4e5f"}, candidate=0.75, baseline=0.8, baseline_n=120,
               delta=-0.05, delta_low=-0.16, delta_high=0.06, tolerance=0.02, limits="regression 2.0 pp"),
        result("p99 <fast> & \"sure\" | maybe", INCONCLUSIVE, blocking=False, candidate_n=3, needed_n=1000,
               inconclusive_policy="pass", message="inconclusive: p99 needs at least 1000 requests per side "
                                                   "(candidate 3) <&>"),
        result("error_rate", INCONCLUSIVE, blocking=True, subject="error_rate", stat=None, unit="fraction",
               candidate=None, candidate_n=0, message="inconclusive: error_rate: no values"),
    )
    items = (FlakyItem("overall", "q3", "strong", "qa@v1", "0a1b2c3d4e5f", 3, 2),
             FlakyItem("hit", "q|7", "weak", "qa@v1", "0a1b2c3d4e5f", 3, 1))
    return GateReport(project_id=uuid.uuid4(), candidate_run_id=CANDIDATE, candidate_pass_id=uuid.uuid4(),
                      baseline_run_id=BASELINE, baseline_pass_id=None, confidence=0.95, seed=0, resamples=2000,
                      results=results, flaky=FlakyItems(total=flaky_total, items=items, limit=2))


def test_junit_is_valid_and_carries_the_numbers() -> None:
    report = sample_report()
    document = junit_xml(report)
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = assert_valid_junit(document)
    assert root.attrib == {"name": "benchlab quality gates", "tests": "5", "failures": "2", "errors": "0",
                           "skipped": "1", "time": "0"}
    [suite] = root.findall("testsuite")
    assert {key: suite.attrib[key] for key in ("tests", "failures", "errors", "skipped")} == {
        "tests": "5", "failures": "2", "errors": "0", "skipped": "1"}
    properties = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert properties["candidate_run_id"] == str(CANDIDATE) and properties["baseline_run_id"] == str(BASELINE)
    assert "baseline_pass_id" not in properties
    cases = suite.findall("testcase")
    assert [(c.attrib["classname"], c.attrib["name"]) for c in cases] == [
        ("ttft_ms p50", "overall"), ("ttft_ms p95", "overall"),
        ("overall pass_rate", "model=strong, params=0a1b2c3d4e5f"), ('p99 <fast> & "sure" | maybe', "overall"),
        ("error_rate", "overall")]
    failure = cases[0].find("failure")
    assert failure is not None and failure.attrib["type"] == "gate"
    assert failure.attrib["message"] == report.results[0].message
    assert "delta: +20.30 ms (+20.3 %) [+19.80, +20.90] ms" in (failure.text or "")
    assert "baseline: 100.2 ms over 200" in (failure.text or "")
    assert cases[1].find("failure") is None and cases[1].find("skipped") is None
    skipped = cases[3].find("skipped")  # inconclusive, allowed by the gate
    assert skipped is not None and skipped.attrib["message"].endswith("(candidate 3) <&>")
    blocking = cases[4].find("failure")  # inconclusive, failing under inconclusive: fail
    assert blocking is not None and blocking.attrib["type"] == INCONCLUSIVE
    assert all(case.find("system-out") is not None for case in cases)
    suite_out = suite.find("system-out")
    assert suite_out is not None and "passed 2 of 3" in (suite_out.text or "") and "... and 1 more" in suite_out.text


def test_junit_of_an_empty_report_is_valid() -> None:
    report = GateReport(project_id=uuid.uuid4(), candidate_run_id=CANDIDATE, candidate_pass_id=None,
                        baseline_run_id=None, baseline_pass_id=None, confidence=0.95, seed=0, resamples=2000,
                        results=())
    root = assert_valid_junit(junit_xml(report))
    assert root.attrib["tests"] == "0" and root.find("testsuite/system-out") is None
    assert report.passed


def test_the_schema_rejects_what_ci_servers_would_misread() -> None:
    good = junit_xml(sample_report())
    junit_schema().validate(good)
    for broken in (good.replace('tests="5"', 'tests="five"', 1),                  # a count that is not one
                   good.replace('<testcase name="overall"', "<testcase", 1),      # a test case without a name
                   good.replace("</testsuites>", "<testsuite/></testsuites>"),    # a suite without a name
                   good.replace('time="0"', 'time="-1"', 1)):
        with pytest.raises(xmlschema.XMLSchemaValidationError):
            junit_schema().validate(broken)
    both = good.replace("<failure message=", '<skipped message="x" /><failure message=', 1)
    assert both != good
    with pytest.raises(xmlschema.XMLSchemaValidationError):  # one outcome per test case
        junit_schema().validate(both)


def test_markdown_table() -> None:
    text = markdown(sample_report())
    lines = text.splitlines()
    assert lines[0] == "### Quality gates: failed ❌"
    assert lines[2] == (f"Run `{CANDIDATE}` against baseline run `{BASELINE}`: 2 passed, 1 failed, 2 inconclusive; "
                        "95 % intervals.")
    assert "| gate | group | limit | baseline | candidate | delta [interval] | verdict |" in lines
    assert ("| ttft_ms p50 | overall | regression 10 % | 100.2 ms | 120.5 ms (200) | +20.30 ms (+20.3 %) "
            "[+19.80, +20.90] ms | ❌ fail |") in lines
    assert "| +1.000 ms (+0.9 %) [-2.000, +3.500] ms | ✅ pass |" in text
    assert ("| overall pass_rate | model=strong, params=0a1b2c3d4e5f | regression 2.0 pp | 80.0 % | 75.0 % (200) | "
            "-5.0 pp [-16.0, +6.0] pp | ✅ pass |") in lines
    assert '| p99 &lt;fast&gt; &amp; "sure" \\| maybe | overall |' in text  # no HTML tag, no extra column
    assert "⚠️ inconclusive (allowed)" in text and "⚠️ inconclusive (fails)" in text
    # What did not pass, with its message; then the flaky items.
    assert f"- **ttft_ms p50** (overall): {sample_report().results[0].message}" in lines
    assert "#### Flaky items: 3 whose verdict differs between repetitions" in lines
    assert r"| hit | q\|7 | weak | qa@v1 | 0a1b2c3d4e5f | 1 of 3 |" in lines
    assert lines[-1] == "… and 1 more."
    passing = GateReport(project_id=uuid.uuid4(), candidate_run_id=CANDIDATE, candidate_pass_id=None,
                         baseline_run_id=None, baseline_pass_id=None, confidence=0.9, seed=0, resamples=2000,
                         results=(sample_report().results[1],))
    text = markdown(passing)
    assert text.startswith("### Quality gates: passed ✅\n") and "(no baseline)" in text and "90 % intervals" in text
    assert "Flaky" not in text and "- **" not in text


def test_json_report() -> None:
    report = sample_report()
    document = as_json(report)
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert document["passed"] is False and document["counts"] == {PASS: 2, FAIL: 1, INCONCLUSIVE: 2}
    assert document["candidate"]["run_id"] == str(CANDIDATE) and document["baseline"] == {
        "run_id": str(BASELINE), "pass_id": None}
    first = document["results"][0]
    assert (first["gate"], first["verdict"], first["delta_low"], first["figure"], first["group_label"]) == (
        "ttft_ms p50", FAIL, 19.8, "ttft_ms p50", "overall")
    assert document["flaky"]["total"] == 3 and document["flaky"]["items"][0]["passed"] == 2
