"""Fuzz every root Query and Mutation field of the checked-in schema: no input may end in an INTERNAL error.

hypothesis-graphql writes operations from schema/schema.graphql; each is sent over HTTP with the OWNER API key
of a project that has a provider, model, dataset, prompt, experiment and a finished run, so ids resolve and
resolvers run against the real stores. Scalars are drawn from real global ids (and garbage ids), edge-case
numbers and dates, and strings the stores hold, so most operations get past validation into the resolvers.
Every operation's answer must be a client error (BAD_USER_INPUT, NOT_FOUND, ...) or data: never INTERNAL and
never HTTP 5xx. Every root field gets EXAMPLES_PER_FIELD examples, derandomized, so a CI run is reproducible.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import graphql
import hypothesis_graphql
import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from starlette.testclient import TestClient

from benchlab.api.ids import decode_global_id, encode_global_id
from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from tests.helpers.access import make_key, sign_in
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data
from tests.helpers.mock_llm import MockLLM, run_mock_llm

SDL = (Path(__file__).resolve().parent.parent / "schema" / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SDL)
EXAMPLES_PER_FIELD = 10
RUN_DEADLINE_S = 60
DESTRUCTIVE = ("archive", "cancel", "remove", "revoke")
FUZZ_SETTINGS = settings(max_examples=EXAMPLES_PER_FIELD, deadline=None, derandomize=True, database=None,
                         phases=(Phase.explicit, Phase.generate),  # no shrinking: every failure is reported as found
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.large_base_example, HealthCheck.filter_too_much])

WORLD = """query($p: ID!) { node(id: $p) { ... on Project { id slug
  providers(first: 5) { nodes { id } } models(first: 5) { nodes { id name } }
  datasets(first: 5) { nodes { id latestVersion { id items(first: 5) { nodes { id } } } } }
  prompts(first: 5) { nodes { id versions(first: 5) { nodes { id } } } }
  experiments(first: 5) { nodes { id } } runs(first: 5) { nodes { id createdAt } }
  apiKeys(first: 5) { nodes { id name } } members(first: 5) { nodes { user { id email } } } } } }"""


@dataclasses.dataclass(frozen=True)
class World:
    """What the fuzz aims at: the key to send, and values that name real things."""

    key: str
    ids: dict[str, list[str]]  # type name -> global ids of existing objects of that type
    strings: list[str]
    times: list[str]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=2, gap_ms=1, output_tokens=4) as server:
        yield server


@pytest.fixture
def fuzz_client(settings: Settings) -> Iterator[TestClient]:
    """The app with a rate limit the fuzz cannot reach (RATE_LIMITED answers would hide every resolver)."""
    with TestClient(create_app(dataclasses.replace(settings, graphql_rate_limit=1_000_000))) as client:
        sign_in(client, "admin@example.com", admin=True)
        yield client


@pytest.fixture
async def experiment(pg: asyncpg.Connection, mock: MockLLM) -> str:
    """Project `tests` with a provider, model, prompt, dataset and this experiment (two requests a run)."""
    spec = load_spec(mock_spec(mock.base_url, items=2))
    registered = await register_experiment(pg, spec, SecretBox(Fernet.generate_key()))
    return encode_global_id("Experiment", registered.experiment_id)


@pytest.fixture
async def owner_key(pg: asyncpg.Connection, experiment: str) -> str:
    project_id = await pg.fetchval("SELECT id FROM projects WHERE slug = 'tests'")
    await make_key(pg, project_id, "viewer", "a second key")  # the fuzz may revoke this one, never its own
    return await make_key(pg, project_id, "owner", "fuzz")


def finished_run(client: TestClient, key: str, experiment: str) -> str:
    """Start a run with the key and wait (bounded) until it has ended, so it has requests in ClickHouse."""
    headers = {"Authorization": f"Bearer {key}"}
    started = client.post("/graphql", headers=headers, json={
        "query": "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }",
        "variables": {"e": experiment}}).json()
    run_id = started["data"]["startRun"]["run"]["id"]
    deadline = time.monotonic() + RUN_DEADLINE_S
    while time.monotonic() < deadline:
        status = data(client, "query($r: ID!) { run(id: $r) { status } }", r=run_id)["run"]["status"]
        if status == "COMPLETED":
            return run_id
        assert status in ("QUEUED", "RUNNING"), status
        time.sleep(0.05)
    raise AssertionError(f"the run did not finish within {RUN_DEADLINE_S} s")


def world_of(client: TestClient, key: str, experiment: str) -> World:
    run_id = finished_run(client, key, experiment)
    project_id = data(client, '{ project(slug: "tests") { id } }')["project"]["id"]
    other = data(client, 'mutation { createProject(input: {slug: "elsewhere", name: "Elsewhere"}) '
                         '{ project { id } } }')["createProject"]["project"]["id"]
    project = data(client, WORLD, p=project_id)["node"]
    ids = {project_id, other, run_id, experiment}

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                if name == "id" and inner is not None:
                    ids.add(inner)
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)

    collect(project)
    ids -= {api_key["id"] for api_key in project["apiKeys"]["nodes"] if api_key["name"] == "fuzz"}
    by_type: dict[str, list[str]] = {}
    for global_id in sorted(ids):
        by_type.setdefault(decode_global_id(global_id)[0], []).append(global_id)
    created = datetime.fromisoformat(project["runs"]["nodes"][0]["createdAt"])
    strings = ["tests", "elsewhere", "admin@example.com", "mock", "m", "p", "d", "engine-test", "ok", "error",
               "main", "openai", "direct", "auto", "litellm", "run.start", "project.create", "v1", "", "nul\x00byte",
               *(member["user"]["email"] for member in project["members"]["nodes"])]
    times = [(created + delta).isoformat() for delta in (timedelta(hours=-1), timedelta(0), timedelta(hours=1))]
    return World(key=key, ids=by_type, strings=strings, times=times)


def json_node(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (how a JSON scalar is written inline)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([json_node(v) for v in value])
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=json_node(v))
                         for k, v in value.items()])


def scalars(world: World, name: str, field: graphql.GraphQLField,
            spec: dict[str, Any]) -> dict[str, st.SearchStrategy]:
    """Custom scalar strategies: mostly values that reach the resolvers, plus edge cases and garbage.

    Ids are mostly of the types the field talks about (`archiveDataset`, `input.experimentId`), so most
    operations reach the resolver instead of stopping at "expected the id of a Dataset".
    """
    every_id = sorted(global_id for ids in world.ids.values() for global_id in ids)
    aimed = sorted(global_id for type_name in mentioned_types(name, field, world.ids)
                   for global_id in world.ids[type_name])
    garbage_ids = st.one_of(st.text(max_size=30),
                            st.builds(encode_global_id, st.sampled_from(["Run", "Project", "Nope", ""]), st.uuids()))
    ids = weighted((6 if aimed else 0, st.sampled_from(aimed or every_id)), (2, st.sampled_from(every_id)),
                   (2, garbage_ids))
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))])
    edges = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1899-12-31T23:59:59Z",
             "1900-01-01T00:00:00Z", "2299-12-31T23:59:59.999999Z", "2300-01-01T00:00:00Z", "2025-03-04T05:06:07",
             "yesterday"]
    instants = st.one_of(st.sampled_from(world.times), st.sampled_from(edges),
                         st.datetimes(timezones=offsets).map(datetime.isoformat))
    names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4), max_leaves=12)
    return {
        "ID": ids.map(nodes.String),
        "String": st.one_of(st.sampled_from(world.strings), st.text(max_size=40)).map(nodes.String),
        "Int": weighted((6, st.integers(1, 5)), (2, st.sampled_from([0, -1, 500, 501, 1000, 2**31 - 1, -2**31])),
                        (2, st.integers(-2**31, 2**31 - 1))).map(nodes.Int),
        "Float": st.one_of(st.sampled_from([0.0, 0.001, 0.5, 0.95, 1.0, 60.0, 3600.0, 1e6, 1e13, 1e300, -1.0,
                                            5e-324, 100.0, 99.9]),
                           st.floats(allow_nan=False, allow_infinity=False)).map(nodes.Float),
        "DateTime": instants.map(nodes.String),
        "JSON": st.one_of(st.just(spec), json_values).map(json_node),
    }


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """`st.one_of` with weights (which it has not): a drawn index picks the strategy."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(table.__getitem__)


def mentioned_types(name: str, field: graphql.GraphQLField, types: Iterable[str]) -> set[str]:
    """Object types a root field names in itself, its arguments or their input fields (`compareRuns` -> Run)."""
    words: list[str] = []

    def gather(label: str, inputs: dict[str, Any], seen: set[str]) -> None:
        words.append(label.lower())
        for input_name, value in inputs.items():
            words.append(input_name.lower())
            named = graphql.get_named_type(value.type)
            if isinstance(named, graphql.GraphQLInputObjectType) and named.name not in seen:
                gather(named.name, named.fields, seen | {named.name})

    gather(name, field.args, set())
    text = " ".join(words)
    return {type_name for type_name in types if type_name.lower() in text}


def root_fields(type_: graphql.GraphQLObjectType | None) -> list[tuple[str, graphql.GraphQLField]]:
    """Fields by name, those that take things away last (an archived project would make the rest CONFLICT)."""
    assert type_ is not None
    return sorted(type_.fields.items(), key=lambda item: (item[0].startswith(DESTRUCTIVE), item[0] == "archiveProject",
                                                          item[0]))


def problems_of(client: TestClient, world: World, operation: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What is wrong with the server's answer to one operation (nothing, normally)."""
    response = client.post("/graphql", json={"query": operation}, headers={"Authorization": f"Bearer {world.key}"})
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:300]}"]
    found = []
    for error in response.json().get("errors") or []:
        if error.get("extensions", {}).get("code") == "INTERNAL":
            request_id = error["extensions"].get("requestId", "?")
            causes = [record.exc_text or record.getMessage() for record in caplog.records if request_id in
                      record.getMessage()]
            found.append(f"INTERNAL at {error.get('path')}: {causes[-1].splitlines()[-1] if causes else '?'}")
    return found


def fuzz_field(client: TestClient, world: World, caplog: pytest.LogCaptureFixture, build: Any, name: str,
               field: graphql.GraphQLField, spec: dict[str, Any]) -> list[str]:
    """Every problem found in EXAMPLES_PER_FIELD operations on one root field."""
    failures: list[str] = []

    @FUZZ_SETTINGS
    @given(operation=build(SCHEMA, fields=[name], custom_scalars=scalars(world, name, field, spec)))
    def fuzz(operation: str) -> None:
        failures.extend(f"{name}: {problem}\n{operation}" for problem in problems_of(client, world, operation, caplog))

    fuzz()
    return failures


def test_no_root_field_answers_internal(fuzz_client: TestClient, owner_key: str, experiment: str, mock: MockLLM,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="benchlab.api")
    world = world_of(fuzz_client, owner_key, experiment)
    spec = mock_spec(mock.base_url, items=1)
    failures = [failure
                for build, root in ((hypothesis_graphql.queries, SCHEMA.query_type),
                                    (hypothesis_graphql.mutations, SCHEMA.mutation_type))
                for name, field in root_fields(root)
                for failure in fuzz_field(fuzz_client, world, caplog, build, name, field, spec)]
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
