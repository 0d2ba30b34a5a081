"""Catalog mutations end to end over GraphQL: build a project from nothing, run it, and every error path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.helpers.graphql import data, error_codes, gql, subscribe
from tests.helpers.mock_llm import MockLLM, run_mock_llm

SECRET = "sk-test-do-not-leak-4242"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=5) as server:
        yield server


def create_project(client: TestClient, slug: str = "demo") -> str:
    return data(client, """mutation($slug: String!) { createProject(input: {slug: $slug, name: "Demo"}) {
        project { id slug } } }""", slug=slug)["createProject"]["project"]["id"]


def build_catalog(client: TestClient, base_url: str) -> dict[str, Any]:
    project = create_project(client)
    provider = data(client, """mutation($p: ID!, $base: String!, $key: String!) { createProvider(input: {
        projectId: $p, name: "mock", type: "openai", apiBase: $base, transport: "direct", apiKey: $key}) {
        provider { id hasCredentials } } }""", p=project, base=base_url, key=SECRET)["createProvider"]["provider"]
    assert provider["hasCredentials"] is True
    model = data(client, """mutation($prov: ID!) { createModel(input: {providerId: $prov, name: "small",
        modelId: "mock-llm", inputPricePerMtok: 0.5, outputPricePerMtok: 1.5}) { model { id name } } }""",
                 prov=provider["id"])["createModel"]["model"]
    dataset = data(client, """mutation($p: ID!) { createDataset(input: {projectId: $p, name: "qa"}) {
        dataset { id } } }""", p=project)["createDataset"]["dataset"]
    jsonl = "\n".join(f'{{"id": "q{n}", "vars": {{"topic": "topic {n}"}}}}' for n in range(3))
    imported = data(client, """mutation($d: ID!, $text: String!) { importDatasetItems(input: {datasetId: $d,
        text: $text, format: JSONL}) { created importedItems version { version itemCount } } }""",
                    d=dataset["id"], text=jsonl)["importDatasetItems"]
    assert imported == {"created": True, "importedItems": 3, "version": {"version": 1, "itemCount": 3}}
    prompt = data(client, """mutation($p: ID!) { createPrompt(input: {projectId: $p, name: "ask"}) {
        prompt { id } } }""", p=project)["createPrompt"]["prompt"]
    data(client, """mutation($p: ID!, $m: JSON!) { createPromptVersion(input: {promptId: $p, version: "v1",
        messages: $m}) { promptVersion { version } } }""", p=prompt["id"],
         m=[{"role": "user", "content": "Tell me about {{topic}}"}])
    return {"project": project, "provider": provider["id"], "model": model["id"], "dataset": dataset["id"],
            "prompt": prompt["id"]}


SPEC_YAML = """
name: by-reference
models: [{name: small}]
prompts: [{name: ask, version: v1}]
dataset: {name: qa}
params: {max_tokens: 8}
repetitions: 2
"""


def test_build_a_project_over_graphql_and_run_it(client: TestClient, mock: MockLLM) -> None:
    ids = build_catalog(client, mock.base_url)
    experiment = data(client, """mutation($p: ID!, $y: String!) { createExperiment(input: {projectId: $p,
        specYaml: $y}) { experiment { id name spec datasetVersion { version } } } }""",
                      p=ids["project"], y=SPEC_YAML)["createExperiment"]["experiment"]
    assert experiment["datasetVersion"]["version"] == 1
    assert SECRET not in str(experiment["spec"])
    run = data(client, "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }",
               e=experiment["id"])["startRun"]["run"]
    events = subscribe(client, "subscription($r: ID!) { runProgress(runId: $r) { status done } }", r=run["id"])
    assert events[-1]["data"]["runProgress"] == {"status": "COMPLETED", "done": 6}
    summary = data(client, "query($r: ID!) { run(id: $r) { summary } }", r=run["id"])["run"]["summary"]
    assert summary, "a completed run carries its summary"
    everything = str(gql(client, """{ projects(first: 10) { nodes { providers(first: 10) { nodes {
        name type apiBase hasCredentials } } experiments(first: 10) { nodes { spec runs(first: 5) {
        nodes { configSnapshot } } } } } } }"""))
    assert SECRET not in everything


def test_bad_import_lists_every_bad_line_and_imports_nothing(client: TestClient, mock: MockLLM) -> None:
    ids = build_catalog(client, mock.base_url)
    text = '{"id": "a", "vars": {"topic": "x"}}\n{"id": "b", "vars": \n{"id": "c", "vars": {"topic": "y"}}\n[1, 2]\n'
    body = gql(client, """mutation($d: ID!, $t: String!) { importDatasetItems(input: {datasetId: $d, text: $t,
        format: JSONL, mode: REPLACE}) { created } }""", d=ids["dataset"], t=text)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    problems = body["errors"][0]["extensions"]["problems"]
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 4"], problems
    versions = data(client, "query($d: ID!) { node(id: $d) { ... on Dataset { versions(first: 10) { totalCount "
                            "nodes { itemCount } } } } }", d=ids["dataset"])["node"]["versions"]
    assert versions == {"totalCount": 1, "nodes": [{"itemCount": 3}]}


def test_invalid_experiment_spec_lists_every_problem_with_its_path(client: TestClient, mock: MockLLM) -> None:
    ids = build_catalog(client, mock.base_url)
    spec = {"name": "bad", "models": [{"name": "small"}, {"name": "missing"}], "prompts": [{"name": "ask"}],
            "dataset": {"name": "qa"}, "params": {"temperature": 7}, "repetitions": 0}
    body = gql(client, "mutation($p: ID!, $s: JSON!) { createExperiment(input: {projectId: $p, spec: $s}) "
                       "{ experiment { id } } }", p=ids["project"], s=spec)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    problems = body["errors"][0]["extensions"]["problems"]
    assert any(p.startswith("models[1].name") for p in problems), problems
    body = gql(client, "mutation($p: ID!, $y: String!) { createExperiment(input: {projectId: $p, specYaml: $y}) "
                       "{ experiment { id } } }", p=ids["project"], y="name: [unclosed")
    assert error_codes(body) == ["BAD_USER_INPUT"] and "not valid YAML at line 1" in body["errors"][0]["message"]
    count = data(client, "query($p: ID!) { project(id: $p) { experiments(first: 5) { totalCount } } }",
                 p=ids["project"])["project"]["experiments"]["totalCount"]
    assert count == 0


def test_conflicts_not_found_and_idempotent_archive(client: TestClient, mock: MockLLM) -> None:
    ids = build_catalog(client, mock.base_url)
    body = gql(client, 'mutation { createProject(input: {slug: "demo", name: "again"}) { project { id } } }')
    assert error_codes(body) == ["CONFLICT"]
    body = gql(client, 'mutation { createProject(input: {slug: "Not A Slug", name: "x"}) { project { id } } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]
    archive = "mutation($id: ID!) { archiveModel(id: $id) { model { archivedAt } } }"
    first = data(client, archive, id=ids["model"])["archiveModel"]["model"]["archivedAt"]
    assert first and data(client, archive, id=ids["model"])["archiveModel"]["model"]["archivedAt"] == first
    other = create_project(client, "other")
    body = gql(client, "mutation($id: ID!) { archiveProvider(id: $id) { provider { id } } }", id=other)
    assert error_codes(body) == ["BAD_USER_INPUT"]  # a Project id where a Provider's is expected
    body = gql(client, """mutation($p: ID!, $m: JSON!) { createPromptVersion(input: {promptId: $p, version: "v1",
        messages: $m}) { promptVersion { id } } }""", p=ids["prompt"], m=[{"role": "user", "content": "changed"}])
    assert error_codes(body) == ["CONFLICT"]


def test_provider_key_can_be_replaced_and_removed(client: TestClient, mock: MockLLM) -> None:
    ids = build_catalog(client, mock.base_url)
    update = "mutation($id: ID!, $k: String) { updateProvider(input: {id: $id, apiKey: $k}) { provider { " \
             "hasCredentials maxConcurrency } } }"
    assert data(client, update, id=ids["provider"], k=None)["updateProvider"]["provider"]["hasCredentials"] is False
    assert data(client, update, id=ids["provider"], k="sk-new")["updateProvider"]["provider"]["hasCredentials"]
    renamed = data(client, 'mutation($id: ID!) { updateProvider(input: {id: $id, maxConcurrency: 4}) { provider { '
                           'hasCredentials maxConcurrency } } }', id=ids["provider"])["updateProvider"]["provider"]
    assert renamed == {"hasCredentials": True, "maxConcurrency": 4}


def test_every_remaining_mutation_round_trips(client: TestClient, mock: MockLLM) -> None:
    ids = build_catalog(client, mock.base_url)
    project = data(client, 'mutation($id: ID!) { updateProject(input: {id: $id, name: "Renamed", '
                           'description: "d"}) { project { name description } } }', id=ids["project"])
    assert project["updateProject"]["project"] == {"name": "Renamed", "description": "d"}
    archived = data(client, "mutation($id: ID!) { archiveProject(id: $id) { project { archivedAt } } }",
                    id=ids["project"])["archiveProject"]["project"]["archivedAt"]
    assert archived and data(client, "{ projects(first: 5) { totalCount } }")["projects"]["totalCount"] == 0
    assert data(client, "{ projects(first: 5, includeArchived: true) { totalCount } }")["projects"]["totalCount"] == 1
    assert data(client, "mutation($id: ID!) { unarchiveProject(id: $id) { project { archivedAt } } }",
                id=ids["project"])["unarchiveProject"]["project"]["archivedAt"] is None
    model = data(client, 'mutation($id: ID!) { updateModel(input: {id: $id, outputPricePerMtok: null, '
                         'params: {temperature: 0.5}}) { model { outputPricePerMtok inputPricePerMtok params } } }',
                 id=ids["model"])["updateModel"]["model"]
    assert model == {"outputPricePerMtok": None, "inputPricePerMtok": 0.5, "params": {"temperature": 0.5}}
    experiment = data(client, "mutation($p: ID!, $y: String!) { createExperiment(input: {projectId: $p, "
                              "specYaml: $y}) { experiment { id } } }", p=ids["project"],
                      y=SPEC_YAML)["createExperiment"]["experiment"]["id"]
    updated = data(client, "mutation($id: ID!, $y: String!) { updateExperiment(input: {id: $id, specYaml: $y}) "
                           "{ experiment { spec } } }", id=experiment,
                   y=SPEC_YAML.replace("repetitions: 2", "repetitions: 3"))["updateExperiment"]["experiment"]
    assert updated["spec"]["repetitions"] == 3
    for kind, global_id in (("Experiment", experiment), ("Dataset", ids["dataset"]), ("Prompt", ids["prompt"])):
        field = f"archive{kind}"
        result = data(client, f"mutation($id: ID!) {{ {field}(id: $id) {{ {kind.lower()} {{ archivedAt }} }} }}",
                      id=global_id)[field]
        assert result[kind.lower()]["archivedAt"]
    body = gql(client, "mutation($e: ID!) { startRun(input: {experimentId: $e}) { run { id } } }", e=experiment)
    assert error_codes(body) == ["CONFLICT"] and "archived" in body["errors"][0]["message"]
