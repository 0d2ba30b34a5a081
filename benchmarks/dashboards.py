"""Do the dashboards load fast? Every ClickHouse panel query on a project with 10 million request events.

    python benchmarks/dashboards.py [--events 10000000] [--repeat 3]

A temporary chDB database `benchlab` gets the ClickHouse migrations and `--events` request events of one
project generated inside ClickHouse (`INSERT ... SELECT FROM numbers()`: 20 runs over 7 days, 4 models,
~1 % errors, realistic latency distributions, 16 inter-event gaps each) plus one score row per request and
evaluator for a tenth of them (3 evaluators and `overall`). Each ClickHouse panel of dashboards/benchlab/*.json
is expanded as Grafana and the plugin would send it (tests/helpers/grafana.py: macros, variables; model = All,
run = one run, time range = the 7 days) and timed `--repeat` times; the median is printed with the rows
returned. Target: every panel under 1 s. PostgreSQL panels read a few rows of runs and are not timed here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import chdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests/helpers/grafana.py: the one implementation of the macros

from tests.helpers import grafana  # noqa: E402

from benchlab.stores.sql_files import load_migrations  # noqa: E402

PROJECT = "11111111-1111-1111-1111-111111111111"
RUN_OF = "toUUID(concat('22222222-2222-2222-2222-', leftPad(toString(number % 20), 12, '0')))"
START = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_S = 7 * 86400
MODELS = "['gpt-4o-mini', 'claude-haiku', 'mistral-small', 'llama-3.1-8b']"
EVENTS_SELECT = f"""
SELECT toUUID('{PROJECT}') AS project_id, {RUN_OF} AS run_id, toUUID('33333333-3333-3333-3333-333333333333'),
  generateUUIDv4(number), concat('item-', toString(number % 500)), toUInt32(number % 3),
  toUInt8(1 + (rand(1) % 50 = 0)),
  'openai', {MODELS}[1 + number % 4], 'qa@v1', 'p1', 'experiment',
  toDateTime64({START.timestamp():.0f} + (number * {SPAN_S} / {{events}}), 6, 'UTC'),
  rand(2) % 20 != 0, number * 0.01, number % 100 = 0, rand(3) % 1000 / 1000.0,
  exp(5.5 + randNormal(0, 0.4)) AS ttft, ttft + 1, ttft + 640, ttft + 650, ttft + 641, 10 + rand(4) % 100 / 10.0,
  arrayMap(i -> toFloat32(8 + randNormal(0, 2)), range(16)), arrayMap(i -> toUInt16(1), range(16)),
  toUInt32(200 + rand(5) % 800), toUInt32(64), toUInt32(0), toUInt32(0), false,
  rand(6) % 1000 / 1e6, true, if(rand(7) % 100 = 0, 'error', 'ok') AS status,
  if(status = 'error', ['timeout', 'rate_limited', 'server_error'][1 + rand(8) % 3], ''),
  if(status = 'error', 500, 200), if(status = 'error', '', 'stop'), 'The answer is 42.', '',
  if(status = 'error', 'upstream error', ''), 'main'
FROM numbers({{offset}}, {{count}})
"""
EVENT_COLUMNS = ("project_id, run_id, experiment_id, event_id, item_id, repetition, attempt, provider, model, "
                 "prompt_version, params_hash, source, ts, in_window, run_offset_s, first_on_connection, "
                 "queue_delay_ms, ttft_ms, ttfot_ms, e2e_ms, e2e_from_intended_ms, stream_end_ms, tpot_ms, "
                 "inter_event_ms, tokens_per_event, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, "
                 "tokens_estimated, cost_usd, cost_known, status, error_type, http_status, finish_reason, output, "
                 "tool_calls, error_message, load_phase")
SCORES_INSERT = """
INSERT INTO benchlab.scores (project_id, run_id, experiment_id, pass_id, event_id, ts, item_id, repetition,
  load_phase, model, prompt_version, params_hash, evaluator, evaluator_type, score_name, weight, value, passed, label,
  reason, judge_model, judge_cost_usd, judge_latency_ms)
SELECT project_id, run_id, experiment_id, toUUID('44444444-4444-4444-4444-444444444444'), event_id, ts, item_id,
  repetition, load_phase, model, prompt_version, params_hash, evaluator, evaluator, evaluator, 1,
  if(rand(9) % 10 < 8, 1, 0) AS value, value = 1, '', 'ok', if(evaluator = 'judged', 'grader', ''),
  if(evaluator = 'judged', 0.0001, 0), if(evaluator = 'judged', 300, 0)
FROM benchlab.request_events ARRAY JOIN ['hit', 'judged', 'similar', 'overall'] AS evaluator
WHERE cityHash64(event_id) % 10 = 0
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="benchlab-dashboards-") as tmp:
        session = chdb.session.Session(str(Path(tmp) / "chdb"))
        session.query("CREATE DATABASE IF NOT EXISTS benchlab")
        session.query("USE benchlab")  # the migrations name their tables without a database
        for migration in load_migrations(REPO / "clickhouse" / "migrations"):
            for statement in migration.statements():
                session.query(statement.sql)
        started = time.perf_counter()
        chunk = 2_000_000
        for offset in range(0, args.events, chunk):
            count = min(chunk, args.events - offset)
            session.query(f"INSERT INTO benchlab.request_events ({EVENT_COLUMNS}) "
                          + EVENTS_SELECT.format(events=args.events, offset=offset, count=count))
        session.query(SCORES_INSERT)
        session.query("OPTIMIZE TABLE benchlab.request_events FINAL")
        counts = session.query("SELECT (SELECT count() FROM benchlab.request_events), "
                               "(SELECT count() FROM benchlab.scores)", "CSV").data().strip()
        print(f"seeded {counts} (events, scores) in {time.perf_counter() - started:.0f} s")
        time_range = grafana.TimeRange(START, START + timedelta(seconds=SPAN_S), 3600.0)
        run = "22222222-2222-2222-2222-000000000007"
        values = {"project": [PROJECT], "run": [run], "baseline": ["22222222-2222-2222-2222-000000000003"],
                  "candidate": [run], "pass": ["44444444-4444-4444-4444-444444444444"],
                  "pair_pass": ["44444444-4444-4444-4444-444444444444"], "database": ["benchlab"],
                  "experiment": ["33333333-3333-3333-3333-333333333333"], "slo_ttft_ms": ["1000"],
                  "slo_e2e_ms": ["10000"]}
        slow = []
        print(f"{'dashboard':24} {'panel':52} {'rows':>6} {'median ms':>10}")
        for name, dashboard in grafana.load_dashboards().items():
            selections = {v["name"]: grafana.Selection(values.get(v["name"], [grafana.ALL]),
                                                       ["gpt-4o-mini", "claude-haiku", "mistral-small",
                                                        "llama-3.1-8b"], multi=bool(v.get("multi")))
                          for v in dashboard["templating"]["list"]}
            for panel, target in grafana.panel_queries(dashboard):
                if grafana.datasource_type(target.get("datasource") or panel.get("datasource"),
                                           dashboard) != grafana.CLICKHOUSE:
                    continue
                sql = grafana.expand(target["rawSql"], grafana.CLICKHOUSE, selections, time_range)
                timings = []
                for _ in range(args.repeat):
                    begun = time.perf_counter()
                    result = session.query(sql, "JSONCompact")
                    timings.append((time.perf_counter() - begun) * 1000)
                median = statistics.median(timings)
                returned = len(json.loads(result.data())["data"])
                print(f"{name[:24]:24} {panel['title'][:52]:52} {returned:6d} {median:10.1f}")
                if median > 1000:
                    slow.append((name, panel["title"], median))
        print(f"{len(slow)} panel(s) over 1 s" + (": " + "; ".join(f"{d} / {p} {m:.0f} ms" for d, p, m in slow)
                                                  if slow else ""))


if __name__ == "__main__":
    main()
