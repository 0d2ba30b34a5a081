"""The Grafana dashboards (dashboards/generate.py -> dashboards/benchlab/*.json), proven without Grafana.

1. The checked-in JSON is the generator's output, and it passes a lint: datasources only through datasource
   variables, unique panel ids, units, a valid schemaVersion, every ClickHouse query bounded by the time range or
   a run and reading `${database}.<table>`, variables quoted as their kind needs and all defined.
2. Every variable's and every panel's query, expanded as Grafana and the datasource plugins expand them
   (tests/helpers/grafana.py), runs against the real engines (chDB, embedded PostgreSQL) on a seeded project:
   two runs of a fast and a failing model against the mock LLM (TTFT 50 ms) and a scored quiz run whose scores
   are known in advance. Each panel returns what its visualisation needs, and the key panels the known numbers.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from benchlab.engine.deps import EngineDeps
from benchlab.stores.clickhouse import ClickHouseStore
from tests.helpers import grafana
from tests.helpers.engine import mock_spec, run_spec
from tests.helpers.grafana import ALL, CLICKHOUSE, POSTGRES, Selection, TimeRange
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.quiz import ACCURACY, ITEMS, answer_key, correct, quiz_spec

__all__ = ["answer_key"]  # a fixture

DASHBOARDS = grafana.load_dashboards()
RUN_VARIABLES = {"run", "baseline", "candidate"}
# What the dashboards read, and nothing else (the Grafana roles grant exactly these).
CLICKHOUSE_TABLES = {"request_events", "scores"}
POSTGRES_TABLES = {"projects", "experiments", "runs", "scoring_passes"}
NUMERIC = (int, float)
# Production traffic's panels read production rows only, which this seed has none of: tests/test_production_traffic.py
# runs them on production rows of its own.
PRODUCTION = "Benchlab / Production traffic"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("dashboards_generate", grafana.ROOT / "dashboards" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_sql(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, plugin, sql) of every panel target and every query variable."""
    found = [(f"panel {p['title']!r}", grafana.datasource_type(t["datasource"], dashboard), t["rawSql"])
             for p, t in grafana.panel_queries(dashboard)]
    found += [(f"variable {v['name']}", grafana.datasource_type(v["datasource"], dashboard), grafana.variable_sql(v))
              for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return found


# ------------------------------------------------------------------------------------------------ the JSON
def test_checked_in_json_is_the_generators_output() -> None:
    rendered = _generator().render()
    on_disk = {path.name: path.read_text() for path in grafana.DASHBOARD_DIR.glob("*.json")}
    assert on_disk == rendered, "run `python dashboards/generate.py`"
    titles = {d["title"] for d in DASHBOARDS.values()}
    assert titles == {"Benchlab / Overview", "Benchlab / Latency", "Benchlab / Throughput & cost",
                      "Benchlab / Errors", "Benchlab / Quality & leaderboard", "Benchlab / Run comparison",
                      PRODUCTION}


def test_provisioned_in_the_benchlab_folder() -> None:
    text = (grafana.ROOT / "dashboards" / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    assert "folder: Benchlab" in text and "path: /var/lib/grafana/dashboards/benchlab" in text
    assert len({d["uid"] for d in DASHBOARDS.values()}) == len(DASHBOARDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_lint(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert isinstance(dashboard["schemaVersion"], int) and 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    multi = {n for n, v in variables.items() if v.get("multi") or v.get("includeAll")}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)

    # Datasources only by variable: no uid literal anywhere in panels or query variables.
    for node in [*dashboard["panels"], *[t for _, t in grafana.panel_queries(dashboard)],
                 *[v for v in variables.values() if v["type"] == "query"]]:
        ref = node["datasource"]
        assert re.fullmatch(r"\$\{\w+\}", ref["uid"]), (node.get("title"), ref)
        assert variables[ref["uid"][2:-1]]["type"] == "datasource"
    assert "benchlab-clickhouse" not in str(dashboard["panels"]) and "benchlab-postgres" not in str(dashboard["panels"])

    for panel in dashboard["panels"]:
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["targets"], panel["title"]
        if panel["type"] in ("timeseries", "stat", "barchart", "table"):
            assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["value"] is None

    for where, plugin, sql in all_sql(dashboard):
        refs = grafana.variable_references(sql)
        for var, fmt, offset in refs:
            assert var in variables, (where, var)
            if var == "database":  # the constant: an identifier, always qualifying a table
                assert fmt is None and sql[offset:].startswith("${database}."), where
            elif var in multi:
                # A multi-value variable: quoted by the format, or the $__conditionalAll switch.
                assert fmt == "singlequote" or sql[:offset].rstrip().endswith(","), (where, var)
            else:
                assert fmt is None and sql[offset - 1] == "'" and sql[sql.index("}", offset) + 1] == "'", (where, var)
        if plugin == CLICKHOUSE:
            bounded = "$__timeFilter(" in sql or {v for v, _, _ in refs} & RUN_VARIABLES
            assert bounded, f"{where}: a ClickHouse query must be bounded by the time range or a run"
            for table in re.findall(r"\b(?:FROM|(?<!ARRAY )JOIN)\s+([^\s(]+)", sql):
                assert table.removeprefix("${database}.") in CLICKHOUSE_TABLES and table.startswith("${database}."), \
                    (where, table)
            if re.search(r"quantile", sql, re.IGNORECASE):
                assert re.findall(r"quantile\w*", sql) and all(
                    f.startswith("quantileExactInclusive") for f in re.findall(r"quantile\w*", sql)), where
        else:
            # a function after FROM (jsonb_array_elements(...)) is not a table
            for table in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)\b(?!\s*\()", sql):
                assert table in POSTGRES_TABLES, (where, table)

    # Variables referenced anywhere (links, descriptions) exist; data links carry the run to a known dashboard.
    for text in grafana.strings(dashboard["panels"]):
        for var, _, _ in grafana.variable_references(text):
            assert var in variables or var.startswith("__"), (name, var)
        for uid in re.findall(r"/d/([\w-]+)\?", text):
            target = next(d for d in DASHBOARDS.values() if d["uid"] == uid)
            linked = re.findall(r"var-(\w+)=", text)
            assert set(linked) <= {v["name"] for v in target["templating"]["list"]}, (text, linked)


def test_timeseries_and_stats_have_units_and_latency_panels_define_their_metric() -> None:
    for dashboard in DASHBOARDS.values():
        for panel in dashboard["panels"]:
            sql = " ".join(t["rawSql"] for t in panel["targets"])
            for column, label in (("ttft_ms", "TTFT"), ("e2e_ms", "E2E"), ("tpot_ms", "TPOT")):
                if re.search(rf"quantile\w*\([\d.]+\)\({column}", sql):
                    assert f"{label}:" in panel["description"] and "quantileExactInclusive" in panel["description"]


# ------------------------------------------------------------------------------------------ macro expansion
def test_macro_expansion_follows_the_plugins() -> None:
    time = TimeRange(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 1, tzinfo=UTC), interval_s=0.2)
    models = Selection([ALL], ["a", "b'c"], multi=True)
    sql = ("SELECT $__timeInterval(ts) AS time, count() / $__interval_s FROM t WHERE $__timeFilter(ts) "
           "AND $__conditionalAll(model IN (${model:singlequote}), $model) AND p = '${project}' "
           "AND ts < $__toTime AND ts > $__fromTime")
    selections = {"model": models, "project": Selection(["p1"])}
    assert grafana.expand(sql, CLICKHOUSE, selections, time) == (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 1 second) AS time, count() / 1 FROM t "
        "WHERE ts >= toDateTime(1735689600) AND ts <= toDateTime(1735693200) AND 1=1 AND p = 'p1' "
        "AND ts < toDateTime(1735693200) AND ts > toDateTime(1735689600)")
    selections["model"] = Selection(["a", "b'c"], ["a", "b'c", "d"], multi=True)
    assert "AND model IN ('a','b\\'c') AND" in grafana.expand(sql, CLICKHOUSE, selections, time)
    assert grafana.interpolate("[${model:singlequote}]", {"model": Selection([ALL], ["x", "y"], multi=True)}) \
        == "['x','y']"
    assert grafana.interpolate("(${m:sqlstring})", {"m": Selection(["o'k"])}) == "('o''k')"
    assert grafana.expand("WHERE $__timeFilter(created_at)", POSTGRES, {}, time) == \
        "WHERE created_at BETWEEN '2025-01-01T00:00:00Z' AND '2025-01-01T01:00:00Z'"
    assert grafana.expand("x = $__interval_s", CLICKHOUSE, {}, TimeRange(time.start, time.end, 90.7)) == "x = 90"
    with pytest.raises(KeyError):
        grafana.interpolate("'${nope}'", {})


# ------------------------------------------------------------------------------------ against the engines
async def _run_sql(plugin: str, sql: str, pg: asyncpg.Connection, ch: ClickHouseStore) -> list[dict[str, Any]]:
    if plugin == CLICKHOUSE:
        return (await ch.query(sql, caller="tests")).dicts()
    return [dict(row) for row in await pg.fetch(sql)]


async def _selections(dashboard: dict[str, Any], chosen: dict[str, list[str]], pg: asyncpg.Connection,
                      ch: ClickHouseStore, time: TimeRange, database: str) -> dict[str, Selection]:
    """Resolve the variables in order, as Grafana does: each query variable's options come from its own query
    (run against the engines), with the earlier variables' values; `chosen` picks values (default: All, or the
    first option)."""
    selections: dict[str, Selection] = {}
    for variable in dashboard["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            selections[name] = Selection([variable["current"]["value"]])
        elif variable["type"] == "constant":
            selections[name] = Selection([database])
        elif variable["type"] == "textbox":
            selections[name] = Selection([variable["current"]["value"]])
        else:
            plugin = grafana.datasource_type(variable["datasource"], dashboard)
            rows = await _run_sql(plugin, grafana.expand(grafana.variable_sql(variable), plugin, selections, time),
                                  pg, ch)
            options = [str(row.get("__value", next(iter(row.values())))) for row in rows]
            assert options or variable["hide"] == 2, f"variable {name} has no options"
            default = [ALL] if variable["includeAll"] else options[:1]
            values = chosen.get(name, default)
            assert values == [ALL] or set(values) <= set(options), (name, values, options)
            selections[name] = Selection(values, options, multi=variable["multi"])
    return selections


async def _run_dashboards(pg: asyncpg.Connection, ch: ClickHouseStore, chosen: dict[str, list[str]],
                          time: TimeRange, *, every_panel_has_rows: bool, titles: set[str] | None = None
                          ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every panel of the dashboards (or of those titled `titles`), on the engines."""
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for dashboard in DASHBOARDS.values():
        if dashboard["title"] not in (titles if titles is not None else {d["title"] for d in DASHBOARDS.values()}):
            continue
        selections = await _selections(dashboard, chosen, pg, ch, time, ch.database)
        for panel, target in grafana.panel_queries(dashboard):
            plugin = grafana.datasource_type(target["datasource"], dashboard)
            sql = grafana.expand(target["rawSql"], plugin, selections, time)
            try:
                rows = await _run_sql(plugin, sql, pg, ch)
            except Exception as exc:  # the panel and its SQL in the failure
                raise AssertionError(f"{dashboard['title']} / {panel['title']}: {exc}\n{sql}") from exc
            if rows or every_panel_has_rows:
                _check_shape(dashboard["title"], panel, rows)
            results[(dashboard["title"], panel["title"])] = rows
    return results


def _check_shape(dashboard: str, panel: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    where = f"{dashboard} / {panel['title']}"
    assert rows, f"{where}: no rows on the seeded project\n{panel['targets'][0]['rawSql']}"
    first = rows[0]
    numbers = [k for k, v in first.items() if isinstance(v, NUMERIC) and not isinstance(v, bool)]
    if panel["type"] == "timeseries":
        assert isinstance(first.get("time"), datetime), where
        assert numbers, where
        assert [r["time"] for r in rows] == sorted(r["time"] for r in rows), f"{where}: not sorted by time"
    elif panel["type"] == "stat":
        assert len(rows) == 1 and numbers, where
    elif panel["type"] == "barchart":
        x_field = panel["options"]["xField"]
        assert isinstance(first[x_field], str) and numbers, where
    for link in [*panel["fieldConfig"]["defaults"].get("links", []),
                 *[p["value"][0] for o in panel["fieldConfig"]["overrides"] for p in o["properties"]
                   if p["id"] == "links"]]:
        for column in re.findall(r"__data\.fields\.(\w+)", link["url"]):
            assert column in first, f"{where}: a link needs the column {column}"


@pytest.fixture
async def seeded(engine_deps: EngineDeps, answer_key: Path) -> dict[str, Any]:
    """Two scored runs (baseline, candidate) of `fast` (TTFT 50 ms) and `faulty` (HTTP 500), and a quiz run."""
    models = {"fast": "mock-llm?ttft_ms=50&gap_ms=1&output_tokens=6", "faulty": "mock-llm?fault=500"}
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = mock_spec(mock.base_url, models=models, items=5, name="latency",
                         evaluators=[{"type": "contains", "value": "tok", "name": "has-tokens"}])
        baseline = await run_spec(engine_deps, spec)
        candidate = await run_spec(engine_deps, spec)
        quiz = await run_spec(engine_deps, quiz_spec(mock.base_url, name="quiz"))
    for run in (baseline, candidate, quiz):
        assert run.status == "completed", run.error
    assert baseline.experiment_id == candidate.experiment_id != quiz.experiment_id
    return {"baseline": baseline, "candidate": candidate, "quiz": quiz}


async def test_every_panel_runs_against_the_engines(seeded: dict[str, Any], pg: asyncpg.Connection,
                                                    clickhouse: ClickHouseStore) -> None:
    baseline, candidate, quiz = seeded["baseline"], seeded["candidate"], seeded["quiz"]
    now = datetime.now(UTC)
    time = TimeRange(now - timedelta(hours=1), now + timedelta(minutes=5), interval_s=60)
    chosen = {"project": [str(baseline.project_id)], "experiment": [str(baseline.experiment_id)],
              "run": [str(baseline.id)], "baseline": [str(baseline.id)], "candidate": [str(candidate.id)]}

    seeded_titles = {d["title"] for d in DASHBOARDS.values()} - {PRODUCTION}
    every = await _run_dashboards(pg, clickhouse, chosen, time, every_panel_has_rows=True,  # model: All
                                  titles=seeded_titles)
    # One model selected (the faulty one's errors and the quiz's scores are filtered out).
    fast = await _run_dashboards(pg, clickhouse, {**chosen, "model": ["fast"]}, time, every_panel_has_rows=False,
                                 titles=seeded_titles)

    # Requests: everything that was sent (2 runs x 2 models x 5 items, the quiz 2 models x 12 items).
    assert every[("Benchlab / Overview", "Requests")] == [{"requests": 2 * 2 * 5 + 2 * ITEMS}]
    assert fast[("Benchlab / Overview", "Requests")] == [{"requests": 2 * 5}]
    assert every[("Benchlab / Overview", "Runs")] == [{"runs": 3}]
    # p50 TTFT of the mock's fixed 50 ms: at least 50 ms, a few ms of client and loopback overhead at most.
    [latency] = fast[("Benchlab / Overview", "Latency")]
    assert 50 <= latency["p50_ttft_ms"] < 60 and latency["p50_ttft_ms"] <= latency["p99_ttft_ms"]
    by_model = {r["model"]: r for r in every[("Benchlab / Latency", "Percentiles of the run by model")]}
    assert 50 <= by_model["fast"]["ttft_p50"] < 60 and by_model["fast"]["requests"] == 5
    assert by_model["faulty"]["requests"] == 5 and by_model["faulty"]["ttft_p50"] != by_model["faulty"]["ttft_p50"]

    # Errors: the faulty model fails every request, the fast one none.
    errors = {r["model"]: r for r in every[("Benchlab / Errors", "Errors by provider and model")]}
    assert errors["faulty"]["error_rate"] == 1.0 and errors["faulty"]["errors"] == 10
    assert errors["fast"]["error_rate"] == 0.0
    assert every[("Benchlab / Errors", "Error rate")][0]["error_rate"] == pytest.approx(10 / 44)
    assert {r["http_status"] for r in every[("Benchlab / Errors", "Errors by HTTP status")]} == {"500"}
    assert fast[("Benchlab / Overview", "Error rate")] == [{"error_rate": 0.0}]

    # Quality: the quiz's pass rates are the known ones.
    quality = {(r["evaluator"], r["model"]): r for r in every[("Benchlab / Quality & leaderboard",
                                                               "Pass rate by evaluator and model")]}
    for model in ACCURACY:
        known = sum(correct(model, n) for n in range(ITEMS))
        for evaluator in ("hit", "judged", "overall"):
            row = quality[(evaluator, model)]
            assert (row["scored"], row["passes"]) == (ITEMS, known), (evaluator, model)
            assert row["pass_rate"] == pytest.approx(known / ITEMS)
    leaderboard = {r["model"]: r for r in every[("Benchlab / Quality & leaderboard", "Leaderboard")]}
    assert set(leaderboard) == {"fast", "faulty", "strong", "weak"}
    assert leaderboard["strong"]["pass_rate"] == pytest.approx(sum(correct("strong", n) for n in range(ITEMS)) / ITEMS)
    [judge] = every[("Benchlab / Quality & leaderboard", "Judge cost")]
    assert judge["judge_model"] == "grader" and judge["verdicts"] > 0

    # Throughput: requests/s over the intervals sum to the requests sent (interval 60 s).
    rps = every[("Benchlab / Throughput & cost", "Requests/s by model")]
    assert sum(r["rps"] for r in rps) * 60 == pytest.approx(44)

    # Run comparison: the two runs side by side.
    sides = {r["side"]: r for r in every[("Benchlab / Run comparison", "The two runs")]}
    assert (sides["baseline"]["run_id"], sides["candidate"]["run_id"]) == (str(baseline.id), str(candidate.id))
    compared = {r["model"]: r for r in every[("Benchlab / Run comparison", "Cost and errors per group")]}
    assert compared["fast"]["baseline_requests"] == compared["fast"]["candidate_requests"] == 5
    assert compared["faulty"]["candidate_error_rate"] == 1.0
    latency_pair = {r["model"]: r for r in every[("Benchlab / Run comparison", "Latency per group")]}
    assert 50 <= latency_pair["fast"]["baseline_ttft_p50"] < 60
    assert 50 <= latency_pair["fast"]["candidate_ttft_p50"] < 60

    # The latest-runs table lists the three runs, newest first, with their model count.
    latest = every[("Benchlab / Overview", "Latest runs")]
    assert [r["run_id"] for r in latest] == [str(quiz.id), str(candidate.id), str(baseline.id)]
    assert all(r["status"] == "completed" and r["models"] == 2 for r in latest)
