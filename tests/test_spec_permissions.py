"""Experiment specs cannot be used to bypass the admin rule for providers and models (issue 9, item 8).

A member may store experiments that refer to the project's providers and models, but a spec that would create
one (with a literal API key, or pointing at any api_base) is FORBIDDEN, naming the role needed and what to do
instead, and stores nothing. An admin may create them through a spec, and gets the same audit entries as
createProvider and createModel leave.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.api.ids import encode_global_id
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from tests.helpers.access import as_key, db, make_key
from tests.helpers.engine import mock_spec
from tests.helpers.graphql import data, error_codes

STOLEN = "sk-member-supplied-key-1234"
CREATE = """mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) {
  experiment { id name } } }"""
UPDATE = "mutation($id: ID!, $s: JSON!) { updateExperiment(input: {id: $id, spec: $s}) { experiment { name } } }"


@pytest.fixture
async def world(pg: asyncpg.Connection) -> dict[str, Any]:
    """A project storing provider `mock` and model `m` (and prompt `p`, dataset `d`), a member and an admin key."""
    registered = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="perm")),
                                           SecretBox(Fernet.generate_key()))
    return {"project": encode_global_id("Project", registered.project_id),
            "experiment": encode_global_id("Experiment", registered.experiment_id),
            "member": await make_key(pg, registered.project_id, "member", "member key"),
            "admin": await make_key(pg, registered.project_id, "admin", "admin key")}


def by_reference(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "models": [{"name": "m"}], "prompts": [{"name": "p"}], "dataset": {"name": "d"},
            "params": {"max_tokens": 8}, **changes}


NEW_PROVIDER = {"providers": [{"name": "mine", "type": "openai", "api_base": "http://attacker.example/v1",
                               "api_key": STOLEN}],
                "models": [{"name": "m"}, {"name": "mine-model", "provider": "mine", "model": "gpt-x"}]}


def catalog_names(client: TestClient) -> tuple[list[str], list[str]]:
    return ([r["name"] for r in db(client, "SELECT name FROM providers ORDER BY name")],
            [r["name"] for r in db(client, "SELECT name FROM models ORDER BY name")])


def test_a_member_refers_to_stored_providers_and_models_but_cannot_create_them(world: dict[str, Any],
                                                                             client: TestClient) -> None:
    before = catalog_names(client)
    member = world["member"]
    assert as_key(client, member, CREATE, p=world["project"], s=by_reference("refs"))["data"]  # references: fine
    for name, spec in (("with-provider", by_reference("with-provider", **NEW_PROVIDER)),
                       ("with-model", by_reference("with-model", models=[
                           {"name": "m"}, {"name": "another", "provider": "mock", "model": "mock-llm"}]))):
        body = as_key(client, member, CREATE, p=world["project"], s=spec)
        assert error_codes(body) == ["FORBIDDEN"], (name, body)
        message = body["errors"][0]["message"]
        assert "admin role" in message and "you have member" in message and "createProvider" in message, message
        assert ('provider "mine"' in message and 'model "mine-model"' in message) or 'model "another"' in message
        assert body["errors"][0]["extensions"]["requiredRole"] == "ADMIN" and STOLEN not in message
    updated = as_key(client, member, UPDATE, id=world["experiment"], s=by_reference("engine-test", **NEW_PROVIDER))
    assert error_codes(updated) == ["FORBIDDEN"]
    assert catalog_names(client) == before, "a refused spec stores nothing"
    assert {r["name"] for r in db(client, "SELECT name FROM experiments")} == {"engine-test", "refs"}
    assert not db(client, "SELECT 1 FROM providers WHERE credentials_encrypted IS NOT NULL AND name = 'mine'")


def test_an_admin_creates_them_through_a_spec_and_is_audited_like_create_provider(world: dict[str, Any],
                                                                                  client: TestClient) -> None:
    body = as_key(client, world["admin"], CREATE, p=world["project"], s=by_reference("admin-made", **NEW_PROVIDER))
    assert body["data"]["createExperiment"]["experiment"]["name"] == "admin-made", body
    assert catalog_names(client) == (["mine", "mock"], ["m", "mine-model"])
    # the same entries as the dedicated mutations leave, made here by the signed-in instance admin
    provider = data(client, """mutation($p: ID!) { createProvider(input: {projectId: $p, name: "direct",
        type: "openai", apiKey: "sk-other"}) { provider { id } } }""", p=world["project"])["createProvider"]
    data(client, """mutation($prov: ID!) { createModel(input: {providerId: $prov, name: "direct-model",
        modelId: "gpt-y"}) { model { id } } }""", prov=provider["provider"]["id"])
    rows = db(client, "SELECT actor, action, target, details FROM audit_log WHERE action LIKE 'provider.%' "
                      "OR action LIKE 'model.%' ORDER BY id")
    entries = [(r["action"], r["target"], {k: v for k, v in r["details"].items() if k != "address"})
               for r in rows]
    assert entries == [("provider.create", "mine", {"credentials_set": True, "experiment": "admin-made"}),
                       ("model.create", "mine-model", {"experiment": "admin-made"}),
                       ("provider.create", "direct", {"credentials_set": True}),
                       ("model.create", "direct-model", {})]
    assert rows[0]["actor"].startswith("api-key:") and rows[2]["actor"] == "admin@example.com"
    assert STOLEN not in str(rows)
    # restating what is stored creates nothing, so it is neither refused to a member nor audited again
    again = as_key(client, world["member"], CREATE, p=world["project"], s=by_reference("restated", **NEW_PROVIDER))
    assert error_codes(again) == ["BAD_USER_INPUT"], again  # the stored provider's key is set with updateProvider
    restated = by_reference("restated", providers=[{k: v for k, v in NEW_PROVIDER["providers"][0].items()
                                                    if k != "api_key"}], models=NEW_PROVIDER["models"])
    assert as_key(client, world["member"], CREATE, p=world["project"], s=restated)["data"]["createExperiment"]
    assert len(db(client, "SELECT 1 FROM audit_log WHERE action IN ('provider.create', 'model.create')")) == 4


async def test_a_judge_may_use_a_stored_provider_no_model_uses(world: dict[str, Any], client: TestClient,
                                                               pg: asyncpg.Connection) -> None:
    project_id = await pg.fetchval("SELECT id FROM projects WHERE slug = 'perm'")
    await pg.execute("INSERT INTO providers (project_id, name, provider_type) VALUES ($1, 'judging', 'openai')",
                     project_id)
    spec = by_reference("judged", judges=[{"name": "grader", "provider": "judging", "model": "judge-x"}],
                        evaluators=[{"type": "llm-rubric", "value": "Is it right?"}])
    body = as_key(client, world["member"], CREATE, p=world["project"], s=spec)
    assert body.get("data") and not body.get("errors"), body
    stored = db(client, "SELECT spec FROM experiments WHERE name = 'judged'")[0]["spec"]
    assert {p["name"] for p in stored["providers"]} == {"mock", "judging"}
    assert stored["evaluators"][0]["judge"] == "grader"
