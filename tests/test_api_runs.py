"""Run mutations and live subscriptions through the ASGI app, against the mock LLM and real stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.engine.spec import load_spec
from benchlab.secrets import SecretBox
from benchlab.stores.catalog_repo import register_experiment
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes, gql, subscribe
from tests.helpers.mock_llm import MockLLM, run_mock_llm

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


@pytest.fixture
async def slow_experiment(pg: asyncpg.Connection, mock: MockLLM) -> str:
    return await store_experiment(pg, mock_spec(mock.base_url, name="slow", items=200,
                                                models={"m": "mock-llm?ttft_ms=100"}))


def wait_for_end(client: TestClient, run_id: str) -> dict[str, Any]:
    """Follow the run's progress subscription to its end; returns its events."""
    return subscribe(client, PROGRESS, id=run_id)


def test_start_run_streams_progress_from_current_state_to_the_end(client: TestClient, quick_experiment: str) -> None:
    run = data(client, START, id=quick_experiment)["startRun"]["run"]
    assert run["status"] in ("QUEUED", "RUNNING")
    events = [p["data"]["runProgress"] for p in wait_for_end(client, run["id"])]
    assert events[0]["snapshot"] is True and events[0]["sequence"] == 0
    live = events[1:]
    assert live, "the subscription must deliver live updates, not only the snapshot"
    assert [e["sequence"] for e in live] == sorted(e["sequence"] for e in live)
    assert live[-1]["status"] == "COMPLETED" and live[-1]["done"] == 8 and live[-1]["total"] == 8
    finished = data(client, RUN, id=run["id"])["run"]
    assert finished["status"] == "COMPLETED" and finished["progress"]["completed"] == 8
    assert finished["summary"] and finished["experiment"]["name"] == "engine-test"
    again = subscribe(client, PROGRESS, id=run["id"])  # a finished run: its final state, then the end
    assert len(again) == 1 and again[0]["data"]["runProgress"]["status"] == "COMPLETED"


def test_run_requests_feed_delivers_every_finished_request(client: TestClient, quick_experiment: str) -> None:
    run = data(client, START, id=quick_experiment)["startRun"]["run"]
    batches = [p["data"]["runRequests"] for p in subscribe(client, REQUESTS, id=run["id"], replay=0)]
    requests = [r for b in batches for r in b["requests"]]
    progress = data(client, RUN, id=run["id"])["run"]["progress"]
    # subscribed right after the start: it may miss what finished before it joined, never more
    assert 0 < len(requests) <= 8 and len({r["eventId"] for r in requests}) == len(requests)
    assert progress["completed"] == 8
    assert all(r["status"] == "ok" and r["ttftMs"] > 0 and r["completionTokens"] == 6 for r in requests)
    assert all(r["output"] for r in requests)
    replayed = subscribe(client, REQUESTS, id=run["id"], replay=500)
    assert len(replayed) == 1 and replayed[0]["data"]["runRequests"]["replay"] is True
    assert len(replayed[0]["data"]["runRequests"]["requests"]) == 8


def test_cancel_is_guarded_and_idempotent(client: TestClient, slow_experiment: str, quick_experiment: str) -> None:
    run_id = data(client, START, id=slow_experiment)["startRun"]["run"]["id"]
    cancelled = data(client, CANCEL, id=run_id)["cancelRun"]["run"]
    assert cancelled["status"] in ("CANCELLED", "RUNNING")
    events = wait_for_end(client, run_id)
    assert events[-1]["data"]["runProgress"]["status"] == "CANCELLED"
    final = data(client, RUN, id=run_id)["run"]
    assert final["status"] == "CANCELLED" and final["progress"]["completed"] < 200
    assert data(client, CANCEL, id=run_id)["cancelRun"]["run"]["status"] == "CANCELLED"  # twice: no-op success

    done_id = data(client, START, id=quick_experiment)["startRun"]["run"]["id"]
    wait_for_end(client, done_id)
    body = gql(client, CANCEL, id=done_id)
    assert error_codes(body) == ["CONFLICT"] and "completed" in body["errors"][0]["message"]
    body = gql(client, RESUME, id=done_id)
    assert error_codes(body) == ["CONFLICT"] and "only interrupted runs" in body["errors"][0]["message"]


async def test_resume_continues_an_interrupted_run(client: TestClient, quick_experiment: str,
                                                   pg: asyncpg.Connection) -> None:
    run_id = data(client, START, id=quick_experiment)["startRun"]["run"]["id"]
    wait_for_end(client, run_id)
    from benchlab.api.ids import decode_global_id

    _, db_id = decode_global_id(run_id)
    await pg.execute("UPDATE runs SET status = 'interrupted' WHERE id = $1", db_id)
    assert data(client, RESUME, id=run_id)["resumeRun"]["run"]["status"] in ("QUEUED", "RUNNING")
    events = wait_for_end(client, run_id)
    assert events[-1]["data"]["runProgress"]["status"] == "COMPLETED"
    final = data(client, RUN, id=run_id)["run"]
    assert final["progress"]["completed"] == 8  # everything was recorded already: nothing sent twice


def test_run_mutation_input_errors(client: TestClient) -> None:
    body = gql(client, START, id=encode_global_id("Run", __import__("uuid").UUID(int=1)))
    assert error_codes(body) == ["BAD_USER_INPUT"] and "expected the id of a Experiment" in body["errors"][0]["message"]
    body = gql(client, START, id=encode_global_id("Experiment", __import__("uuid").UUID(int=1)))
    assert error_codes(body) == ["NOT_FOUND"]
    body = gql(client, CANCEL, id="nonsense")
    assert error_codes(body) == ["BAD_USER_INPUT"]
