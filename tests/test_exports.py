"""Exports of requests and scores (JSONL, CSV, Parquet) read back and compared row by row with what ClickHouse
holds; scopes never leak another run's or project's rows; memory stays flat; download links; dataset round trip.
"""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.catalog import register_experiment
from benchlab.exports import pages, tokens
from benchlab.exports.formats import prepare_export
from benchlab.exports.scope import ExportFormat, ExportScope, ExportTable
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores import datasets as dataset_store
from benchlab.stores import request_events, scores
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from benchlab.stores.memberships import remove_member, set_role
from benchlab.stores.postgres import create_pool
from benchlab.stores.runs import create_run
from benchlab.stores.scoring_passes import PassTrigger, create_pass
from tests.helpers.access import as_key, make_key, make_user, sign_in_as
from tests.helpers.engine import mock_spec
from tests.helpers.event_rows import BASE_TS, event_row
from tests.helpers.export_rows import normal, read_back

UINT32_MAX = 2 ** 32 - 1
FLOAT32_EDGES = [0.1, 1e-8, 3.4028234663852886e38, -2.5, 1 / 3]


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url)
    yield created
    await created.close()


@pytest.fixture
async def world(pool: asyncpg.Pool, clickhouse: ClickHouseStore) -> dict[str, Any]:
    """Two projects; alpha has runs a1 (edge values, duplicates, 2 scoring passes) and a2, beta has b1."""
    box = SecretBox(Fernet.generate_key())
    ids: dict[str, Any] = {}
    async with pool.acquire() as conn:
        await migrate_clickhouse(clickhouse, conn)
        for slug, runs in (("alpha", ("a1", "a2")), ("beta", ("b1",))):
            registered = await register_experiment(conn, load_spec(mock_spec("http://127.0.0.1:9/v1", project=slug)),
                                                   box)
            ids[slug] = registered.project_id
            ids[f"{slug}-experiment"] = registered.experiment_id
            for name in runs:
                ids[name] = await create_run(conn, registered.project_id, registered.experiment_id, {}, 1)
        old = await create_pass(conn, ids["alpha"], ids["a1"], {}, PassTrigger.RUN, None)
        new = await create_pass(conn, ids["alpha"], ids["a1"], {}, PassTrigger.CLI, None)
        for pass_id, finished in ((old, "2025-01-01"), (new, "2025-01-02")):
            await conn.execute("UPDATE scoring_passes SET status = 'completed', finished_at = $2::timestamptz "
                               "WHERE id = $1", pass_id, datetime.fromisoformat(finished + "T00:00:00+00:00"))
        ids["old-pass"], ids["new-pass"] = old, new
        ids["viewer-key"] = await make_key(conn, ids["alpha"], "viewer")
        ids["revoked-key"] = await make_key(conn, ids["alpha"], "viewer")
        ids["viewer-user"] = await make_user(conn, "viewer@example.com")
        await set_role(conn, ids["alpha"], ids["viewer-user"], "viewer")
    columns = request_events.COLUMNS
    rows = []
    for name, count in (("a1", 1500), ("a2", 40), ("b1", 40)):
        project = ids["alpha" if name != "b1" else "beta"]
        for n in range(count):
            overrides: dict[str, Any] = {
                "project_id": project, "run_id": ids[name], "event_id": uuid.uuid5(ids[name], f"e{n}"),
                "ts": BASE_TS + timedelta(minutes=n // 10, microseconds=n * 7 + 1),  # several hours, µs kept
                "model": ("m-a", "m-b")[n % 2], "input": ""}
            if n < len(FLOAT32_EDGES):
                overrides.update(ttft_ms=FLOAT32_EDGES[n], inter_event_ms=[FLOAT32_EDGES[n], 0.1],
                                 tokens_per_event=[], prompt_tokens=UINT32_MAX, cost_usd=0.1 + 0.2,
                                 output=["héllo \"wörld\"\n, ünïcode ✓ 𝄞", "", "a,b\r\nc", "'quoted'", "\t"][n],
                                 error_message="line1\nline2", tool_calls='[{"name":"f"}]')
            rows.append(event_row(columns, n, **overrides))
    # Two rows with the same sort key (plain MergeTree keeps both): neither may be lost at a page boundary.
    rows.append(event_row(columns, 10**6, project_id=ids["alpha"], run_id=ids["a1"], event_id=rows[700][3],
                          ts=rows[700][columns.index("ts")], model=rows[700][columns.index("model")], input="dup"))
    await clickhouse.insert(request_events.TABLE, rows, columns, caller="tests")
    score_rows = []
    for pass_id in (ids["old-pass"], ids["new-pass"]):
        for n in range(300):
            score_rows.append(scores.ScoreRow(
                ids["alpha"], ids["a1"], ids["alpha-experiment"], pass_id, uuid.uuid5(ids["a1"], f"e{n}"),
                BASE_TS + timedelta(seconds=n), f"item-{n}", n % 3, "main", "m-a", "v1", "p0", "exact", "equals",
                "score", 1.0, n / 7, n % 2 == 0, "pass" if n % 2 == 0 else "fail", f"reason ✓ {n}\n",
                judge_latency_ms=FLOAT32_EDGES[n % len(FLOAT32_EDGES)], judge_prompt_tokens=UINT32_MAX).as_row())
    await clickhouse.insert(scores.TABLE, score_rows, scores.COLUMNS, caller="tests")
    return ids


async def stored(clickhouse: ClickHouseStore, table: ExportTable, where: str, parameters: dict[str, Any]
                 ) -> list[dict[str, Any]]:
    """What ClickHouse holds, in the export's order (the table's sort key)."""
    layout = pages.LAYOUTS[table]
    key = ", ".join(expression for expression, _ in layout.key)
    result = await clickhouse.query(f"SELECT {', '.join(layout.columns)} FROM {layout.name} WHERE {where} "
                                    f"ORDER BY project_id, {key}", parameters, caller="tests")
    return result.dicts()


def in_key_order(rows: list[dict[str, Any]], table: ExportTable = ExportTable.REQUESTS) -> list[dict[str, Any]]:
    """The rows normalised, after checking they come in the table's sort order; rows with the same sort key
    (duplicates a MergeTree keeps) may come in any order between themselves, so those are put in one."""
    normalised = [normal(table, row) for row in rows]
    keys = [_sort_key(table, row) for row in normalised]
    assert keys == sorted(keys), "rows in the table's sort order"
    return sorted(normalised, key=lambda row: (_sort_key(table, row), repr(row)))


def _sort_key(table: ExportTable, row: dict[str, Any]) -> tuple[Any, ...]:
    if table is ExportTable.REQUESTS:
        hour = row["ts"].replace(minute=0, second=0, microsecond=0)
        return (hour, _clickhouse_uuid_order(row["run_id"]), row["model"], _clickhouse_uuid_order(row["event_id"]))
    return (_clickhouse_uuid_order(row["run_id"]), _clickhouse_uuid_order(row["pass_id"]), row["evaluator"],
            row["score_name"], _clickhouse_uuid_order(row["event_id"]))


def _clickhouse_uuid_order(text: str) -> tuple[int, int]:
    """ClickHouse sorts UUIDs by their last 8 bytes first, then the first 8 (as two UInt64 halves, low half first)."""
    value = UUID(text).int
    return value & (2 ** 64 - 1), value >> 64


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of about 200 rows, so a run of 1,500 spans several (and the duplicate key meets a boundary)."""
    monkeypatch.setattr(pages, "FIRST_PAGE_ROWS", 199)
    monkeypatch.setattr(pages, "MAX_PAGE_ROWS", 211)


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_run_requests_read_back_row_by_row(fmt: ExportFormat, world: dict[str, Any], pool: asyncpg.Pool,
                                                 clickhouse: ClickHouseStore, small_pages: None) -> None:
    export = await prepare_export(pool, clickhouse, ExportScope(ExportTable.REQUESTS, fmt, world["alpha"],
                                                                world["a1"]))
    data = await collect(export.chunks())
    got = read_back(fmt, data)
    expected = await stored(clickhouse, ExportTable.REQUESTS, "run_id = {r:UUID}", {"r": world["a1"]})
    assert len(got) == len(expected) == 1501
    assert [list(row) for row in got[:1]] == [list(request_events.COLUMNS)], "the table's column order"
    mine, theirs = in_key_order(got), in_key_order(expected)
    for index in range(len(mine)):
        assert mine[index] == theirs[index], f"row {index}"
    assert sum(row["input"] == "dup" for row in got) == 1 and len({row["event_id"] for row in got}) == 1500
    assert export.filename == f"requests-run-{world['a1']}.{fmt.value}"
    if fmt is ExportFormat.PARQUET:
        schema = pq.read_schema(io.BytesIO(data))
        assert str(schema.field("ts").type) == "timestamp[us, tz=UTC]"
        assert str(schema.field("run_id").type) == "string" and str(schema.field("ttft_ms").type) == "float"
        assert schema.field("inter_event_ms").type.value_type == pa.float32()
        assert str(schema.field("prompt_tokens").type) == "uint32" and str(schema.field("in_window").type) == "bool"
        assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups >= 7, "one row group per page"
    if fmt is ExportFormat.JSONL:
        first = next(row for row in map(json.loads, data.splitlines()) if row["item_id"] == "item-0")
        assert first["ttft_ms"] == 0.1 and first["ts"].endswith("Z") and first["prompt_tokens"] == UINT32_MAX
        assert first["tokens_per_event"] == [] and first["output"] == "héllo \"wörld\"\n, ünïcode ✓ 𝄞"


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_project_scope_and_time_range_never_leak(fmt: ExportFormat, world: dict[str, Any], pool: asyncpg.Pool,
                                                       clickhouse: ClickHouseStore, small_pages: None) -> None:
    start, end = BASE_TS + timedelta(minutes=30), BASE_TS + timedelta(minutes=95)
    export = await prepare_export(pool, clickhouse, ExportScope(ExportTable.REQUESTS, fmt, world["alpha"],
                                                                start=start, end=end, source="experiment"))
    got = read_back(fmt, await collect(export.chunks()))
    expected = await stored(clickhouse, ExportTable.REQUESTS, "project_id = {p:UUID} AND ts >= {s:DateTime64(6, "
                            "'UTC')} AND ts < {e:DateTime64(6, 'UTC')}", {"p": world["alpha"], "s": start, "e": end})
    assert len(got) == len(expected) > 500
    assert in_key_order(got) == in_key_order(expected)
    assert {row["project_id"] for row in got} == {str(world["alpha"])}
    assert {row["run_id"] for row in got} == {str(world["a1"])}, "a2's rows are all before the range"
    whole = read_back(fmt, await collect((await prepare_export(pool, clickhouse, ExportScope(
        ExportTable.REQUESTS, fmt, world["alpha"]))).chunks()))
    assert {row["run_id"] for row in whole} == {str(world["a1"]), str(world["a2"])} and len(whole) == 1541
    nothing = await prepare_export(pool, clickhouse, ExportScope(ExportTable.REQUESTS, fmt, world["alpha"],
                                                                 source="production"))
    assert read_back(fmt, await collect(nothing.chunks())) == []


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_scores_current_pass_by_default_or_all_passes(fmt: ExportFormat, world: dict[str, Any],
                                                            pool: asyncpg.Pool, clickhouse: ClickHouseStore,
                                                            small_pages: None) -> None:
    current = read_back(fmt, await collect((await prepare_export(pool, clickhouse, ExportScope(
        ExportTable.SCORES, fmt, world["alpha"], world["a1"]))).chunks()))
    expected = await stored(clickhouse, ExportTable.SCORES, "pass_id = {p:UUID}", {"p": world["new-pass"]})
    assert len(current) == len(expected) == 300
    assert in_key_order(current, ExportTable.SCORES) == in_key_order(expected, ExportTable.SCORES)
    every = read_back(fmt, await collect((await prepare_export(pool, clickhouse, ExportScope(
        ExportTable.SCORES, fmt, world["alpha"], all_passes=True))).chunks()))
    assert len(every) == 600 and {row["pass_id"] for row in every} == {str(world["old-pass"]), str(world["new-pass"])}
    other = read_back(fmt, await collect((await prepare_export(pool, clickhouse, ExportScope(
        ExportTable.SCORES, fmt, world["beta"]))).chunks()))
    assert other == []


async def test_bad_scopes_are_refused_before_any_byte(world: dict[str, Any], pool: asyncpg.Pool,
                                                      clickhouse: ClickHouseStore) -> None:
    from benchlab.errors import InvalidInputError, NotFoundError

    with pytest.raises(NotFoundError, match="no run with id"):
        await prepare_export(pool, clickhouse, ExportScope(ExportTable.REQUESTS, ExportFormat.CSV, world["beta"],
                                                           world["a1"]))
    with pytest.raises(InvalidInputError) as refused:
        await prepare_export(pool, clickhouse, ExportScope(
            ExportTable.REQUESTS, ExportFormat.CSV, world["alpha"], start=BASE_TS, end=BASE_TS - timedelta(1),
            source="staging", all_passes=True))
    problems = refused.value.problems
    assert any("must be before" in p for p in problems) and any("staging" in p for p in problems)
    assert any("only for table scores" in p for p in problems)
    with pytest.raises(InvalidInputError, match="JSONL only"):
        await prepare_export(pool, clickhouse, ExportScope(ExportTable.DATASET, ExportFormat.CSV, world["alpha"],
                                                           dataset="quiz"))


async def test_memory_stays_flat_while_exporting(pool: asyncpg.Pool, clickhouse: ClickHouseStore,
                                                 world: dict[str, Any]) -> None:
    """200,000 rows (about 100 MB as Python rows, 60 MB as JSONL) exported with pages of 20,000 rows: the Python
    heap's peak (tracemalloc) stays a small fraction of the data, in every format."""
    columns = request_events.COLUMNS
    run_id = world["a2"]
    text = "x" * 200
    for start in range(0, 200_000, 50_000):
        batch = [event_row(columns, n, project_id=world["alpha"], run_id=run_id, input="",
                           event_id=uuid.uuid5(run_id, f"big{n}"), output=f"{text} {n}",
                           ts=BASE_TS + timedelta(days=3, milliseconds=n)) for n in range(start, start + 50_000)]
        await clickhouse.insert(request_events.TABLE, batch, columns, caller="tests")
        del batch
    sizes = {}
    for fmt in ExportFormat:
        export = await prepare_export(pool, clickhouse, ExportScope(ExportTable.REQUESTS, fmt, world["alpha"], run_id))
        tracemalloc.start()
        try:
            total = 0
            async for chunk in export.chunks():
                total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        sizes[fmt] = (total, peak)
        if fmt is not ExportFormat.PARQUET:
            assert total > 40_000_000, f"{fmt}: {total} bytes exported"
        assert peak < 25_000_000, f"{fmt}: Python heap peak {peak / 1e6:.1f} MB for {total / 1e6:.1f} MB exported"


CREATE_EXPORT = """mutation($in: CreateExportInput!) { createExport(input: $in) {
  url expiresAt filename contentType } }"""


def _download(client: TestClient, url: str) -> httpx.Response:
    """GET the link with nothing else: no cookie, no Authorization header."""
    client.cookies.clear()
    return client.get(url, headers={})


def test_download_link_is_the_only_credential_until_it_expires(world: dict[str, Any], client: TestClient) -> None:
    made = as_key(client, world["viewer-key"], CREATE_EXPORT, **{"in": {
        "table": "REQUESTS", "format": "CSV", "runId": str(world["a1"])}})
    link = made["data"]["createExport"]
    assert link["url"].startswith("http://testserver/exports/")
    assert link["filename"] == f"requests-run-{world['a1']}.csv"
    expires = datetime.fromisoformat(link["expiresAt"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    response = _download(client, link["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{link["filename"]}"'
    assert len(list(csv.DictReader(io.StringIO(response.text, newline="")))) == 1501
    token = link["url"].rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    refused = _download(client, f"http://testserver/exports/{tampered}")
    assert refused.status_code == 401 and "not valid" in refused.json()["error"] and token not in refused.text
    runtime = client.app.state.runtime
    grant = tokens.verify(runtime.secrets, token)
    old, _ = tokens.issue(runtime.secrets, grant.principal, grant.scope,
                          now=datetime.now(UTC) - timedelta(minutes=11))
    expired = _download(client, f"http://testserver/exports/{old}")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]


def test_access_is_checked_again_when_the_download_starts(world: dict[str, Any], client: TestClient) -> None:
    by_key = as_key(client, world["revoked-key"], CREATE_EXPORT, **{"in": {
        "table": "SCORES", "format": "PARQUET", "projectId": str(world["alpha"])}})["data"]["createExport"]
    sign_in_as(client, world["viewer-user"])
    by_user = client.post("/graphql", json={"query": CREATE_EXPORT, "variables": {"in": {
        "table": "REQUESTS", "format": "JSONL", "projectId": str(world["alpha"]), "source": "EXPERIMENT"}}}).json()
    by_user = by_user["data"]["createExport"]
    assert _download(client, by_key["url"]).status_code == 200
    assert pq.read_table(io.BytesIO(_download(client, by_key["url"]).content)).num_rows == 300
    assert _download(client, by_user["url"]).status_code == 200
    client.portal.call(_revoke, client, world)
    revoked = _download(client, by_key["url"])
    assert revoked.status_code == 403 and "revoked" in revoked.json()["error"]
    removed = _download(client, by_user["url"])
    assert removed.status_code == 403 and "no longer has access" in removed.json()["error"]


async def _revoke(client: TestClient, world: dict[str, Any]) -> None:
    async with client.app.state.runtime.pg.acquire() as conn:
        await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE project_id = $1 AND prefix = $2",
                           world["alpha"], world["revoked-key"].split("_")[1])
        await remove_member(conn, world["alpha"], world["viewer-user"])


def test_create_export_checks_scope_and_access(world: dict[str, Any], client: TestClient) -> None:
    other = as_key(client, world["viewer-key"], CREATE_EXPORT, **{"in": {
        "table": "REQUESTS", "format": "CSV", "runId": str(world["b1"])}})
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    both = as_key(client, world["viewer-key"], CREATE_EXPORT, **{"in": {
        "table": "REQUESTS", "runId": str(world["a1"]), "projectId": str(world["alpha"])}})
    assert both["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    backwards = as_key(client, world["viewer-key"], CREATE_EXPORT, **{"in": {
        "table": "REQUESTS", "projectId": str(world["alpha"]), "from": "2025-02-01T00:00:00Z",
        "to": "2025-01-01T00:00:00Z"}})
    assert backwards["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "must be before" in backwards["errors"][0]["message"]
    missing = as_key(client, world["viewer-key"], CREATE_EXPORT, **{"in": {
        "table": "DATASET", "projectId": str(world["alpha"]), "dataset": "nope"}})
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


ITEMS = [
    {"id": "capital", "vars": {"country": "Fräncé", "n": 1.5}, "expected_output": "Paris",
     "metadata": {"tags": ["geo", "ünï"], "weight": 2.0}, "assert": [{"type": "icontains", "value": "paris"}],
     "labels": {"judge": True}},
    {"id": "number", "vars": {"q": "2+2"}, "expected_output": 4},
    {"id": "text-number", "vars": {"q": "2+2"}, "expected_output": "4"},
    {"id": "chat", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi ✓"}],
     "expected_tool_calls": []},
    {"id": "tools", "vars": {"x": None}, "expected_tool_calls": [{"name": "lookup", "arguments": {"k": [1, 2]}}],
     "expected_output": {"answer": [1, "two", None]}},
]
CREATE_DATASET = """mutation($p: ID!, $n: String!) { createDataset(input: {projectId: $p, name: $n}) {
  dataset { id } } }"""
IMPORT = """mutation($d: ID!, $t: String!) { importDatasetItems(input: {datasetId: $d, text: $t, format: JSONL,
  mode: REPLACE}) { version { version contentHash } } }"""


def test_dataset_version_exports_and_imports_losslessly(world: dict[str, Any], client: TestClient) -> None:
    def gql(query: str, **variables: Any) -> dict[str, Any]:
        body = client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body
        return body["data"]

    project = str(world["alpha"])
    source = gql(CREATE_DATASET, p=project, n="quiz")["createDataset"]["dataset"]["id"]
    first = gql(IMPORT, d=source, t="\n".join(json.dumps(item) for item in ITEMS[:2]))
    second = gql(IMPORT, d=source, t="\n".join(json.dumps(item) for item in ITEMS))["importDatasetItems"]
    assert first["importDatasetItems"]["version"]["version"] == 1 and second["version"]["version"] == 2
    link = gql(CREATE_EXPORT, **{"in": {"table": "DATASET", "projectId": project, "dataset": "quiz"}})["createExport"]
    assert link["filename"] == "quiz-v2.jsonl" and link["contentType"] == "application/x-ndjson"
    cookies = dict(client.cookies)
    exported = _download(client, link["url"])
    client.cookies.update(cookies)
    assert exported.status_code == 200
    copy = gql(CREATE_DATASET, p=project, n="quiz-copy")["createDataset"]["dataset"]["id"]
    imported = gql(IMPORT, d=copy, t=exported.text)["importDatasetItems"]["version"]
    assert imported["contentHash"] == second["version"]["contentHash"]
    old = gql(CREATE_EXPORT, **{"in": {"table": "DATASET", "projectId": project, "dataset": "quiz",
                                       "datasetVersion": 1}})["createExport"]
    assert old["filename"] == "quiz-v1.jsonl"
    assert [json.loads(line)["id"] for line in _download(client, old["url"]).text.splitlines()] == ["capital", "number"]

    async def items() -> tuple[list[Any], list[Any]]:
        async with client.app.state.runtime.pg.acquire() as conn:
            versions = []
            for name in ("quiz", "quiz-copy"):
                dataset = await dataset_store.find_by_name(conn, world["alpha"], name)
                assert dataset is not None
                latest = await dataset_store.latest_version(conn, dataset.id)
                assert latest is not None
                versions.append(await dataset_store.version_items(conn, latest.id))
            return versions[0], versions[1]

    original, reimported = client.portal.call(items)
    assert original == reimported and len(original) == 5
    assert [item.expected_output for item in reimported[1:3]] == [4, "4"]
    assert reimported[3].expected_tool_calls == () and reimported[0].asserts and reimported[0].labels == {"judge": True}


async def test_rows_with_the_same_sort_key_are_never_split_or_lost(world: dict[str, Any], pool: asyncpg.Pool,
                                                                   clickhouse: ClickHouseStore,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """50 rows with one sort key (a MergeTree keeps duplicates) and pages of 20: the tie spans page boundaries,
    and the page that reaches it takes all 50 at once."""
    monkeypatch.setattr(pages, "FIRST_PAGE_ROWS", 20)
    monkeypatch.setattr(pages, "MAX_PAGE_ROWS", 20)
    columns = request_events.COLUMNS
    same = {"project_id": world["beta"], "run_id": world["b1"], "event_id": uuid.uuid5(world["b1"], "e7"),
            "ts": BASE_TS, "model": "m-b"}
    await clickhouse.insert(request_events.TABLE, [event_row(columns, 7, **same, input=f"copy {n}")
                                                   for n in range(50)], columns, caller="tests")
    sizes = []
    scope = ExportScope(ExportTable.REQUESTS, ExportFormat.JSONL, world["beta"], world["b1"])
    export = await prepare_export(pool, clickhouse, scope)
    rows = []
    async for chunk in export.chunks():
        page = [json.loads(line) for line in chunk.decode().splitlines()]
        sizes.append(len(page))
        rows += page
    assert len(rows) == 90 and sorted(row["input"] for row in rows if row["input"]) == \
        sorted(f"copy {n}" for n in range(50))
    assert max(sizes) >= 51 and sum(sizes) == 90, sizes  # the tie came whole, in one page
