"""Analytics over GraphQL on real runs against the mock LLM: metrics, requests, timeline, comparisons, series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient

from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes, gql, subscribe
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.test_api_runs import store_experiment

RUN_ANALYTICS = """query($id: ID!) { run(id: $id) {
  metrics(metrics: [TTFT, TPOT, COMPLETION_TOKENS], groupBy: [MODEL], percentiles: [50, 99]) {
    groupBy keys { name values } count errors
    metrics { metric n mean min max percentiles { percentile values } } }
  timeline(intervalSeconds: 0.5) { bucketStart requests errors requestsPerSecond ttftP50Ms }
} }"""


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(gap_ms=2, output_tokens=6) as server:
        yield server


def run_to_end(client: TestClient, experiment_id: str) -> str:
    run_id = data(client, "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }",
                  e=experiment_id)["startRun"]["run"]["id"]
    final = subscribe(client, "subscription($r: ID!) { runProgress(runId: $r) { status } }", r=run_id)[-1]
    assert final["data"]["runProgress"]["status"] == "COMPLETED"
    return run_id


@pytest.fixture
async def experiments(pg: asyncpg.Connection, mock: MockLLM) -> dict[str, Any]:
    def spec(name: str, ttft: str) -> dict[str, Any]:
        return mock_spec(mock.base_url, name=name, items=10, repetitions=2, models={"m": f"mock-llm?ttft_ms={ttft}"})

    # TTFT spread like a real server's (sd 8 ms), so a ms of machine noise between two runs of the same
    # behaviour is not a significant difference, while +30 ms is.
    return {"fast": await store_experiment(pg, spec("fast", "normal(30,8)")),
            "fast-again": await store_experiment(pg, spec("fast-again", "normal(30,8)")),
            "slow": await store_experiment(pg, spec("slow", "normal(60,8)"))}


def test_run_metrics_and_timeline(client: TestClient, experiments: dict[str, Any]) -> None:
    run = data(client, RUN_ANALYTICS, id=run_to_end(client, experiments["fast"]))["run"]
    metrics = run["metrics"]
    assert metrics["groupBy"] == ["MODEL"] and metrics["keys"] == [{"name": "model", "values": ["m"]}]
    assert metrics["count"] == [20] and metrics["errors"] == [0]
    ttft = next(m for m in metrics["metrics"] if m["metric"] == "TTFT")
    assert ttft["n"] == [20] and 15 <= ttft["percentiles"][0]["values"][0] < 50, ttft
    tokens = next(m for m in metrics["metrics"] if m["metric"] == "COMPLETION_TOKENS")
    assert tokens["mean"] == [6.0]
    timeline = run["timeline"]
    assert sum(timeline["requests"]) == 20 and len(timeline["bucketStart"]) == len(timeline["requests"])


def test_requests_page_through_every_request_once(client: TestClient, experiments: dict[str, Any]) -> None:
    run_id = run_to_end(client, experiments["fast"])
    query = """query($id: ID!, $after: String) { run(id: $id) { requests(first: 7, after: $after) {
      nodes { eventId status ttftMs e2eMs tpotMs completionTokens output interEventMs } hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = data(client, query, id=run_id, after=after)["run"]["requests"]
        seen += page["nodes"]
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert len(seen) == 20 and len({r["eventId"] for r in seen}) == 20
    assert all(r["status"] == "ok" and r["output"] and len(r["interEventMs"]) == 5 for r in seen)
    slow_only = data(client, """query($id: ID!) { run(id: $id) { requests(first: 50, filter: {minE2eMs: 100000}) {
      nodes { eventId } hasNextPage } } }""", id=run_id)["run"]["requests"]
    assert slow_only == {"nodes": [], "hasNextPage": False}


def test_compare_runs_finds_the_slower_candidate_and_not_noise(client: TestClient,
                                                                 experiments: dict[str, Any]) -> None:
    fast, fast_again, slow = (run_to_end(client, experiments[name]) for name in ("fast", "fast-again", "slow"))
    query = """query($a: ID!, $b: ID!) { compareRuns(baseline: $a, candidate: $b, metrics: [TTFT]) {
      keys { values } metric baselineN candidateN deltaMedian ciLow ciHigh pValue verdict } }"""
    slower = data(client, query, a=fast, b=slow)["compareRuns"]
    assert slower["verdict"] == ["slower"] and slower["baselineN"] == [20] and slower["candidateN"] == [20]
    assert 15 < slower["deltaMedian"][0] < 45 and slower["ciLow"][0] < 30 < slower["ciHigh"][0] + 10
    assert slower["pValue"][0] < 0.01
    same = data(client, query, a=fast, b=fast_again)["compareRuns"]
    assert same["verdict"] == ["no_difference"], same
    assert data(client, query, a=fast, b=slow)["compareRuns"] == slower  # deterministic
    assert error_codes(gql(client, query, a=fast, b=fast)) == ["BAD_USER_INPUT"]


def test_latency_series_over_the_project(client: TestClient, experiments: dict[str, Any]) -> None:
    run_to_end(client, experiments["fast"])
    project = data(client, '{ project(slug: "tests") { id } }')["project"]["id"]
    now = datetime.now(UTC)
    query = """query($p: ID!, $from: DateTime!, $to: DateTime!, $models: [String!], $i: Float!) {
      latencySeries(projectId: $p, from: $from, to: $to, intervalSeconds: $i, metric: E2E,
                    percentiles: [50, 99], models: $models) {
        metric bucketStart model count values { percentile values } } }"""
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()}
    series = data(client, query, p=project, models=None, i=3600.0, **window)["latencySeries"]
    assert series["metric"] == "E2E" and sum(series["count"]) == 20 and set(series["model"]) == {"m"}
    assert [v["percentile"] for v in series["values"]] == [50.0, 99.0]
    assert data(client, query, p=project, models=["other"], i=60.0, **window)["latencySeries"]["count"] == []
    body = gql(client, query, p=project, models=None, i=0.0, **window)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = gql(client, query, p=project, models=None, i=60.0, **{"from": window["to"], "to": window["from"]})
    assert error_codes(body) == ["BAD_USER_INPUT"]
