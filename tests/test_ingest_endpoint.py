"""`POST /ingest/v1/events|scores` (docs/ingest.md) on the real app, PostgreSQL and chDB: good rows of a batch kept,
bad ones listed by line; replays answered once and written once; credentials, content type, size limits and
the worker claim fence; and the worker relay (read-only queries, progress) with worker tokens only.
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pyarrow as pa
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.secrets import SecretBox, load_secret_box, mint_worker_token
from benchlab.spec import load_spec
from benchlab.stores.ingest_arrow import decode_arrow, encode_arrow
from benchlab.stores.ingest_format import TABLES
from benchlab.stores.request_events import RequestEvent
from benchlab.stores.runs import create_run
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
async def project(pg: asyncpg.Connection) -> dict[str, Any]:
    registered = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="ingest")),
                                           SecretBox(Fernet.generate_key()))
    other = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="other")),
                                      SecretBox(Fernet.generate_key()))
    run_id = await create_run(pg, registered.project_id, registered.experiment_id, {}, 1)
    return {"id": registered.project_id, "run": run_id, "experiment": registered.experiment_id,
            "member": await make_key(pg, registered.project_id, "member"),
            "viewer": await make_key(pg, registered.project_id, "viewer"),
            "other_member": await make_key(pg, other.project_id, "member")}


def event(project: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    row = {"project_id": str(project["id"]), "run_id": str(project["run"]), "event_id": str(uuid.uuid4()),
           "ts": datetime.now(UTC).isoformat(), "model": "gpt-x", "provider": "p", "source": "production",
           "ttft_ms": 120.5, "e2e_ms": 900.0, "status": "ok", "prompt_tokens": 12, "completion_tokens": 40}
    row.update(overrides)
    return row


def body(rows: list[Any]) -> bytes:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows).encode()


def post(client: TestClient, key: str, content: bytes, path: str = "/ingest/v1/events",
         **headers: str) -> tuple[int, dict[str, Any]]:
    response = client.post(path, content=content, headers={"Authorization": f"Bearer {key}", **NDJSON, **headers})
    return response.status_code, response.json()


def stored(client: TestClient, project_id: UUID) -> list[str]:
    store = client.app.state.runtime.clickhouse  # type: ignore[attr-defined]
    result = client.portal.call(lambda: store.query(  # type: ignore[union-attr]
        "SELECT toString(event_id) FROM request_events WHERE project_id = {p:UUID}",
        {"p": project_id}, caller="tests"))
    return sorted(row[0] for row in result.rows)


def test_good_rows_are_kept_bad_ones_listed_and_a_replay_is_written_once(client: TestClient,
                                                                        project: dict[str, Any]) -> None:
    good = [event(project), event(project, ttft_ms=3)]
    batch = body([good[0], event(project, ttft_ms="fast"), "{not json", good[1],
                  event(project, ttft=1.0), {**good[0]}])
    status, answer = post(client, project["member"], batch, **{"Idempotency-Key": "batch-1"})
    assert status == 200, answer
    assert answer["accepted"] == 2 and answer["replayed"] is False and answer["format"] == 1
    lines = {r["line"]: r["error"] for r in answer["rejected"]}
    assert set(lines) == {2, 3, 5, 6}, lines
    assert "ttft_ms" in lines[2] and "number" in lines[2]
    assert "JSON" in lines[3] and "ttft_ms" in lines[5] and "duplicate of line 1" in lines[6]
    assert stored(client, project["id"]) == sorted(row["event_id"] for row in good)

    again = post(client, project["member"], batch, **{"Idempotency-Key": "batch-1"})
    assert again == (200, {**answer, "replayed": True})
    assert stored(client, project["id"]) == sorted(row["event_id"] for row in good)  # nothing written twice
    status, reused = post(client, project["member"], body([event(project)]), **{"Idempotency-Key": "batch-1"})
    assert status == 409 and "different batch" in reused["error"]

    gzipped = gzip.compress(body([event(project)]))
    status, answer = post(client, project["member"], gzipped, **{"Content-Encoding": "gzip"})
    assert status == 200 and answer["accepted"] == 1 and len(stored(client, project["id"])) == 3


def test_a_key_writes_only_its_projects_rows_and_needs_member(client: TestClient, project: dict[str, Any]) -> None:
    foreign = event(project, project_id=str(uuid.uuid4()))
    status, answer = post(client, project["member"], body([event(project), foreign]))
    assert status == 200 and answer["accepted"] == 1
    assert answer["rejected"][0]["line"] == 2 and "not this API key's project" in answer["rejected"][0]["error"]
    status, answer = post(client, project["other_member"], body([event(project)]))
    assert status == 422 and answer["accepted"] == 0  # every row refused: nothing written
    assert post(client, project["viewer"], body([event(project)]))[0] == 403
    assert post(client, "blk_000000000000_wrong", body([event(project)]))[0] == 401
    response = client.post("/ingest/v1/events", content=body([event(project)]), headers=NDJSON)
    assert response.status_code == 401
    status, answer = post(client, project["member"], body([event(project)]), **{"Content-Type": "text/csv"})
    assert status == 415 and "x-ndjson" in answer["error"]
    assert post(client, project["member"], b"\xff\xfe", )[0] == 400


def test_limits_and_scores(settings: Settings, project: dict[str, Any]) -> None:
    small = replace(settings, ingest_max_bytes=2048, ingest_max_rows=3)
    with TestClient(create_app(small)) as client:
        status, answer = post(client, project["member"], body([event(project, output="x" * 3000)]))
        assert status == 413 and "2048 bytes" in answer["error"]
        status, answer = post(client, project["member"], body([event(project) for _ in range(4)]))
        assert status == 413 and "limit of 3 rows" in answer["error"]
        score = {"project_id": str(project["id"]), "run_id": str(project["run"]), "pass_id": str(uuid.uuid4()),
                 "event_id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat(), "evaluator": "e",
                 "score_name": "e", "value": 1.0, "passed": True}
        status, answer = post(client, project["member"], body([score]), path="/ingest/v1/scores")
        assert status == 200 and answer["table"] == "scores" and answer["accepted"] == 1


def test_worker_tokens_relay_reads_and_the_claim_fence(client: TestClient, settings: Settings,
                                                       project: dict[str, Any]) -> None:
    token = mint_worker_token(load_secret_box(settings.secret_key, settings.data_dir), "w1")
    auth = {"Authorization": f"Bearer {token}"}
    answer = client.post("/worker/v1/query", headers=auth, json={
        "sql": "SELECT {n:UInt32} + 1 AS x, {u:UUID} AS u", "parameters": {"n": 41, "u": {"$uuid": str(project["id"])}},
        "caller": "test"}).json()
    assert answer == {"columns": ["x", "u"], "rows": [[42, {"$uuid": str(project["id"])}]]}
    refused = client.post("/worker/v1/query", headers=auth, json={"sql": "DROP TABLE request_events",
                                                                   "caller": "test"})
    assert refused.status_code in (400, 502) and "readonly" in refused.text.lower()
    assert client.post("/worker/v1/query", headers={"Authorization": f"Bearer {project['member']}"},
                       json={"sql": "SELECT 1"}).status_code == 403
    forged = mint_worker_token(SecretBox(Fernet.generate_key()), "w1")
    assert client.post("/worker/v1/query", headers={"Authorization": f"Bearer {forged}"},
                       json={"sql": "SELECT 1"}).status_code == 401

    run = project["run"]
    pool = client.app.state.runtime.pg  # type: ignore[attr-defined]
    claim = client.portal.call(pool.fetchval, "UPDATE runs SET claim = 2 WHERE id = $1 RETURNING claim", run)
    current = post(client, token, body([event(project)]), **{"Benchlab-Run-Claim": f"{run}:{claim}"})
    assert current[0] == 200
    status, answer = post(client, token, body([event(project)]), **{"Benchlab-Run-Claim": f"{run}:{claim - 1}"})
    assert status == 409 and "another worker" in answer["error"]
    published = client.post("/worker/v1/publish", headers=auth, json={"channel": f"run:{run}", "message": {"a": 1}})
    assert published.status_code == 200
    assert client.post("/worker/v1/publish", headers=auth, json={"channel": "access", "message": {}}).status_code == 400


ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


def arrow_body(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def event_rows(project: dict[str, Any], count: int) -> list[tuple[Any, ...]]:
    base = datetime.now(UTC)
    return [RequestEvent(project["id"], project["run"], project["experiment"], uuid.uuid4(), f"i{n}", 0, 1, "p",
                         "m", "v1", "h", "experiment", "main", base, True, n * 0.1, False, 0.5, 120.5 + n, 130.0,
                         900.0, 901.0, 899.0, 12.5, [10.0, 12.5], [1, 1], 12, 40, 0, 0, False, 0.001, True, "ok",
                         "", 200, "stop", f"answer {n}", "", "").as_row() for n in range(count)]


def test_arrow_batches_round_trip_and_reject_bad_rows(client: TestClient, project: dict[str, Any]) -> None:
    spec = TABLES["request_events"]
    rows = event_rows(project, 5)
    decoded = decode_arrow(spec, encode_arrow(spec, rows), max_rows=10)
    assert decoded.rejected == [] and [tuple(r.values()) for r in decoded.table.to_pylist()] == rows

    headers = {"Authorization": f"Bearer {project['member']}", **ARROW}
    answer = client.post("/ingest/v2/events", content=encode_arrow(spec, rows), headers=headers).json()
    assert answer == {"format": 2, "table": "request_events", "accepted": 5, "rejected": [], "replayed": False}
    assert stored(client, project["id"]) == sorted(str(row[3]) for row in rows)

    # A table written by another producer: only some columns (the rest default), one null, one duplicate,
    # one non-finite number, one row of another project.
    ids = [uuid.uuid4() for _ in range(5)]
    other = pa.table({
        "project_id": pa.ExtensionArray.from_storage(pa.uuid(), pa.array(
            [project["id"].bytes] * 4 + [uuid.uuid4().bytes], pa.binary(16))),
        "event_id": pa.ExtensionArray.from_storage(pa.uuid(), pa.array(
            [ids[0].bytes, ids[1].bytes, ids[0].bytes, ids[3].bytes, ids[4].bytes], pa.binary(16))),
        "ts": pa.array([datetime.now(UTC)] * 4 + [None], pa.timestamp("us", tz="UTC")),
        "ttft_ms": pa.array([1.0, float("inf"), 2.0, 3.0, 4.0], pa.float64()),  # cast to float32 by the server
    })
    response = client.post("/ingest/v2/events", content=arrow_body(other), headers=headers)
    answer = response.json()
    assert response.status_code == 200 and answer["accepted"] == 2, answer
    reasons = {r["line"]: r["error"] for r in answer["rejected"]}
    assert "not a finite number" in reasons[2] and "duplicate of row 1" in reasons[3] and "ts is null" in reasons[5]
    assert len(stored(client, project["id"])) == 7  # the 5 rows before, and rows 1 and 4 with their defaults
    foreign = client.post("/ingest/v2/events", content=encode_arrow(spec, event_rows(project, 2)),
                          headers={**headers, "Authorization": f"Bearer {project['other_member']}"})
    assert foreign.status_code == 422 and "2 rows name a project_id other" in foreign.json()["rejected"][0]["error"]
    unknown = client.post("/ingest/v2/events", content=arrow_body(pa.table({"ttft": [1.0]})), headers=headers)
    assert unknown.status_code == 400 and "unknown column(s) ttft" in unknown.json()["error"]
    wrong = pa.table({"project_id": pa.array(["x"]), "event_id": pa.array(["y"]), "ts": pa.array(["z"])})
    refused = client.post("/ingest/v2/events", content=arrow_body(wrong), headers=headers)
    assert refused.status_code == 400 and "column project_id is string; send extension<arrow.uuid>" in refused.text
    assert client.post("/ingest/v2/events", content=b"not arrow", headers=headers).status_code == 400
    assert client.post("/ingest/v2/events", content=encode_arrow(spec, rows),
                       headers={**headers, **NDJSON}).status_code == 415
    assert client.post("/ingest/v3/events", content=b"", headers=headers).status_code == 404
