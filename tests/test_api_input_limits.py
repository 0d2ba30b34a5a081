"""Arguments the stores cannot take are refused up front with BAD_USER_INPUT and what to change (issue 9).

Each case here came back INTERNAL before: bucket widths that overflow ClickHouse's DateTime64 arithmetic, times
outside what ClickHouse (1900..2299) or asyncpg can hold, and NUL characters PostgreSQL cannot store.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.runs import RunState, create_run, transition
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec
from tests.helpers.event_rows import event_row, table_columns
from tests.helpers.graphql import data, error_codes, gql

REQUESTS = 3
TIMELINE = "query($r: ID!, $i: Float!) { run(id: $r) { timeline(intervalSeconds: $i) { intervalSeconds requests } } }"
SERIES = """query($p: ID!, $from: DateTime!, $to: DateTime!, $i: Float!) {
  latencySeries(projectId: $p, from: $from, to: $to, intervalSeconds: $i) { bucketStart count } }"""
RANGE = "1900-01-01T00:00:00Z to 2299-12-31T23:59:59.999999Z"


@pytest.fixture
def seeded(client: TestClient) -> dict[str, Any]:
    """A project with a completed run whose requests are in ClickHouse (written directly: no engine needed)."""
    runtime = client.app.state.runtime

    async def seed() -> dict[str, Any]:
        spec = load_spec(mock_spec("http://127.0.0.1:9/v1", project="limits"))
        async with runtime.pg.acquire() as conn:
            registered = await register_experiment(conn, spec, SecretBox(Fernet.generate_key()))
            run_id = await create_run(conn, registered.project_id, registered.experiment_id, spec.to_dict(), REQUESTS)
            for status in ("queued", "running", "completed"):
                await transition(conn, run_id, RunState(status))
            key = await make_key(conn, registered.project_id, "owner")
        columns = await table_columns(runtime.clickhouse)
        rows = [event_row(columns, n, project_id=registered.project_id, run_id=run_id,
                          experiment_id=registered.experiment_id, event_id=uuid.uuid5(run_id, str(n)))
                for n in range(REQUESTS)]
        await runtime.clickhouse.insert("request_events", rows, columns, caller="tests")
        return {"project": encode_global_id("Project", registered.project_id), "run": encode_global_id("Run", run_id),
                "key": key}

    return client.portal.call(seed)


def refused(body: dict[str, Any], *fragments: str) -> str:
    """The one error's message, after checking it is a BAD_USER_INPUT that says each of `fragments`."""
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    message = body["errors"][0]["message"]
    assert all(fragment in message for fragment in fragments), message
    return message


# -- bucket widths -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("interval", [604_800.001, 1e6, 1e13, 1e300])
def test_timeline_refuses_buckets_wider_than_a_week(client: TestClient, seeded: dict[str, Any],
                                                    interval: float) -> None:
    refused(gql(client, TIMELINE, r=seeded["run"], i=interval), "at least 0.001 and at most 604800 (7 days)")


def test_timeline_takes_the_widest_bucket(client: TestClient, seeded: dict[str, Any]) -> None:
    timeline = data(client, TIMELINE, r=seeded["run"], i=604_800.0)["run"]["timeline"]
    assert timeline == {"intervalSeconds": 604_800.0, "requests": [REQUESTS]}


def test_latency_series_refuses_buckets_wider_than_a_week(client: TestClient, seeded: dict[str, Any]) -> None:
    window = {"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"}
    refused(gql(client, SERIES, p=seeded["project"], i=1e13, **window), "at most 604800 (7 days)")
    week = data(client, SERIES, p=seeded["project"], i=604_800.0, **window)["latencySeries"]
    assert sum(week["count"]) == REQUESTS


# -- times ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "1899-12-31T23:59:59Z",
                                    "2300-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00"])
def test_times_outside_the_stores_range_are_refused_everywhere(client: TestClient, seeded: dict[str, Any],
                                                               moment: str) -> None:
    """Analytics (ClickHouse), run filters and API key expiry (PostgreSQL, through asyncpg): one rule for all."""
    series = gql(client, SERIES, p=seeded["project"], i=604_800.0, **{"from": moment, "to": "2025-01-01T00:00:00Z"})
    refused(series, "Variable '$from'", "is out of range", RANGE)
    runs = gql(client, '{ projects(first: 1) { nodes { runs(first: 1, filter: {createdAfter: "' + moment + '"}) '
                       "{ totalCount } } } }")
    refused(runs, "Value cannot represent a DateTime", "is out of range", RANGE)
    key = gql(client, "mutation($p: ID!, $at: DateTime!) { createApiKey(input: {projectId: $p, name: \"ci\", "
                      "role: VIEWER, expiresAt: $at}) { secret } }", p=seeded["project"], at=moment)
    refused(key, "Variable '$at'", RANGE)


def test_the_edges_of_the_range_are_accepted(client: TestClient, seeded: dict[str, Any]) -> None:
    """From 1900 to 2299 with the widest bucket is too many buckets: the advice is a shorter range."""
    edges = {"from": "1900-01-01T00:00:00Z", "to": "2299-12-31T23:59:59.999999Z"}
    refused(gql(client, SERIES, p=seeded["project"], i=604_800.0, **edges),
            "at most 10000 are allowed: use a range of at most 69986 days")
    since_1900 = data(client, SERIES, p=seeded["project"], i=604_800.0,
                      **{"from": edges["from"], "to": "2050-01-01T00:00:00Z"})["latencySeries"]
    assert sum(since_1900["count"]) == REQUESTS


def test_request_cursors_beyond_the_last_possible_row_are_refused(client: TestClient, seeded: dict[str, Any]) -> None:
    """A cursor's time is bound as ClickHouse Int64 microseconds: a forged huge one wrapped around silently."""
    forged = base64.urlsafe_b64encode(f"1:{10**23}:{uuid.UUID(int=0).hex}".encode()).decode()
    query = "query($r: ID!, $a: String) { run(id: $r) { requests(first: 2, after: $a) { nodes { eventId } } } }"
    refused(gql(client, query, r=seeded["run"], a=forged), "after: is not a cursor returned by this list")
    first = data(client, query, r=seeded["run"], a=None)["run"]["requests"]["nodes"]
    assert len(first) == 2


# -- NUL characters ------------------------------------------------------------------------------------------

NUL_CASES = {
    "inline argument": ('{ project(slug: "te\\u0000sts") { id } }', {}, "project(slug)"),
    "nested input field": ('mutation($p: ID!) { createDataset(input: {projectId: $p, name: "a\\u0000b"}) '
                           '{ dataset { id } } }', {}, "createDataset(input.name)"),
    "variable": ("mutation($p: ID!, $name: String!) { createDataset(input: {projectId: $p, name: $name}) "
                 "{ dataset { id } } }", {"name": "a\x00b"}, "$name"),
    "variable input object": ("mutation($i: CreateDatasetInput!) { createDataset(input: $i) { dataset { id } } }",
                              {"i": {"projectId": "checked later", "name": "ok", "description": "a\x00b"}},
                              "$i.description"),
    "nested field argument": ('{ projects(first: 1) { nodes { runs(first: 1, filter: {status: [COMPLETED]}) { nodes '
                              '{ requests(first: 1, filter: {model: "m\\u0000"}) { totalCount } } } } } }', {},
                              "projects.nodes.runs.nodes.requests(filter.model)"),
    "list": ('query($p: ID!) { latencySeries(projectId: $p, from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z", '
             'intervalSeconds: 3600, models: ["m", "x\\u0000"]) { count } }', {}, "latencySeries(models[1])"),
    "JSON literal": ('mutation($p: ID!) { createExperiment(input: {projectId: $p, spec: {name: "e", '
                     'tags: ["\\u0000"]}}) { experiment { id } } }', {}, "createExperiment(input.spec.tags[0])"),
    "JSON variable": ("mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) "
                      "{ experiment { id } } }", {"s": {"name": "e", "models": [{"name": "m\x00"}]}},
                      "$s.models[0].name"),
    "JSON key": ("mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) "
                 "{ experiment { id } } }", {"s": {"na\x00me": "e"}}, "$s (a key)"),
    "variable default": ('query($slug: String = "a\\u0000") { project(slug: $slug) { id } }', {}, "$slug"),
    "member email": ('mutation($p: ID!) { setProjectMember(input: {projectId: $p, email: "a\\u0000@example.com", '
                     'role: VIEWER}) { member { role } } }', {}, "setProjectMember(input.email)"),
    "audit action": ('{ auditLog(first: 5, action: "run.start\\u0000") { totalCount } }', {}, "auditLog(action)"),
    "project update": ('mutation($p: ID!) { updateProject(input: {id: $p, name: "n\\u0000"}) { project { id } } }', {},
                       "updateProject(input.name)"),
    "project creation": ('mutation { createProject(input: {slug: "nul", name: "x", description: "\\u0000"}) '
                         '{ project { id } } }', {}, "createProject(input.description)"),
}


@pytest.mark.parametrize("case", NUL_CASES)
def test_nul_characters_are_refused_naming_where(client: TestClient, seeded: dict[str, Any], case: str) -> None:
    query, variables, where = NUL_CASES[case]
    body = gql(client, query, p=seeded["project"], **variables)  # an undeclared `p` is ignored
    refused(body, f"{where}: contains a NUL character (U+0000)")
    assert body["errors"][0]["extensions"]["argument"] == where and body["data"] is None


def test_nul_characters_are_refused_for_api_keys_too(client: TestClient, seeded: dict[str, Any]) -> None:
    body = client.post("/graphql", headers={"Authorization": f"Bearer {seeded['key']}"},
                       json={"query": 'mutation($p: ID!) { createPrompt(input: {projectId: $p, name: "p\\u0000"}) '
                                      '{ prompt { id } } }', "variables": {"p": seeded["project"]}}).json()
    refused(body, "createPrompt(input.name): contains a NUL character")


def test_text_without_nul_still_goes_through(client: TestClient, seeded: dict[str, Any]) -> None:
    created = data(client, 'mutation($p: ID!) { createDataset(input: {projectId: $p, name: "tab\\there \\u00e9"}) '
                           '{ dataset { name } } }', p=seeded["project"])
    assert created["createDataset"]["dataset"]["name"] == "tab\there é"


# -- id messages ---------------------------------------------------------------------------------------------

def test_wrong_type_messages_use_the_right_article(client: TestClient, seeded: dict[str, Any]) -> None:
    body = gql(client, "query($r: ID!) { run(id: $r) { id } }", r=encode_global_id("ApiKey", uuid.uuid4()))
    refused(body, "id: expected the id of a Run, got the id of an ApiKey")
    body = gql(client, "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }", e=seeded["run"])
    refused(body, "experimentId: expected the id of an Experiment, got the id of a Run")
    refused(gql(client, "query($r: ID!) { run(id: $r) { id } }", r=encode_global_id("", uuid.uuid4())),
            "is not a valid id")
