"""Analytics over GraphQL on real runs against the mock LLM: metrics, requests, timeline, comparisons, series."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pytest
from starlette.testclient import TestClient

from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes, gql, subscribe
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.test_api_runs import store_experiment

RUN_ANALYTICS = """query($id: ID!) { run(id: $id) {
  metrics(metrics: [TTFT, TPOT, COMPLETION_TOKENS], groupBy: [MODEL], percentiles: [50, 99]) {
    groupBy keys { name values } count errors quantileMethod
    metrics { metric n mean min max percentiles { percentile values } } }
  timeline(intervalSeconds: 0.5) { bucketStart requests errors requestsPerSecond ttftP50Ms }
} }"""


MOCK = {"gap_ms": 2, "output_tokens": 6}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(**MOCK) as server:
        yield server


def same_behaviour(base_url: str, name: str, ttft: str = "normal(30,8)") -> dict[str, Any]:
    """TTFT spread like a real server's (sd 8 ms), so a ms of machine noise between two runs of the same
    behaviour is not a significant difference, while +30 ms is."""
    return mock_spec(base_url, name=name, items=10, repetitions=2, models={"m": f"mock-llm?ttft_ms={ttft}"})


def run_to_end(client: TestClient, experiment_id: str) -> str:
    run_id = data(client, "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }",
                  e=experiment_id)["startRun"]["run"]["id"]
    final = subscribe(client, "subscription($r: ID!) { runProgress(runId: $r) { status } }", r=run_id)[-1]
    assert final["data"]["runProgress"]["status"] == "COMPLETED"
    return run_id


@pytest.fixture
async def experiments(pg: asyncpg.Connection, mock: MockLLM) -> dict[str, Any]:
    return {"fast": await store_experiment(pg, same_behaviour(mock.base_url, "fast")),
            "slow": await store_experiment(pg, same_behaviour(mock.base_url, "slow", "normal(60,8)"))}


def ttfts_by_event(client: TestClient, run_id: str) -> dict[str, float]:
    nodes = data(client, "query($id: ID!) { run(id: $id) { requests(first: 100) { nodes { eventId ttftMs } } } }",
                 id=run_id)["run"]["requests"]["nodes"]
    return {n["eventId"]: n["ttftMs"] for n in nodes}


def truth_ttft_ms(mock: MockLLM, event_ids: Iterable[str]) -> list[float]:
    """Per request, the least TTFT a client can measure: the server's first token write minus its first read
    of the request (our send is stamped before the request reaches the socket, events after their bytes)."""
    records = {r["request_id"]: r for r in mock.ground_truth()}
    truths = []
    for event_id in event_ids:
        events = records[event_id]["events"]
        first_token = events["send_ns"][events["kind"].index("content")]
        truths.append((first_token - records[event_id]["first_byte_ns"]) / 1e6)
    return truths


def test_run_metrics_and_timeline(client: TestClient, mock: MockLLM, experiments: dict[str, Any]) -> None:
    run_id = run_to_end(client, experiments["fast"])
    run = data(client, RUN_ANALYTICS, id=run_id)["run"]
    metrics = run["metrics"]
    assert metrics["groupBy"] == ["MODEL"] and metrics["keys"] == [{"name": "model", "values": ["m"]}]
    assert metrics["count"] == [20] and metrics["errors"] == [0]
    assert metrics["quantileMethod"] == "EXACT"  # 20 requests: the raw rows, as the run's summary
    ttft = next(m for m in metrics["metrics"] if m["metric"] == "TTFT")
    p50 = ttft["percentiles"][0]["values"][0]
    measured = ttfts_by_event(client, run_id)
    assert ttft["n"] == [20] and len(measured) == 20
    assert p50 == pytest.approx(float(np.percentile(list(measured.values()), 50)), abs=1e-3)  # of the run's rows
    # Every request's TTFT is at least the server's own, so every order statistic is too.
    assert p50 >= float(np.percentile(truth_ttft_ms(mock, measured), 50)) - 1e-3
    tokens = next(m for m in metrics["metrics"] if m["metric"] == "COMPLETION_TOKENS")
    assert tokens["mean"] == [6.0]
    timeline = run["timeline"]
    assert sum(timeline["requests"]) == 20 and len(timeline["bucketStart"]) == len(timeline["requests"])


def test_requests_page_through_every_request_once(client: TestClient, experiments: dict[str, Any]) -> None:
    run_id = run_to_end(client, experiments["fast"])
    query = """query($id: ID!, $after: String) { run(id: $id) { requests(first: 7, after: $after) {
      totalCount edges { cursor node { eventId status ttftMs e2eMs tpotMs completionTokens output interEventMs } }
      pageInfo { hasNextPage endCursor hasPreviousPage startCursor } } } }"""
    seen, after, pages = [], None, []
    while True:
        page = data(client, query, id=run_id, after=after)["run"]["requests"]
        pages.append(page)
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 20 and len({r["eventId"] for r in seen}) == 20 and len(pages) == 3
    assert all(r["status"] == "ok" and r["output"] and len(r["interEventMs"]) == 5 for r in seen)
    assert all(page["totalCount"] == 20 for page in pages)
    first, second = pages[0], pages[1]
    assert first["pageInfo"]["hasPreviousPage"] is False and second["pageInfo"]["hasPreviousPage"] is True
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    slow_only = data(client, """query($id: ID!) { run(id: $id) { requests(first: 50, filter: {minE2eMs: 100000}) {
      nodes { eventId } totalCount pageInfo { hasNextPage endCursor } } } }""", id=run_id)["run"]["requests"]
    assert slow_only == {"nodes": [], "totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}}
    too_many = gql(client, """query($id: ID!) { run(id: $id) { requests(first: 501) { totalCount } } }""", id=run_id)
    assert error_codes(too_many) == ["BAD_USER_INPUT"] and "between 1 and 500" in too_many["errors"][0]["message"]


async def test_compare_runs_finds_the_slower_candidate_and_not_noise(client: TestClient, pg: asyncpg.Connection,
                                                                       experiments: dict[str, Any]) -> None:
    # "fast" and "fast-again" each run alone on a fresh mock with the same seed: the server draws the very same
    # latencies for both, so all that differs between the two runs is the client's own noise.
    runs, drawn = {}, {}
    for name in ("fast", "fast-again"):
        with run_mock_llm(**MOCK) as own:
            runs[name] = run_to_end(client, await store_experiment(pg, same_behaviour(own.base_url, name)))
            drawn[name] = [r["ttft_ms"] for r in own.ground_truth() if r["path"].endswith("/chat/completions")]
    assert len(drawn["fast"]) == 20 and drawn["fast"] == drawn["fast-again"]
    fast, fast_again = runs["fast"], runs["fast-again"]
    slow = run_to_end(client, experiments["slow"])
    query = """query($a: ID!, $b: ID!) { compareRuns(baseline: $a, candidate: $b, metrics: [TTFT]) {
      keys { values } metric baselineN candidateN deltaMedian ciLow ciHigh pValue verdict } }"""
    slower = data(client, query, a=fast, b=slow)["compareRuns"]
    assert slower["verdict"] == ["slower"] and slower["baselineN"] == [20] and slower["candidateN"] == [20]
    assert slower["pValue"][0] < 0.01 and 0 < slower["ciLow"][0] <= slower["ciHigh"][0]
    medians = {run: float(np.median(list(ttfts_by_event(client, run).values()))) for run in (fast, slow)}
    # Of the runs' rows; the API gives each median to the metric's precision (0.001 ms), so the difference of two
    # rounded medians may be 0.001 off the difference of the exact ones, and float32 storage adds its own ulp.
    assert slower["deltaMedian"][0] == pytest.approx(medians[slow] - medians[fast], abs=2e-3)
    same = data(client, query, a=fast, b=fast_again)["compareRuns"]
    assert same["verdict"] == ["no_difference"], same
    assert data(client, query, a=fast, b=slow)["compareRuns"] == slower  # deterministic
    assert error_codes(gql(client, query, a=fast, b=fast)) == ["BAD_USER_INPUT"]


def test_latency_series_over_the_project(client: TestClient, experiments: dict[str, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = run_to_end(client, experiments["fast"])
    project = data(client, '{ project(slug: "tests") { id } }')["project"]["id"]
    now = datetime.now(UTC)
    query = """query($p: ID!, $from: DateTime!, $to: DateTime!, $models: [String!], $i: Float!) {
      latencySeries(projectId: $p, from: $from, to: $to, intervalSeconds: $i, metric: E2E,
                    percentiles: [50, 99], models: $models) {
        metric bucketStart model count values { percentile values } quantileMethod } }"""
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()}
    series = data(client, query, p=project, models=None, i=3600.0, **window)["latencySeries"]
    assert series["metric"] == "E2E" and sum(series["count"]) == 20 and set(series["model"]) == {"m"}
    assert series["quantileMethod"] == "EXACT"
    # Whole minutes and (with the threshold lowered to one request) a large enough range: from the rollup.
    from benchlab.analytics import rollup

    monkeypatch.setattr(rollup, "MIN_ROLLUP_REQUESTS", 1)
    monkeypatch.setattr(rollup, "MIN_REQUESTS_PER_STATE", 1)
    hours = {"from": (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0).isoformat(),
             "to": (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0).isoformat()}
    rolled = data(client, query, p=project, models=None, i=3600.0, **hours)["latencySeries"]
    assert rolled["quantileMethod"] == "APPROXIMATE" and sum(rolled["count"]) == 20
    metrics = data(client, RUN_ANALYTICS, id=run_id)["run"]["metrics"]
    assert metrics["quantileMethod"] == "APPROXIMATE" and metrics["count"] == [20]
    assert data(client, query, p=project, models=None, i=3600.0, **window)["latencySeries"]["quantileMethod"] == (
        "EXACT")  # `from` is not a whole minute
    # exact: true, where the rollup would answer: every value, exact, as the run's summary
    forced = data(client, query.replace("models: $models)", "models: $models, exact: true)"), p=project, models=None,
                  i=3600.0, **hours)["latencySeries"]
    assert forced["quantileMethod"] == "EXACT" and forced["count"] == rolled["count"]
    assert forced["values"] == series["values"]
    exact_metrics = data(client, RUN_ANALYTICS.replace("metrics(metrics:", "metrics(exact: true, metrics:"),
                         id=run_id)["run"]["metrics"]
    assert exact_metrics["quantileMethod"] == "EXACT" and exact_metrics["count"] == [20]
    assert [v["percentile"] for v in series["values"]] == [50.0, 99.0]
    assert data(client, query, p=project, models=["other"], i=60.0, **window)["latencySeries"]["count"] == []
    body = gql(client, query, p=project, models=None, i=0.0, **window)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = gql(client, query, p=project, models=None, i=60.0, **{"from": window["to"], "to": window["from"]})
    assert error_codes(body) == ["BAD_USER_INPUT"]
