"""Run mutations and live subscriptions through the ASGI app, against the mock LLM and real stores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes, gql, subscribe
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.mock_pause import frozen
from tests.helpers.polling import wait_until

START = "mutation($id: ID!) { startRun(input: {experimentId: $id}) { run { id status } } }"
CANCEL = "mutation($id: ID!) { cancelRun(id: $id) { run { id status cancelRequested } } }"
RESUME = "mutation($id: ID!) { resumeRun(id: $id) { run { id status } } }"
RUN = """query($id: ID!) { run(id: $id) { status progress { planned completed failed } summary clientSaturated
  experiment { name } } }"""
PROGRESS = """subscription($id: ID!) { runProgress(runId: $id) {
  sequence status done total failed requestsPerSecond ttftP50Ms snapshot gap } }"""
REQUESTS = """subscription($id: ID!, $replay: Int!) { runRequests(runId: $id, replay: $replay) {
  replay gap missed requests { eventId itemId status ttftMs e2eMs completionTokens output model } } }"""


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=6) as server:
        yield server


async def store_experiment(pg: asyncpg.Connection, spec: dict[str, Any]) -> str:
    registered = await register_experiment(pg, load_spec(spec), SecretBox(Fernet.generate_key()))
    return encode_global_id("Experiment", registered.experiment_id)


@pytest.fixture
async def quick_experiment(pg: asyncpg.Connection, mock: MockLLM) -> str:
    return await store_experiment(pg, mock_spec(mock.base_url, items=4, repetitions=2))


def wait_for_end(client: TestClient, run_id: str) -> list[dict[str, Any]]:
    """Follow the run's progress subscription to its end; returns its events."""
    return subscribe(client, PROGRESS, id=run_id)


def next_payload(ws: Any) -> dict[str, Any] | None:
    """The subscription's next `next` payload, or None once it completed."""
    while True:
        message = ws.receive_json()
        if message["type"] == "next":
            return message["payload"]
        if message["type"] == "complete":
            return None
        assert message["type"] != "error", message


def start_and_follow(client: TestClient, mock: MockLLM, experiment: str, query: str,
                     **variables: Any) -> tuple[str, list[dict[str, Any]]]:
    """Start a run and subscribe to it (`$id`) while the mock is frozen, so the subscription has certainly
    joined, and sent its first payload, before the run could finish a request; then let the run go and
    return the run's id and every payload until the subscription completes."""
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        with frozen(mock):
            run_id = data(client, START, id=experiment)["startRun"]["run"]["id"]
            ws.send_json({"id": "1", "type": "subscribe",
                          "payload": {"query": query, "variables": {**variables, "id": run_id}}})
            payloads = [next_payload(ws)]
        while (payload := next_payload(ws)) is not None:
            payloads.append(payload)
    return run_id, payloads


def test_start_run_streams_progress_from_current_state_to_the_end(client: TestClient, mock: MockLLM,
                                                                   quick_experiment: str) -> None:
    run_id, payloads = start_and_follow(client, mock, quick_experiment, PROGRESS)
    events = [p["data"]["runProgress"] for p in payloads]
    first, live = events[0], events[1:]
    assert first["snapshot"] is True and first["sequence"] == 0 and first["done"] == 0
    assert first["status"] in ("QUEUED", "RUNNING")
    assert live, "the subscription must deliver live updates, not only the snapshot"
    assert [e["sequence"] for e in live] == sorted(e["sequence"] for e in live)
    assert live[-1]["status"] == "COMPLETED" and live[-1]["done"] == 8 and live[-1]["total"] == 8
    finished = data(client, RUN, id=run_id)["run"]
    assert finished["status"] == "COMPLETED" and finished["progress"]["completed"] == 8
    assert finished["summary"] and finished["experiment"]["name"] == "engine-test"
    again = subscribe(client, PROGRESS, id=run_id)  # a finished run: its final state, then the end
    assert len(again) == 1 and again[0]["data"]["runProgress"]["status"] == "COMPLETED"


def test_run_requests_feed_delivers_every_finished_request(client: TestClient, mock: MockLLM,
                                                           quick_experiment: str) -> None:
    run_id, payloads = start_and_follow(client, mock, quick_experiment, REQUESTS, replay=500)
    batches = [p["data"]["runRequests"] for p in payloads]
    joined, live = batches[0], batches[1:]
    assert joined["replay"] is True and joined["requests"] == []  # joined before any request could finish
    requests = [r for b in live for r in b["requests"]]
    assert not any(b["gap"] or b["replay"] for b in live)
    assert len(requests) == 8 and len({r["eventId"] for r in requests}) == 8  # every one, live, once
    assert data(client, RUN, id=run_id)["run"]["progress"]["completed"] == 8
    assert all(r["status"] == "ok" and r["ttftMs"] > 0 and r["completionTokens"] == 6 for r in requests)
    assert all(r["output"] for r in requests)
    replayed = subscribe(client, REQUESTS, id=run_id, replay=500)
    assert len(replayed) == 1 and replayed[0]["data"]["runRequests"]["replay"] is True
    assert {r["eventId"] for r in replayed[0]["data"]["runRequests"]["requests"]} == {r["eventId"] for r in requests}


def test_cancel_is_guarded_and_idempotent(client: TestClient, mock: MockLLM, quick_experiment: str) -> None:
    with frozen(mock):  # nothing can be answered before the cancel lands
        run_id = data(client, START, id=quick_experiment)["startRun"]["run"]["id"]
        cancelled = data(client, CANCEL, id=run_id)["cancelRun"]["run"]
    assert cancelled["status"] == "CANCELLED" or (cancelled["status"] == "RUNNING" and cancelled["cancelRequested"])
    events = wait_for_end(client, run_id)
    assert events[-1]["data"]["runProgress"]["status"] == "CANCELLED"
    final = data(client, RUN, id=run_id)["run"]
    assert final["status"] == "CANCELLED" and final["progress"]["completed"] == 0  # no request sent after it
    assert data(client, CANCEL, id=run_id)["cancelRun"]["run"]["status"] == "CANCELLED"  # twice: no-op success

    done_id = data(client, START, id=quick_experiment)["startRun"]["run"]["id"]
    wait_for_end(client, done_id)
    body = gql(client, CANCEL, id=done_id)
    assert error_codes(body) == ["CONFLICT"] and "completed" in body["errors"][0]["message"]
    body = gql(client, RESUME, id=done_id)
    assert error_codes(body) == ["CONFLICT"] and "only interrupted runs" in body["errors"][0]["message"]


RUN_QUEUED = "query($id: ID!) { run(id: $id) { status queuePosition } }"
REQUEST_IDS = "query($id: ID!) { run(id: $id) { requests(first: 100) { nodes { eventId status } } } }"


async def test_resume_completes_a_partial_run_without_resending_recorded_requests(
        client: TestClient, pg: asyncpg.Connection) -> None:
    # "held" requests are answered 429 with a Retry-After of 10 minutes, once per request (fault_times=1):
    # the run sends them, records none of them and cannot finish, whatever the machine's speed; when resumed,
    # their second attempt is answered normally.
    held = "mock-llm?fault=429&fault_times=1&retry_after_s=600"
    concurrency = 3
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=6) as mock:
        spec = mock_spec(mock.base_url, name="partial", items=3, models={"m": "mock-llm", "held": held},
                         load={"profile": "concurrent", "concurrency": concurrency},
                         retries={"max_attempts": 2, "backoff_s": 0, "max_backoff_s": 600})
        run_id = data(client, START, id=await store_experiment(pg, spec))["startRun"]["run"]["id"]

        def rate_limited() -> set[str]:
            return {r["request_id"] for r in mock.ground_truth() if r["status"] == 429}

        def progress() -> dict[str, Any]:
            return data(client, RUN, id=run_id)["run"]["progress"]

        wait_until(lambda: progress()["completed"] == 3 and len(rate_limited()) == 3,
                   "the 3 plain requests recorded and the 3 held ones waiting to retry")
        in_flight = rate_limited()
        # The server's worker stops (as at shutdown): it hands the run back to the queue, first in line.
        client.portal.call(client.app.state.runtime.runs.stop_workers)
        stopped = data(client, RUN_QUEUED, id=run_id)["run"]
        assert stopped["status"] == "QUEUED" and stopped["queuePosition"] == 1, stopped
        recorded = {r["eventId"] for r in data(client, REQUEST_IDS, id=run_id)["run"]["requests"]["nodes"]}
        assert len(recorded) == 3 and not recorded & in_flight

        client.portal.call(client.app.state.runtime.start_workers)  # a worker again: it resumes the run
        assert wait_for_end(client, run_id)[-1]["data"]["runProgress"]["status"] == "COMPLETED"
        truth = [r for r in mock.ground_truth() if r["path"].endswith("/chat/completions")]
    final = data(client, RUN, id=run_id)["run"]
    assert final["status"] == "COMPLETED" and final["progress"]["planned"] == final["progress"]["completed"] == 6
    rows = data(client, REQUEST_IDS, id=run_id)["run"]["requests"]["nodes"]
    events = {r["eventId"] for r in rows}
    assert len(rows) == len(events) == 6 and all(r["status"] == "ok" for r in rows)
    assert recorded < events
    sends = Counter(r["request_id"] for r in truth)
    assert set(sends) == events
    assert all(sends[event] == 1 for event in recorded), "a request recorded before the interruption was resent"
    resent = {event for event, n in sends.items() if n > 1}
    assert resent == in_flight and len(resent) <= concurrency and max(sends.values()) == 2


def test_run_mutation_input_errors(client: TestClient) -> None:
    body = gql(client, START, id=encode_global_id("Run", __import__("uuid").UUID(int=1)))
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "expected the id of an Experiment, got the id of a Run" in body["errors"][0]["message"]
    body = gql(client, START, id=encode_global_id("Experiment", __import__("uuid").UUID(int=1)))
    assert error_codes(body) == ["NOT_FOUND"]
    body = gql(client, CANCEL, id="nonsense")
    assert error_codes(body) == ["BAD_USER_INPUT"]
