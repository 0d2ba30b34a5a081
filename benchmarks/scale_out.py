"""Scale-out figures: queue claim latency, kill -9 → resume time, ingest endpoint throughput vs a direct writer.

    python benchmarks/scale_out.py [--runs 20] [--kills 3] [--rows 100000] [--batch 10000] [--rounds 2]
                                   [--parts claims,kills,ingest]

Real processes on loopback, embedded stores: one `benchlab serve` and the mock LLM server.
(1) Claim latency: runs started one after another through the API, each waiting for the one before, on a serve
    with one embedded worker; from the database's own clock: `started_at - queued_at` (enqueue, the worker's
    wake-up on the queue's NOTIFY, the claim, the executor's start). Baseline: a PostgreSQL round trip.
(2) kill -9 → resume: an API-only serve and two `benchlab worker` processes; a run is killed mid-way with its
    worker, and the time until the other worker holds it with a higher claim is measured (polled every 20 ms),
    with BENCHLAB_WORKER_HEARTBEAT_TIMEOUT_S as given (`--heartbeat-timeout`, default 5).
(3) Ingest: realistic request_events rows (benchmarks/ingest.py) written in `--batch`-row batches through the
    worker's relay path (encode, gzip, POST /ingest/v1/events, decode, the server's writer into its chDB),
    alternating rounds with the same rows through an EventWriter's `write_batch` into a chDB of this process
    (the direct path of a worker with ClickHouse access). Target: ingest/direct >= 0.7.
The client, the server and the mock share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/helpers: the one process-start helper
from tests.helpers.server_process import BENCHLAB, child_env, free_port  # noqa: E402

from benchlab.client.local_server import read_server_file  # noqa: E402
from benchlab.resources import clickhouse_migrations_dir  # noqa: E402
from benchlab.secrets import load_secret_box  # noqa: E402
from benchlab.stores import request_events  # noqa: E402
from benchlab.stores.clickhouse import ClickHouseStore  # noqa: E402
from benchlab.stores.embedded_postgres import EmbeddedPostgres  # noqa: E402
from benchlab.stores.event_writer import EventWriter  # noqa: E402
from benchlab.stores.ingest_format import TABLES, encode_rows  # noqa: E402
from benchlab.stores.server_link import RelayedClickHouse, ServerLink, raise_for_answer  # noqa: E402
from benchlab.stores.sql_files import load_migrations  # noqa: E402
from ingest import realistic_rows  # noqa: E402


def env_with(extra: dict[str, str]) -> dict[str, str]:
    return child_env({"LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra})


def wait_for(condition: Any, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out: {what}")


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            self.process = subprocess.Popen([*BENCHLAB, *args], env=env_with(env), stdout=out,
                                            stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"})

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        if "errors" in body:
            raise RuntimeError(body["errors"])
        return body["data"]


def serve(work: Path, workers: int, extra: dict[str, str] | None = None) -> tuple[Process, Api]:
    port = free_port()
    server = Process(["serve", "--port", str(port)], {"BENCHLAB_DATA_DIR": str(work / "data"),
                                                      "BENCHLAB_WORKERS": str(workers), **(extra or {})},
                     work / "serve.log")
    wait_for(lambda: "listening on" in server.output() or server.process.poll() is not None, "serve ready")
    local = read_server_file(work / "data")
    if local is None or local.token is None:
        raise RuntimeError(server.output())
    return server, Api(local.url, local.token)


def experiment(api: Api, mock_url: str, items: int, concurrency: int) -> str:
    spec = {"name": f"bench-{items}", "project": "bench",
            "providers": [{"name": "mock", "type": "openai", "api_base": mock_url}],
            "models": [{"name": "m", "provider": "mock", "model": "mock-llm"}],
            "prompts": [{"name": "p", "messages": [{"role": "user", "content": "Say {{topic}}"}]}],
            "dataset": {"name": f"d{items}", "items": [{"id": f"i{n}", "vars": {"topic": str(n)}}
                                                        for n in range(items)]},
            "params": {"max_tokens": 16}, "load": {"profile": "concurrent", "concurrency": concurrency},
            "timeout_s": 10}
    try:
        project = api("mutation { createProject(input: {slug: \"bench\", name: \"bench\"}) { project { id } } }")
        project_id = project["createProject"]["project"]["id"]
    except RuntimeError:
        project_id = api("query { project(slug: \"bench\") { id } }")["project"]["id"]
    created = api("mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) "
                  "{ experiment { id } } }", p=project_id, s=spec)
    return str(created["createExperiment"]["experiment"]["id"])


def start_run(api: Api, experiment_id: str) -> str:
    return str(api("mutation($id: ID!) { startRun(input: {experimentId: $id}) { run { id } } }",
                   id=experiment_id)["startRun"]["run"]["id"])


def status(api: Api, run_id: str) -> str:
    return str(api("query($id: ID!) { run(id: $id) { status } }", id=run_id)["run"]["status"])


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def round_trip_ms(database_url: str, count: int = 200) -> float:
    conn = await asyncpg.connect(database_url)
    try:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return statistics.median(times)


def claim_latency(work: Path, mock_url: str, runs: int) -> None:
    server, api = serve(work, workers=1)
    try:
        database_url = EmbeddedPostgres(work / "data").url
        experiment_id = experiment(api, mock_url, items=2, concurrency=1)
        run_ids = []
        for _ in range(runs):
            run_id = start_run(api, experiment_id)
            wait_for(lambda run_id=run_id: status(api, run_id) == "COMPLETED", "run completed")
            run_ids.append(run_id)
            time.sleep(0.3)  # the worker idle again, waiting on the queue
        rows = asyncio.run(fetch(database_url, "SELECT extract(epoch FROM started_at - queued_at) * 1000 AS ms "
                                               "FROM runs WHERE queued_at IS NOT NULL ORDER BY queued_at"))
        latencies = sorted(float(row["ms"]) for row in rows)
        baseline = asyncio.run(round_trip_ms(database_url))
    finally:
        server.stop()
    print(f"(1) queued -> running on an idle worker, {len(latencies)} runs: median {statistics.median(latencies):.1f} "
          f"ms, p90 {latencies[int(0.9 * (len(latencies) - 1))]:.1f} ms, max {latencies[-1]:.1f} ms; PostgreSQL "
          f"round trip median {baseline:.2f} ms (ratio {statistics.median(latencies) / baseline:.0f}x)")


def kill_and_resume(work: Path, mock_url: str, kills: int, timeout_s: int) -> None:
    extra = {"BENCHLAB_WORKER_HEARTBEAT_TIMEOUT_S": str(timeout_s)}
    server, api = serve(work, workers=0, extra=extra)
    database_url = EmbeddedPostgres(work / "data").url
    workers: list[Process] = []
    results = []
    try:
        experiment_id = experiment(api, mock_url, items=400, concurrency=4)
        for n in range(kills):
            while len([w for w in workers if w.process.poll() is None]) < 2:
                worker = Process(["worker"], {"BENCHLAB_DATA_DIR": str(work / "data"), **extra},
                                 work / f"worker-{n}-{len(workers)}.log")
                wait_for(lambda worker=worker: "benchlab worker ready" in worker.output(), "worker ready")
                workers.append(worker)
            run_id = start_run(api, experiment_id)
            wait_for(lambda run_id=run_id: status(api, run_id) == "RUNNING", "run running")
            time.sleep(1.0)
            (uid, owner, claim), = [(r["id"], r["owner"], r["claim"]) for r in asyncio.run(fetch(
                database_url, "SELECT id, owner, claim FROM runs WHERE status = 'running'"))]
            victim = next(w for w in workers if str(w.process.pid) == owner.rpartition(":")[2])
            victim.process.kill()
            killed = time.monotonic()

            def taken_over(uid: uuid.UUID = uid, claim: int = claim) -> bool:
                rows = asyncio.run(fetch(database_url, "SELECT claim, status FROM runs WHERE id = $1", uid))
                return rows[0]["claim"] > claim and rows[0]["status"] == "running"

            wait_for(taken_over, "the run resumed by the other worker", timeout_s * 4 + 30)
            results.append(time.monotonic() - killed)
            wait_for(lambda run_id=run_id: status(api, run_id) == "COMPLETED", "run completed", 300)
            count = api("query($id: ID!) { run(id: $id) { progress { completed planned } } }", id=run_id)
            progress = count["run"]["progress"]
            if progress["completed"] != progress["planned"]:
                raise RuntimeError(f"resumed run recorded {progress}")
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
    print(f"(2) kill -9 -> resumed on the other worker (heartbeat timeout {timeout_s} s), {len(results)} kills: "
          + ", ".join(f"{t:.2f} s" for t in results) + "; every resumed run recorded exactly its plan")


async def ingest_rounds(work: Path, rows: list[tuple[Any, ...]], batch: int, rounds: int,
                        server_url: str) -> dict[str, list[float]]:
    secrets = load_secret_box(None, work / "data")
    link = ServerLink(server_url, secrets, "bench")
    relayed = RelayedClickHouse(link)
    direct = ClickHouseStore(f"chdb://{work / 'direct-chdb'}", "bench")
    await direct.start()
    for migration in load_migrations(clickhouse_migrations_dir()):
        for statement in migration.statements():
            await direct.command(statement.sql, caller="bench")
    writer = EventWriter(direct, request_events.TABLE, request_events.COLUMNS, work / "direct-spool")
    await writer.start()
    spec = TABLES[request_events.TABLE]
    times: dict[str, list[float]] = {"v2": [], "v1": [], "direct": []}
    try:
        for number in range(rounds):
            started = time.perf_counter()
            for offset in range(0, len(rows), batch):
                await relayed.insert(request_events.TABLE, rows[offset:offset + batch], spec.columns, caller="bench",
                                     settings={"insert_deduplication_token": f"v2-{number}-{offset}"})
            times["v2"].append(time.perf_counter() - started)
            started = time.perf_counter()
            for offset in range(0, len(rows), 10_000):  # v1 bodies of 10,000 rows stay under the byte limit
                response = await link.post("/ingest/v1/events", content=encode_rows(spec, rows[offset:offset + 10_000]),
                                           headers={"Content-Type": "application/x-ndjson",
                                                    "Idempotency-Key": f"v1-{number}-{offset}"})
                raise_for_answer(response, "v1 batch")
            times["v1"].append(time.perf_counter() - started)
            started = time.perf_counter()
            for offset in range(0, len(rows), batch):
                await writer.write_batch(rows[offset:offset + batch], f"d{number}-{offset}")
            times["direct"].append(time.perf_counter() - started)
    finally:
        await writer.close()
        await direct.close()
        await link.close()
    return times


def ingest(work: Path, rows_count: int, batch: int, rounds: int) -> None:
    server, api = serve(work, workers=0)
    try:
        rows = realistic_rows(request_events.COLUMNS, rows_count)
        times = asyncio.run(ingest_rounds(work, rows, batch, rounds, str(api.client.base_url)))
    finally:
        server.stop()
    best = {path: min(values) for path, values in times.items()}
    labels = {"v2": "ingest v2 (Arrow; the worker relay)", "v1": "ingest v1 (JSON lines)",
              "direct": "direct EventWriter.write_batch"}
    for path, label in labels.items():
        print(f"(3) {label:<36}: {rows_count / best[path]:>9,.0f} rows/s (rounds "
              + ", ".join(f"{t:.2f}" for t in times[path]) + " s)")
    print(f"    ratio v2/direct {best['direct'] / best['v2']:.2f} (target >= 0.7), v1/direct "
          f"{best['direct'] / best['v1']:.2f}; {rows_count:,} rows in batches of {batch:,}, one batch at a time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--heartbeat-timeout", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parts", default="claims,kills,ingest", help="which measurements, comma-separated")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    root = Path(tempfile.mkdtemp(prefix="benchlab-scale-"))
    mock_port = free_port()
    mock = Process(["mock-llm", "--port", str(mock_port), "--ttft-ms", "20", "--gap-ms", "2"], {},
                   root / "mock.log")
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{mock_port}/health", timeout=1).status_code < 500
                 if _listening(mock_port) else False, "mock ready")
        mock_url = f"http://127.0.0.1:{mock_port}/v1"
        if "claims" in parts:
            claim_latency(root / "claims", mock_url, args.runs)
        if "kills" in parts:
            kill_and_resume(root / "kills", mock_url, args.kills, args.heartbeat_timeout)
        if "ingest" in parts:
            ingest(root / "ingest", args.rows, args.batch, args.rounds)
    finally:
        mock.stop()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    main()
