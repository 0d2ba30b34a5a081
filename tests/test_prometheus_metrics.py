"""`/metrics` (docs/operations.md) scraped from the real app and a real `benchlab serve`, parsed with the Prometheus
text parser: HTTP and GraphQL latency with bounded labels, live subscriptions, queue depth and runs by state
against PostgreSQL, ingest rows, store errors, who may scrape, the separate listener, and scrapes that never
wait for the database.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.engine.runs import cancel_run, start_experiment_run
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.telemetry_figures import REFRESH_INTERVAL_S
from benchlab.telemetry import REGISTRY
from tests.helpers.access import db, make_key, sign_in
from tests.helpers.engine import mock_spec
from tests.helpers.polling import wait_until
from tests.helpers.server_process import BENCHLAB, ServerProcess, child_env, free_port, run_cli
from tests.helpers.ws import PROTOCOL, init, receive

Samples = list[tuple[str, dict[str, str], float]]
REPO = Path(__file__).resolve().parent.parent


def parse(text: str) -> Samples:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def scrape(client: TestClient | httpx.Client, url: str = "/metrics", **headers: str) -> Samples:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    return sum(v for n, lab, v in samples if n == name and labels.items() <= lab.items())


def label_sets(samples: Samples, name: str) -> list[dict[str, str]]:
    return [lab for n, lab, _ in samples if n == name]


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    """No queue workers in the app: enqueued runs stay queued for the test to count."""
    return replace(settings, workers=0)


@pytest.fixture
def metrics_client(quiet_settings: Settings) -> Any:
    with TestClient(create_app(quiet_settings)) as test_client:
        sign_in(test_client, "ops@example.com", admin=True)
        yield test_client


@pytest.fixture
async def project(pg: asyncpg.Connection) -> dict[str, Any]:
    spec = load_spec(mock_spec("http://127.0.0.1:9/v1", project="metrics"))
    registered = await register_experiment(pg, spec, SecretBox(Fernet.generate_key()))
    return {"id": registered.project_id, "experiment": registered.experiment_id, "spec": spec,
            "member": await make_key(pg, registered.project_id, "member")}


def test_http_requests_and_graphql_operations_are_timed_with_bounded_labels(metrics_client: TestClient) -> None:
    client = metrics_client
    before = scrape(client)
    client.get("/healthz")
    client.get("/no/such/path/4711")
    client.get("/auth/no-such-page")
    client.post("/ingest/v1/events", content=b"{}")  # no credentials: 401, by the route template
    client.get("/auth/login")
    client.get("/exports/dl_secret-token-4711")  # a download link: its path is a credential
    for i in range(50):  # 50 operation names a client chose: one series, never 50
        response = client.post("/graphql", json={"query": f"query Dashboard{i} {{ viewer {{ kind }} }}"})
        assert response.status_code == 200 and not response.json().get("errors")
    created = client.post("/graphql", json={"query": 'mutation { createProject(input: {slug: "obs", name: "Obs"}) '
                                                     "{ project { slug } } }"}).json()
    assert created["data"]["createProject"]["project"]["slug"] == "obs"
    bad = client.post("/graphql", json={"query": "query Oops { noSuchField4711 }"}).json()
    assert bad["errors"]
    client.post("/graphql", json={"query": "{ viewer { kind } viewer2: viewer { kind } }"})
    after = scrape(client)

    def increase(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    http = "benchlab_http_request_duration_seconds_count"
    assert increase(http, method="GET", route="/healthz", status_class="2xx") == 1
    assert increase(http, method="GET", route="unmatched", status_class="4xx") == 2  # no path values as labels
    assert increase(http, method="POST", route="/ingest/v{version:int}/events", status_class="4xx") == 1
    assert increase(http, method="GET", route="/auth/login", status_class="2xx") == 1
    assert increase(http, method="POST", route="/graphql", status_class="2xx") == 53
    routes = {labels["route"] for labels in label_sets(after, http)}
    assert not any("4711" in route for route in routes), routes
    assert "secret-token" not in client.get("/metrics").text

    graphql = "benchlab_graphql_operation_duration_seconds_count"
    assert increase(graphql, operation_type="query", field="viewer", outcome="ok") == 50
    assert increase(graphql, operation_type="mutation", field="createProject", outcome="ok") == 1
    assert increase(graphql, operation_type="query", field="other", outcome="error") == 1  # failed validation
    assert increase(graphql, operation_type="query", field="multiple", outcome="ok") == 1
    series = label_sets(after, graphql)  # the registry is the process's: earlier tests' series are there too
    grown = [labels for labels in series if increase(graphql, **labels) > 0]
    assert len(grown) <= 4, grown  # 53 operations, 50 names: a handful of series
    assert not any("Dashboard" in str(labels) or "4711" in str(labels) for labels in series)
    buckets = [v for n, lab, v in after if n == "benchlab_graphql_operation_duration_seconds_bucket"
               and lab["field"] == "viewer" and lab["outcome"] == "ok"]
    assert buckets == sorted(buckets) and buckets[-1] >= 50  # cumulative, +Inf holds them all
    assert value(after, "process_resident_memory_bytes") > 0


def test_an_open_subscription_shows_in_the_gauges_until_it_closes(metrics_client: TestClient) -> None:
    client = metrics_client
    base = scrape(client)
    heartbeats = value(base, "benchlab_active_subscriptions", field="heartbeat")
    connections = value(base, "benchlab_websocket_connections")
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert init(ws)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription { heartbeat(intervalMs: 60000, count: 5) { sequence } }"}})
        assert receive(ws)["type"] == "next"
        live = scrape(client)
        assert value(live, "benchlab_active_subscriptions", field="heartbeat") == heartbeats + 1
        assert value(live, "benchlab_websocket_connections") == connections + 1
        ws.send_json({"id": "1", "type": "complete"})  # the client stops it; the socket stays open
        wait_until(lambda: value(scrape(client), "benchlab_active_subscriptions", field="heartbeat") == heartbeats,
                   "the stopped subscription to leave the gauge", within_s=10)
    wait_until(lambda: value(scrape(client), "benchlab_websocket_connections") == connections,
               "the closed socket to leave the gauge", within_s=10)
    # a subscription is not a latency: it never enters the operation histogram
    assert value(scrape(client), "benchlab_graphql_operation_duration_seconds_count",
                 operation_type="subscription") == 0


def test_queue_depth_and_runs_by_state_match_postgresql(metrics_client: TestClient, project: dict[str, Any]) -> None:
    client = metrics_client
    deps = client.app.state.runtime.engine_deps()  # type: ignore[attr-defined]
    run_ids = [client.portal.call(start_experiment_run, deps, project["id"], project["experiment"], project["spec"])
               for _ in range(4)]
    client.portal.call(cancel_run, deps, run_ids[0])

    runs = {row["status"]: row["n"] for row in db(client, "SELECT status, count(*) AS n FROM runs GROUP BY status")}
    queued = db(client, "SELECT count(*) AS n FROM pgqueuer WHERE entrypoint = 'benchlab.run' "
                        "AND status = 'queued'")[0]["n"]
    assert runs == {"queued": 3, "cancelled": 1} and queued == 3

    def agrees() -> Samples | None:
        samples = scrape(client)
        ok = (value(samples, "benchlab_queue_jobs", entrypoint="benchlab.run", status="queued") == queued
              and all(value(samples, "benchlab_runs", state=state) == count for state, count in runs.items())
              and value(samples, "benchlab_runs", state="running") == 0)
        return samples if ok else None

    samples = wait_until(agrees, "the figures to catch up with PostgreSQL", within_s=4 * REFRESH_INTERVAL_S)
    states = {labels["state"] for labels in label_sets(samples, "benchlab_runs")}
    assert states == {"pending", "queued", "running", "completed", "failed", "cancelled", "interrupted"}
    assert value(samples, "benchlab_queue_oldest_age_seconds", entrypoint="benchlab.run") >= 0
    assert value(samples, "benchlab_metrics_figures_age_seconds") < 3 * REFRESH_INTERVAL_S


def ndjson(rows: list[Any]) -> bytes:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows).encode()


def test_ingest_rows_accepted_and_rejected_are_counted(metrics_client: TestClient, project: dict[str, Any]) -> None:
    client = metrics_client
    run_id = client.portal.call(start_experiment_run, client.app.state.runtime.engine_deps(),  # type: ignore[attr-defined]
                                project["id"], project["experiment"], project["spec"])

    def event(**overrides: Any) -> dict[str, Any]:
        return {"project_id": str(project["id"]), "run_id": str(run_id), "event_id": str(uuid.uuid4()),
                "ts": datetime.now(UTC).isoformat(), "model": "m", "provider": "p", "source": "production",
                "ttft_ms": 100.0, "e2e_ms": 500.0, "status": "ok", **overrides}

    before = scrape(client)
    response = client.post("/ingest/v1/events", content=ndjson([event(), event(ttft_ms="fast"), event(),
                                                                "{not json", event()]),
                           headers={"Authorization": f"Bearer {project['member']}",
                                    "Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 3 and len(answer["rejected"]) == 2
    after = scrape(client)
    name = "benchlab_ingest_rows_total"
    for outcome, count in (("accepted", 3), ("rejected", 2)):
        assert value(after, name, table="request_events", outcome=outcome) - \
            value(before, name, table="request_events", outcome=outcome) == count


def test_failed_store_statements_are_counted(metrics_client: TestClient) -> None:
    client = metrics_client
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    before = scrape(client)

    async def broken_clickhouse() -> None:
        with pytest.raises(Exception, match="UNKNOWN_TABLE"):
            await runtime.clickhouse.query("SELECT count() FROM no_such_table_4711", caller="tests")

    async def broken_postgres() -> None:
        async with runtime.pg.acquire() as conn:
            with pytest.raises(asyncpg.UndefinedTableError):
                await conn.fetch("SELECT * FROM no_such_table_4711")
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute("INSERT INTO projects (slug, name) VALUES ('dup', 'x'), ('dup', 'y')")

    client.portal.call(broken_clickhouse)
    client.portal.call(broken_postgres)

    def increase(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    after = scrape(client)
    # >= : the app's background loops may fail a statement meanwhile; the constraint case below is exact
    assert increase(after, "benchlab_clickhouse_errors_total", operation="query", kind="query") >= 1
    after = wait_until(lambda: (s := scrape(client)) and increase(s, "benchlab_postgres_errors_total") >= 2 and s,
                       "asyncpg's query logger to count the failures", within_s=5)
    assert increase(after, "benchlab_postgres_errors_total", operation="select", kind="statement") >= 1
    assert increase(after, "benchlab_postgres_errors_total", operation="insert", kind="constraint") == 1
    assert "4711" not in str(label_sets(after, "benchlab_postgres_errors_total"))


def test_who_may_scrape(settings: Settings) -> None:
    token = "s3cret-metrics-token-0123456789"
    with TestClient(create_app(replace(settings, workers=0, metrics_token=token))) as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401 and "BENCHLAB_METRICS_TOKEN" in missing.json()["error"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token-0123456780"})
        assert wrong.status_code == 401 and token not in wrong.text
        assert scrape(client, Authorization=f"Bearer {token}")
        openmetrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}",
                                                      "Accept": "application/openmetrics-text; version=1.0.0"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.rstrip().endswith("# EOF")
    with TestClient(create_app(replace(settings, workers=0, host="0.0.0.0"))) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 404
        said = refused.json()["error"]
        assert "BENCHLAB_METRICS_TOKEN" in said and "BENCHLAB_METRICS_PORT" in said
    with TestClient(create_app(replace(settings, workers=0, metrics_port=free_port()))) as client:
        assert client.get("/metrics").status_code == 404  # served by the separate listener (not started here)


def test_scrapes_never_wait_for_the_database_and_refresh_at_most_once_per_interval(
        metrics_client: TestClient, database_url: str) -> None:
    client = metrics_client
    scrape(client)  # demand: the refresher runs while someone scrapes

    async def lock_runs() -> asyncpg.Connection:
        conn = await asyncpg.connect(database_url)
        await conn.execute("BEGIN; LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        return conn

    started_refreshes = value(scrape(client), "benchlab_metrics_refreshes_total")
    locker = client.portal.call(lock_runs)  # any query on runs now waits
    try:
        started = time.monotonic()
        slowest = 0.0
        count = 0
        while time.monotonic() - started < 2 * REFRESH_INTERVAL_S:
            began = time.perf_counter()
            samples = scrape(client)
            slowest = max(slowest, time.perf_counter() - began)
            count += 1
        elapsed = time.monotonic() - started
    finally:
        client.portal.call(locker.close)
    refreshes = value(samples, "benchlab_metrics_refreshes_total") - started_refreshes
    assert count > 50 and slowest < 1.0, (count, slowest)  # answered from the snapshot, not from PostgreSQL
    assert refreshes <= elapsed / REFRESH_INTERVAL_S + 2 and refreshes * 10 < count, (refreshes, count, elapsed)


def test_serve_on_a_separate_metrics_port(tmp_path: Path, database_url: str) -> None:
    metrics_port = free_port()
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
           "BENCHLAB_METRICS_PORT": str(metrics_port), "BENCHLAB_WORKERS": "0"}
    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready()
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{server.base_url}/healthz").status_code == 200
            assert http.get(f"{server.base_url}/metrics").status_code == 404
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            samples = wait_until(lambda: (s := scrape(http, url)) and
                                 value(s, "benchlab_runs", state="completed") == 0 and
                                 label_sets(s, "benchlab_runs") and s, "figures on the metrics port", within_s=20)
            assert value(samples, "benchlab_http_request_duration_seconds_count", route="/healthz") >= 1
            assert value(samples, "benchlab_event_writers") >= 2  # the ingest writers of this server
            gzipped = http.get(url, headers={"Accept-Encoding": "gzip"})
            assert gzipped.headers.get("content-encoding") == "gzip" and parse(gzipped.text)
            # a worker beside it, on a metrics port of its own
            worker_port = free_port()
            with open(tmp_path / "worker.log", "wb") as log:
                worker = subprocess.Popen([*BENCHLAB, "worker"], stdout=log, stderr=subprocess.STDOUT, env=child_env(
                    {**env, "BENCHLAB_METRICS_PORT": str(worker_port)}))
            try:
                worker_url = f"http://127.0.0.1:{worker_port}/metrics"
                samples = wait_until(lambda: _scrape_quietly(http, worker_url), "the worker's metrics", within_s=60)
                assert value(samples, "benchlab_runs", state="queued") == 0 and label_sets(samples, "benchlab_runs")
                assert value(samples, "process_cpu_seconds_total") > 0
            finally:
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(30) == 0, (tmp_path / "worker.log").read_text()
            with pytest.raises(httpx.ConnectError):
                http.get(worker_url)
        assert server.stop() == 0
    assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in server.output
    with httpx.Client(timeout=2) as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{metrics_port}/metrics")  # closed with the server


def test_every_metric_is_documented() -> None:
    documented = {name.removesuffix("_total") for name in
                  re.findall(r"^\| `(benchlab_\w+)` \|", (REPO / "docs" / "operations.md").read_text(), re.MULTILINE)}
    served = {family.name for family in REGISTRY.collect() if family.name.startswith("benchlab_")}
    assert served == documented, (served - documented, documented - served)


def _scrape_quietly(http: httpx.Client, url: str) -> Samples | None:
    """The samples once the listener answers with the store figures in them, else None."""
    try:
        samples = scrape(http, url)
    except httpx.TransportError:
        return None
    return samples if label_sets(samples, "benchlab_runs") else None


def test_a_metrics_port_in_use_stops_serve_with_one_line(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["serve", "--port", str(free_port())], {
            "BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
            "BENCHLAB_METRICS_PORT": str(port)}, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"cannot serve metrics on 127.0.0.1 port {port}" in result.stderr
    assert "BENCHLAB_METRICS_PORT" in result.stderr and "Traceback" not in result.stderr
