"""`benchlab run` as a user runs it: a spec file, embedded stores, JSON summary, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import run_cli


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_prints_a_json_summary_and_exits_0(tmp_path: Path) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=8) as mock:
        spec = write_spec(tmp_path / "spec.yaml", mock_spec(mock.base_url, items=3, repetitions=2,
                                                             slos={"ttft_ms": 1000}))
        result = run_cli(["run", str(spec), "--json"], {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed"
    [group] = report["summary"]["groups"]
    assert group["requests"] == group["succeeded"] == group["good_requests"] == 6
    assert group["ttft_ms"]["p50"] >= 20  # never below the mock's TTFT; how far above is for benchmarks
    assert "loop_lag_ms" in report["selfMeasurement"]
    assert "6/6" in result.stderr  # the progress line reached the end


def test_table_output_and_failed_run_exit_status(tmp_path: Path) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=25, models={"m": "mock-llm?fault=500"})
        spec["load"] = {"profile": "concurrent", "concurrency": 2, "max_error_rate": 0.5}
        result = run_cli(["run", str(write_spec(tmp_path / "spec.yaml", spec))],
                         {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, timeout=180)
    assert result.returncode == 1
    # The rule's decision and the final count, and each error class with its first message.
    assert "failed (stopped after 20 requests: error rate 100% exceeded max_error_rate 50% (" in result.stdout
    assert "requests failed: server_error x" in result.stdout
    assert "errors server_error: " in result.stdout and ": first " in result.stdout
    assert "TTFT p50" in result.stdout


def test_invalid_spec_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    spec = mock_spec("http://127.0.0.1:9/v1")
    spec["repetitions"] = 0
    spec["load"] = {"profile": "concurrent"}
    result = run_cli(["run", str(write_spec(tmp_path / "bad.yaml", spec))], {"BENCHLAB_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "repetitions" in result.stderr and "load.concurrency" in result.stderr
    assert not (tmp_path / "postgres").exists(), "nothing may start before the spec is valid"
