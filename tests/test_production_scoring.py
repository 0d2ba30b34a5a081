"""Sampled scoring of production traffic (benchlab/production): exactly the hash-selected requests, each scored
once, with the known verdicts of the mock judge, across ticks, caps, two scorers and a scorer that died.

The mock judge in judge mode passes a response without an expected answer exactly when it is not empty
(mockllm/judge.py), so every verdict is known before the scorer runs; which requests are sampled is known from
the hash (stores/production_sample.py), computed here in Python.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab import catalog
from benchlab.analytics.quality_stats import wilson_interval
from benchlab.api.ids import encode_global_id
from benchlab.engine.deps import EngineDeps
from benchlab.production.rules import scoring_spec, stored_document
from benchlab.production.scorer import ProductionScorer
from benchlab.secrets import SecretBox
from benchlab.stores import production_scoring as rule_store
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.postgres import connect, create_pool
from benchlab.stores.production_sample import NIL, is_sampled, next_sample, sample_key
from tests.helpers.access import as_key, make_key
from tests.helpers.event_rows import event_row, table_columns
from tests.helpers.grafana import ROOT
from tests.helpers.graphql import data, error_codes, gql
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.polling import wait_until
from tests.helpers.server_process import ServerProcess, free_port

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATER = BASE + timedelta(hours=2)  # `now` of the ticks: every row is older than the settle time
RULES = {"evaluators": [
    {"type": "icontains", "name": "says-answer", "value": "answer"},
    {"type": "llm-rubric", "name": "helpful", "value": "Does it answer the question?", "judge": "grader"},
]}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm() as server:
        yield server


async def make_project(conn: asyncpg.Connection, deps: EngineDeps, mock: MockLLM, slug: str = "prod") -> UUID:
    project = await catalog.create_project(conn, slug, "Production")
    provider = await catalog.create_provider(conn, project.id, "mock", "openai", api_base=mock.base_url,
                                             transport="direct", box=deps.secrets)
    await catalog.create_model(conn, project.id, provider.id, "grader", "mock-llm?judge=true&ttft_ms=1&gap_ms=0")
    return project.id


def event_id(project_id: UUID, n: int) -> UUID:
    return uuid.uuid5(project_id, f"production-{n}")


def output_of(n: int) -> str:
    return "" if n % 7 == 0 else (f"the answer is {n}" if n % 3 else f"{n}, I think")


async def write_production(store: ClickHouseStore, project_id: UUID, count: int, *, start: datetime = BASE,
                           model: str = "gpt-prod") -> None:
    """`count` production requests, one per second from `start`; every 11th failed."""
    columns = await table_columns(store)
    rows = [event_row(columns, n, project_id=project_id, run_id=NIL, experiment_id=NIL, source="production",
                      event_id=event_id(project_id, n), item_id="", prompt_version="", params_hash="", model=model,
                      provider="openai", ts=start + timedelta(seconds=n), output=output_of(n),
                      input=json.dumps([{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": f"question {n}"}]),
                      status="error" if n % 11 == 0 else "ok", error_type="server_error" if n % 11 == 0 else "")
            for n in range(count)]
    await store.insert("request_events", rows, columns, caller="tests")


async def set_rules(deps: EngineDeps, project_id: UUID, rate: float, rules: dict[str, Any] = RULES,
                    models: tuple[str, ...] = ()) -> rule_store.RuleSet:
    async with deps.pg.acquire() as conn:
        spec = await scoring_spec(conn, project_id, rules)
        stored, _ = await rule_store.set_rules(conn, project_id, stored_document(spec), rate, models, True,
                                               BASE - timedelta(seconds=1), datetime.now(UTC), "tests")
    return stored


async def score_rows(store: ClickHouseStore, project_id: UUID) -> list[dict[str, Any]]:
    result = await store.query("SELECT * FROM scores WHERE project_id = {p:UUID} ORDER BY event_id, evaluator",
                               {"p": project_id}, caller="tests")
    return result.dicts()


def expected_sample(project_id: UUID, count: int, rate: float) -> set[UUID]:
    return {event_id(project_id, n) for n in range(count) if n % 11 and is_sampled(event_id(project_id, n), rate)}


async def test_the_sample_is_exactly_the_hash_selected_requests_with_known_verdicts(
        engine_deps: EngineDeps, mock: MockLLM) -> None:
    async with engine_deps.pg.acquire() as conn:
        project = await make_project(conn, engine_deps, mock)
    await write_production(engine_deps.clickhouse, project, 500)
    # An experiment's rows in the same project and hours are never sampled.
    columns = await table_columns(engine_deps.clickhouse)
    await engine_deps.clickhouse.insert("request_events", [
        event_row(columns, n, project_id=project, ts=BASE + timedelta(seconds=n)) for n in range(100)], columns,
        caller="tests")
    rules = await set_rules(engine_deps, project, 0.2)
    scorer = ProductionScorer(engine_deps, max_per_tick=1000, settle_s=60)
    await scorer.open()
    try:
        report = await scorer.tick(LATER)
        again = await scorer.tick(LATER + timedelta(minutes=1))
    finally:
        await scorer.stop()

    wanted = expected_sample(project, 500, 0.2)
    assert 60 < len(wanted) < 120  # about 20 % of the 455 successful requests
    assert report.scored == {project: len(wanted)} and report.failed == {}
    assert again.scored == {}  # the watermark moved past them: nothing is scored twice
    rows = await score_rows(engine_deps.clickhouse, project)
    assert {row["event_id"] for row in rows} == wanted
    assert len(rows) == 3 * len(wanted)  # says-answer, helpful, overall
    by_key = {(row["event_id"], row["evaluator"]): row for row in rows}
    for n in range(500):
        event = event_id(project, n)
        if event not in wanted:
            continue
        answer = output_of(n)
        says, helpful, overall = (by_key[(event, name)] for name in ("says-answer", "helpful", "overall"))
        assert says["passed"] is ("answer" in answer) and says["evaluator_type"] == "icontains"
        assert helpful["passed"] is bool(answer.strip()), (n, answer, helpful["reason"])
        assert helpful["value"] == (1.0 if answer.strip() else 0.0)
        assert helpful["judge_model"] == "grader" and helpful["label"] == ""
        assert overall["passed"] is (says["passed"] and helpful["passed"])
        for row in (says, helpful, overall):
            assert row["run_id"] == NIL and row["experiment_id"] == NIL and row["pass_id"] == rules.pass_id
            assert row["model"] == "gpt-prod" and row["ts"].replace(tzinfo=UTC) == BASE + timedelta(seconds=n)
    async with engine_deps.pg.acquire() as conn:
        state = await rule_store.get_rules(conn, project)
    assert state is not None and state.scored_requests == len(wanted) and state.last_error is None
    assert state.judge_errors == 0 and state.judge_calls > 0


async def test_sql_and_python_pick_the_same_requests(clickhouse: ClickHouseStore, engine_deps: EngineDeps) -> None:
    project = uuid.uuid4()
    await write_production(clickhouse, project, 300)
    for rate in (0.05, 0.5, 1.0):
        events, until, until_event = await next_sample(clickhouse, project, (BASE - timedelta(seconds=1), NIL), LATER,
                                                       rate, (), 1000)
        assert set(events) == expected_sample(project, 300, rate), rate
        assert (until, until_event) == (LATER, NIL)  # fewer than the limit: everything before LATER was looked at
    keys = await clickhouse.query("SELECT event_id, reinterpretAsUInt64(reverse(substring(SHA256(toString(event_id)), "
                                  "1, 8))) FROM request_events", caller="tests")
    assert all(sample_key(event) == key for event, key in keys.rows)
    # The rule as docs/production.md writes it, run as written.
    snippet = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "production.md").read_text(), re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(snippet.group(1)), namespace)
    for n in range(300):
        assert namespace["sampled"](event_id(project, n), 0.05) is is_sampled(event_id(project, n), 0.05)


async def test_a_cap_per_tick_and_the_model_filter(engine_deps: EngineDeps, mock: MockLLM) -> None:
    async with engine_deps.pg.acquire() as conn:
        project = await make_project(conn, engine_deps, mock)
    await write_production(engine_deps.clickhouse, project, 200)
    await write_production(engine_deps.clickhouse, project, 50, start=BASE + timedelta(milliseconds=500),
                           model="other")
    rules = {"evaluators": [{"type": "contains", "name": "digit-4", "value": "4"}]}
    await set_rules(engine_deps, project, 1.0, rules, models=("gpt-prod",))
    scorer = ProductionScorer(engine_deps, max_per_tick=40, settle_s=0)
    await scorer.open()
    try:
        counts = [(await scorer.tick(LATER)).scored.get(project, 0) for _ in range(7)]
    finally:
        await scorer.stop()
    successful = [n for n in range(200) if n % 11]
    assert counts == [40, 40, 40, 40, 21, 0, 0] and sum(counts) == len(successful)
    rows = await score_rows(engine_deps.clickhouse, project)
    assert {row["model"] for row in rows} == {"gpt-prod"}
    overall = [row for row in rows if row["evaluator"] == "overall"]
    assert sorted(row["event_id"] for row in overall) == sorted(event_id(project, n) for n in successful)


async def test_two_scorers_and_a_dead_one_score_each_request_once(engine_deps: EngineDeps, mock: MockLLM,
                                                                  database_url: str) -> None:
    async with engine_deps.pg.acquire() as conn:
        project = await make_project(conn, engine_deps, mock)
    await write_production(engine_deps.clickhouse, project, 400)
    await set_rules(engine_deps, project, 0.5)
    other_pool = await create_pool(database_url)  # the second replica has its own connections
    first = ProductionScorer(engine_deps, max_per_tick=25, settle_s=0, lease_s=300)
    second = ProductionScorer(replace(engine_deps, pg=other_pool), max_per_tick=25, settle_s=0, lease_s=300)
    dead = ProductionScorer(engine_deps, max_per_tick=25, settle_s=0, lease_s=300)
    for scorer in (first, second, dead):
        await scorer.open()
    try:
        # A scorer claims a batch, writes its scores and dies before it moves the watermark.
        async def select(rules: rule_store.RuleSet) -> tuple[list[UUID], datetime, UUID]:
            return await next_sample(engine_deps.clickhouse, project, (rules.watermark_ts, rules.watermark_event),
                                     LATER, rules.sample_rate, rules.models, 25)

        async with engine_deps.pg.acquire() as conn:
            orphan = await rule_store.claim_batch(conn, select, LATER, timedelta(seconds=300))
        assert orphan is not None and len(orphan.events) == 25
        await dead._score(orphan)
        # Within the lease nobody touches the project.
        assert (await first.tick(LATER + timedelta(seconds=10))).scored == {}
        # After it, the two replicas tick together until nothing is left.
        now = LATER + timedelta(seconds=301)
        scored = []
        while True:
            reports = await asyncio.gather(first.tick(now), second.tick(now))
            done = [report.scored.get(project, 0) for report in reports]
            scored.append(done)
            if not any(done):
                break
    finally:
        for scorer in (first, second, dead):
            await scorer.stop()
        await other_pool.close()
    wanted = expected_sample(project, 400, 0.5)
    assert sum(map(sum, scored)) == len(wanted)  # the orphaned batch counted once, by its taker
    rows = await score_rows(engine_deps.clickhouse, project)
    overall = [row["event_id"] for row in rows if row["evaluator"] == "overall"]
    assert len(overall) == len(set(overall)) == len(wanted) and set(overall) == wanted
    assert len(rows) == 3 * len(wanted)


async def test_a_stopped_scorer_hands_its_batch_back_at_once(engine_deps: EngineDeps, mock: MockLLM) -> None:
    async with engine_deps.pg.acquire() as conn:
        project = await make_project(conn, engine_deps, mock)
        provider = await catalog.create_provider(conn, project, "slow", "openai", api_base=mock.base_url,
                                                 transport="direct", box=engine_deps.secrets)
        await catalog.create_model(conn, project, provider.id, "slow-grader", "mock-llm?judge=true&ttft_ms=5000")
    await write_production(engine_deps.clickhouse, project, 40)
    await set_rules(engine_deps, project, 1.0, {"evaluators": [
        {"type": "llm-rubric", "name": "helpful", "value": "ok?", "judge": "slow-grader"}]})
    stopping = ProductionScorer(engine_deps, settle_s=0)
    await stopping.open()
    tick = asyncio.create_task(stopping.tick(LATER))
    await asyncio.sleep(1.5)  # claimed, waiting for the slow judge
    tick.cancel()  # what a server's shutdown does to the scorer's loop, in the middle of a tick
    await asyncio.gather(tick, return_exceptions=True)
    await stopping.stop()
    async with engine_deps.pg.acquire() as conn:
        left = await conn.fetchrow("SELECT batch_id, batch_lease_until, last_error FROM production_scoring "
                                   "WHERE project_id = $1", project)
    assert left["batch_id"] is not None and left["batch_lease_until"] <= datetime.now(UTC)
    assert "stopped while scoring" in left["last_error"]
    assert await score_rows(engine_deps.clickhouse, project) == []


async def test_rules_over_graphql_and_the_judged_share(client: TestClient, engine_deps: EngineDeps,
                                                       mock: MockLLM, pg: asyncpg.Connection) -> None:
    async with engine_deps.pg.acquire() as conn:
        project = await make_project(conn, engine_deps, mock, slug="graphql-prod")
    project_gid = encode_global_id("Project", project)
    mutation = """mutation($p: ID!, $r: JSON, $y: String, $rate: Float!, $since: DateTime) {
      setProductionScoring(input: {projectId: $p, rules: $r, rulesYaml: $y, sampleRate: $rate, since: $since}) {
        newVersion productionScoring { version passId sampleRate models enabled rules scoredThrough } } }"""
    refused = [
        ({"evaluators": [{"type": "levenshtein", "name": "close"}]}, 0.1, "production requests have no"),
        ({"evaluators": [{"type": "contains", "value": "{{vars.city}}"}]}, 0.1, "{{vars.city}} cannot be filled"),
        ({"evaluators": [{"type": "pairwise", "value": "better?", "judge": "grader"}]}, 0.1, "compares the cells"),
        ({"evaluators": [{"type": "tool-call-name"}]}, 0.1, "expected_tool_calls"),
        ({"evaluators": [{"type": "llm-rubric", "value": "ok?", "judge": "nobody"}]}, 0.1, 'no model "nobody"'),
        ({"evaluators": [{"type": "contans", "value": "x"}]}, 0.1, "contains"),
        ({"evaluators": []}, 0.1, "at least one evaluator"),
        (RULES, 0.0, "sampleRate"),
        (RULES, 1.5, "sampleRate"),
    ]
    for rules, rate, says in refused:
        body = gql(client, mutation, p=project_gid, r=rules, rate=rate)
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert says in str(body["errors"]), (says, body["errors"])
    # The README's example, as written.
    readme = re.search(r'rulesYaml: """\n(.*?)"""', (ROOT / "README.md").read_text(), re.S)
    assert readme is not None
    example = data(client, mutation, p=project_gid, y=readme.group(1), rate=0.05)["setProductionScoring"]
    assert [e["name"] for e in example["productionScoring"]["rules"]["evaluators"]] == ["helpful", "no-apology"]
    yaml_rules = "evaluators:\n  - {type: llm-rubric, name: helpful, value: 'Does it answer?', judge: grader}\n"
    made = data(client, mutation, p=project_gid, y=yaml_rules, rate=0.5,
                since=(BASE - timedelta(seconds=1)).isoformat())["setProductionScoring"]
    assert made["newVersion"] is True and made["productionScoring"]["version"] == 2
    assert made["productionScoring"]["rules"]["judges"] == [{"name": "grader"}]
    assert made["productionScoring"]["rules"]["evaluators"][0]["threshold"] == 0.5  # defaults spelled out
    same = data(client, mutation, p=project_gid, y=yaml_rules, rate=0.5)["setProductionScoring"]
    assert same["newVersion"] is False and same["productionScoring"]["passId"] == made["productionScoring"]["passId"]
    # A viewer reads the rule set but may not change it; another project's key does not see it at all.
    viewer = await make_key(pg, project, "viewer")
    listed = as_key(client, viewer, "query($p: ID!) { project(id: $p) { productionScoring { sampleRate } } }",
                    p=project_gid)
    assert listed["data"]["project"]["productionScoring"] == {"sampleRate": 0.5}
    assert error_codes(as_key(client, viewer, mutation, p=project_gid, r=RULES, rate=0.1)) == ["FORBIDDEN"]

    await write_production(engine_deps.clickhouse, project, 120, start=datetime.now(UTC) - timedelta(hours=1))
    data(client, mutation, p=project_gid, y=yaml_rules, rate=0.5,
         since=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    scorer = ProductionScorer(engine_deps, settle_s=0)
    await scorer.open()
    try:
        await scorer.tick()
    finally:
        await scorer.stop()
    traffic = data(client, """query($p: ID!) { productionTraffic(projectId: $p) { scoredRequests successfulRequests
        judged { evaluator evaluatorType scored passed passRate passRateLow passRateHigh judgeErrors } } }""",
                   p=project_gid)["productionTraffic"]
    wanted = expected_sample(project, 120, 0.5)
    passes = sum(1 for n in range(120) if event_id(project, n) in wanted and output_of(n).strip())
    low, high = wilson_interval(passes, len(wanted))
    assert traffic["scoredRequests"] == len(wanted) and traffic["successfulRequests"] == sum(
        1 for n in range(120) if n % 11)
    judged = {row: [traffic["judged"][key][i] for key in ("scored", "passed", "passRate", "passRateLow",
                                                          "passRateHigh", "judgeErrors")]
              for i, row in enumerate(traffic["judged"]["evaluator"])}
    assert traffic["judged"]["evaluator"] == ["overall", "helpful"]
    assert judged["helpful"] == [len(wanted), passes, pytest.approx(passes / len(wanted)), pytest.approx(low),
                                 pytest.approx(high), 0]
    # Each production request shows its own scores (none when it was not sampled, or failed).
    nodes = data(client, """query($p: ID!) { productionTraffic(projectId: $p) { requests(first: 200) {
        nodes { eventId scores { evaluator passed } } } } }""", p=project_gid)["productionTraffic"]["requests"]["nodes"]
    assert len(nodes) == 120
    for node in nodes:
        event = UUID(node["eventId"])
        n = next(n for n in range(120) if event_id(project, n) == event)
        want = [] if event not in wanted else [{"evaluator": "helpful", "passed": bool(output_of(n).strip())},
                                               {"evaluator": "overall", "passed": bool(output_of(n).strip())}]
        assert node["scores"] == want, n
    removed = data(client, "mutation($p: ID!) { removeProductionScoring(input: {projectId: $p}) { "
                           "removed { version } } }", p=project_gid)
    assert removed["removeProductionScoring"]["removed"]["version"] == 2
    assert data(client, "query($p: ID!) { project(id: $p) { productionScoring { version } } }",
                p=project_gid)["project"]["productionScoring"] is None


def test_a_served_process_scores_ingested_traffic_and_stops_cleanly(tmp_path: Path, database_url: str,
                                                                   mock: MockLLM) -> None:
    """`benchlab serve` as a real process: rows in through the ingest endpoint with a member key, the rule set
    through GraphQL, the scorer started by the server scores the sample within seconds, SIGTERM stops it all."""
    async def seed() -> tuple[UUID, str]:
        conn = await connect(database_url)
        try:
            project = await catalog.create_project(conn, "served", "Served")
            provider = await catalog.create_provider(conn, project.id, "mock", "openai", api_base=mock.base_url,
                                                     transport="direct", box=SecretBox(Fernet.generate_key()))
            await catalog.create_model(conn, project.id, provider.id, "grader", "mock-llm?judge=true&ttft_ms=1")
            return project.id, await make_key(conn, project.id, "member")
        finally:
            await conn.close()

    project, key = asyncio.run(seed())
    headers = {"Authorization": f"Bearer {key}"}
    start = datetime.now(UTC) - timedelta(minutes=5)  # older than the scorer's settle time
    lines = [json.dumps({"project_id": str(project), "event_id": str(event_id(project, n)),
                         "ts": (start + timedelta(seconds=n)).isoformat(), "source": "production",
                         "provider": "openai", "model": "gpt-prod", "status": "ok", "ttft_ms": 100.0 + n,
                         "e2e_ms": 900.0 + n, "completion_tokens": 12, "output": output_of(n),
                         "input": json.dumps([{"role": "user", "content": f"question {n}"}])}) for n in range(60)]
    wanted = {event_id(project, n) for n in range(60) if is_sampled(event_id(project, n), 0.5)}
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
           "BENCHLAB_PRODUCTION_SCORING_INTERVAL_S": "1", "BENCHLAB_WORKERS": "0"}
    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready()
        ingested = httpx.post(f"{server.base_url}/ingest/v1/events", content="\n".join(lines),
                              headers={**headers, "Content-Type": "application/x-ndjson",
                                       "Idempotency-Key": "production-test-1"}, timeout=30)
        assert ingested.status_code == 200 and ingested.json()["accepted"] == 60, ingested.text

        def graphql(query: str, **variables: Any) -> dict[str, Any]:
            response = httpx.post(f"{server.base_url}/graphql", json={"query": query, "variables": variables},
                                  headers=headers, timeout=30)
            assert response.status_code == 200 and not response.json().get("errors"), response.text
            return response.json()["data"]

        project_gid = encode_global_id("Project", project)
        rules = {"evaluators": [{"type": "llm-rubric", "name": "helpful", "value": "Is it an answer?",
                                 "judge": "grader"}]}
        graphql("""mutation($p: ID!, $r: JSON!, $since: DateTime) { setProductionScoring(input: {projectId: $p,
            sampleRate: 0.5, since: $since, rules: $r}) { productionScoring { version } } }""", p=project_gid,
                r=rules, since=(start - timedelta(minutes=1)).isoformat())
        state = "query($p: ID!) { project(id: $p) { productionScoring { scoredRequests lastError } } }"
        wait_until(lambda: graphql(state, p=project_gid)["project"]["productionScoring"]["scoredRequests"]
                   == len(wanted), "the served scorer to score the sample", within_s=60)
        judged = graphql("""query($p: ID!) { productionTraffic(projectId: $p) { scoredRequests
            judged { evaluator scored passed } } }""", p=project_gid)["productionTraffic"]
        assert judged["scoredRequests"] == len(wanted)
        helpful = judged["judged"]["evaluator"].index("helpful")
        assert judged["judged"]["scored"][helpful] == len(wanted)
        assert judged["judged"]["passed"][helpful] == sum(1 for n in range(60)
                                                          if event_id(project, n) in wanted and output_of(n))
        began = time.monotonic()
        assert server.stop() == 0, server.output
        assert time.monotonic() - began < 30
    assert "production scoring of project" not in server.output, server.output  # no batch failed
