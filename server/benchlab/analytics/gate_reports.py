"""A gate report (`gates.GateReport`) as JUnit XML, Markdown and JSON: pure functions, no I/O.

- `junit_xml`: the JUnit format CI servers read (Jenkins, GitLab, GitHub test reporters): one `<testsuites>`
  holding one `<testsuite>`, one `<testcase>` per gate × group (`classname` the gate's name, `name` its group,
  `overall` for the whole run). A failed gate carries `<failure type="gate">` whose message is the result's
  one-line message with the numbers; an inconclusive one carries `<failure type="inconclusive">` when the gate's
  `inconclusive` is `fail`, else `<skipped>`. Every test case has its message as `<system-out>`; the suite's
  `<system-out>` lists the flaky items. `tests/data/junit.xsd` describes the format; a test validates against it.
- `markdown`: a compact table for a pull-request comment or `$GITHUB_STEP_SUMMARY` (gate, group, limit,
  baseline, candidate, delta with its interval, verdict), the messages of what did not pass, then the flaky items.
- `as_json`: the report as JSON-ready values (ids as strings), with `passed` and the counts.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from typing import Any

from benchlab.analytics.gates import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    FlakyItem,
    GateReport,
    GateResult,
    format_change,
    format_interval,
    format_value,
)
from benchlab.spec.gates import RATE

SUITE_NAME = "benchlab quality gates"
_ICONS = {PASS: "✅ pass", FAIL: "❌ fail", INCONCLUSIVE: "⚠️ inconclusive"}


def junit_xml(report: GateReport, *, suite_name: str = SUITE_NAME) -> str:
    """The report as a JUnit XML document (UTF-8, with its XML declaration)."""
    failures = sum(1 for result in report.results if _junit_outcome(result) == "failure")
    skipped = sum(1 for result in report.results if _junit_outcome(result) == "skipped")
    counts = {"tests": str(len(report.results)), "failures": str(failures), "errors": "0", "skipped": str(skipped),
              "time": "0"}
    root = ET.Element("testsuites", {"name": suite_name, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"{suite_name}: run {report.candidate_run_id}", **counts})
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(report):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for result in report.results:
        case = ET.SubElement(suite, "testcase", {"name": result.group_label, "classname": result.gate, "time": "0"})
        outcome = _junit_outcome(result)
        if outcome == "failure":
            failure = ET.SubElement(case, "failure", {"message": result.message,
                                                      "type": "gate" if result.verdict == FAIL else INCONCLUSIVE})
            failure.text = _details(result)
        elif outcome == "skipped":
            ET.SubElement(case, "skipped", {"message": result.message})
        ET.SubElement(case, "system-out").text = result.message
    if report.flaky is not None and report.flaky.total:
        ET.SubElement(suite, "system-out").text = "\n".join(_flaky_lines(report))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_outcome(result: GateResult) -> str:
    """failure | skipped | passed."""
    if result.verdict == FAIL or (result.verdict == INCONCLUSIVE and result.blocking):
        return "failure"
    return "skipped" if result.verdict == INCONCLUSIVE else "passed"


def _properties(report: GateReport) -> list[tuple[str, str]]:
    pairs = [("project_id", report.project_id), ("candidate_run_id", report.candidate_run_id),
             ("candidate_pass_id", report.candidate_pass_id), ("baseline_run_id", report.baseline_run_id),
             ("baseline_pass_id", report.baseline_pass_id), ("confidence", report.confidence),
             ("seed", report.seed), ("resamples", report.resamples)]
    return [(name, str(value)) for name, value in pairs if value is not None]


def _details(result: GateResult) -> str:
    """The numbers of a result, one per line, for a failure's body."""
    lines = [result.message, f"gate: {result.gate} ({result.limits})", f"group: {result.group_label}",
             f"candidate: {format_value(result.candidate, result.unit)} over {result.candidate_n}"]
    if result.baseline_n is not None:
        lines.append(f"baseline: {format_value(result.baseline, result.unit)} over {result.baseline_n}")
    if result.delta is not None:
        lines.append(f"delta: {_delta(result)}")
    if result.tolerance is not None:
        lines.append(f"tolerance: {format_value(result.tolerance, result.unit)}")
    if result.verdict == INCONCLUSIVE:
        lines.append(f"needed per side: {result.needed_n}")
    return "\n".join(lines)


def markdown(report: GateReport, *, title: str = "Quality gates") -> str:
    """A Markdown summary: heading with the outcome, the table, what did not pass, the flaky items."""
    outcome = "passed ✅" if report.passed else "failed ❌"
    counts = ", ".join(f"{report.counts[verdict]} {word}" for verdict, word in
                       ((PASS, "passed"), (FAIL, "failed"), (INCONCLUSIVE, "inconclusive")))
    against = (f" against baseline run `{report.baseline_run_id}`" if report.baseline_run_id is not None
               else " (no baseline)")
    lines = [f"### {title}: {outcome}", "",
             f"Run `{report.candidate_run_id}`{against}: {counts}; {report.confidence:.0%} intervals."
             .replace("%", " %"), ""]
    if report.results:
        lines += ["| gate | group | limit | baseline | candidate | delta [interval] | verdict |",
                  "|:--|:--|:--|--:|--:|:--|:--|"]
        lines += [_row(result) for result in report.results]
        unresolved = [result for result in report.results if result.verdict != PASS]
        if unresolved:
            lines.append("")
            lines += [f"- **{_cell(result.gate)}** ({_cell(result.group_label)}): {_cell(result.message)}"
                      for result in unresolved]
    else:
        lines.append("No gates.")
    if report.flaky is not None and report.flaky.total:
        flaky = report.flaky
        lines += ["", f"#### Flaky items: {flaky.total} whose verdict differs between repetitions", "",
                  "| evaluator | item | model | prompt version | params | passed |", "|:--|:--|:--|:--|:--|--:|"]
        lines += ["| " + " | ".join(_cell(text) for text in (item.evaluator, item.item_id, item.model,
                                                               item.prompt_version, item.params_hash,
                                                               f"{item.passed} of {item.repetitions}")) + " |"
                  for item in flaky.items]
        if flaky.total > len(flaky.items):
            lines += ["", f"… and {flaky.total - len(flaky.items)} more."]
    return "\n".join(lines) + "\n"


def _row(result: GateResult) -> str:
    verdict = _ICONS[result.verdict]
    if result.verdict == INCONCLUSIVE:
        verdict += " (fails)" if result.blocking else " (allowed)"
    unit = result.unit
    cells = (result.gate, result.group_label, result.limits,
             format_value(result.baseline, unit) if result.baseline_n is not None else "",
             format_value(result.candidate, unit) + (f" ({result.candidate_n})" if result.candidate_n else ""),
             _delta(result) if result.delta is not None else "", verdict)
    return "| " + " | ".join(_cell(text) for text in cells) + " |"


def _delta(result: GateResult) -> str:
    text = format_change(result.delta, result.unit)
    if result.relative_delta is not None and result.unit != RATE:
        text += f" ({result.relative_delta:+.1%})".replace("%", " %")
    if result.delta_low is not None and result.delta_high is not None:
        text += f" {format_interval(result.delta_low, result.delta_high, result.unit)}"
    return text


def _cell(text: str) -> str:
    """Text as one Markdown table cell: pipes and backslashes escaped, HTML's special characters as entities (a
    name such as `<fast>` would otherwise be read as a tag), one line."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _flaky_lines(report: GateReport) -> list[str]:
    flaky = report.flaky
    if flaky is None:
        return []
    lines = [f"flaky items: {flaky.total} cells whose verdict differs between repetitions"]
    lines += [_flaky_line(item) for item in flaky.items]
    if flaky.total > len(flaky.items):
        lines.append(f"... and {flaky.total - len(flaky.items)} more")
    return lines


def _flaky_line(item: FlakyItem) -> str:
    return (f"{item.evaluator}: item {item.item_id}, model {item.model}, prompt version {item.prompt_version}, "
            f"params {item.params_hash}: passed {item.passed} of {item.repetitions}")


def as_json(report: GateReport) -> dict[str, Any]:
    """The report as JSON-ready values: ids as strings, every result with its figure and group label."""
    def identifier(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        "passed": report.passed,
        "counts": dict(report.counts),
        "project_id": identifier(report.project_id),
        "candidate": {"run_id": identifier(report.candidate_run_id),
                      "pass_id": identifier(report.candidate_pass_id)},
        "baseline": None if report.baseline_run_id is None else {
            "run_id": identifier(report.baseline_run_id), "pass_id": identifier(report.baseline_pass_id)},
        "confidence": report.confidence, "seed": report.seed, "resamples": report.resamples,
        "results": [{**dataclasses.asdict(result), "figure": result.figure, "group_label": result.group_label}
                    for result in report.results],
        "flaky": None if report.flaky is None else {
            "total": report.flaky.total, "limit": report.flaky.limit,
            "items": [dataclasses.asdict(item) for item in report.flaky.items]},
    }
