"""Every mutation as every project role and as a stranger: allowed exactly from the role the product promises.

The expected minimum role of each mutation is written here, independently of the code; a mutation missing
from the table fails the test, so a new mutation cannot ship without a decision about who may use it.
Identities are API keys (one per role) of the project, and a key of another project as the stranger.
"""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.api.schema import build_schema
from benchlab.engine.spec import load_spec
from benchlab.secrets import SecretBox
from benchlab.stores.catalog_repo import register_experiment
from benchlab.stores.runs_repo import create_run
from tests.helpers.access import as_key, make_key, make_user
from tests.helpers.engine import mock_spec

ROLES = ("viewer", "member", "admin", "owner")
DENIED = {"FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"}
counter = itertools.count()

# mutation -> (least role that may use it, operation, variables from the seeded ids)
MATRIX: dict[str, tuple[str | None, str, Any]] = {
    "createProject": (None, 'mutation($s: String!) { createProject(input: {slug: $s, name: "x"}) { project { id } } }',
                      lambda ids: {"s": f"p-{next(counter)}"}),
    "updateProject": ("owner", 'mutation($id: ID!) { updateProject(input: {id: $id, name: "n"}) { project { id } } }',
                      lambda ids: {"id": ids["project"]}),
    "archiveProject": ("owner", "mutation($id: ID!) { archiveProject(id: $id) { project { id } } }",
                       lambda ids: {"id": ids["other_project"]}),
    "unarchiveProject": ("owner", "mutation($id: ID!) { unarchiveProject(id: $id) { project { id } } }",
                         lambda ids: {"id": ids["other_project"]}),
    "createProvider": ("admin", 'mutation($p: ID!, $n: String!) { createProvider(input: {projectId: $p, name: $n, '
                                'type: "openai", apiKey: "sk-x"}) { provider { id } } }',
                       lambda ids: {"p": ids["project"], "n": f"prov-{next(counter)}"}),
    "updateProvider": ("admin", 'mutation($id: ID!) { updateProvider(input: {id: $id, apiKey: "sk-y"}) '
                                "{ provider { id } } }", lambda ids: {"id": ids["provider"]}),
    "archiveProvider": ("admin", "mutation($id: ID!) { archiveProvider(id: $id) { provider { id } } }",
                        lambda ids: {"id": ids["spare_provider"]}),
    "createModel": ("admin", 'mutation($p: ID!, $n: String!) { createModel(input: {providerId: $p, name: $n, '
                             'modelId: "m"}) { model { id } } }',
                    lambda ids: {"p": ids["provider"], "n": f"model-{next(counter)}"}),
    "updateModel": ("admin", "mutation($id: ID!) { updateModel(input: {id: $id, inputPricePerMtok: 1}) "
                             "{ model { id } } }", lambda ids: {"id": ids["model"]}),
    "archiveModel": ("admin", "mutation($id: ID!) { archiveModel(id: $id) { model { id } } }",
                     lambda ids: {"id": ids["spare_model"]}),
    "createDataset": ("member", "mutation($p: ID!, $n: String!) { createDataset(input: {projectId: $p, name: $n}) "
                                "{ dataset { id } } }", lambda ids: {"p": ids["project"], "n": f"ds-{next(counter)}"}),
    "archiveDataset": ("member", "mutation($id: ID!) { archiveDataset(id: $id) { dataset { id } } }",
                       lambda ids: {"id": ids["dataset"]}),
    "importDatasetItems": ("member", 'mutation($d: ID!) { importDatasetItems(input: {datasetId: $d, format: JSONL, '
                                     'text: "{\\"vars\\": {\\"topic\\": \\"t\\"}}"}) { created } }',
                           lambda ids: {"d": ids["dataset"]}),
    "createPrompt": ("member", "mutation($p: ID!, $n: String!) { createPrompt(input: {projectId: $p, name: $n}) "
                               "{ prompt { id } } }", lambda ids: {"p": ids["project"], "n": f"pr-{next(counter)}"}),
    "createPromptVersion": ("member", 'mutation($p: ID!) { createPromptVersion(input: {promptId: $p, version: "v9", '
                                      'text: "Q: {{topic}}"}) { promptVersion { id } } }',
                            lambda ids: {"p": ids["prompt"]}),
    "archivePrompt": ("member", "mutation($id: ID!) { archivePrompt(id: $id) { prompt { id } } }",
                      lambda ids: {"id": ids["prompt"]}),
    "createExperiment": ("member", "mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) "
                                   "{ experiment { id } } }",
                         lambda ids: {"p": ids["project"], "s": {**ids["spec"], "name": f"e-{next(counter)}"}}),
    "updateExperiment": ("member", "mutation($id: ID!, $s: JSON!) { updateExperiment(input: {id: $id, spec: $s}) "
                                   "{ experiment { id } } }", lambda ids: {"id": ids["experiment"], "s": ids["spec"]}),
    "archiveExperiment": ("member", "mutation($id: ID!) { archiveExperiment(id: $id) { experiment { id } } }",
                          lambda ids: {"id": ids["spare_experiment"]}),
    "startRun": ("member", "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }",
                 lambda ids: {"e": ids["experiment"]}),
    "cancelRun": ("member", "mutation($id: ID!) { cancelRun(id: $id) { run { id } } }", lambda ids: {"id": ids["run"]}),
    "resumeRun": ("member", "mutation($id: ID!) { resumeRun(id: $id) { run { id } } }", lambda ids: {"id": ids["run"]}),
    "createApiKey": ("admin", 'mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "k", role: VIEWER}) '
                              "{ secret } }", lambda ids: {"p": ids["project"]}),
    "revokeApiKey": ("admin", "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }",
                     lambda ids: {"id": ids["spare_key"]}),
    "setProjectMember": ("admin", 'mutation($p: ID!) { setProjectMember(input: {projectId: $p, '
                                  'email: "dana@example.com", role: VIEWER}) { member { role } } }',
                         lambda ids: {"p": ids["project"]}),
    "removeProjectMember": ("admin", 'mutation($p: ID!) { removeProjectMember(input: {projectId: $p, '
                                     'email: "erin@example.com"}) { member { role } } }',
                            lambda ids: {"p": ids["project"]}),
    "setUser": ("instance-admin", "mutation($u: ID!) { setUser(input: {userId: $u, disabled: false}) { user { id } } }",
                lambda ids: {"u": ids["user"]}),
}


async def seed(conn: asyncpg.Connection) -> dict[str, Any]:
    box = SecretBox(Fernet.generate_key())
    spec = mock_spec("http://127.0.0.1:9/v1", project="matrix", items=1)
    main = await register_experiment(conn, load_spec(spec), box)
    spare = await register_experiment(conn, load_spec({**spec, "name": "spare"}), box)
    other = await register_experiment(conn, load_spec({**spec, "project": "elsewhere"}), box)
    project = main.project_id
    run_id = await create_run(conn, project, main.experiment_id, spec, 1)
    ids: dict[str, Any] = {"spec": {k: v for k, v in spec.items() if k != "project"}}

    async def one(sql: str, *args: Any) -> Any:
        return await conn.fetchval(sql, *args)

    provider = await one("SELECT id FROM providers WHERE project_id = $1", project)
    spare_provider = await one("INSERT INTO providers (project_id, name, provider_type) VALUES ($1, 'spare', 'openai') "
                               "RETURNING id", project)
    spare_model = await one("INSERT INTO models (project_id, provider_id, name, model_id) VALUES ($1, $2, 'spare', "
                            "'m') RETURNING id", project, provider)
    for email in ("dana@example.com", "erin@example.com"):
        user = await make_user(conn, email)
        await conn.execute("INSERT INTO project_members VALUES ($1, $2, 'viewer')", project, user)
    ids.update({
        "project": encode_global_id("Project", project),
        "other_project": encode_global_id("Project", project),
        "provider": encode_global_id("Provider", provider),
        "spare_provider": encode_global_id("Provider", spare_provider),
        "model": encode_global_id("Model", await one("SELECT id FROM models WHERE project_id = $1 AND name = 'm'",
                                                      project)),
        "spare_model": encode_global_id("Model", spare_model),
        "dataset": encode_global_id("Dataset", await one("SELECT id FROM datasets WHERE project_id = $1", project)),
        "prompt": encode_global_id("Prompt", await one("SELECT id FROM prompts WHERE project_id = $1", project)),
        "experiment": encode_global_id("Experiment", main.experiment_id),
        "spare_experiment": encode_global_id("Experiment", spare.experiment_id),
        "run": encode_global_id("Run", run_id),
        "user": encode_global_id("User", await make_user(conn, "frank@example.com")),
    })
    ids["keys"] = {role: await make_key(conn, project, role) for role in ROLES}
    ids["keys"]["stranger"] = await make_key(conn, other.project_id, "owner")
    spare_key = await make_key(conn, project, "viewer", "spare")
    ids["spare_key"] = encode_global_id("ApiKey", await one("SELECT id FROM api_keys WHERE name = 'spare'"))
    del spare_key
    return ids


def test_the_matrix_covers_every_mutation() -> None:
    mutation_type = build_schema().schema_converter.type_map["Mutation"].definition
    names = {field.graphql_name or field.python_name for field in mutation_type.fields}
    camel = {"".join(w.title() if i else w for i, w in enumerate(n.split("_"))) for n in names}
    assert camel == set(MATRIX), f"decide who may use: {sorted(camel ^ set(MATRIX))}"


@pytest.mark.parametrize("mutation", sorted(MATRIX))
async def test_mutation_by_role(mutation: str, pg: asyncpg.Connection, client: TestClient) -> None:
    ids = await seed(pg)
    least, operation, variables = MATRIX[mutation]
    for who in ("stranger", *ROLES):
        body = as_key(client, ids["keys"][who], operation, **variables(ids))
        codes = {e["extensions"]["code"] for e in body.get("errors") or []}
        allowed = least in ROLES and who in ROLES and ROLES.index(who) >= ROLES.index(least)
        if allowed:
            assert not codes & DENIED, f"{mutation} as {who}: {body['errors']}"
        else:
            expected = {"NOT_FOUND"} if who == "stranger" and least in ROLES else {"FORBIDDEN"}
            assert codes == expected, f"{mutation} as {who} must be refused with {expected}: {body}"
