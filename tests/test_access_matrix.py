"""Every mutation as every project role, a stranger and an instance admin: allowed exactly from the promised role.

The expected minimum role of each mutation is written here, independently of the code; a mutation missing
from the table fails the test, so a new mutation cannot ship without a decision about who may use it.
Identities are API keys (one per role) of the project, an owner key of another project as the stranger, and
the `client` fixture's signed-in instance admin (README: instance admins may do everything).

Each call gets its own object, in a state where the call can succeed (a queued run to cancel, an interrupted
run to resume, a member to remove, a provider nobody archived yet), so:
- an allowed call must succeed: no errors, the payload shows the change, and the database changed;
- a refused call must be FORBIDDEN (NOT_FOUND for strangers) and leave every table exactly as it was.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.api.schema import build_schema
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.runs import RunState, create_run, transition
from tests.helpers.access import as_key, database_snapshot, make_key, make_user
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import gql

ROLES = ("viewer", "member", "admin", "owner")
INSTANCE_ADMIN = "instance admin"
# In increasing power, so every refused call of a mutation comes before its allowed ones: a refused call is
# checked against a database that no earlier (allowed) call, nor a run it started, is still changing.
IDENTITIES = ("stranger", *ROLES, INSTANCE_ADMIN)
SIGNED_IN = "signed-in user"  # no API key may: keys belong to one project
counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(counter)}"


class World:
    """A project with a key per role and a stranger's key; makes a fresh object for each call."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def seed(self) -> World:
        box = SecretBox(Fernet.generate_key())
        spec = mock_spec("http://127.0.0.1:9/v1", project="matrix", items=1)
        self.spec = {k: v for k, v in spec.items() if k != "project"}
        main = await register_experiment(self.conn, load_spec(spec), box)
        other = await register_experiment(self.conn, load_spec({**spec, "project": "elsewhere"}), box)
        self.project_id, self.experiment_id = main.project_id, main.experiment_id
        self.provider_id = await self.one("SELECT id FROM providers WHERE project_id = $1", self.project_id)
        self.project = encode_global_id("Project", self.project_id)
        self.provider = encode_global_id("Provider", self.provider_id)
        self.model = encode_global_id("Model", await self.one("SELECT id FROM models WHERE project_id = $1",
                                                              self.project_id))
        self.dataset = encode_global_id("Dataset", await self.one("SELECT id FROM datasets WHERE project_id = $1",
                                                                  self.project_id))
        self.prompt = encode_global_id("Prompt", await self.one("SELECT id FROM prompts WHERE project_id = $1",
                                                                self.project_id))
        self.experiment = encode_global_id("Experiment", self.experiment_id)
        self.keys = {role: await make_key(self.conn, self.project_id, role) for role in ROLES}
        self.keys["stranger"] = await make_key(self.conn, other.project_id, "owner")
        return self

    async def one(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def project_archived(self, archived: bool) -> str:
        await self.conn.execute("UPDATE projects SET archived_at = CASE WHEN $2 THEN now() END WHERE id = $1",
                                self.project_id, archived)
        return self.project

    async def new_provider(self) -> str:
        return encode_global_id("Provider", await self.one(
            "INSERT INTO providers (project_id, name, provider_type) VALUES ($1, $2, 'openai') RETURNING id",
            self.project_id, unique("provider")))

    async def new_model(self) -> str:
        return encode_global_id("Model", await self.one(
            "INSERT INTO models (project_id, provider_id, name, model_id) VALUES ($1, $2, $3, 'm') RETURNING id",
            self.project_id, self.provider_id, unique("model")))

    async def new_dataset(self) -> str:
        return encode_global_id("Dataset", await self.one(
            "INSERT INTO datasets (project_id, name) VALUES ($1, $2) RETURNING id", self.project_id, unique("ds")))

    async def new_prompt(self) -> str:
        return encode_global_id("Prompt", await self.one(
            "INSERT INTO prompts (project_id, name) VALUES ($1, $2) RETURNING id", self.project_id, unique("pr")))

    async def new_experiment(self) -> str:
        name = unique("exp")
        return encode_global_id("Experiment", await self.one(
            "INSERT INTO experiments (project_id, name, spec) VALUES ($1, $2, $3::jsonb) RETURNING id",
            self.project_id, name, {**self.spec, "name": name}))

    async def new_run(self, *path: str) -> str:
        """A run of the experiment moved along `path` through the guarded state machine."""
        run_id = await create_run(self.conn, self.project_id, self.experiment_id, self.spec, 1)
        for status in path:
            assert await transition(self.conn, run_id, RunState(status)), status
        return encode_global_id("Run", run_id)

    async def with_production_scoring(self) -> str:
        """The project, holding a production scoring rule set (again, if a call removed it)."""
        await self.conn.execute(
            "INSERT INTO production_scoring (project_id, document, sample_rate, pass_id, watermark_ts, created_by, "
            "updated_by) VALUES ($1, $2, 0.1, gen_random_uuid(), now(), 'tests', 'tests') "
            "ON CONFLICT (project_id) DO NOTHING", self.project_id,
            {"evaluators": [{"type": "contains", "name": "contains", "value": "x"}]})
        return self.project

    async def new_scored_run(self) -> str:
        """A completed run whose spec has an evaluator: scoreRun can score it (it has no requests to score)."""
        spec = {**self.spec, "evaluators": [{"type": "contains", "value": "x"}]}
        run_id = await create_run(self.conn, self.project_id, self.experiment_id, spec, 1)
        for status in ("queued", "running", "completed"):
            assert await transition(self.conn, run_id, RunState(status)), status
        return encode_global_id("Run", run_id)

    async def new_baseline(self) -> str:
        """A completed run of the experiment made its baseline under a new name; returns the name."""
        name = unique("baseline")
        run_id = await create_run(self.conn, self.project_id, self.experiment_id, self.spec, 1)
        for status in ("queued", "running", "completed"):
            assert await transition(self.conn, run_id, RunState(status)), status
        await self.conn.execute("INSERT INTO baselines (experiment_id, name, run_id, set_by) VALUES ($1, $2, $3, 't')",
                                self.experiment_id, name, run_id)
        return name

    async def new_gated_run(self) -> str:
        """A completed run whose spec has a gate: gateRun can judge it (inconclusive: it recorded nothing)."""
        spec = {**self.spec, "gates": [{"metric": "error_rate", "max": 0.01}], "gate_options": {"inconclusive": "pass"}}
        run_id = await create_run(self.conn, self.project_id, self.experiment_id, spec, 1)
        for status in ("queued", "running", "completed"):
            assert await transition(self.conn, run_id, RunState(status)), status
        return encode_global_id("Run", run_id)

    async def new_schedule(self, *, paused: bool = False) -> str:
        """A schedule of the experiment (hourly, next due in 2030: no scheduler fires it during the test)."""
        return encode_global_id("Schedule", await self.one(
            "INSERT INTO schedules (id, project_id, experiment_id, cron, paused, next_due_at, next_fire_at, "
            "created_by, updated_by) VALUES (gen_random_uuid(), $1, $2, '0 * * * *', $3, '2030-01-01Z', "
            "'2030-01-01Z', 't', 't') RETURNING id", self.project_id, self.experiment_id, paused))

    async def new_alert_rule(self) -> str:
        return encode_global_id("AlertRule", await self.one(
            "INSERT INTO alert_rules (project_id, name, kind, threshold, source, created_by) "
            "VALUES ($1, $2, 'daily_cost', 5, 'all', 't') RETURNING id", self.project_id, unique("rule")))

    async def new_alert_webhook(self) -> str:
        return encode_global_id("AlertWebhook", await self.one(
            "INSERT INTO alert_webhooks (project_id, name, url, format, created_by) "
            "VALUES ($1, $2, 'https://hooks.example.com/x', 'benchlab', 't') RETURNING id",
            self.project_id, unique("hook")))

    async def new_key(self) -> str:
        name = unique("key")
        await make_key(self.conn, self.project_id, "viewer", name)
        return encode_global_id("ApiKey", await self.one("SELECT id FROM api_keys WHERE name = $1", name))

    async def new_user(self, *, member: bool = False) -> UUID:
        user_id = await make_user(self.conn, f"{unique('user')}@example.com")
        if member:
            await self.conn.execute("INSERT INTO project_members VALUES ($1, $2, 'viewer')", self.project_id, user_id)
        return user_id

    async def email_of(self, user: Any) -> str:
        return await self.one("SELECT email FROM users WHERE id = $1", await user)

    async def user_id(self, user: Any) -> str:
        return encode_global_id("User", await user)


async def resolved(variables: dict[str, Any]) -> dict[str, Any]:
    return {name: await value if inspect.isawaitable(value) else value for name, value in variables.items()}


@dataclass(frozen=True)
class Case:
    least: str                                                # least project role, SIGNED_IN or INSTANCE_ADMIN
    operation: str
    variables: Callable[[World], dict[str, Any]]              # values may be awaitables (fresh objects)
    succeeded: Callable[[dict[str, Any], dict[str, Any]], Any]  # (payload, variables): shows the change
    audit_only: bool = False  # the mutation's one write is its audit entry (createExport: a download link)

    def allows(self, who: str) -> bool:
        if who == INSTANCE_ADMIN:
            return True
        return self.least in ROLES and who in ROLES and ROLES.index(who) >= ROLES.index(self.least)

    def refusal(self, who: str) -> str:
        return "NOT_FOUND" if who == "stranger" and self.least in ROLES else "FORBIDDEN"


MATRIX: dict[str, Case] = {
    "createProject": Case(
        SIGNED_IN, 'mutation($s: String!) { createProject(input: {slug: $s, name: "x"}) { project { slug } } }',
        lambda w: {"s": unique("p")}, lambda p, v: p["project"]["slug"] == v["s"]),
    "updateProject": Case(
        "owner", "mutation($id: ID!, $n: String!) { updateProject(input: {id: $id, name: $n}) { project { name } } }",
        lambda w: {"id": w.project, "n": unique("renamed")}, lambda p, v: p["project"]["name"] == v["n"]),
    "archiveProject": Case(
        "owner", "mutation($id: ID!) { archiveProject(id: $id) { project { id archivedAt } } }",
        lambda w: {"id": w.project_archived(False)}, lambda p, v: p["project"]["archivedAt"]),
    "unarchiveProject": Case(
        "owner", "mutation($id: ID!) { unarchiveProject(id: $id) { project { id archivedAt } } }",
        lambda w: {"id": w.project_archived(True)}, lambda p, v: p["project"]["archivedAt"] is None),
    "createProvider": Case(
        "admin", 'mutation($p: ID!, $n: String!) { createProvider(input: {projectId: $p, name: $n, type: "openai", '
                 'apiKey: "sk-x"}) { provider { name hasCredentials } } }',
        lambda w: {"p": w.project, "n": unique("prov")},
        lambda p, v: p["provider"] == {"name": v["n"], "hasCredentials": True}),
    "updateProvider": Case(
        "admin", 'mutation($id: ID!) { updateProvider(input: {id: $id, apiKey: "sk-y"}) '
                 "{ provider { hasCredentials } } }",
        lambda w: {"id": w.new_provider()}, lambda p, v: p["provider"]["hasCredentials"]),
    "archiveProvider": Case(
        "admin", "mutation($id: ID!) { archiveProvider(id: $id) { provider { id archivedAt } } }",
        lambda w: {"id": w.new_provider()},
        lambda p, v: p["provider"]["id"] == v["id"] and p["provider"]["archivedAt"]),
    "createModel": Case(
        "admin", 'mutation($p: ID!, $n: String!) { createModel(input: {providerId: $p, name: $n, modelId: "m"}) '
                 "{ model { name } } }",
        lambda w: {"p": w.provider, "n": unique("model")}, lambda p, v: p["model"]["name"] == v["n"]),
    "updateModel": Case(
        "admin", "mutation($id: ID!, $price: Float!) { updateModel(input: {id: $id, inputPricePerMtok: $price}) "
                 "{ model { inputPricePerMtok } } }",
        lambda w: {"id": w.model, "price": next(counter) + 0.5},
        lambda p, v: p["model"]["inputPricePerMtok"] == v["price"]),
    "archiveModel": Case(
        "admin", "mutation($id: ID!) { archiveModel(id: $id) { model { id archivedAt } } }",
        lambda w: {"id": w.new_model()}, lambda p, v: p["model"]["id"] == v["id"] and p["model"]["archivedAt"]),
    "createDataset": Case(
        "member", "mutation($p: ID!, $n: String!) { createDataset(input: {projectId: $p, name: $n}) "
                  "{ dataset { name } } }",
        lambda w: {"p": w.project, "n": unique("ds")}, lambda p, v: p["dataset"]["name"] == v["n"]),
    "archiveDataset": Case(
        "member", "mutation($id: ID!) { archiveDataset(id: $id) { dataset { id archivedAt } } }",
        lambda w: {"id": w.new_dataset()}, lambda p, v: p["dataset"]["id"] == v["id"] and p["dataset"]["archivedAt"]),
    "importDatasetItems": Case(
        "member", "mutation($d: ID!, $t: String!) { importDatasetItems(input: {datasetId: $d, format: JSONL, "
                  "text: $t}) { created importedItems } }",
        lambda w: {"d": w.dataset, "t": json.dumps({"id": unique("item"), "vars": {"topic": "t"}})},
        lambda p, v: p == {"created": True, "importedItems": 1}),
    "createPrompt": Case(
        "member", "mutation($p: ID!, $n: String!) { createPrompt(input: {projectId: $p, name: $n}) "
                  "{ prompt { name } } }",
        lambda w: {"p": w.project, "n": unique("pr")}, lambda p, v: p["prompt"]["name"] == v["n"]),
    "createPromptVersion": Case(
        "member", 'mutation($p: ID!, $v: String!) { createPromptVersion(input: {promptId: $p, version: $v, '
                  'text: "Q: {{topic}}"}) { promptVersion { version } } }',
        lambda w: {"p": w.prompt, "v": unique("v")}, lambda p, v: p["promptVersion"]["version"] == v["v"]),
    "archivePrompt": Case(
        "member", "mutation($id: ID!) { archivePrompt(id: $id) { prompt { id archivedAt } } }",
        lambda w: {"id": w.new_prompt()}, lambda p, v: p["prompt"]["id"] == v["id"] and p["prompt"]["archivedAt"]),
    "createExperiment": Case(
        "member", "mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) "
                  "{ experiment { name } } }",
        lambda w: {"p": w.project, "s": {**w.spec, "name": unique("e")}},
        lambda p, v: p["experiment"]["name"] == v["s"]["name"]),
    "updateExperiment": Case(
        "member", "mutation($id: ID!, $s: JSON!) { updateExperiment(input: {id: $id, spec: $s}) "
                  "{ experiment { description } } }",
        lambda w: {"id": w.experiment, "s": {**w.spec, "description": unique("described")}},
        lambda p, v: p["experiment"]["description"] == v["s"]["description"]),
    "archiveExperiment": Case(
        "member", "mutation($id: ID!) { archiveExperiment(id: $id) { experiment { id archivedAt } } }",
        lambda w: {"id": w.new_experiment()},
        lambda p, v: p["experiment"]["id"] == v["id"] and p["experiment"]["archivedAt"]),
    "startRun": Case(
        "member", "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { status experiment { id } } } }",
        lambda w: {"e": w.experiment},
        lambda p, v: p["run"]["status"] in ("QUEUED", "RUNNING") and p["run"]["experiment"]["id"] == v["e"]),
    "cancelRun": Case(
        "member", "mutation($id: ID!) { cancelRun(id: $id) { run { id status } } }",
        lambda w: {"id": w.new_run("queued")}, lambda p, v: p["run"] == {"id": v["id"], "status": "CANCELLED"}),
    "resumeRun": Case(
        "member", "mutation($id: ID!) { resumeRun(id: $id) { run { id status } } }",
        lambda w: {"id": w.new_run("queued", "running", "interrupted")},
        lambda p, v: p["run"]["id"] == v["id"] and p["run"]["status"] in ("QUEUED", "RUNNING")),
    "scoreRun": Case(
        "member", "mutation($id: ID!) { scoreRun(input: {runId: $id}) { run { id } scoringPass { status trigger } } }",
        lambda w: {"id": w.new_scored_run()},
        lambda p, v: p["run"]["id"] == v["id"] and p["scoringPass"]["trigger"] == "api"
        and p["scoringPass"]["status"] in ("queued", "running", "completed")),
    "setBaseline": Case(
        "member", 'mutation($r: ID!) { setBaseline(input: {runId: $r, name: "main"}) '
                  "{ baseline { name run { id } } } }",
        lambda w: {"r": w.new_run("queued", "running", "completed")},
        lambda p, v: p["baseline"] == {"name": "main", "run": {"id": v["r"]}}),
    "removeBaseline": Case(
        "member", "mutation($e: ID!, $n: String!) { removeBaseline(input: {experimentId: $e, name: $n}) "
                  "{ experiment { id baselines { name } } removedRun { id } } }",
        lambda w: {"e": w.experiment, "n": w.new_baseline()},
        lambda p, v: p["experiment"]["id"] == v["e"] and v["n"] not in [b["name"] for b in p["experiment"]["baselines"]]
        and p["removedRun"]["id"]),
    "gateRun": Case(
        "member", "mutation($id: ID!) { gateRun(input: {runId: $id}) { passed run { id gate { status } } } }",
        lambda w: {"id": w.new_gated_run()},
        lambda p, v: p["run"]["id"] == v["id"] and p["passed"] and p["run"]["gate"]["status"] == "passed"),
    "createSchedule": Case(
        "member", 'mutation($e: ID!) { createSchedule(input: {experimentId: $e, cron: "0 3 * * *"}) '
                  "{ schedule { cron experiment { id } } } }",
        lambda w: {"e": w.experiment},
        lambda p, v: p["schedule"] == {"cron": "0 3 * * *", "experiment": {"id": v["e"]}}),
    "updateSchedule": Case(
        "member", "mutation($id: ID!) { updateSchedule(input: {id: $id, maxMissedRuns: 3}) "
                  "{ schedule { id maxMissedRuns } } }",
        lambda w: {"id": w.new_schedule()}, lambda p, v: p["schedule"] == {"id": v["id"], "maxMissedRuns": 3}),
    "pauseSchedule": Case(
        "member", "mutation($id: ID!) { pauseSchedule(input: {id: $id}) { schedule { id paused } } }",
        lambda w: {"id": w.new_schedule()}, lambda p, v: p["schedule"] == {"id": v["id"], "paused": True}),
    "resumeSchedule": Case(
        "member", "mutation($id: ID!) { resumeSchedule(input: {id: $id}) { schedule { id paused } } }",
        lambda w: {"id": w.new_schedule(paused=True)}, lambda p, v: p["schedule"] == {"id": v["id"], "paused": False}),
    "deleteSchedule": Case(
        "member", "mutation($id: ID!) { deleteSchedule(input: {id: $id}) { deletedId } }",
        lambda w: {"id": w.new_schedule()}, lambda p, v: p["deletedId"] == v["id"]),
    "createAlertRule": Case(
        "member", "mutation($p: ID!, $n: String!) { createAlertRule(input: {projectId: $p, name: $n, kind: DAILY_COST, "
                  "threshold: 5, source: ALL}) { alertRule { name threshold } } }",
        lambda w: {"p": w.project, "n": unique("rule")},
        lambda p, v: p["alertRule"] == {"name": v["n"], "threshold": 5.0}),
    "updateAlertRule": Case(
        "member", "mutation($id: ID!) { updateAlertRule(input: {id: $id, threshold: 7}) "
                  "{ alertRule { id threshold } } }",
        lambda w: {"id": w.new_alert_rule()}, lambda p, v: p["alertRule"] == {"id": v["id"], "threshold": 7.0}),
    "deleteAlertRule": Case(
        "member", "mutation($id: ID!) { deleteAlertRule(id: $id) { alertRule { id archivedAt } } }",
        lambda w: {"id": w.new_alert_rule()},
        lambda p, v: p["alertRule"]["id"] == v["id"] and p["alertRule"]["archivedAt"]),
    "createAlertWebhook": Case(
        "admin", 'mutation($p: ID!, $n: String!) { createAlertWebhook(input: {projectId: $p, name: $n, '
                 'url: "https://hooks.example.com/y", secret: "0123456789abcdef"}) '
                 "{ alertWebhook { name hasSecret } } }",
        lambda w: {"p": w.project, "n": unique("hook")},
        lambda p, v: p["alertWebhook"] == {"name": v["n"], "hasSecret": True}),
    "updateAlertWebhook": Case(
        "admin", "mutation($id: ID!) { updateAlertWebhook(input: {id: $id, enabled: false}) "
                 "{ alertWebhook { id enabled } } }",
        lambda w: {"id": w.new_alert_webhook()}, lambda p, v: p["alertWebhook"] == {"id": v["id"], "enabled": False}),
    "deleteAlertWebhook": Case(
        "admin", "mutation($id: ID!) { deleteAlertWebhook(id: $id) { alertWebhook { id archivedAt } } }",
        lambda w: {"id": w.new_alert_webhook()},
        lambda p, v: p["alertWebhook"]["id"] == v["id"] and p["alertWebhook"]["archivedAt"]),
    "setProductionScoring": Case(
        "member", "mutation($p: ID!) { setProductionScoring(input: {projectId: $p, sampleRate: 0.05, "
                  'rulesYaml: "evaluators: [{type: contains, value: ok}]"}) { productionScoring { sampleRate } } }',
        lambda w: {"p": w.project}, lambda p, v: p["productionScoring"] == {"sampleRate": 0.05}),
    "removeProductionScoring": Case(
        "member", "mutation($p: ID!) { removeProductionScoring(input: {projectId: $p}) { removed { sampleRate } } }",
        lambda w: {"p": w.with_production_scoring()}, lambda p, v: p["removed"] == {"sampleRate": 0.1}),
    "createApiKey": Case(
        "admin", 'mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "k", role: VIEWER}) '
                 "{ secret apiKey { role revokedAt } } }",
        lambda w: {"p": w.project},
        lambda p, v: p["secret"].startswith("blk_") and p["apiKey"] == {"role": "VIEWER", "revokedAt": None}),
    "revokeApiKey": Case(
        "admin", "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } } }",
        lambda w: {"id": w.new_key()}, lambda p, v: p["apiKey"]["id"] == v["id"] and p["apiKey"]["revokedAt"]),
    "setProjectMember": Case(
        "admin", "mutation($p: ID!, $e: String!) { setProjectMember(input: {projectId: $p, email: $e, role: MEMBER}) "
                 "{ member { role user { email } } } }",
        lambda w: {"p": w.project, "e": w.email_of(w.new_user())},
        lambda p, v: p["member"] == {"role": "MEMBER", "user": {"email": v["e"]}}),
    "removeProjectMember": Case(
        "admin", "mutation($p: ID!, $e: String!) { removeProjectMember(input: {projectId: $p, email: $e}) "
                 "{ member { role } } }",
        lambda w: {"p": w.project, "e": w.email_of(w.new_user(member=True))},
        lambda p, v: p["member"] is None),  # the membership row is gone: see the "database changed" check
    "createExport": Case(
        "viewer", "mutation($p: ID!) { createExport(input: {projectId: $p, table: REQUESTS, format: CSV}) "
                  "{ url filename } }",
        lambda w: {"p": w.project}, lambda p, v: "/exports/" in p["url"] and p["filename"].endswith(".csv"),
        audit_only=True),
    "setUser": Case(
        INSTANCE_ADMIN, "mutation($u: ID!) { setUser(input: {userId: $u, disabled: true}) { user { id disabledAt } } }",
        lambda w: {"u": w.user_id(w.new_user())}, lambda p, v: p["user"]["id"] == v["u"] and p["user"]["disabledAt"]),
}


def test_the_matrix_covers_every_mutation() -> None:
    mutation_type = build_schema().schema_converter.type_map["Mutation"].definition
    names = {field.graphql_name or field.python_name for field in mutation_type.fields}
    camel = {"".join(w.title() if i else w for i, w in enumerate(n.split("_"))) for n in names}
    assert camel == set(MATRIX), f"decide who may use: {sorted(camel ^ set(MATRIX))}"


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return sorted(table for table in before.keys() | after.keys() if before.get(table) != after.get(table))


@pytest.mark.parametrize("mutation", sorted(MATRIX))
async def test_mutation_by_role(mutation: str, pg: asyncpg.Connection, client: TestClient) -> None:
    world = await World(pg).seed()
    case = MATRIX[mutation]
    for who in IDENTITIES:
        variables = await resolved(case.variables(world))
        before = await database_snapshot(pg)
        body = (gql(client, case.operation, **variables) if who == INSTANCE_ADMIN
                else as_key(client, world.keys[who], case.operation, **variables))
        changed = changed_tables(before, await database_snapshot(pg))
        if case.allows(who):
            assert not body.get("errors"), f"{mutation} as {who} must succeed: {body['errors']}"
            payload = body["data"][mutation]
            assert case.succeeded(payload, variables), f"{mutation} as {who}: unexpected payload {payload}"
            written = {"audit_log"} if case.audit_only else set(changed) - {"audit_log"}
            assert written <= set(changed) and written, f"{mutation} as {who} succeeded without changing anything"
        else:
            codes = [e["extensions"]["code"] for e in body.get("errors") or []]
            assert codes == [case.refusal(who)], f"{mutation} as {who} must be refused: {body}"
            assert body["data"] is None or body["data"].get(mutation) is None, body
            assert not changed, f"the refused {mutation} as {who} changed {changed}"
