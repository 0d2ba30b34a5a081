"""Quality gates from the command line, as a CI job runs them: baseline, `run --gate`, `gate`, reports, exits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xmlschema
import yaml

from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import run_cli

JUNIT_XSD = Path(__file__).parent / "data" / "junit.xsd"
GATES = [{"metric": "ttft_ms", "stat": "p50", "regression": "10 %", "name": "ttft"},
         {"metric": "error_rate", "max": "1 %", "name": "errors"},
         {"score": "overall", "min": 0.9, "name": "quality"}]


def gated_spec(base_url: str, model: str) -> dict[str, Any]:
    spec = mock_spec(base_url, items=25, models={"m": model}, load={"profile": "concurrent", "concurrency": 4})
    spec["name"] = "gated"
    spec["evaluators"] = [{"type": "contains", "value": "tok"}]
    spec["gates"] = GATES
    return spec


def test_a_ci_job_gates_runs_against_a_baseline(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}
    spec_path = tmp_path / "spec.yaml"
    with run_mock_llm(output_tokens=4) as mock:
        spec_path.write_text(yaml.safe_dump(gated_spec(mock.base_url, "mock-llm?ttft_ms=100&gap_ms=1")))
        first = run_cli(["run", str(spec_path), "--json"], env, timeout=240)
        assert first.returncode == 0, first.stderr
        baseline_run = json.loads(first.stdout)["runId"]
        marked = run_cli(["baseline", "set", baseline_run], env, timeout=120)
        assert marked.returncode == 0 and "baseline 'main'" in marked.stdout, marked.stderr
        same = run_cli(["run", str(spec_path), "--gate", "--junit", str(tmp_path / "j.xml"), "--markdown",
                        str(tmp_path / "m.md")], env, timeout=240)
        # The same mock, the same spec: every gate passes (a regression must be significant AND beyond 10 %).
        assert same.returncode == 0, same.stdout + same.stderr
        spec_path.write_text(yaml.safe_dump(gated_spec(mock.base_url, "mock-llm?ttft_ms=130&gap_ms=1")))
        slower = run_cli(["run", str(spec_path), "--gate", "--junit", str(tmp_path / "slow.xml")], env, timeout=240)
        failing = gated_spec(mock.base_url, "mock-llm?fault=500")
        spec_path.write_text(yaml.safe_dump(failing))
        broken = run_cli(["run", str(spec_path), "--gate"], env, timeout=240)
    assert "| ttft" in same.stdout and "pass" in same.stdout  # the Markdown table on stdout
    assert "| ttft" in (tmp_path / "m.md").read_text()
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    schema.validate(str(tmp_path / "j.xml"))
    schema.validate(str(tmp_path / "slow.xml"))
    assert slower.returncode == 3, slower.stdout + slower.stderr  # 30 % slower: the TTFT gate fails
    junit = (tmp_path / "slow.xml").read_text()
    assert 'failures="1"' in junit and "ttft" in junit
    assert broken.returncode == 4 and "cannot be gated" in broken.stderr  # the run failed: no verdict
    slow_run = slower.stdout.split()[1].rstrip(":")
    regated = run_cli(["gate", slow_run, "--baseline", baseline_run, "--json"], env, timeout=120)
    assert regated.returncode == 3
    report = json.loads(regated.stdout)
    verdicts = {r["gate"]: r["verdict"] for r in report["results"]}
    assert verdicts == {"ttft": "fail", "errors": "pass", "quality": "pass"}
    ttft = next(r for r in report["results"] if r["gate"] == "ttft")
    assert ttft["delta_low"] > ttft["tolerance"] > 0 and report["baseline"]["run_id"] == baseline_run


def test_gate_refuses_what_it_cannot_judge(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}
    with run_mock_llm(output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=2)
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        ran = run_cli(["run", str(path), "--json"], env, timeout=240)
    run_id = json.loads(ran.stdout)["runId"]
    no_gates = run_cli(["gate", run_id], env, timeout=120)
    assert no_gates.returncode == 2 and "has no gates" in no_gates.stderr
    unknown = run_cli(["baseline", "set", "00000000-0000-0000-0000-000000000001"], env, timeout=120)
    assert unknown.returncode == 2 and "no run with id" in unknown.stderr
