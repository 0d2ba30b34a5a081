"""The `productionTraffic` view, `latencySeries(source:)` and the Production traffic dashboard, on production rows
whose every figure is computed here in Python by benchlab.metrics' definitions (the exact quantile method)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from starlette.testclient import TestClient

from benchlab import catalog
from benchlab.api.ids import encode_global_id
from benchlab.metrics import LATENCY_DECIMALS, METRICS
from benchlab.stores import scores as score_store
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.scores import ScoreRow
from tests.helpers.access import as_key, make_key
from tests.helpers.event_rows import event_row, table_columns
from tests.helpers.grafana import TimeRange
from tests.helpers.graphql import data, error_codes, gql
from tests.test_dashboards import PRODUCTION, _run_dashboards

NIL = UUID(int=0)
MODELS = {("openai", "gpt-a"): 60, ("anthropic", "claude-b"): 45}
TRAFFIC = """query($p: ID!, $from: DateTime, $to: DateTime, $models: [String!]) {
  productionTraffic(projectId: $p, from: $from, to: $to, models: $models) {
    from to scoredRequests successfulRequests
    models { provider model requests errors errorRate promptTokens completionTokens costUsd costUnknownRequests
             metrics { metric n mean percentiles { percentile values } } }
    judged { evaluator scored }
  } }"""


def production_rows(columns: tuple[str, ...], project: UUID, now: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """Requests of two models over the last 23 hours: spread latencies, some failed, some without a price."""
    rng = random.Random(seed)
    rows = []
    for (provider, model), count in MODELS.items():
        for n in range(count):
            failed = rng.random() < 0.12
            tokens = rng.choice([0, 1, 2, rng.randint(3, 400)])
            ttft = 0.0 if failed else round(rng.uniform(40, 900), 3)
            values = dict(zip(columns, event_row(
                columns, n, project_id=project, run_id=NIL, experiment_id=NIL, source="production",
                event_id=uuid.uuid4(), item_id="", prompt_version="", params_hash="", provider=provider, model=model,
                ts=now - timedelta(seconds=rng.uniform(60, 23 * 3600)), status="error" if failed else "ok",
                error_type="server_error" if failed else "", http_status=500 if failed else 200,
                ttft_ms=ttft, e2e_ms=0.0 if failed else ttft + round(rng.uniform(10, 5000), 3),
                tpot_ms=round(rng.uniform(5, 60), 3) if tokens >= 2 and not failed else 0.0,
                completion_tokens=tokens, prompt_tokens=rng.randint(1, 900),
                cost_usd=round(rng.uniform(0, 0.01), 6), cost_known=rng.random() < 0.8,
                output="" if failed else f"answer {n}",
                input=json.dumps([{"role": "user", "content": f"question {n}"}])), strict=True))
            rows.append(values)
    return rows


async def insert(store: ClickHouseStore, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    await store.insert("request_events", [tuple(row[c] for c in columns) for row in rows], columns, caller="tests")


def expected(rows: list[dict[str, Any]], percentiles: tuple[float, ...] = (50, 95, 99)) -> dict[tuple[str, str], Any]:
    """Per (provider, model): counts, tokens, cost and each latency's n, mean and percentiles, by metrics.py."""
    found: dict[tuple[str, str], Any] = {}
    for key in sorted({(row["provider"], row["model"]) for row in rows}):
        mine = [row for row in rows if (row["provider"], row["model"]) == key]
        figures: dict[str, Any] = {
            "requests": len(mine), "errors": sum(row["status"] != "ok" for row in mine),
            "promptTokens": sum(row["prompt_tokens"] for row in mine),
            "completionTokens": sum(row["completion_tokens"] for row in mine),
            "costUnknownRequests": sum(not row["cost_known"] for row in mine)}
        figures["costUsd"] = sum(row["cost_usd"] for row in mine if row["cost_known"])
        for name in ("ttft_ms", "e2e_ms", "tpot_ms"):
            metric = METRICS[name]
            values = [row[name] for row in mine if metric.takes(row)]
            figures[name] = {"n": len(values), "percentiles": [
                round(metric.quantile(values, p / 100), LATENCY_DECIMALS) for p in percentiles]}
        found[key] = figures
    return found


def columns_by_row(models: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The API's columns as one dict per (provider, model) row."""
    result = {}
    for index, key in enumerate(zip(models["provider"], models["model"], strict=True)):
        row = {name: models[name][index] for name in ("requests", "errors", "errorRate", "promptTokens",
                                                      "completionTokens", "costUsd", "costUnknownRequests")}
        for metric in models["metrics"]:
            row[metric["metric"]] = {"n": metric["n"][index],
                                     "percentiles": [p["values"][index] for p in metric["percentiles"]]}
        result[key] = row
    return result


@pytest.fixture
async def traffic(client: TestClient, clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> dict[str, Any]:
    """Production rows of project `shop` (and older ones), experiment rows beside them, and `other`'s rows."""
    now = datetime.now(UTC)
    shop = await catalog.create_project(pg, "shop", "Shop")
    other = await catalog.create_project(pg, "other", "Other")
    columns = await table_columns(clickhouse)
    rows = production_rows(columns, shop.id, now)
    await insert(clickhouse, columns, rows)
    old = [{**row, "event_id": uuid.uuid4(), "ts": now - timedelta(days=2)} for row in rows[:20]]
    experiment = [dict(zip(columns, event_row(columns, n, project_id=shop.id, model="gpt-a", provider="openai",
                                              ts=now - timedelta(minutes=30)), strict=True)) for n in range(30)]
    elsewhere = production_rows(columns, other.id, now, seed=8)
    await insert(clickhouse, columns, old + experiment + elsewhere)
    return {"now": now, "shop": shop.id, "other": other.id, "rows": rows, "experiment": experiment}


def test_production_traffic_figures_are_metrics_py_over_the_production_rows(client: TestClient,
                                                                            traffic: dict[str, Any]) -> None:
    result = data(client, TRAFFIC, p=encode_global_id("Project", traffic["shop"]))["productionTraffic"]
    got = columns_by_row(result["models"])
    want = expected(traffic["rows"])  # not the experiment's rows, not the rows of two days ago
    assert set(got) == set(want)
    for key, figures in want.items():
        row = got[key]
        for name in ("requests", "errors", "promptTokens", "completionTokens", "costUnknownRequests"):
            assert row[name] == figures[name], (key, name)
        assert row["errorRate"] == pytest.approx(figures["errors"] / figures["requests"])
        assert row["costUsd"] == pytest.approx(figures["costUsd"], rel=1e-12)
        for name, metric in (("ttft_ms", "TTFT"), ("e2e_ms", "E2E"), ("tpot_ms", "TPOT")):
            assert row[metric] == figures[name], (key, metric)
    assert result["successfulRequests"] == sum(row["status"] == "ok" for row in traffic["rows"])
    assert result["scoredRequests"] == 0 and result["judged"] == {"evaluator": [], "scored": []}
    # A range and a model filter narrow it; the default range is the last 24 hours.
    start = traffic["now"] - timedelta(hours=6)
    narrow = data(client, TRAFFIC, p=encode_global_id("Project", traffic["shop"]), models=["claude-b"],
                  **{"from": start.isoformat(), "to": traffic["now"].isoformat()})["productionTraffic"]
    inside = [row for row in traffic["rows"] if row["model"] == "claude-b" and row["ts"] >= start]
    [(key, figures)] = expected(inside).items()
    [(got_key, row)] = columns_by_row(narrow["models"]).items()
    assert got_key == key == ("anthropic", "claude-b")
    assert (row["requests"], row["errors"], row["TTFT"], row["E2E"], row["TPOT"]) == (
        figures["requests"], figures["errors"], figures["ttft_ms"], figures["e2e_ms"], figures["tpot_ms"])


async def test_requests_page_newest_first_and_projects_stay_apart(client: TestClient, traffic: dict[str, Any],
                                                                  pg: asyncpg.Connection) -> None:
    shop = encode_global_id("Project", traffic["shop"])
    query = """query($p: ID!, $after: String) { productionTraffic(projectId: $p) {
        requests(first: 40, after: $after) { totalCount pageInfo { hasNextPage endCursor }
                                              nodes { eventId ts model status output input } } } }"""
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = data(client, query, p=shop, after=after)["productionTraffic"]["requests"]
        assert page["totalCount"] == len(traffic["rows"])
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    newest_first = sorted(traffic["rows"], key=lambda row: (row["ts"], row["event_id"]), reverse=True)
    assert [node["eventId"] for node in seen] == [str(row["event_id"]) for row in newest_first]
    assert [(node["output"], node["input"]) for node in seen] == [(row["output"], row["input"]) for row in newest_first]

    # Another project's key sees its own production traffic only, and not this project at all.
    key = await make_key(pg, traffic["other"], "viewer")
    assert error_codes(as_key(client, key, TRAFFIC, p=shop)) == ["NOT_FOUND"]
    theirs = as_key(client, key, TRAFFIC, p=encode_global_id("Project", traffic["other"]))
    assert sum(theirs["data"]["productionTraffic"]["models"]["requests"]) == 105


def test_latency_series_filters_by_source(client: TestClient, traffic: dict[str, Any]) -> None:
    query = """query($p: ID!, $from: DateTime!, $to: DateTime!, $source: RequestSource) {
      latencySeries(projectId: $p, from: $from, to: $to, intervalSeconds: 86400, metric: TTFT, source: $source,
                    models: ["gpt-a"], percentiles: [50]) { model count values { values } quantileMethod } }"""
    start = (traffic["now"] - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    span = {"p": encode_global_id("Project", traffic["shop"]), "from": start.isoformat(),
            "to": (traffic["now"] + timedelta(days=1)).isoformat()}
    production = [row for row in traffic["rows"] if row["model"] == "gpt-a" and METRICS["ttft_ms"].takes(row)]
    experiment = [row for row in traffic["experiment"] if METRICS["ttft_ms"].takes(row)]
    counts = {}
    for source in ("PRODUCTION", "EXPERIMENT", None):
        series = data(client, query, source=source, **span)["latencySeries"]
        assert series["quantileMethod"] == "EXACT"
        counts[source] = sum(series["count"])
    assert counts == {"PRODUCTION": len(production), "EXPERIMENT": len(experiment),
                      None: len(production) + len(experiment)}
    assert gql(client, query, source="STAGING", **span).get("errors")  # not a source: refused by the schema


async def test_the_production_dashboard_runs_on_production_rows(traffic: dict[str, Any], pg: asyncpg.Connection,
                                                               clickhouse: ClickHouseStore) -> None:
    shop, now = traffic["shop"], traffic["now"]
    scored = [row for row in traffic["rows"] if row["status"] == "ok"][:30]
    pass_id = uuid.uuid4()
    score_rows = [ScoreRow(project_id=shop, run_id=NIL, experiment_id=NIL, pass_id=pass_id, event_id=row["event_id"],
                           ts=row["ts"], item_id="", repetition=0, load_phase="main", model=row["model"],
                           prompt_version="", params_hash="", evaluator=evaluator, evaluator_type=kind,
                           score_name=evaluator, weight=1.0, value=1.0 if index % 3 else 0.0,
                           passed=bool(index % 3), label="", reason="").as_row()
                  for index, row in enumerate(scored) for evaluator, kind in (("helpful", "llm-rubric"),
                                                                              ("overall", "overall"))]
    await clickhouse.insert(score_store.TABLE, score_rows, score_store.COLUMNS, caller="tests")
    time = TimeRange(now - timedelta(hours=24), now + timedelta(minutes=5), interval_s=3600)
    results = await _run_dashboards(pg, clickhouse, {"project": [str(shop)]}, time, every_panel_has_rows=True,
                                    titles={PRODUCTION})
    [requests] = results[(PRODUCTION, "Requests")]
    assert requests == {"requests": len(traffic["rows"]),
                        "errors": sum(row["status"] != "ok" for row in traffic["rows"])}
    [latency] = results[(PRODUCTION, "Latency")]
    ttft = [row["ttft_ms"] for row in traffic["rows"] if METRICS["ttft_ms"].takes(row)]
    assert latency["p95_ttft_ms"] == pytest.approx(METRICS["ttft_ms"].quantile(ttft, 0.95), abs=1e-3)
    [judged] = results[(PRODUCTION, "Judge pass rate")]
    assert judged == {"overall_pass_rate": pytest.approx(sum(bool(i % 3) for i in range(30)) / 30),
                      "scored_requests": 30}
    per_minute = results[(PRODUCTION, "Requests/min by model")]
    assert sum(row["requests_per_min"] for row in per_minute) * 60 == pytest.approx(len(traffic["rows"]))
    cost = results[(PRODUCTION, "Cost per day by model")]
    assert sum(row["cost_usd"] for row in cost) == pytest.approx(
        sum(row["cost_usd"] for row in traffic["rows"] if row["cost_known"]))
    assert len(results[(PRODUCTION, "Latest production requests")]) == 100
