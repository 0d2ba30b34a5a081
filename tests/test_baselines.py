"""Baselines (issue 12, item 3): an experiment's named reference runs through the API, their rules, the audit
trail, and `resolve_baseline`, which turns `--baseline main` or a run id into the run to compare with.

Who may set and remove baselines (members and up) is in tests/test_access_matrix.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.baselines import resolve_baseline
from benchlab.stores.runs import RunState, create_run, transition
from tests.helpers.access import as_key, make_key
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes, gql

SET = """mutation($r: ID!, $n: String!, $e: ID) { setBaseline(input: {runId: $r, name: $n, experimentId: $e}) {
  baseline { name setBy setAt run { id } experiment { id } } replacedRun { id } } }"""
REMOVE = """mutation($e: ID!, $n: String!) { removeBaseline(input: {experimentId: $e, name: $n}) {
  experiment { baselines { name } } removedRun { id } } }"""
BASELINES = """query($e: ID!) { node(id: $e) { ... on Experiment { baselines { name setBy setAt run { id } } } } }"""
NAMES = "query($r: ID!) { run(id: $r) { baselineNames } }"
AUDIT = """query($p: ID!) { project(id: $p) { auditLog(first: 50) { nodes { actor action target details } } } }"""
PATHS = {"completed": ("queued", "running", "completed"), "failed": ("queued", "running", "failed"),
         "cancelled": ("queued", "cancelled"), "interrupted": ("queued", "running", "interrupted"),
         "running": ("queued", "running"), "queued": ("queued",), "pending": ()}


@dataclass
class Setup:
    conn: asyncpg.Connection
    project_id: UUID
    experiment_id: UUID
    other_experiment_id: UUID
    spec: dict[str, Any]

    @property
    def project(self) -> str:
        return encode_global_id("Project", self.project_id)

    @property
    def experiment(self) -> str:
        return encode_global_id("Experiment", self.experiment_id)

    @property
    def other_experiment(self) -> str:
        return encode_global_id("Experiment", self.other_experiment_id)

    async def run(self, status: str = "completed", experiment_id: UUID | None = None) -> UUID:
        run_id = await create_run(self.conn, self.project_id, experiment_id or self.experiment_id, self.spec, 1)
        for step in PATHS[status]:
            assert await transition(self.conn, run_id, RunState(step)), step
        return run_id


@pytest.fixture
async def setup(pg: asyncpg.Connection) -> Setup:
    box = SecretBox(Fernet.generate_key())
    spec = mock_spec("http://127.0.0.1:9/v1", project="baselines", items=1)
    first = await register_experiment(pg, load_spec(spec), box)
    second = await register_experiment(pg, load_spec({**spec, "name": "other-experiment"}), box)
    assert first.project_id == second.project_id
    return Setup(pg, first.project_id, first.experiment_id, second.experiment_id,
                 {k: v for k, v in spec.items() if k != "project"})


def run_id(db_id: UUID) -> str:
    return encode_global_id("Run", db_id)


async def test_set_replace_list_and_remove(client: TestClient, setup: Setup) -> None:
    first, second, third = [run_id(await setup.run()) for _ in range(3)]
    made = data(client, SET, r=first, n="main")["setBaseline"]
    assert made["replacedRun"] is None
    assert made["baseline"]["name"] == "main" and made["baseline"]["setBy"] == "admin@example.com"
    assert made["baseline"]["run"] == {"id": first} and made["baseline"]["experiment"] == {"id": setup.experiment}
    assert data(client, NAMES, r=first)["run"]["baselineNames"] == ["main"]

    replaced = data(client, SET, r=second, n="main")["setBaseline"]
    assert replaced["replacedRun"] == {"id": first} and replaced["baseline"]["run"] == {"id": second}
    again = data(client, SET, r=second, n="main")["setBaseline"]  # the run it holds: nothing changes
    assert again["replacedRun"] is None and again["baseline"]["setAt"] == replaced["baseline"]["setAt"]
    data(client, SET, r=third, n="release/1.4")
    data(client, SET, r=second, n="nightly")

    listed = data(client, BASELINES, e=setup.experiment)["node"]["baselines"]
    assert [(b["name"], b["run"]["id"]) for b in listed] == [("main", second), ("nightly", second),
                                                            ("release/1.4", third)]
    assert all(b["setBy"] == "admin@example.com" and b["setAt"] for b in listed)
    assert data(client, NAMES, r=first)["run"]["baselineNames"] == []
    assert data(client, NAMES, r=second)["run"]["baselineNames"] == ["main", "nightly"]
    assert data(client, BASELINES, e=setup.other_experiment)["node"]["baselines"] == []

    removed = data(client, REMOVE, e=setup.experiment, n="main")["removeBaseline"]
    assert removed["removedRun"] == {"id": second}
    assert [b["name"] for b in removed["experiment"]["baselines"]] == ["nightly", "release/1.4"]
    missing = gql(client, REMOVE, e=setup.experiment, n="main")
    assert error_codes(missing) == ["NOT_FOUND"]
    assert missing["errors"][0]["message"] == ("the experiment has no baseline named 'main'; its baselines are: "
                                               "nightly, release/1.4")


async def test_only_completed_runs_of_the_same_experiment(client: TestClient, setup: Setup) -> None:
    completed = run_id(await setup.run())
    other_experiments = run_id(await setup.run(experiment_id=setup.other_experiment_id))
    wrong = gql(client, SET, r=other_experiments, n="main", e=setup.experiment)
    assert error_codes(wrong) == ["CONFLICT"]
    assert "belongs to experiment 'other-experiment', not to the one given" in wrong["errors"][0]["message"]
    # without experimentId, the run's own experiment is the one: a baseline of other-experiment
    assert data(client, SET, r=other_experiments, n="main")["setBaseline"]["baseline"]["experiment"] == {
        "id": setup.other_experiment}
    assert data(client, BASELINES, e=setup.experiment)["node"]["baselines"] == []
    assert data(client, SET, r=completed, n="main", e=setup.experiment)["setBaseline"]["baseline"]["run"] == {
        "id": completed}

    for status in ("failed", "cancelled", "interrupted"):
        body = gql(client, SET, r=run_id(await setup.run(status)), n="main")
        assert error_codes(body) == ["CONFLICT"], body
        assert f"is {status}: only a completed run can be a baseline" in body["errors"][0]["message"]
    for status in ("pending", "queued", "running"):
        body = gql(client, SET, r=run_id(await setup.run(status)), n="main")
        assert error_codes(body) == ["CONFLICT"], body
        assert f"is {status}: set it as a baseline once it has completed" in body["errors"][0]["message"]
    listed = data(client, BASELINES, e=setup.experiment)["node"]["baselines"]
    assert [(b["name"], b["run"]["id"]) for b in listed] == [("main", completed)], "refusals changed nothing"


async def test_bad_names_are_refused(client: TestClient, setup: Setup) -> None:
    completed = run_id(await setup.run())
    for name in ("", "has space", "-leading-dash", "x" * 101, "0b5f6c1e-3f36-4c1e-9a7e-2d8b1f0c9e11"):
        body = gql(client, SET, r=completed, n=name)
        assert error_codes(body) == ["BAD_USER_INPUT"], (name, body)
        assert "use 1 to 100 letters, digits" in body["errors"][0]["message"]
    assert data(client, BASELINES, e=setup.experiment)["node"]["baselines"] == []


async def test_set_and_remove_are_audited(client: TestClient, setup: Setup) -> None:
    first, second = await setup.run(), await setup.run()
    member_key = await make_key(setup.conn, setup.project_id, "member", "ci")
    key_id = await setup.conn.fetchval("SELECT id FROM api_keys WHERE name = 'ci'")
    data(client, SET, r=run_id(first), n="main")
    by_key = as_key(client, member_key, SET, r=run_id(second), n="main")
    assert not by_key.get("errors") and by_key["data"]["setBaseline"]["baseline"]["setBy"] == f"api-key:{key_id}"
    data(client, REMOVE, e=setup.experiment, n="main")

    entries = [e for e in data(client, AUDIT, p=setup.project)["project"]["auditLog"]["nodes"]
               if e["action"].startswith("baseline.")]
    removal, replacement, creation = entries  # newest first
    common = {"experiment": "engine-test", "experiment_id": str(setup.experiment_id), "name": "main"}
    assert creation["actor"] == "admin@example.com" and creation["action"] == "baseline.set"
    assert creation["target"] == "engine-test/main"
    assert creation["details"] == {**common, "run": str(first), "address": "testclient"}
    assert replacement["actor"] == f"api-key:{key_id}" and replacement["action"] == "baseline.set"
    assert replacement["details"] == {**common, "run": str(second), "replaced_run": str(first),
                                      "address": "testclient"}
    assert removal["actor"] == "admin@example.com" and removal["action"] == "baseline.remove"
    assert removal["details"] == {**common, "run": str(second), "address": "testclient"}


async def test_resolve_baseline_takes_a_name_or_a_run_id(client: TestClient, setup: Setup) -> None:
    baseline, plain, failed = await setup.run(), await setup.run(), await setup.run("failed")
    elsewhere = await setup.run(experiment_id=setup.other_experiment_id)
    data(client, SET, r=run_id(baseline), n="main")
    conn, experiment = setup.conn, setup.experiment_id
    assert await resolve_baseline(conn, experiment, "main") == baseline
    assert await resolve_baseline(conn, experiment, " main ") == baseline
    assert await resolve_baseline(conn, experiment, "nightly") is None
    assert await resolve_baseline(conn, experiment, str(plain)) == plain
    assert await resolve_baseline(conn, experiment, plain) == plain
    assert await resolve_baseline(conn, experiment, str(failed)) == failed  # the caller judges the state
    assert await resolve_baseline(conn, experiment, str(elsewhere)) is None  # a run of another experiment
    assert await resolve_baseline(conn, setup.other_experiment_id, "main") is None


async def test_the_database_keeps_a_baseline_inside_its_experiment(setup: Setup) -> None:
    conn = setup.conn
    elsewhere = await setup.run(experiment_id=setup.other_experiment_id)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("INSERT INTO baselines (experiment_id, name, run_id, set_by) VALUES ($1, 'main', $2, 't')",
                           setup.experiment_id, elsewhere)
    run = await setup.run()
    await conn.execute("INSERT INTO baselines (experiment_id, name, run_id, set_by) VALUES ($1, 'main', $2, 't')",
                       setup.experiment_id, run)
    await conn.execute("DELETE FROM runs WHERE id = $1", run)
    assert await conn.fetchval("SELECT count(*) FROM baselines") == 0
