"""Scale-out with real processes on loopback: one API-only `benchlab serve` (embedded PostgreSQL and chDB) and two
`benchlab worker` processes on its data dir, which reach PostgreSQL through its socket and send their rows
through the server's ingest endpoint (they cannot open chDB, which the server holds).

Runs queue and are executed one per worker at a time; a queued run is cancelled before any worker takes it;
a worker killed with -9 mid-run loses its claim and the other worker resumes the run, and the run ends with
exactly the planned rows, no event id twice. Bounded in time throughout.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from benchlab.client.local_server import read_server_file
from benchlab.stores.embedded_postgres import EmbeddedPostgres
from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import BENCHLAB, ServerProcess, child_env, free_port

HEARTBEAT_TIMEOUT_S = 3
START = "mutation($id: ID!) { startRun(input: {experimentId: $id}) { run { id status queuePosition } } }"
CANCEL = "mutation($id: ID!) { cancelRun(id: $id) { run { status } } }"
RUN = "query($id: ID!) { run(id: $id) { status queuePosition progress { planned completed failed } } }"
EVENT_IDS = "query($id: ID!) { run(id: $id) { requests(first: 500) { nodes { eventId } } } }"


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body
        return body["data"]


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([*BENCHLAB, "worker"], env=child_env(env), stdout=log,
                                            stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(lambda: "benchlab worker ready" in self.output, f"worker ready:\n{self.output}", timeout)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path / "data"
    env = {"BENCHLAB_DATA_DIR": str(data_dir), "BENCHLAB_WORKER_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S)}
    with ServerProcess({**env, "BENCHLAB_WORKERS": "0"}, port=free_port()) as server:
        server.wait_ready()
        local = read_server_file(data_dir)
        assert local is not None and local.token
        workers = [WorkerProcess(env, tmp_path / f"worker-{n}.log") for n in range(2)]
        try:
            for worker in workers:
                worker.wait_ready()
            yield {"api": Api(server.base_url, local.token), "workers": workers, "server": server,
                   "database_url": EmbeddedPostgres(data_dir).url}
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.process.wait(30)
                except subprocess.TimeoutExpired:
                    worker.process.kill()


def experiment(api: Api, spec: dict[str, Any]) -> str:
    project = api("mutation { createProject(input: {slug: \"scale\", name: \"scale\"}) { project { id } } }")
    created = api("mutation($p: ID!, $spec: JSON!) { createExperiment(input: {projectId: $p, spec: $spec}) "
                  "{ experiment { id } } }", p=project["createProject"]["project"]["id"], spec=spec)
    return str(created["createExperiment"]["experiment"]["id"])


async def executing(database_url: str) -> list[tuple[str, str, int]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id::text, owner, claim FROM runs WHERE status = 'running'")
    finally:
        await conn.close()
    return [(row["id"], row["owner"], row["claim"]) for row in rows]


def test_queued_runs_spread_over_two_workers_and_a_killed_workers_run_is_resumed(cluster: dict[str, Any]) -> None:
    api: Api = cluster["api"]
    workers: list[WorkerProcess] = cluster["workers"]
    worker_pids = {str(worker.process.pid) for worker in workers}
    with run_mock_llm(ttft_ms=40, gap_ms=5, output_tokens=6) as mock:
        spec = mock_spec(mock.base_url, name="queued", items=30, load={"profile": "concurrent", "concurrency": 2},
                         project="scale")
        experiment_id = experiment(api, spec)

        # Three runs queued at once: two execute (one per worker), the third waits first in line.
        runs = [api(START, id=experiment_id)["startRun"]["run"]["id"] for _ in range(3)]
        waiting = [api(RUN, id=run_id)["run"] for run_id in runs]
        assert {run["status"] for run in waiting} <= {"QUEUED", "RUNNING"}
        peak: set[str] = set()

        def all_done() -> bool:
            running = asyncio.run(executing(cluster["database_url"]))
            owners = [owner for _, owner, _ in running]
            assert len(running) <= 2 and len(set(owners)) == len(owners), running  # one run per worker at a time
            assert {owner.rpartition(":")[2] for owner in owners} <= worker_pids, running  # never the API replica
            peak.update(owners)
            return all(api(RUN, id=run_id)["run"]["status"] == "COMPLETED" for run_id in runs)

        wait_until(all_done, "three runs completed", 120)
        assert len(peak) == 2, peak  # both workers took part
        for run_id in runs:
            progress = api(RUN, id=run_id)["run"]["progress"]
            assert progress["completed"] == progress["planned"] == 30 and progress["failed"] == 0, progress
            ids = [n["eventId"] for n in api(EVENT_IDS, id=run_id)["run"]["requests"]["nodes"]]
            assert len(ids) == len(set(ids)) == 30

        # Both workers busy with long runs: a third run waits, and is cancelled before anyone takes it.
        long_spec = {**spec, "name": "long", "dataset": {**spec["dataset"], "name": "long", "items": [
            {"id": f"i{n}", "vars": {"topic": f"topic {n}"}} for n in range(120)]}}
        created = api("mutation($p: ID!, $spec: JSON!) { createExperiment(input: {projectId: $p, spec: $spec}) "
                      "{ experiment { id } } }", p=api("{ project(slug: \"scale\") { id } }")["project"]["id"],
                      spec=long_spec)["createExperiment"]["experiment"]["id"]
        busy = [api(START, id=created)["startRun"]["run"]["id"] for _ in range(2)]
        wait_until(lambda: len(asyncio.run(executing(cluster["database_url"]))) == 2, "both workers busy")
        queued = api(START, id=created)["startRun"]["run"]
        assert queued["status"] == "QUEUED" and queued["queuePosition"] == 1, queued
        assert api(CANCEL, id=queued["id"])["cancelRun"]["run"]["status"] == "CANCELLED"

        # kill -9 of one worker mid-run: the other resumes its run once the claim's heartbeat times out.
        running = asyncio.run(executing(cluster["database_url"]))
        victim = next(w for w in workers if str(w.process.pid) == running[0][1].rpartition(":")[2])
        victim_run, _, claim = running[0]
        wait_until(lambda: api(RUN, id=victim_run)["run"]["progress"]["completed"] >= 10, "the run under way")
        victim.process.kill()
        killed_at = time.monotonic()
        victim.process.wait(10)

        def resumed() -> bool:
            return any(run_id == victim_run and c > claim for run_id, _, c in
                       asyncio.run(executing(cluster["database_url"])))

        wait_until(resumed, "the killed worker's run resumed by the other worker", 60)
        resume_s = time.monotonic() - killed_at
        wait_until(lambda: all(api(RUN, id=r)["run"]["status"] == "COMPLETED" for r in busy), "long runs done", 180)
        for run_id in busy:
            ids = [n["eventId"] for n in api(EVENT_IDS, id=run_id)["run"]["requests"]["nodes"]]
            assert len(ids) == len(set(ids)) == 120, (run_id, len(ids), len(set(ids)))
        assert api(RUN, id=queued["id"])["run"]["progress"]["completed"] == 0
        print(json.dumps({"kill_to_resume_s": round(resume_s, 2)}))
        assert resume_s < HEARTBEAT_TIMEOUT_S * 4 + 10


def test_a_stopped_worker_hands_its_run_back_and_the_other_resumes_it(cluster: dict[str, Any]) -> None:
    api: Api = cluster["api"]
    workers: list[WorkerProcess] = cluster["workers"]
    with run_mock_llm(ttft_ms=40, gap_ms=5, output_tokens=6) as mock:
        spec = mock_spec(mock.base_url, name="handed", items=120, project="scale",
                         load={"profile": "concurrent", "concurrency": 2})
        run_id = api(START, id=experiment(api, spec))["startRun"]["run"]["id"]
        wait_until(lambda: api(RUN, id=run_id)["run"]["progress"]["completed"] >= 10, "the run under way")
        (_, owner, claim), = asyncio.run(executing(cluster["database_url"]))
        stopped = next(w for w in workers if str(w.process.pid) == owner.rpartition(":")[2])
        stopped.process.send_signal(signal.SIGTERM)
        assert stopped.process.wait(30) == 0, stopped.output
        assert "handed run" in stopped.output and "benchlab worker stopped" in stopped.output, stopped.output

        def resumed() -> bool:
            return any(c > claim for _, _, c in asyncio.run(executing(cluster["database_url"])))

        wait_until(resumed, "the handed-back run resumed by the other worker", 30)
        wait_until(lambda: api(RUN, id=run_id)["run"]["status"] == "COMPLETED", "the run completed", 120)
        ids = [n["eventId"] for n in api(EVENT_IDS, id=run_id)["run"]["requests"]["nodes"]]
        assert len(ids) == len(set(ids)) == 120


def test_progress_of_a_run_on_a_worker_process_reaches_the_apis_subscribers(cluster: dict[str, Any]) -> None:
    api: Api = cluster["api"]
    server: ServerProcess = cluster["server"]
    token = api.client.headers["Authorization"]
    with run_mock_llm(ttft_ms=40, gap_ms=5, output_tokens=6) as mock:
        spec = mock_spec(mock.base_url, name="watched", items=40, project="scale",
                         load={"profile": "concurrent", "concurrency": 2},
                         evaluators=[{"type": "latency", "metric": "ttft", "threshold": 10_000, "name": "fast"}])
        experiment_id = experiment(api, spec)

        async def follow() -> tuple[str, list[dict[str, Any]]]:
            url = server.base_url.replace("http://", "ws://") + "/graphql"
            async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": token}}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                run_id = api(START, id=experiment_id)["startRun"]["run"]["id"]
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": "subscription($id: ID!) { runProgress(runId: $id) { sequence status done } }",
                    "variables": {"id": run_id}}}))
                events = []
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message["type"] == "complete":
                        return run_id, events
                    assert message["type"] == "next", message
                    events.append(message["payload"]["data"]["runProgress"])

        run_id, events = asyncio.run(follow())
    live = [e for e in events if e["sequence"] > 0 and e["status"] == "RUNNING"]
    assert live and 0 < live[-1]["done"] <= 40, events  # published by the worker, relayed by the server
    assert events[-1]["status"] == "COMPLETED" and events[-1]["done"] == 40, events
    # Its scores too went through the server (ingest v2), read back by the server's own queries.
    scoring = api("query($id: ID!) { run(id: $id) { scoring { status totalRequests scoredRequests } } }",
                  id=run_id)["run"]["scoring"]
    assert scoring == {"status": "completed", "totalRequests": 40, "scoredRequests": 40}, scoring
