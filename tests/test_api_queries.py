"""Queries over the catalog and runs: nodes, connections with keyset cursors, filters, batching."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.auth.identity import Identity
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.postgres import create_pool
from benchlab.stores.runs import RunState, create_run, transition
from tests.helpers.access import make_user
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes, execute_counting, gql

NESTED = """
query Nested($projects: Int!, $experiments: Int!, $runs: Int!) {
  projects(first: $projects) {
    totalCount
    nodes { slug experiments(first: $experiments) { nodes { name
      runs(first: $runs) { totalCount nodes { status summary progress { planned completed fraction } } } } } }
  }
}"""


async def seed(conn: asyncpg.Connection, projects: int, experiments: int, runs: int) -> dict[str, Any]:
    """`projects` projects with `experiments` experiments each, each with `runs` runs (the first completed)."""
    box = SecretBox(Fernet.generate_key())
    ids: dict[str, Any] = {"runs": [], "experiments": []}
    for p in range(projects):
        for e in range(experiments):
            spec = load_spec(mock_spec("http://127.0.0.1:9/v1", project=f"proj-{p}", name=f"exp-{e}"))
            registered = await register_experiment(conn, spec, box)
            ids["experiments"].append(registered.experiment_id)
            for r in range(runs):
                run_id = await create_run(conn, registered.project_id, registered.experiment_id, spec.to_dict(), 3)
                if r == 0:
                    await transition(conn, run_id, RunState.QUEUED)
                    await transition(conn, run_id, RunState.RUNNING)
                    await transition(conn, run_id, RunState.COMPLETED, summary={"groups": [{"count": 3}]})
                ids["runs"].append(run_id)
    return ids


@pytest.fixture
async def seeded(pg: asyncpg.Connection) -> dict[str, Any]:
    return await seed(pg, projects=3, experiments=2, runs=3)


def test_nested_lists_with_counts_and_cursors(seeded: dict[str, Any], client: TestClient) -> None:
    result = data(client, NESTED, projects=10, experiments=10, runs=10)["projects"]
    assert result["totalCount"] == 3
    assert sorted(p["slug"] for p in result["nodes"]) == ["proj-0", "proj-1", "proj-2"]
    for project in result["nodes"]:
        assert len(project["experiments"]["nodes"]) == 2
        for experiment in project["experiments"]["nodes"]:
            runs = experiment["runs"]
            assert runs["totalCount"] == 3
            statuses = sorted(r["status"] for r in runs["nodes"])
            assert statuses == ["COMPLETED", "PENDING", "PENDING"]
            completed = next(r for r in runs["nodes"] if r["status"] == "COMPLETED")
            assert completed["summary"] == {"groups": [{"count": 3}]}
            assert completed["progress"] == {"planned": 3, "completed": 0, "fraction": 0.0}


def test_keyset_pages_walk_every_run_exactly_once(seeded: dict[str, Any], client: TestClient) -> None:
    query = """query($slug: String!, $after: String) { project(slug: $slug) {
      runs(first: 2, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor hasPreviousPage } } } }"""
    seen, after, pages = [], None, 0
    while True:
        runs = data(client, query, slug="proj-1", after=after)["project"]["runs"]
        seen += [edge["node"]["id"] for edge in runs["edges"]]
        assert runs["pageInfo"]["hasPreviousPage"] == (after is not None)
        pages += 1
        if not runs["pageInfo"]["hasNextPage"]:
            break
        after = runs["pageInfo"]["endCursor"]
    assert pages == 3 and len(seen) == 6 and len(set(seen)) == 6


RUN_PAGE = """query($after: String, $o: RunOrder) { project(slug: "proj-1") {
  runs(first: 2, after: $after, orderBy: $o) { nodes { id } pageInfo { hasNextPage endCursor } } } }"""


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_pages_stay_stable_while_runs_are_added(seeded: dict[str, Any], client: TestClient,
                                                      pg: asyncpg.Connection, direction: str) -> None:
    """README: keyset cursors, "pages stay stable while runs are added": a run created between two page
    requests never shifts the next page (no duplicate, no gap). Newest first, new runs sort before the cursor
    and are not seen; oldest first, they come after every older run."""
    order = {"field": "CREATED_AT", "direction": direction}
    experiment_id = seeded["experiments"][2]  # proj-1's first experiment
    project_id = await pg.fetchval("SELECT project_id FROM experiments WHERE id = $1", experiment_id)
    existing = [n["id"] for n in data(client, RUN_PAGE.replace("first: 2", "first: 50"), o=order)
                ["project"]["runs"]["nodes"]]
    assert len(existing) == 6
    seen, added, after = [], [], None
    while True:
        runs = data(client, RUN_PAGE, after=after, o=order)["project"]["runs"]
        seen += [n["id"] for n in runs["nodes"]]
        if not runs["pageInfo"]["hasNextPage"]:
            break
        after = runs["pageInfo"]["endCursor"]
        run_id = await create_run(pg, project_id, experiment_id, {}, 1)  # a new run between two pages
        added.append(encode_global_id("Run", run_id))
    assert added, "runs were added while paging"
    assert seen == (existing if direction == "DESC" else existing + added)


def test_run_filters_and_ordering(seeded: dict[str, Any], client: TestClient) -> None:
    experiment = encode_global_id("Experiment", seeded["experiments"][0])
    query = """query($f: RunFilter, $o: RunOrder) { project(slug: "proj-0") {
      runs(first: 50, filter: $f, orderBy: $o) { totalCount nodes { status createdAt } } } }"""
    completed = data(client, query, f={"status": ["COMPLETED"]})["project"]["runs"]
    assert completed["totalCount"] == 2 and {r["status"] for r in completed["nodes"]} == {"COMPLETED"}
    of_experiment = data(client, query, f={"experimentId": experiment})["project"]["runs"]
    assert of_experiment["totalCount"] == 3
    finished = data(client, query, o={"field": "FINISHED_AT", "direction": "ASC"})["project"]["runs"]
    assert finished["totalCount"] == 2
    oldest_first = data(client, query, o={"field": "CREATED_AT", "direction": "ASC"})["project"]["runs"]["nodes"]
    assert [r["createdAt"] for r in oldest_first] == sorted(r["createdAt"] for r in oldest_first)
    wrong_type = gql(client, query, f={"experimentId": encode_global_id("Run", seeded["runs"][0])})
    assert error_codes(wrong_type) == ["BAD_USER_INPUT"]
    assert "expected the id of an Experiment" in wrong_type["errors"][0]["message"]


def test_node_refetches_every_type(seeded: dict[str, Any], client: TestClient) -> None:
    query = """{ project(slug: "proj-0") { id
      providers(first: 5) { nodes { id hasCredentials } }
      models(first: 5) { nodes { id provider { name } } }
      prompts(first: 5) { nodes { id versions(first: 5) { nodes { id template } } } }
      datasets(first: 5) { nodes { id latestVersion { id itemCount
        items(first: 10) { nodes { id externalId input } } } } }
      experiments(first: 5) { nodes { id runs(first: 1) { nodes { id } } } } } }"""
    project = data(client, query)["project"]
    dataset = project["datasets"]["nodes"][0]
    assert dataset["latestVersion"]["itemCount"] == 3
    assert [i["externalId"] for i in dataset["latestVersion"]["items"]["nodes"]] == ["i0", "i1", "i2"]
    ids = [project["id"], project["providers"]["nodes"][0]["id"], project["models"]["nodes"][0]["id"],
           project["prompts"]["nodes"][0]["id"], project["prompts"]["nodes"][0]["versions"]["nodes"][0]["id"],
           dataset["id"], dataset["latestVersion"]["id"], dataset["latestVersion"]["items"]["nodes"][0]["id"],
           project["experiments"]["nodes"][0]["id"], project["experiments"]["nodes"][0]["runs"]["nodes"][0]["id"]]
    for global_id in ids:
        node = data(client, "query($id: ID!) { node(id: $id) { id __typename } }", id=global_id)["node"]
        assert node["id"] == global_id


def test_missing_and_malformed_ids(seeded: dict[str, Any], client: TestClient) -> None:
    gone = encode_global_id("Run", UUID(int=7))
    assert data(client, "query($id: ID!) { node(id: $id) { id } }", id=gone)["node"] is None
    body = gql(client, "query($id: ID!) { run(id: $id) { id } }", id=gone)
    assert error_codes(body) == ["NOT_FOUND"]
    body = gql(client, "query($id: ID!) { run(id: $id) { id } }", id="not-an-id")
    assert error_codes(body) == ["BAD_USER_INPUT"] and "not a valid id" in body["errors"][0]["message"]
    body = gql(client, '{ project(slug: "nope") { id } }')
    assert error_codes(body) == ["NOT_FOUND"]
    body = gql(client, '{ projects(first: 1, after: "garbage!") { nodes { id } } }')
    assert error_codes(body) == ["BAD_USER_INPUT"] and "cursor" in body["errors"][0]["message"]


@pytest.mark.parametrize("first", [0, 501, -3])
def test_first_is_required_and_capped(seeded: dict[str, Any], client: TestClient, first: int) -> None:
    body = gql(client, "query($n: Int!) { projects(first: $n) { nodes { id } } }", n=first)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "between 1 and 500" in body["errors"][0]["message"] and "endCursor" in body["errors"][0]["message"]
    missing = gql(client, "{ projects { nodes { id } } }")
    assert error_codes(missing) == ["BAD_USER_INPUT"]


def test_provider_credentials_are_never_readable(seeded: dict[str, Any], client: TestClient) -> None:
    body = gql(client, '{ project(slug: "proj-0") { providers(first: 5) { nodes { credentials } } } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]  # no such field: the schema has only hasCredentials
    sdl = Path("schema/schema.graphql").read_text()
    provider_type = sdl.split("type Provider implements Node {", 1)[1].split("\n}", 1)[0]
    fields = set(re.findall(r"^  (\w+)[:(]", provider_type, flags=re.M))
    assert "hasCredentials" in fields
    assert not [f for f in fields if re.search("key|secret|credential|encrypt", f, re.I) and f != "hasCredentials"]


async def test_nested_query_statement_count_does_not_grow_with_rows(database_url: str) -> None:
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as conn:
            await seed(conn, projects=1, experiments=1, runs=1)
            member = Identity("user", user_id=await make_user(conn, "member@example.com"))
            join_all = "INSERT INTO project_members SELECT id, $1, 'viewer' FROM projects ON CONFLICT DO NOTHING"
            await conn.execute(join_all, member.user_id)
        result, small = await execute_counting(pool, NESTED, member, projects=10, experiments=10, runs=10)
        assert result.errors is None, result.errors
        async with pool.acquire() as conn:
            await seed(conn, projects=4, experiments=3, runs=4)  # 4 projects, 12 experiments, 49 runs in all
            await conn.execute(join_all, member.user_id)
        result, large = await execute_counting(pool, NESTED, member, projects=10, experiments=10, runs=10)
        assert result.errors is None, result.errors
        assert len(result.data["projects"]["nodes"]) == 4
        assert sum(len(e["runs"]["nodes"]) for p in result.data["projects"]["nodes"]
                   for e in p["experiments"]["nodes"]) == 49
        assert large == small, f"statements grew with rows: {small} -> {large}"
        assert large <= 6, json.dumps({"statements": large})
    finally:
        await pool.close()


def test_query_cost_budget_refuses_oversized_nested_lists(seeded: dict[str, Any], client: TestClient) -> None:
    body = gql(client, NESTED, projects=500, experiments=500, runs=500)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "may return up to 125250500 objects" in message
    assert "projects.nodes.experiments.nodes.runs(first: 500)" in message
    assert "after: pageInfo.endCursor" in message and body["data"] is None
    fragment = """query { ...P }
      fragment P on Query { projects(first: 300) { nodes { runs(first: 300) { nodes { id } } } } }"""
    assert error_codes(gql(client, fragment)) == ["BAD_USER_INPUT"]
    assert not gql(client, NESTED, projects=20, experiments=20, runs=20).get("errors")
