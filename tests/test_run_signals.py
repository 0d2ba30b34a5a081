"""Signal drills on `benchlab run` as a real process on embedded stores (issue: crash and signal handling).

Each drill checks what a user relies on: the run's final status, the exit status, that every request the run
counted has its row (nothing received is lost, nothing is stored twice), and that no PostgreSQL is left behind.
Every wait is bounded; none of the assertions depends on how fast this machine is.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.cli_process import SIGINT_STATUS, SIGTERM_STATUS, CliProcess, stored_rows
from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.server_process import postgres_processes

ITEMS = 40
CONCURRENCY = 4
SLOW = {"ttft_ms": 300, "gap_ms": 30, "output_tokens": 10}  # about 0.6 s per request: always some in flight


def spec_file(tmp_path: Path, mock: MockLLM, **load: Any) -> Path:
    spec = mock_spec(mock.base_url, items=ITEMS, load={"profile": "concurrent", "concurrency": CONCURRENCY, **load},
                     retries={"max_attempts": 1})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def start_run(tmp_path: Path, spec: Path, *extra: str) -> CliProcess:
    return CliProcess(["run", str(spec), "--json", *extra], {"BENCHLAB_DATA_DIR": str(tmp_path / "data")},
                      tmp_path / "logs")


def wait_for_requests_in_flight(run: CliProcess, mock: MockLLM, finished: int = CONCURRENCY) -> None:
    """The run has started and `finished` requests are done, so (closed loop) CONCURRENCY more are in flight."""
    run.wait_until(lambda: "started" in run.stderr and len(mock.ground_truth()) >= finished, 120,
                   "requests in flight")


def assert_no_postgres_left(tmp_path: Path) -> None:
    deadline = time.monotonic() + 10
    while postgres_processes(tmp_path / "data" / "postgres") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres_processes(tmp_path / "data" / "postgres") == []


def assert_every_counted_request_is_stored(tmp_path: Path, report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = stored_rows(tmp_path / "data", report["runId"], "event_id, status")
    assert len(rows) == report["completedRequests"] > 0
    assert len({row["event_id"] for row in rows}) == len(rows)
    return rows


def test_ctrl_c_once_cancels_and_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    with run_mock_llm(**SLOW) as mock:
        run = start_run(tmp_path, spec_file(tmp_path, mock))
        wait_for_requests_in_flight(run, mock)
        run.signal_group(signal.SIGINT)
        status = run.wait(60)
        sent = len(mock.ground_truth())
    assert status == 1, run.stderr
    report = run.json_report()
    assert report["status"] == "cancelled"
    assert "cancelling" in run.stderr and "Traceback" not in run.stderr
    rows = assert_every_counted_request_is_stored(tmp_path, report)
    assert len(rows) == sent < ITEMS  # the requests in flight finished, and were stored
    assert all(row["status"] == "ok" for row in rows)
    assert_no_postgres_left(tmp_path)


def test_ctrl_c_twice_stops_at_once_keeps_what_was_received_and_the_run_resumes(tmp_path: Path) -> None:
    with run_mock_llm(**SLOW) as mock:
        spec = spec_file(tmp_path, mock)
        run = start_run(tmp_path, spec)
        wait_for_requests_in_flight(run, mock)
        run.signal_group(signal.SIGINT)
        run.wait_until(lambda: "cancelling" in run.stderr, 10, "the cancel message")
        run.signal_group(signal.SIGINT)  # while the requests in flight are still streaming
        run.wait_until(lambda: "stopping at once" in run.stderr, 10, "the stop message")
        run.signal_group(signal.SIGINT)  # a third one: a message, nothing else
        status = run.wait(10)  # it takes about 1.3 s here; the bound only tells "stops" from "hangs"
        report = run.json_report()
        assert status == SIGINT_STATUS, run.stderr
        assert report["status"] == "interrupted"
        assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
        assert f"benchlab run --resume {report['runId']}" in run.stderr
        before = assert_every_counted_request_is_stored(tmp_path, report)
        assert len(before) < ITEMS
        assert_no_postgres_left(tmp_path)

        resumed = CliProcess(["run", "--resume", report["runId"], "--json"],
                             {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, tmp_path / "logs")
        assert resumed.wait(180) == 0, resumed.stderr
        sent = len(mock.ground_truth())
    final = resumed.json_report()
    assert final["status"] == "completed" and final["completedRequests"] == ITEMS
    rows = stored_rows(tmp_path / "data", report["runId"], "event_id")
    assert len(rows) == len({row["event_id"] for row in rows}) == ITEMS
    assert sent <= ITEMS + CONCURRENCY  # only the requests dropped in flight were sent again
    assert_no_postgres_left(tmp_path)


def test_sigterm_is_a_graceful_cancel(tmp_path: Path) -> None:
    with run_mock_llm(**SLOW) as mock:
        run = start_run(tmp_path, spec_file(tmp_path, mock))
        wait_for_requests_in_flight(run, mock)
        run.process.send_signal(signal.SIGTERM)  # a supervisor signals the process only
        status = run.wait(60)
        sent = len(mock.ground_truth())
    assert status == 1, run.stderr
    report = run.json_report()
    assert report["status"] == "cancelled"
    assert len(assert_every_counted_request_is_stored(tmp_path, report)) == sent
    assert_no_postgres_left(tmp_path)


@pytest.mark.parametrize("after_initdb_s", [0.0, 0.1, 0.25, 0.5])  # across PostgreSQL's start, whatever it takes
def test_sigterm_while_starting_stops_before_the_run_and_leaves_no_postgres(tmp_path: Path,
                                                                            after_initdb_s: float) -> None:
    with run_mock_llm(**SLOW) as mock:
        run = start_run(tmp_path, spec_file(tmp_path, mock))
        run.wait_until(lambda: (tmp_path / "data" / "postgres" / "PG_VERSION").exists(), 60, "initdb")
        time.sleep(after_initdb_s)
        run.process.send_signal(signal.SIGTERM)
        status = run.wait(60)
        assert mock.ground_truth() == []
    assert status == SIGTERM_STATUS, run.stderr
    assert "stopped before the run started" in run.stderr and "Traceback" not in run.stderr
    assert_no_postgres_left(tmp_path)


@pytest.mark.parametrize("fault_rate", [0.25])
def test_kill_9_then_resume_summarises_the_run_as_if_it_never_stopped(tmp_path: Path, fault_rate: float) -> None:
    with run_mock_llm(ttft_ms=80, gap_ms=10, output_tokens=6, fault_rates={"500": fault_rate}) as mock:
        spec = spec_file(tmp_path, mock)
        started = time.monotonic()
        run = start_run(tmp_path, spec)
        wait_for_requests_in_flight(run, mock, finished=ITEMS // 3)
        run.process.kill()
        run.wait(10)
        first_execution_s = time.monotonic() - started
        run_id = next(line.split()[1] for line in run.stderr.splitlines() if line.startswith("run "))
        time.sleep(2)  # a pause that must not count as part of the run
        started = time.monotonic()
        resumed = CliProcess(["run", "--resume", run_id, "--json"], {"BENCHLAB_DATA_DIR": str(tmp_path / "data")},
                             tmp_path / "logs")
        assert resumed.wait(180) == 0, resumed.stderr
        second_execution_s = time.monotonic() - started
    report = resumed.json_report()
    rows = stored_rows(tmp_path / "data", run_id, "event_id, status, error_type, ttft_ms, e2e_ms")
    assert len(rows) == len({row["event_id"] for row in rows}) == ITEMS
    errors = [row for row in rows if row["status"] != "ok"]
    assert errors, "the drill needs some failed requests"
    assert report["completedRequests"] == ITEMS and report["failedRequests"] == len(errors)

    [group] = report["summary"]["groups"]
    ok = sorted(float(row["ttft_ms"]) for row in rows if row["status"] == "ok")
    assert group["requests"] == ITEMS and group["succeeded"] == len(ok)
    assert group["errors"] == {"server_error": len(errors)}
    assert group["ttft_ms"]["count"] == len(ok)
    assert group["ttft_ms"]["p50"] == pytest.approx(interpolated(ok, 0.5), abs=1e-3)
    assert group["ttft_ms"]["max"] == pytest.approx(ok[-1], abs=1e-3)
    assert report["summary"]["errors"][0]["requests"] == len(errors)
    window_s = report["summary"]["window"]["seconds"]
    assert 0 < window_s <= first_execution_s + second_execution_s  # the pause in between is not counted


def interpolated(ordered: list[float], q: float) -> float:
    """ClickHouse's quantileExactInclusive (numpy's default): linear between the two nearest sorted values."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])
