"""Generate Benchlab's Grafana dashboards: `python dashboards/generate.py` writes dashboards/benchlab/*.json.

The JSON files are checked in and provisioned into Grafana's "Benchlab" folder
(provisioning/dashboards/dashboards.yaml); tests/test_dashboards.py proves they are this script's output and runs
every panel's query against chDB and the embedded PostgreSQL. Edit this file, never the JSON.

Conventions (the tests enforce them):
- datasources through the dashboard variables `${ch}` and `${pg}` (type "datasource"), never a uid literal;
- ClickHouse tables as `${database}.<table>` (a hidden constant variable, "benchlab" as provisioned);
- every ClickHouse query is bounded by `$__timeFilter(ts)` or by a run variable (`'${run}'`, `'${baseline}'`...);
- single-value variables are used inside quotes (`'${project}'`, through `toUUIDOrZero` in ClickHouse so an
  empty selection matches nothing instead of failing); the multi-value `model` only as
  `$__conditionalAll(model IN (${model:singlequote}), $model)`, which drops the filter when "All" is selected;
- latency percentiles are `quantileExactInclusive`, Benchlab's one quantile method, over the rows each metric
  takes (benchlab.metrics: successful requests, ...), and each panel's description carries the definition.

Only the standard library and benchlab.metrics (pure; the metric definitions are not restated here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "benchlab"
sys.path.insert(0, str(HERE.parent / "server"))

from benchlab.metrics import METRICS, QUANTILE_METHOD, Metric  # noqa: E402

SCHEMA_VERSION = 39
CH = {"type": "grafana-clickhouse-datasource", "uid": "${ch}"}
PG = {"type": "grafana-postgresql-datasource", "uid": "${pg}"}
EVENTS = "${database}.request_events"
SCORES = "${database}.scores"

# Filters shared by the queries.
PROJECT = "project_id = toUUIDOrZero('${project}')"
MODELS = "$__conditionalAll(model IN (${model:singlequote}), $model)"
PROJECT_TIME = f"{PROJECT} AND $__timeFilter(ts) AND {MODELS}"
RUN = f"{PROJECT} AND run_id = toUUIDOrZero('${{run}}') AND {MODELS}"
PAIR = f"{PROJECT} AND run_id IN (toUUIDOrZero('${{baseline}}'), toUUIDOrZero('${{candidate}}'))"
# Scores of each run's current pass (its newest completed one), listed by the hidden `pass` variable.
CURRENT_PASS = "has([${pass:singlequote}], toString(pass_id))"
GOOD = ("status = 'ok' AND ttft_ms <= toFloat64OrZero('${slo_ttft_ms}') "
        "AND e2e_ms <= toFloat64OrZero('${slo_e2e_ms}')")
WINDOW_S = "greatest(maxIf(run_offset_s, in_window) - minIf(run_offset_s, in_window), 1e-9)"

TTFT, TTFOT, TPOT, E2E = METRICS["ttft_ms"], METRICS["ttfot_ms"], METRICS["tpot_ms"], METRICS["e2e_ms"]
QUEUE, FROM_INTENDED, GAPS = METRICS["queue_delay_ms"], METRICS["e2e_from_intended_ms"], METRICS["inter_event_ms"]
COST = METRICS["cost_usd"]
COST_SUM = COST.aggregate("sum")
PER_1K = f"1000 * {COST_SUM} / greatest(countIf(cost_known), 1)"  # USD per 1000 requests with a known price

LATENCY_STEPS = [("green", None), ("orange", 1000), ("red", 3000)]
ERROR_STEPS = [("green", None), ("orange", 0.01), ("red", 0.05)]
PASS_STEPS = [("red", None), ("orange", 0.5), ("green", 0.8)]


# ---------------------------------------------------------------------------------------------------- helpers
def q(metric: Metric, level: float, extra: str = "") -> str:
    """The metric's quantile at `level` over the rows it takes (and `extra`), e.g. p50 TTFT."""
    condition = metric.condition + (f" AND {extra}" if extra else "")
    combinators = ("Array" if metric.array else "") + "If"
    return f"quantileExactInclusive{combinators}({level})({metric.name}, {condition})"


def described(*metrics: Metric, note: str = "") -> str:
    """A panel description: each metric's definition and rows, the quantile method, then `note`."""
    lines = [f"{m.label}: {m.description}" for m in metrics]
    if any(m.latency for m in metrics):
        lines.append(f"Percentiles: {QUANTILE_METHOD}.")
    if note:
        lines.append(note)
    return "\n\n".join(lines)


def target(sql: str, *, ds: dict[str, str] = CH, fmt: str = "table", ref: str = "A") -> dict[str, Any]:
    sql = " ".join(sql.split())
    if ds is CH:  # the official plugin's format: 0 = time series, 1 = table
        return {"refId": ref, "datasource": ds, "editorType": "sql", "queryType": fmt,
                "format": 0 if fmt == "timeseries" else 1, "rawSql": sql}
    return {"refId": ref, "datasource": ds, "editorMode": "code", "format": fmt, "rawQuery": True, "rawSql": sql}


def thresholds(steps: list[tuple[str, float | None]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


def panel(kind: str, title: str, sql: str, *, description: str, unit: str = "short", w: int = 12, h: int = 8,
          ds: dict[str, str] = CH, steps: list[tuple[str, float | None]] | None = None,
          options: dict[str, Any] | None = None, links: list[dict[str, Any]] | None = None,
          overrides: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    fmt = "time_series" if kind == "timeseries" and ds is PG else "timeseries" if kind == "timeseries" else "table"
    defaults: dict[str, Any] = {"unit": unit, "thresholds": thresholds(steps or [("green", None)])}
    if steps:
        defaults["color"] = {"mode": "thresholds"}
    if links:
        defaults["links"] = links
    return {"type": kind, "title": title, "description": description, "datasource": ds,
            "targets": [target(sql, ds=ds, fmt=fmt)],
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {}, "gridPos": {"w": w, "h": h}}


def stat(title: str, sql: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("w", 6)
    kw.setdefault("h", 5)
    kw.setdefault("options", {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                              "colorMode": "value", "graphMode": "none", "textMode": "value_and_name"})
    return panel("stat", title, sql, **kw)


def series(title: str, sql: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "right", "calcs": ["mean", "max"]},
                              "tooltip": {"mode": "multi", "sort": "desc"}})
    return panel("timeseries", title, sql, **kw)


def table(title: str, sql: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("w", 24)
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm"})
    return panel("table", title, sql, **kw)


def link(title: str, dashboard_uid: str, variable: str = "run") -> dict[str, Any]:
    """A data link from a table row (its `run_id` field) to another dashboard, keeping project and time."""
    return {"title": title, "targetBlank": False,
            "url": f"/d/{dashboard_uid}?var-project=${{project}}&var-experiment=${{__data.fields.experiment_id}}"
                   f"&var-{variable}=${{__data.fields.run_id}}&${{__url_time_range}}"}


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unique ids in order, and grid positions flowing left to right in Grafana's 24 columns."""
    x = y = row_h = 0
    for number, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = number
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x, row_h = x + w, max(row_h, h)
    return panels


# --------------------------------------------------------------------------------------------- variables
def datasource_var(name: str, label: str, plugin: str, default_name: str) -> dict[str, Any]:
    # `current` names the provisioned datasource (datasources.yaml); another one can be picked in the UI.
    return {"name": name, "label": label, "type": "datasource", "query": plugin, "hide": 2, "regex": "",
            "current": {"text": default_name, "value": default_name}, "refresh": 1, "skipUrlSync": False}


def query_var(name: str, label: str, ds: dict[str, str], sql: str, *, multi: bool = False,
              include_all: bool = False, hide: int = 0, sort: int = 0) -> dict[str, Any]:
    sql = " ".join(sql.split())
    return {"name": name, "label": label, "type": "query", "datasource": ds,
            "definition": sql, "query": {"rawSql": sql, "editorType": "sql", "format": "table", "refId": name}
            if ds is CH else sql,
            "refresh": 2, "multi": multi, "includeAll": include_all, "hide": hide, "sort": sort,
            "current": {"text": ["All"], "value": ["$__all"]} if include_all else {}, "options": [], "regex": ""}


def variables(*extra: dict[str, Any], run: bool = True, experiment: bool = True) -> list[dict[str, Any]]:
    """project -> experiment -> run (PostgreSQL) and model (ClickHouse, multi with All), chained. Production
    traffic belongs to no experiment (`experiment=False`: project and model only)."""
    found: list[dict[str, Any]] = [
        datasource_var("ch", "ClickHouse", "grafana-clickhouse-datasource", "ClickHouse (benchlab)"),
        datasource_var("pg", "PostgreSQL", "grafana-postgresql-datasource", "PostgreSQL (benchlab)"),
        {"name": "database", "type": "constant", "query": "benchlab", "hide": 2, "skipUrlSync": False},
        query_var("project", "Project", PG,
                  "SELECT name || ' (' || slug || ')' AS __text, id::text AS __value FROM projects "
                  "WHERE archived_at IS NULL ORDER BY slug"),
    ]
    if experiment:
        found.append(query_var("experiment", "Experiment", PG,
                               "SELECT name AS __text, id::text AS __value FROM experiments WHERE project_id::text "
                               "= '${project}' AND archived_at IS NULL ORDER BY updated_at DESC"))
    if run and experiment:
        found.append(query_var("run", "Run", PG, RUNS_OF_EXPERIMENT))
    found.append(query_var("model", "Model", CH,
                           f"SELECT DISTINCT model FROM {EVENTS} WHERE {PROJECT} AND $__timeFilter(ts) ORDER BY model",
                           multi=True, include_all=True))
    return found + list(extra)


RUNS_OF_EXPERIMENT = ("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' · ' || status || ' · ' "
                      "|| left(id::text, 8) AS __text, id::text AS __value FROM runs "
                      "WHERE experiment_id::text = '${experiment}' ORDER BY created_at DESC LIMIT 200")

SLO_VARS = [
    {"name": "slo_ttft_ms", "label": "SLO TTFT (ms)", "type": "textbox", "query": "1000", "hide": 0,
     "current": {"text": "1000", "value": "1000"}},
    {"name": "slo_e2e_ms", "label": "SLO E2E (ms)", "type": "textbox", "query": "10000", "hide": 0,
     "current": {"text": "10000", "value": "10000"}},
]

PASS_VAR = query_var(
    "pass", "Scoring passes", PG,
    "SELECT DISTINCT ON (run_id) id::text AS __value FROM scoring_passes "
    "WHERE project_id::text = '${project}' AND status = 'completed' AND $__timeFilter(created_at) "
    "ORDER BY run_id, finished_at DESC, id",
    multi=True, include_all=True, hide=2)


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]],
              template: list[dict[str, Any]], *, time_from: str = "now-24h") -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["benchlab"], "editable": False,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "timezone": "utc", "refresh": "",
        "time": {"from": time_from, "to": "now"}, "graphTooltip": 1, "fiscalYearStartMonth": 0,
        "links": [{"title": "Benchlab", "type": "dashboards", "tags": ["benchlab"], "asDropdown": True,
                   "includeVars": True, "keepTime": True}],
        "annotations": {"list": []},
        "templating": {"list": template},
        "panels": layout(panels),
    }


# ---------------------------------------------------------------------------------------------- dashboards
def overview() -> dict[str, Any]:
    latency = ", ".join(f"{q(m, level)} AS {name}" for m, level, name in (
        (TTFT, 0.5, "p50_ttft_ms"), (TTFT, 0.99, "p99_ttft_ms"), (E2E, 0.5, "p50_e2e_ms"), (E2E, 0.99, "p99_e2e_ms")))
    panels = [
        stat("Runs", "SELECT count(*) AS runs FROM runs WHERE project_id::text = '${project}' "
             "AND $__timeFilter(created_at)", ds=PG, w=4,
             description="Runs of the project created in the time range (every status)."),
        stat("Requests", f"SELECT count() AS requests FROM {EVENTS} WHERE {PROJECT_TIME}", w=4,
             description="Request events (experiments and ingested traffic) sent in the time range; "
                         "retries of one request are one event."),
        stat("Error rate", f"SELECT countIf(status != 'ok') / count() AS error_rate FROM {EVENTS} "
             f"WHERE {PROJECT_TIME}", unit="percentunit", steps=ERROR_STEPS, w=4,
             description="Failed requests (status other than ok, after any retries) / all requests."),
        stat("Latency", f"SELECT {latency} FROM {EVENTS} WHERE {PROJECT_TIME}", unit="ms", steps=LATENCY_STEPS,
             w=8, description=described(TTFT, E2E)),
        stat("Cost", f"SELECT {COST_SUM} AS total_cost_usd, countIf(NOT cost_known) AS unpriced_requests "
             f"FROM {EVENTS} WHERE {PROJECT_TIME}", unit="currencyUSD", w=4,
             overrides=[{"matcher": {"id": "byName", "options": "unpriced_requests"},
                         "properties": [{"id": "unit", "value": "short"}]}],
             description=described(COST)),
        series("Runs over time", f"SELECT $__timeInterval(ts) AS time, uniqExact(run_id) AS runs FROM {EVENTS} "
               f"WHERE {PROJECT_TIME} GROUP BY time ORDER BY time", w=8,
               description="Distinct runs with requests sent in each interval."),
        series("Requests and errors", f"SELECT $__timeInterval(ts) AS time, count() AS requests, "
               f"countIf(status != 'ok') AS errors FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY time ORDER BY time",
               w=8, description="Requests sent and failed requests per interval."),
        series("TTFT and E2E p50 / p99", f"SELECT $__timeInterval(ts) AS time, {latency} FROM {EVENTS} "
               f"WHERE {PROJECT_TIME} GROUP BY time ORDER BY time", unit="ms", w=8,
               description=described(TTFT, E2E)),
        table("Latest runs", LATEST_RUNS, ds=PG, h=10, overrides=[
            {"matcher": {"id": "byName", "options": "run_id"}, "properties": [{"id": "links", "value": [
                link("Latency of this run", "benchlab-latency"),
                link("Compare with this run as the candidate", "benchlab-run-comparison", "candidate")]}]}],
            description="The project's newest runs in the time range: status, size, flags (client-saturated: the "
                        "load generator could not keep up, so latencies include client delay; gate: the quality "
                        "gates' verdict). Click a run to open it in the latency dashboard."),
    ]
    return dashboard("benchlab-overview", "Benchlab / Overview",
                     "Runs, requests, errors, latency and cost of a project at a glance.", panels,
                     variables(run=False))


LATEST_RUNS = """
SELECT r.id::text AS run_id, r.experiment_id::text AS experiment_id, e.name AS experiment, r.status,
       r.created_at, r.started_at, r.finished_at,
       (SELECT count(DISTINCT g->>'model') FROM jsonb_array_elements(COALESCE(r.summary->'groups', '[]'::jsonb)) g)
           AS models,
       r.planned_requests, r.completed_requests, r.failed_requests, r.client_saturated,
       COALESCE(r.gate_status, '') AS gate_status
FROM runs r JOIN experiments e ON e.id = r.experiment_id
WHERE r.project_id::text = '${project}' AND $__timeFilter(r.created_at)
ORDER BY r.created_at DESC LIMIT 50
"""


def latency() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    for metric in (TTFT, TTFOT, TPOT, E2E):
        panels.append(series(
            f"{metric.label} p50 / p99 by model",
            f"SELECT $__timeInterval(ts) AS time, model, {q(metric, 0.5)} AS p50, {q(metric, 0.99)} AS p99 "
            f"FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY time, model ORDER BY time",
            unit="ms", steps=LATENCY_STEPS, description=described(metric)))
    per_run = ", ".join(f"{q(m, level)} AS {m.name.removesuffix('_ms')}_p{round(level * 100)}"
                        for m in (TTFT, TTFOT, TPOT, E2E) for level in (0.5, 0.9, 0.99))
    panels += [
        table("Percentiles of the run by model", f"SELECT model, prompt_version, load_phase, count() AS requests, "
              f"{per_run} FROM {EVENTS} WHERE {RUN} GROUP BY model, prompt_version, load_phase ORDER BY model",
              unit="ms", steps=LATENCY_STEPS, h=8, description=described(TTFT, TTFOT, TPOT, E2E, note=(
                  "The selected run, every request (warm-up included; the run summary keeps to the measurement "
                  "window).")),
              overrides=[{"matcher": {"id": "byName", "options": "requests"},
                          "properties": [{"id": "unit", "value": "short"}]}]),
        panel("barchart", "Inter-event gap distribution of the run",
              f"SELECT toString(pow(2, ceil(log2(greatest(gap, 0.125))))) AS le_ms, count() AS gaps "
              f"FROM {EVENTS} ARRAY JOIN {GAPS.name} AS gap WHERE {RUN} AND {GAPS.condition} "
              f"GROUP BY pow(2, ceil(log2(greatest(gap, 0.125)))) AS bucket, le_ms ORDER BY bucket",
              unit="short", description=described(GAPS, note=(
                  "Bars: gaps up to each power of two of milliseconds (le_ms), over the selected run.")),
              options={"xField": "le_ms", "orientation": "vertical", "showValue": "auto",
                       "legend": {"showLegend": False}}),
        stat("Inter-event gaps of the run", f"SELECT {q(GAPS, 0.5)} AS p50_gap_ms, {q(GAPS, 0.99)} AS p99_gap_ms, "
             f"{GAPS.count()} AS gaps FROM {EVENTS} WHERE {RUN}", unit="ms", w=12, h=8,
             overrides=[{"matcher": {"id": "byName", "options": "gaps"},
                         "properties": [{"id": "unit", "value": "short"}]}],
             description=described(GAPS)),
        series("Queue delay (open-loop runs) p50 / p99 by model",
               f"SELECT $__timeInterval(ts) AS time, model, {q(QUEUE, 0.5)} AS queue_p50, "
               f"{q(QUEUE, 0.99)} AS queue_p99, "
               f"{q(FROM_INTENDED, 0.99)} AS e2e_from_intended_p99 FROM {EVENTS} WHERE {PROJECT_TIME} "
               "GROUP BY time, model ORDER BY time", unit="ms", steps=[("green", None), ("orange", 50), ("red", 500)],
               w=24, description=described(QUEUE, FROM_INTENDED, note=(
                   "Closed-loop profiles (synchronous, concurrent) send as soon as they can: their queue delay is "
                   "the client's own send lag."))),
    ]
    return dashboard("benchlab-latency", "Benchlab / Latency",
                     "TTFT, TTFOT, TPOT and E2E percentiles by model over time and for one run; inter-event gaps; "
                     "queue delay.", panels, variables())


def throughput_cost() -> dict[str, Any]:
    panels = [
        series("Requests/s by model", f"SELECT $__timeInterval(ts) AS time, model, count() / $__interval_s AS rps "
               f"FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY time, model ORDER BY time", unit="reqps",
               description="Requests sent per second in each interval (every status)."),
        series("Output tokens/s by model", f"SELECT $__timeInterval(ts) AS time, model, "
               f"{METRICS['completion_tokens'].aggregate('sum')} / $__interval_s AS tokens_per_s FROM {EVENTS} "
               f"WHERE {PROJECT_TIME} GROUP BY time, model ORDER BY time", unit="short",
               description=described(METRICS["completion_tokens"], note="Per second of each interval.")),
        series("Goodput by model", f"SELECT $__timeInterval(ts) AS time, model, countIf({GOOD}) / $__interval_s AS "
               f"goodput FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY time, model ORDER BY time", unit="reqps",
               description="Good requests per second: successful, TTFT <= ${slo_ttft_ms} ms and "
                           "E2E <= ${slo_e2e_ms} ms (the SLO variables)."),
        stat("Good requests", f"SELECT countIf({GOOD}) / count() AS good_share FROM {EVENTS} WHERE {PROJECT_TIME}",
             unit="percentunit", steps=PASS_STEPS, w=12, h=8,
             description="Share of requests meeting the SLOs (successful, TTFT <= ${slo_ttft_ms} ms, "
                         "E2E <= ${slo_e2e_ms} ms)."),
        table("Throughput of the run in its measurement window", f"SELECT model, prompt_version, load_phase, "
              f"countIf(in_window) AS window_requests, {WINDOW_S} AS window_s, "
              f"countIf(in_window AND status = 'ok') / {WINDOW_S} AS request_throughput, "
              f"sumIf(completion_tokens, in_window AND status = 'ok') / {WINDOW_S} AS output_token_throughput, "
              f"countIf(in_window AND {GOOD}) / {WINDOW_S} AS goodput FROM {EVENTS} WHERE {RUN} "
              "GROUP BY model, prompt_version, load_phase ORDER BY model", unit="short", h=7,
              description="Over the run's measurement window (warm-up and cool-down excluded, on the run's own "
                          "clock): successful requests/s, output tokens/s of successful requests, good requests/s. "
                          "The window here spans the first to the last intended send inside it, so it can be a "
                          "little shorter than the run summary's."),
        table("Cost per run", "SELECT toString(run_id) AS run_id, toString(any(experiment_id)) AS experiment_id, "
              "min(ts) AS first_request, count() AS requests, "
              f"{COST_SUM} AS total_cost_usd, {PER_1K} "
              "AS cost_per_1k_requests_usd, countIf(NOT cost_known) AS unpriced_requests "
              f"FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY run_id ORDER BY first_request DESC LIMIT 100",
              unit="currencyUSD", w=12, h=9, links=[link("Latency of this run", "benchlab-latency")],
              description=described(COST)),
        table("Cost and tokens by model", f"SELECT model, count() AS requests, {COST_SUM} AS total_cost_usd, "
              f"{PER_1K} AS cost_per_1k_requests_usd, "
              "sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, "
              "sum(reasoning_tokens) AS reasoning_tokens, sum(cached_tokens) AS cached_tokens, "
              f"countIf(tokens_estimated) AS estimated_requests FROM {EVENTS} WHERE {PROJECT_TIME} "
              "GROUP BY model ORDER BY total_cost_usd DESC", unit="short", w=12, h=9,
              overrides=[{"matcher": {"id": "byRegexp", "options": "cost.*"},
                          "properties": [{"id": "unit", "value": "currencyUSD"}]}],
              description=described(COST, METRICS["completion_tokens"])),
        series("Cost by model", f"SELECT $__timeInterval(ts) AS time, model, {COST_SUM} AS total_cost_usd "
               f"FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY time, model ORDER BY time", unit="currencyUSD", w=24,
               description=described(COST)),
    ]
    return dashboard("benchlab-throughput-cost", "Benchlab / Throughput & cost",
                     "Request and token throughput, goodput against SLOs, cost per run, model and 1k requests.",
                     panels, variables(*SLO_VARS))


def errors() -> dict[str, Any]:
    failed = f"{PROJECT_TIME} AND status != 'ok'"
    panels = [
        series("Errors by class", f"SELECT $__timeInterval(ts) AS time, error_type, count() AS errors FROM {EVENTS} "
               f"WHERE {failed} GROUP BY time, error_type ORDER BY time", unit="short",
               description="Failed requests per interval by error class (rate_limited, server_error, timeout, ...)."),
        series("Errors by HTTP status", f"SELECT $__timeInterval(ts) AS time, toString(http_status) AS http_status, "
               f"count() AS errors FROM {EVENTS} WHERE {failed} GROUP BY time, http_status ORDER BY time",
               unit="short", description="Failed requests per interval by HTTP status (0: no HTTP response)."),
        stat("Error rate", f"SELECT countIf(status != 'ok') / count() AS error_rate, "
             f"sum(attempt - 1) AS retries FROM {EVENTS} WHERE {PROJECT_TIME}", unit="percentunit",
             steps=ERROR_STEPS, w=6, h=8,
             overrides=[{"matcher": {"id": "byName", "options": "retries"},
                         "properties": [{"id": "unit", "value": "short"}]}],
             description="Failed requests / all requests; retries: attempts beyond the first (sum of attempt - 1)."),
        table("Errors by provider and model", f"SELECT provider, model, count() AS requests, "
              "countIf(status != 'ok') AS errors, countIf(status != 'ok') / count() AS error_rate, "
              "sum(attempt - 1) AS retries, countIf(attempt > 1) AS retried_requests, "
              "topKIf(3)(error_type, status != 'ok') AS top_error_classes "
              f"FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY provider, model ORDER BY error_rate DESC",
              unit="short", w=18, h=8, steps=ERROR_STEPS,
              overrides=[{"matcher": {"id": "byName", "options": "error_rate"},
                          "properties": [{"id": "unit", "value": "percentunit"},
                                         {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}],
              description="Per provider and model: failed requests, error rate, retries (attempts beyond the "
                          "first) and the three most frequent error classes."),
        series("Retries", f"SELECT $__timeInterval(ts) AS time, model, sum(attempt - 1) AS retries FROM {EVENTS} "
               f"WHERE {PROJECT_TIME} GROUP BY time, model ORDER BY time", unit="short", w=24,
               description="Attempts beyond the first per interval (retries on rate limits, server errors, ... as "
                           "the experiment's retry policy allows)."),
        table("Latest errors", "SELECT ts, toString(run_id) AS run_id, toString(experiment_id) AS experiment_id, "
              "provider, model, error_type, http_status, "
              f"attempt, substring(error_message, 1, 300) AS error_message FROM {EVENTS} WHERE {failed} "
              "ORDER BY ts DESC LIMIT 100", unit="short", h=10, links=[link("Latency of this run", "benchlab-latency")],
              description="The newest failed requests with their message (never credentials)."),
    ]
    return dashboard("benchlab-errors", "Benchlab / Errors",
                     "Errors by class, HTTP status, provider and model over time; retries.", panels,
                     variables(run=False))


def quality() -> dict[str, Any]:
    scored = f"{PROJECT} AND $__timeFilter(ts) AND {MODELS} AND {CURRENT_PASS}"
    own = "counterpart = '' AND evaluator_type != 'pairwise'"
    overall_q = (f"SELECT model, avgIf(passed, evaluator = 'overall') AS pass_rate, "
                 f"avgIf(value, evaluator = 'overall') AS mean_score FROM {SCORES} WHERE {scored} AND {own} "
                 "GROUP BY model")
    latency_q = (f"SELECT model, count() AS requests, countIf(status != 'ok') / count() AS error_rate, "
                 f"{q(TTFT, 0.5)} AS p50_ttft_ms, {q(E2E, 0.99)} AS p99_e2e_ms, "
                 f"{PER_1K} AS cost_per_1k_requests_usd "
                 f"FROM {EVENTS} WHERE {PROJECT_TIME} GROUP BY model")
    panels = [
        table("Pass rate by evaluator and model", f"SELECT evaluator, model, count() AS scored, "
              f"countIf(passed) AS passes, avg(passed) AS pass_rate, avg(value) AS mean_score FROM {SCORES} "
              f"WHERE {scored} AND {own} GROUP BY evaluator, model ORDER BY evaluator, model",
              unit="short", w=12, h=10, overrides=[{"matcher": {"id": "byName", "options": "pass_rate"}, "properties": [
                  {"id": "unit", "value": "percentunit"}, {"id": "custom.cellOptions", "value": {"type": "gauge"}},
                  {"id": "min", "value": 0}, {"id": "max", "value": 1}]}], steps=PASS_STEPS,
              description="Scores of each run's current scoring pass (its newest completed one): requests passing "
                          "each evaluator / scored requests, and the mean score in [0, 1]. `overall` is a request's "
                          "weighted score (docs/evaluation.md); a failed request scores 0."),
        table("Mean score by prompt version", f"SELECT prompt_version, model, evaluator, avg(value) AS mean_score, "
              f"avg(passed) AS pass_rate FROM {SCORES} WHERE {scored} AND {own} "
              "GROUP BY prompt_version, model, evaluator ORDER BY prompt_version, model, evaluator",
              unit="percentunit", w=12, h=10, steps=PASS_STEPS,
              description="Mean score and pass rate per prompt version, model and evaluator (current passes)."),
        series("Overall pass rate by model", f"SELECT $__timeInterval(ts) AS time, model, avg(passed) AS pass_rate "
               f"FROM {SCORES} WHERE {scored} AND evaluator = 'overall' GROUP BY time, model ORDER BY time",
               unit="percentunit", steps=PASS_STEPS, w=12,
               description="Share of requests whose overall score passes, by the requests' send time."),
        table("Judge cost", f"SELECT judge_model, count() AS verdicts, countIf(judge_cached) AS cached, "
              "sum(judge_prompt_tokens) AS prompt_tokens, sum(judge_completion_tokens) AS completion_tokens, "
              f"sum(judge_cost_usd) AS judge_cost_usd, {judge_latency_p50()} AS p50_judge_latency_ms FROM {SCORES} "
              f"WHERE {scored} AND judge_model != '' GROUP BY judge_model ORDER BY judge_cost_usd DESC",
              unit="short", w=12, h=8,
              overrides=[{"matcher": {"id": "byName", "options": "judge_cost_usd"},
                          "properties": [{"id": "unit", "value": "currencyUSD"}]},
                         {"matcher": {"id": "byName", "options": "p50_judge_latency_ms"},
                          "properties": [{"id": "unit", "value": "ms"}]}],
              description="Judge calls of the current passes: verdicts, those served from the cache (no cost), "
                          "tokens, cost and the median latency of the calls actually made."),
        table("Leaderboard", f"SELECT l.model AS model, s.pass_rate AS pass_rate, s.mean_score AS mean_score, "
              "l.p50_ttft_ms AS p50_ttft_ms, l.p99_e2e_ms AS p99_e2e_ms, l.cost_per_1k_requests_usd AS "
              "cost_per_1k_requests_usd, l.error_rate AS error_rate, l.requests AS requests "
              f"FROM ({latency_q}) AS l LEFT JOIN ({overall_q}) AS s ON s.model = l.model "
              "ORDER BY pass_rate DESC, p50_ttft_ms ASC", unit="short", h=9,
              overrides=[{"matcher": {"id": "byRegexp", "options": "pass_rate|mean_score|error_rate"},
                          "properties": [{"id": "unit", "value": "percentunit"}]},
                         {"matcher": {"id": "byRegexp", "options": ".*_ms"},
                          "properties": [{"id": "unit", "value": "ms"}]},
                         {"matcher": {"id": "byRegexp", "options": "cost.*"},
                          "properties": [{"id": "unit", "value": "currencyUSD"}]}],
              description=described(TTFT, E2E, COST, note=(
                  "Quality (overall pass rate and mean score of the current passes), latency and cost per model "
                  "over the time range, best pass rate first."))),
    ]
    return dashboard("benchlab-quality", "Benchlab / Quality & leaderboard",
                     "Evaluator pass rates and scores by model and prompt version, judge cost, and a leaderboard "
                     "of quality, latency and cost.", panels, variables(PASS_VAR, run=False), time_from="now-7d")


def judge_latency_p50() -> str:
    return "quantileExactInclusiveIf(0.5)(judge_latency_ms, NOT judge_cached AND judge_latency_ms > 0)"


def comparison() -> dict[str, Any]:
    def side(metric: Metric, level: float) -> str:
        name = f"{metric.name.removesuffix('_ms')}_p{round(level * 100)}"
        base = q(metric, level, "run_id = toUUIDOrZero('${baseline}')")
        cand = q(metric, level, "run_id = toUUIDOrZero('${candidate}')")
        return f"{base} AS baseline_{name}, {cand} AS candidate_{name}, " \
               f"(candidate_{name} - baseline_{name}) / baseline_{name} AS change_{name}"

    latency_cols = ", ".join(side(m, level) for m in (TTFT, E2E) for level in (0.5, 0.99))
    change = [{"matcher": {"id": "byRegexp", "options": "change.*"}, "properties": [
        {"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 1},
        {"id": "thresholds", "value": thresholds([("green", None), ("orange", 0.05), ("red", 0.2)])},
        {"id": "custom.cellOptions", "value": {"type": "color-text"}}]}]
    pair_runs = ("SELECT CASE WHEN r.id::text = '${baseline}' THEN 'baseline' ELSE 'candidate' END AS side, "
                 "r.id::text AS run_id, r.status, r.created_at, r.finished_at, r.planned_requests, "
                 "r.completed_requests, r.failed_requests, r.client_saturated, "
                 "COALESCE(r.gate_status, '') AS gate_status "
                 "FROM runs r WHERE r.id::text IN ('${baseline}', '${candidate}') "
                 "AND r.project_id::text = '${project}' ORDER BY side")
    panels = [
        table("The two runs", pair_runs, ds=PG, h=5, description="The baseline and the candidate run."),
        table("Latency per group", f"SELECT model, prompt_version, {latency_cols} FROM {EVENTS} WHERE {PAIR} "
              "GROUP BY model, prompt_version ORDER BY model, prompt_version", unit="ms", h=8, overrides=change,
              description=described(TTFT, E2E, note="change: (candidate - baseline) / baseline; positive is slower.")),
        table("Cost and errors per group", "SELECT model, prompt_version, "
              "countIf(run_id = toUUIDOrZero('${baseline}')) AS baseline_requests, "
              "countIf(run_id = toUUIDOrZero('${candidate}')) AS candidate_requests, "
              "countIf(run_id = toUUIDOrZero('${baseline}') AND status != 'ok') / baseline_requests "
              "AS baseline_error_rate, "
              "countIf(run_id = toUUIDOrZero('${candidate}') AND status != 'ok') / candidate_requests "
              "AS candidate_error_rate, "
              "sumIf(cost_usd, cost_known AND run_id = toUUIDOrZero('${baseline}')) AS baseline_cost_usd, "
              "sumIf(cost_usd, cost_known AND run_id = toUUIDOrZero('${candidate}')) AS candidate_cost_usd, "
              "(candidate_cost_usd - baseline_cost_usd) / baseline_cost_usd AS change_cost "
              f"FROM {EVENTS} WHERE {PAIR} GROUP BY model, prompt_version ORDER BY model, prompt_version",
              unit="short", h=8, overrides=change + [
                  {"matcher": {"id": "byRegexp", "options": ".*error_rate"},
                   "properties": [{"id": "unit", "value": "percentunit"}]},
                  {"matcher": {"id": "byRegexp", "options": ".*cost_usd"},
                   "properties": [{"id": "unit", "value": "currencyUSD"}]}],
              description=described(COST, note="Error rate: failed requests / requests of each run.")),
        table("Scores per group", "SELECT evaluator, model, prompt_version, "
              "avgIf(passed, run_id = toUUIDOrZero('${baseline}')) AS baseline_pass_rate, "
              "avgIf(passed, run_id = toUUIDOrZero('${candidate}')) AS candidate_pass_rate, "
              "candidate_pass_rate - baseline_pass_rate AS pass_rate_difference, "
              "avgIf(value, run_id = toUUIDOrZero('${baseline}')) AS baseline_mean_score, "
              "avgIf(value, run_id = toUUIDOrZero('${candidate}')) AS candidate_mean_score "
              f"FROM {SCORES} WHERE {PAIR} AND {CURRENT_PASS_OF_PAIR} AND counterpart = '' "
              "AND evaluator_type != 'pairwise' GROUP BY evaluator, model, prompt_version "
              "ORDER BY evaluator, model, prompt_version", unit="percentunit", h=9, steps=PASS_STEPS,
              description="Pass rate and mean score of each run's current scoring pass per evaluator and group; "
                          "difference: candidate - baseline in percentage points."),
    ]
    pair = [query_var("baseline", "Baseline", PG, RUNS_OF_EXPERIMENT),
            query_var("candidate", "Candidate", PG, RUNS_OF_EXPERIMENT),
            query_var("pair_pass", "Scoring passes of the two runs", PG,
                      "SELECT DISTINCT ON (run_id) id::text AS __value FROM scoring_passes "
                      "WHERE run_id::text IN ('${baseline}', '${candidate}') AND status = 'completed' "
                      "ORDER BY run_id, finished_at DESC, id", multi=True, include_all=True, hide=2)]
    return dashboard("benchlab-run-comparison", "Benchlab / Run comparison",
                     "Two runs side by side (baseline and candidate): latency, errors, cost and scores per group.",
                     panels, variables(*pair, run=False), time_from="now-30d")


CURRENT_PASS_OF_PAIR = "has([${pair_pass:singlequote}], toString(pass_id))"

# Production traffic (docs/production.md): rows ingested with the project's API keys, and the scores of the sampled
# scoring of them (run_id is the nil UUID on both).
PRODUCTION_ROWS = f"{PROJECT_TIME} AND source = 'production'"
PRODUCTION_SCORES = f"{PROJECT_TIME} AND run_id = toUUID('00000000-0000-0000-0000-000000000000')"


def production() -> dict[str, Any]:
    def percentiles(metric: Metric) -> str:
        return ", ".join(f"{q(metric, level)} AS p{round(level * 100)}" for level in (0.5, 0.95, 0.99))

    judged = ("Scores of the sampled scoring of production requests (setProductionScoring): requests passing each "
              "evaluator / scored requests, by the requests' send time. `overall` is a request's weighted score.")
    panels = [
        stat("Requests", f"SELECT count() AS requests, countIf(status != 'ok') AS errors FROM {EVENTS} "
             f"WHERE {PRODUCTION_ROWS}", w=6,
             description="Production requests (source production: OTLP traces, the litellm callback, the ingest "
                         "endpoint) sent in the time range, and the failed ones."),
        stat("Error rate", f"SELECT countIf(status != 'ok') / count() AS error_rate FROM {EVENTS} "
             f"WHERE {PRODUCTION_ROWS}", unit="percentunit", steps=ERROR_STEPS, w=6,
             description="Failed production requests / all production requests."),
        stat("Latency", f"SELECT {q(TTFT, 0.95)} AS p95_ttft_ms, {q(E2E, 0.95)} AS p95_e2e_ms FROM {EVENTS} "
             f"WHERE {PRODUCTION_ROWS}", unit="ms", steps=LATENCY_STEPS, w=6, description=described(TTFT, E2E)),
        stat("Judge pass rate", f"SELECT avgIf(passed, evaluator = 'overall') AS overall_pass_rate, "
             f"uniqExactIf(event_id, evaluator = 'overall') AS scored_requests FROM {SCORES} "
             f"WHERE {PRODUCTION_SCORES}", unit="percentunit", steps=PASS_STEPS, w=6,
             overrides=[{"matcher": {"id": "byName", "options": "scored_requests"},
                         "properties": [{"id": "unit", "value": "short"}]}], description=judged),
        series("Requests/min by model", f"SELECT $__timeInterval(ts) AS time, model, "
               f"count() * 60 / $__interval_s AS requests_per_min FROM {EVENTS} WHERE {PRODUCTION_ROWS} "
               "GROUP BY time, model ORDER BY time", unit="short",
               description="Production requests sent per minute in each interval (every status)."),
        series("Error rate by model", f"SELECT $__timeInterval(ts) AS time, model, "
               f"countIf(status != 'ok') / count() AS error_rate FROM {EVENTS} WHERE {PRODUCTION_ROWS} "
               "GROUP BY time, model ORDER BY time", unit="percentunit", steps=ERROR_STEPS,
               description="Failed / all production requests per interval and model."),
        series("TTFT p50 / p95 / p99 by model", f"SELECT $__timeInterval(ts) AS time, model, {percentiles(TTFT)} "
               f"FROM {EVENTS} WHERE {PRODUCTION_ROWS} GROUP BY time, model ORDER BY time", unit="ms",
               steps=LATENCY_STEPS, description=described(TTFT, note="Where the producer recorded it (OTLP: "
                                                                       "gen_ai time to first token).")),
        series("E2E p50 / p95 / p99 by model", f"SELECT $__timeInterval(ts) AS time, model, {percentiles(E2E)} "
               f"FROM {EVENTS} WHERE {PRODUCTION_ROWS} GROUP BY time, model ORDER BY time", unit="ms",
               steps=LATENCY_STEPS, description=described(E2E)),
        series("Cost per day by model", f"SELECT toStartOfDay(ts) AS time, model, {COST_SUM} AS cost_usd, "
               f"countIf(NOT cost_known) AS unpriced_requests FROM {EVENTS} WHERE {PRODUCTION_ROWS} "
               "GROUP BY time, model ORDER BY time", unit="currencyUSD",
               overrides=[{"matcher": {"id": "byName", "options": "unpriced_requests"},
                           "properties": [{"id": "unit", "value": "short"}]}],
               description=described(COST, note="Per UTC day.")),
        series("Judge pass rate by evaluator", f"SELECT $__timeInterval(ts) AS time, evaluator, "
               f"avg(passed) AS pass_rate FROM {SCORES} WHERE {PRODUCTION_SCORES} AND counterpart = '' "
               "GROUP BY time, evaluator ORDER BY time", unit="percentunit", steps=PASS_STEPS, description=judged),
        table("Judge pass rate by evaluator and model", f"SELECT evaluator, model, count() AS scored, "
              "countIf(passed) AS passes, avg(passed) AS pass_rate, avg(value) AS mean_score, "
              "countIf(label = 'judge_error') AS judge_errors, sum(judge_cost_usd) AS judge_cost_usd "
              f"FROM {SCORES} WHERE {PRODUCTION_SCORES} AND counterpart = '' GROUP BY evaluator, model "
              "ORDER BY evaluator = 'overall' DESC, evaluator, model", unit="short", w=12, h=9, steps=PASS_STEPS,
              overrides=[{"matcher": {"id": "byName", "options": "pass_rate"},
                          "properties": [{"id": "unit", "value": "percentunit"}]},
                         {"matcher": {"id": "byName", "options": "judge_cost_usd"},
                          "properties": [{"id": "unit", "value": "currencyUSD"}]}], description=judged),
        table("Latest production requests", "SELECT ts, provider, model, status, error_type, ttft_ms, e2e_ms, "
              "prompt_tokens, completion_tokens, if(cost_known, cost_usd, NULL) AS cost_usd, "
              f"substring(output, 1, 200) AS output FROM {EVENTS} WHERE {PRODUCTION_ROWS} "
              "ORDER BY ts DESC LIMIT 100", unit="short", w=12, h=9,
              description="The newest production requests: status, TTFT and E2E (ms), tokens, cost (empty when "
                          "the price is unknown) and the start of the answer."),
    ]
    return dashboard("benchlab-production", "Benchlab / Production traffic",
                     "An application's live traffic: requests, errors, latency percentiles and cost by model, and "
                     "the pass rate of its sampled scoring.", panels, variables(run=False, experiment=False))

DASHBOARDS = {"overview": overview, "latency": latency, "throughput-cost": throughput_cost, "errors": errors,
              "quality": quality, "run-comparison": comparison, "production": production}


def render() -> dict[str, str]:
    """File name -> JSON text, as checked in."""
    return {f"{name}.json": json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
            for name, build in DASHBOARDS.items()}


def main() -> None:
    OUTPUT.mkdir(exist_ok=True)
    for stale in OUTPUT.glob("*.json"):
        stale.unlink()
    for name, text in render().items():
        (OUTPUT / name).write_text(text)
        print(f"wrote {OUTPUT / name}")


if __name__ == "__main__":
    main()
