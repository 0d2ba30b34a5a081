"""The catalog commands (write side of the API) against a real, migrated PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from benchlab.catalog import (
    UNSET,
    archive_dataset,
    archive_experiment,
    archive_model,
    archive_project,
    archive_prompt,
    archive_provider,
    create_dataset,
    create_experiment,
    create_model,
    create_project,
    create_prompt,
    create_prompt_version,
    create_provider,
    dataset_text,
    import_dataset_items,
    unarchive_project,
    update_experiment,
    update_model,
    update_project,
    update_provider,
)
from benchlab.errors import ConflictError, InvalidInputError, NotFoundError
from benchlab.secrets import SecretBox
from benchlab.spec import SpecError
from benchlab.spec.model import canonical_hash
from benchlab.stores import datasets as dataset_store

SECRET = "sk-live-CATALOG-DO-NOT-LEAK-42"
TABLES = ("projects", "providers", "models", "datasets", "dataset_items", "dataset_item_revisions",
          "dataset_versions", "dataset_version_items", "prompts", "prompt_versions", "experiments", "runs")


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


@pytest.fixture
async def project(pg: asyncpg.Connection) -> Any:
    return await create_project(pg, "demo", "Demo project", "for tests")


@pytest.fixture
async def other_project(pg: asyncpg.Connection) -> Any:
    return await create_project(pg, "other", "Other project")


async def counts(pg: asyncpg.Connection) -> dict[str, int]:
    return {table: await pg.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


# --- projects --------------------------------------------------------------------------------------------------

async def test_create_project_returns_the_stored_row(pg: asyncpg.Connection) -> None:
    record = await create_project(pg, "team-a", "Team A", "benchmarks")
    assert (record.slug, record.name, record.description, record.archived_at) == ("team-a", "Team A", "benchmarks",
                                                                                   None)
    assert await pg.fetchval("SELECT name FROM projects WHERE id = $1", record.id) == "Team A"


async def test_create_project_reports_every_bad_field(pg: asyncpg.Connection) -> None:
    with pytest.raises(InvalidInputError) as error:
        await create_project(pg, "Bad_Slug", " ", "x" * 10_001)
    assert error.value.problems == [
        "slug: must be a slug: lowercase letters, digits and '-', starting with a letter or digit",
        "name: must be 1 to 200 characters, not blank",
        "description: must be at most 10000 characters",
    ]
    assert str(error.value) == "\n".join(error.value.problems)
    with pytest.raises(InvalidInputError) as error:
        await create_project(pg, "-x", "n" * 201)
    assert error.value.problems == [
        "slug: must be a slug: lowercase letters, digits and '-', starting with a letter or digit",
        "name: must be 1 to 200 characters, not blank",
    ]
    assert (await counts(pg))["projects"] == 0


async def test_project_slug_clash_is_a_conflict(pg: asyncpg.Connection, project: Any) -> None:
    with pytest.raises(ConflictError, match="a project with slug 'demo' already exists; choose a different slug"):
        await create_project(pg, "demo", "Another")


async def test_update_project_changes_only_what_is_given(pg: asyncpg.Connection, project: Any) -> None:
    renamed = await update_project(pg, project.id, name="Renamed")
    assert (renamed.name, renamed.description, renamed.slug) == ("Renamed", "for tests", "demo")
    cleared = await update_project(pg, project.id, description="")
    assert (cleared.name, cleared.description) == ("Renamed", "")
    with pytest.raises(InvalidInputError, match="^name: must be 1 to 200 characters, not blank$"):
        await update_project(pg, project.id, name="")
    with pytest.raises(NotFoundError, match="project .* not found"):
        await update_project(pg, uuid.uuid4(), name="x")


async def test_archive_twice_is_a_no_op_and_archived_projects_are_read_only(pg: asyncpg.Connection,
                                                                           project: Any) -> None:
    first = await archive_project(pg, project.id)
    again = await archive_project(pg, project.id)
    assert first.archived_at is not None and again.archived_at == first.archived_at
    with pytest.raises(ConflictError, match="project 'demo' is archived; unarchive it first"):
        await update_project(pg, project.id, name="x")
    with pytest.raises(ConflictError, match="project 'demo' is archived; unarchive it first"):
        await create_dataset(pg, project.id, "smoke")
    assert (await unarchive_project(pg, project.id)).archived_at is None
    assert (await update_project(pg, project.id, name="x")).name == "x"
    with pytest.raises(NotFoundError):
        await archive_project(pg, uuid.uuid4())


# --- providers -------------------------------------------------------------------------------------------------

async def test_provider_key_is_stored_encrypted_and_never_returned(pg: asyncpg.Connection, project: Any,
                                                                  box: SecretBox) -> None:
    record = await create_provider(pg, project.id, "mock", "openai", api_base="http://127.0.0.1:8100/v1",
                                   transport="direct", max_concurrency=8, api_key=SECRET, box=box)
    assert (record.name, record.type, record.transport, record.max_concurrency, record.has_credentials) == (
        "mock", "openai", "direct", 8, True)
    assert SECRET not in repr(record) and SECRET not in str(record.__dict__)
    token = await pg.fetchval("SELECT credentials_encrypted FROM providers WHERE id = $1", record.id)
    assert bytes(token).startswith(b"gAAAAA") and box.decrypt(token) == SECRET
    updated = await update_provider(pg, project.id, record.id, box=box, api_key=SECRET + "-2")
    assert SECRET not in repr(updated)
    await assert_secret_absent(pg)
    assert box.decrypt(await pg.fetchval("SELECT credentials_encrypted FROM providers")) == SECRET + "-2"


async def assert_secret_absent(pg: asyncpg.Connection) -> None:
    """No table holds the key in plain text (the Fernet token is base64, so it cannot contain it either)."""
    for table in TABLES + ("audit_log", "users"):
        rows = await pg.fetch(f"SELECT t::text AS line FROM {table} t")
        assert not [row["line"] for row in rows if SECRET in row["line"]], table


async def test_provider_validation_reports_every_problem(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    with pytest.raises(InvalidInputError) as error:
        await create_provider(pg, project.id, "", "Open AI", api_base="ftp://host/x", transport="fast",
                              max_concurrency=0, api_key="", box=box)
    assert error.value.problems == [
        "name: must be a string of 1 to 200 characters, not blank",
        "type: must be a litellm provider prefix such as openai, anthropic or bedrock",
        "api_base: must be an http:// or https:// URL",
        "api_key: must be a non-empty string",
        "max_concurrency: must be at least 1",
        "transport: 'fast' is not one of auto, litellm, direct (expected one of: auto, direct, litellm)",
    ]
    with pytest.raises(InvalidInputError) as error:
        await create_provider(pg, project.id, "p", "openai", api_base="https://user:pw@example.com/v1", box=box)
    assert error.value.problems == ["api_base: must not contain credentials (use api_key_env)"]
    with pytest.raises(InvalidInputError) as error:
        await create_provider(pg, project.id, "p", "openai", transport="direct", box=box)
    assert error.value.problems == ["transport: direct needs api_base (an OpenAI-compatible endpoint, or "
                                       "Anthropic's API root)"]
    assert (await counts(pg))["providers"] == 0


async def test_provider_name_clash_names_the_holder(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    first = await create_provider(pg, project.id, "mock", "openai", box=box)
    with pytest.raises(ConflictError) as error:
        await create_provider(pg, project.id, "mock", "anthropic", box=box)
    assert str(error.value) == (f"a provider named 'mock' already exists in this project (id {first.id}); "
                                "choose a different name")
    await archive_provider(pg, project.id, first.id)
    with pytest.raises(ConflictError, match="^an archived provider named 'mock' already exists"):
        await create_provider(pg, project.id, "mock", "anthropic", box=box)
    other = await create_provider(pg, project.id, "other", "openai", box=box)
    with pytest.raises(ConflictError, match="provider named 'mock' already exists"):
        await update_provider(pg, project.id, other.id, box=box, name="mock")


async def test_update_provider_unset_none_and_values(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    record = await create_provider(pg, project.id, "mock", "openai", api_base="http://h/v1", max_concurrency=4,
                                   api_key=SECRET, box=box)
    kept = await update_provider(pg, project.id, record.id, box=box, type="hosted_vllm")
    assert (kept.type, kept.api_base, kept.max_concurrency, kept.has_credentials) == ("hosted_vllm", "http://h/v1", 4,
                                                                                     True)
    cleared = await update_provider(pg, project.id, record.id, box=box, api_base=None, max_concurrency=None,
                                    api_key=None)
    assert (cleared.api_base, cleared.max_concurrency, cleared.has_credentials) == (None, None, False)
    assert cleared.updated_at >= record.updated_at
    with pytest.raises(InvalidInputError, match="^transport: direct needs api_base"):
        await update_provider(pg, project.id, record.id, box=box, transport="direct")
    assert (await update_provider(pg, project.id, record.id, box=box, name="x", api_key=UNSET)).name == "x"
    await archive_provider(pg, project.id, record.id)
    with pytest.raises(ConflictError, match="provider 'x' is archived; use another provider, "
                                            "or create a new one with a different name"):
        await update_provider(pg, project.id, record.id, box=box, name="y")


async def test_other_projects_entities_are_not_found(pg: asyncpg.Connection, project: Any, other_project: Any,
                                                     box: SecretBox) -> None:
    provider = await create_provider(pg, other_project.id, "mock", "openai", box=box)
    model = await create_model(pg, other_project.id, provider.id, "small", "m", params={"max_tokens": 8})
    dataset = await create_dataset(pg, other_project.id, "smoke")
    prompt = await create_prompt(pg, other_project.id, "qa")
    attempts = [
        update_provider(pg, project.id, provider.id, box=box, name="x"),
        archive_provider(pg, project.id, provider.id),
        create_model(pg, project.id, provider.id, "small", "m"),
        update_model(pg, project.id, model.id, name="x"),
        archive_model(pg, project.id, model.id),
        archive_dataset(pg, project.id, dataset.id),
        import_dataset_items(pg, project.id, dataset.id, '{"vars": {}}', "jsonl", "append"),
        create_prompt_version(pg, project.id, prompt.id, "v1", text="hi"),
        archive_prompt(pg, project.id, prompt.id),
        create_provider(pg, uuid.uuid4(), "p", "openai", box=box),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError, match=r"not found in this project$"):
            await attempt
    assert (await pg.fetchval("SELECT name FROM providers WHERE id = $1", provider.id)) == "mock"


# --- models ----------------------------------------------------------------------------------------------------

async def test_model_create_update_and_param_rules(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    provider = await create_provider(pg, project.id, "mock", "openai", box=box)
    model = await create_model(pg, project.id, provider.id, "small", "mock-small", input_price_per_mtok=0.15,
                               output_price_per_mtok=0.6, params={"max_tokens": 64, "temperature": 0.2})
    assert (model.provider_id, model.model_id, model.params) == (provider.id, "mock-small",
                                                                 {"max_tokens": 64, "temperature": 0.2})
    with pytest.raises(InvalidInputError) as error:
        await create_model(pg, project.id, provider.id, "big", "", input_price_per_mtok=-1,
                           params={"temperature": 3, "temprature": 1, "stream": True})
    assert error.value.problems == [
        "model_id: must be 1 to 500 characters, not blank",
        "input_price_per_mtok: must be at least 0",
        "params.temperature: must be between 0 and 2",
        "params.temprature: unknown parameter (did you mean 'temperature'?)",
        "params.stream: set by the top-level stream field",
    ]
    with pytest.raises(InvalidInputError, match="^params: must be a mapping of parameter names to values$"):
        await create_model(pg, project.id, provider.id, "big", "m", params=[1])  # type: ignore[arg-type]
    with pytest.raises(ConflictError, match="a model named 'small' already exists"):
        await create_model(pg, project.id, provider.id, "small", "m")
    updated = await update_model(pg, project.id, model.id, params={"max_tokens": 8}, input_price_per_mtok=None)
    assert (updated.params, updated.input_price_per_mtok, updated.output_price_per_mtok) == ({"max_tokens": 8}, None,
                                                                                             0.6)
    await archive_provider(pg, project.id, provider.id)
    with pytest.raises(ConflictError, match="provider 'mock' is archived; use another provider, "
                                            "or create a new one with a different name"):
        await create_model(pg, project.id, provider.id, "big", "m")
    first = await archive_model(pg, project.id, model.id)
    assert (await archive_model(pg, project.id, model.id)).archived_at == first.archived_at
    with pytest.raises(ConflictError, match="model 'small' is archived"):
        await update_model(pg, project.id, model.id, name="x")


# --- datasets --------------------------------------------------------------------------------------------------

GOOD_JSONL = "\n".join([
    '{"id": "q1", "vars": {"question": "2+2?"}, "expected_output": "4"}',
    "",
    '{"id": "q2", "vars": {"question": "3+3?"}, "expected_output": 6, "metadata": {"topic": "math"}}',
    '{"vars": {"question": "no id"}, "expected_tool_calls": [{"name": "add", "arguments": {"a": 1}}]}',
])


async def stored_items(pg: asyncpg.Connection, version_id: uuid.UUID) -> list[tuple[str, Any]]:
    rows = await pg.fetch(
        "SELECT i.external_id, r.input FROM dataset_version_items v JOIN dataset_item_revisions r "
        "ON r.id = v.revision_id JOIN dataset_items i ON i.id = r.item_id WHERE v.version_id = $1 ORDER BY v.position",
        version_id)
    return [(row["external_id"], row["input"]) for row in rows]


async def test_import_jsonl_creates_a_version(pg: asyncpg.Connection, project: Any) -> None:
    dataset = await create_dataset(pg, project.id, "smoke", "first")
    result = await import_dataset_items(pg, project.id, dataset.id, GOOD_JSONL, "jsonl", "replace")
    assert (result.version.version, result.version.item_count, result.created, result.imported_items) == (1, 3, True,
                                                                                                          3)
    assert [external for external, _ in await stored_items(pg, result.version.id)] == ["q1", "q2", "item-0003"]
    again = await import_dataset_items(pg, project.id, dataset.id, GOOD_JSONL, "jsonl", "append")
    assert (again.version.id, again.created) == (result.version.id, False)  # 6 read back as 6, not "6"
    again = await import_dataset_items(pg, project.id, dataset.id, GOOD_JSONL, "jsonl", "replace")
    assert (again.version.id, again.created) == (result.version.id, False)


async def test_import_csv(pg: asyncpg.Connection, project: Any) -> None:
    dataset = await create_dataset(pg, project.id, "csv")
    text = '\ufeffid,question,expected_output,metadata\nq1,"What is 2+2?",4,"{""topic"": ""math""}"\nq2,Capital?,,\n'
    result = await import_dataset_items(pg, project.id, dataset.id, text, "csv", "replace")
    assert result.version.item_count == 2
    assert await stored_items(pg, result.version.id) == [("q1", {"vars": {"question": "What is 2+2?"}}),
                                                         ("q2", {"vars": {"question": "Capital?"}})]
    expected = await pg.fetch("SELECT expected_output, metadata FROM dataset_item_revisions ORDER BY expected_output")
    assert [(row["expected_output"], row["metadata"]) for row in expected] == [("4", {"topic": "math"}),
                                                                                           (None, {})]


GRADED_JSONL = "\n".join([
    '{"id": "q1", "vars": {"question": "2+2?"}, "expected_output": "4", "labels": {"correct": true}, "assert": '
    '[{"type": "equals", "value": "{{expected_output}}"}, {"type": "llm-rubric", "name": "correct", '
    '"value": "Correct?", "judge": "grader"}]}',
    '{"id": "q2", "vars": {"question": "3+3?"}, "expected_output": 6, "metadata": {"topic": "math"}}',
])


async def test_item_evaluators_and_labels_survive_storage(pg: asyncpg.Connection, project: Any,
                                                          box: SecretBox) -> None:
    dataset = await create_dataset(pg, project.id, "graded")
    result = await import_dataset_items(pg, project.id, dataset.id, GRADED_JSONL, "jsonl", "replace")
    rows = await pg.fetch(
        "SELECT r.asserts, r.labels, r.content_hash FROM dataset_version_items v JOIN dataset_item_revisions r "
        "ON r.id = v.revision_id WHERE v.version_id = $1 ORDER BY v.position", result.version.id)
    assert rows[0]["asserts"] == [
        {"type": "equals", "name": "equals", "value": "{{expected_output}}"},
        {"type": "llm-rubric", "name": "correct", "value": "Correct?", "threshold": 0.5, "judge": "grader"}]
    assert rows[0]["labels"] == {"correct": True}
    assert (rows[1]["asserts"], rows[1]["labels"]) == (None, None)
    # An item without them keeps the revision hash items had before they existed.
    assert rows[1]["content_hash"] == canonical_hash({"input": {"vars": {"question": "3+3?"}}, "expected_output": 6,
                                                      "expected_tool_calls": None, "metadata": {"topic": "math"}})
    parsed = [entry.item for entry in dataset_text.parse_items(GRADED_JSONL, "jsonl")]
    assert await dataset_store.version_items(pg, result.version.id) == parsed
    assert parsed[0].asserts and parsed[0].asserts[1].judge == "grader"
    again = await import_dataset_items(pg, project.id, dataset.id, GRADED_JSONL, "jsonl", "append")
    assert (again.version.id, again.created) == (result.version.id, False)
    with pytest.raises(InvalidInputError) as error:
        await import_dataset_items(pg, project.id, dataset.id, '{"id": "q3", "vars": {}, "labels": {"x": 2}, '
                                   '"assert": [{"type": "rouge-l"}, {"type": "rouge-l"}]}', "jsonl", "append")
    assert [problem.split(" (")[0].split(": must")[0] for problem in error.value.problems] == [
        "line 1: assert[1].name: duplicate evaluator name 'rouge-l'", "line 1: labels.x",
        "line 1: expected_output: required, used by line 1 assert[0]",
        "line 1: expected_output: required, used by line 1 assert[1]"]

    # An experiment naming the dataset gets the items with their evaluators, and reuses the stored version.
    await stored_catalog(pg, project, box)
    record = await create_experiment(pg, project.id, reference_spec(
        name="graded", dataset={"name": "graded"}, judges=[{"name": "grader", "provider": "mock", "model": "j"}]),
        box)
    assert record.dataset_version_id == result.version.id
    assert record.spec["dataset"]["items"][0]["assert"] == rows[0]["asserts"]
    assert record.spec["dataset"]["items"][0]["labels"] == {"correct": True}
    assert "assert" not in record.spec["dataset"]["items"][1]


async def test_bad_lines_are_all_reported_and_nothing_is_imported(pg: asyncpg.Connection, project: Any) -> None:
    dataset = await create_dataset(pg, project.id, "smoke")
    await import_dataset_items(pg, project.id, dataset.id, GOOD_JSONL, "jsonl", "replace")
    before = await counts(pg)
    lines = [f'{{"id": "i{n}", "vars": {{"q": "x"}}}}' for n in range(1, 21)]
    lines[3] = '{"id": "i4", "vars": {"q": "x"},}'            # line 4: invalid JSON
    lines[9] = '{"id": "i10", "vars": ["q"]}'                   # line 10: vars not a mapping
    lines[16] = '{"id": "i17", "vars": {}, "expected": "x"}'    # line 17: unknown key
    with pytest.raises(InvalidInputError) as error:
        await import_dataset_items(pg, project.id, dataset.id, "\n".join(lines), "jsonl", "append")
    problems = error.value.problems
    assert [problem.split(":")[0] for problem in problems] == ["line 4", "line 10", "line 17"]
    assert problems[0].startswith("line 4: invalid JSON: ")
    assert problems[1] == "line 10: vars: must be a mapping"
    assert problems[2] == "line 17: expected: unknown key (did you mean 'expected_output'?)"
    assert await counts(pg) == before


async def test_other_bad_inputs_of_an_import(pg: asyncpg.Connection, project: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = await create_dataset(pg, project.id, "smoke")
    cases = {
        ("", "jsonl", "append"): ["text: has no items"],
        ("x", "xml", "append"): ["format: 'xml' is not one of jsonl, csv"],
        ("x", "jsonl", "merge"): ["mode: 'merge' is not one of append, replace"],
        ('[1]\n{"id": "a"}\n{"id": "a"}', "jsonl", "append"): [
            "line 1: must be a JSON object", "line 3: id: duplicate item id 'a' (first at line 2)"],
        ('{"vars": {"q": 1}, "messages": [{"role": "user", "content": "hi"}]}', "jsonl", "append"): [
            "line 1: messages: an imported item has vars or messages, not both (a stored item keeps only its "
            "messages); move the vars into the messages, or drop the messages"],
        ("id,,q\n1,2,3\n4,5\n", "csv", "append"): ["line 1: column 2 has no name"],
        ("id,q\n1,2\n4\n", "csv", "append"): ["line 3: 1 fields, the header has 2"],
        ('q,metadata\nx,{bad\n', "csv", "append"): [
            "line 2: metadata: invalid JSON: Expecting property name enclosed in double quotes (column 2)"],
    }
    for (text, format, mode), expected in cases.items():
        with pytest.raises(InvalidInputError) as error:
            await import_dataset_items(pg, project.id, dataset.id, text, format, mode)
        assert error.value.problems == expected, text
    monkeypatch.setattr(dataset_text, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(InvalidInputError, match=r"^text: 0\.0 MB is more than an import may hold \(0 MB\); split it"):
        await import_dataset_items(pg, project.id, dataset.id, '{"vars": {}}\n' * 2, "jsonl", "append")
    monkeypatch.setattr(dataset_text, "MAX_IMPORT_BYTES", 2**20)
    monkeypatch.setattr(dataset_text, "MAX_IMPORT_ITEMS", 2)
    with pytest.raises(InvalidInputError, match=r"^text: 3 items are more than an import may hold \(2\); split it"):
        await import_dataset_items(pg, project.id, dataset.id, '{"vars": {}}\n' * 3, "jsonl", "append")
    assert (await counts(pg))["dataset_versions"] == 0


async def test_append_and_replace_semantics(pg: asyncpg.Connection, project: Any) -> None:
    dataset = await create_dataset(pg, project.id, "smoke")
    first = await import_dataset_items(pg, project.id, dataset.id, '{"id": "a", "vars": {"q": "1"}}\n'
                                       '{"id": "b", "vars": {"q": "2"}}', "jsonl", "append")
    appended = await import_dataset_items(pg, project.id, dataset.id, '{"id": "b", "vars": {"q": "2 changed"}}\n'
                                          '{"id": "c", "vars": {"q": "3"}}', "jsonl", "append")
    assert (appended.version.version, appended.version.item_count, appended.created) == (2, 3, True)
    assert await stored_items(pg, appended.version.id) == [
        ("a", {"vars": {"q": "1"}}), ("b", {"vars": {"q": "2 changed"}}), ("c", {"vars": {"q": "3"}})]
    assert await stored_items(pg, first.version.id) == [("a", {"vars": {"q": "1"}}), ("b", {"vars": {"q": "2"}})]
    revisions = await pg.fetch("SELECT i.external_id, r.revision FROM dataset_item_revisions r JOIN dataset_items i "
                               "ON i.id = r.item_id ORDER BY 1, 2")
    assert [(row["external_id"], row["revision"]) for row in revisions] == [("a", 1), ("b", 1), ("b", 2), ("c", 1)]
    replaced = await import_dataset_items(pg, project.id, dataset.id, '{"id": "z", "vars": {"q": "9"}}', "jsonl",
                                          "replace")
    assert (replaced.version.version, replaced.version.item_count) == (3, 1)
    assert await stored_items(pg, replaced.version.id) == [("z", {"vars": {"q": "9"}})]
    repeat = await import_dataset_items(pg, project.id, dataset.id, '{"id": "z", "vars": {"q": "9"}}', "jsonl",
                                        "append")
    assert (repeat.version.id, repeat.created) == (replaced.version.id, False)


async def test_append_refuses_an_id_by_position_that_would_overwrite(pg: asyncpg.Connection, project: Any) -> None:
    dataset = await create_dataset(pg, project.id, "smoke")
    batch = '{"vars": {"q": "first"}}'
    await import_dataset_items(pg, project.id, dataset.id, batch, "jsonl", "append")
    assert not (await import_dataset_items(pg, project.id, dataset.id, batch, "jsonl", "append")).created
    before = await counts(pg)
    with pytest.raises(InvalidInputError) as error:
        await import_dataset_items(pg, project.id, dataset.id, '{"vars": {"q": "second"}}', "jsonl", "append")
    assert error.value.problems == [
        "line 1: has no id, and the id it gets by position, 'item-0001', names a stored item with other content; "
        "give it an id of its own (or id: item-0001 to replace that item), or import with mode replace"]
    assert await counts(pg) == before


async def test_archived_dataset_refuses_imports(pg: asyncpg.Connection, project: Any) -> None:
    dataset = await create_dataset(pg, project.id, "smoke")
    with pytest.raises(ConflictError, match="a dataset named 'smoke' already exists"):
        await create_dataset(pg, project.id, "smoke")
    first = await archive_dataset(pg, project.id, dataset.id)
    assert (await archive_dataset(pg, project.id, dataset.id)).archived_at == first.archived_at
    with pytest.raises(ConflictError, match="dataset 'smoke' is archived; use another dataset, "
                                            "or create a new one with a different name"):
        await import_dataset_items(pg, project.id, dataset.id, '{"vars": {}}', "jsonl", "append")


# --- prompts ---------------------------------------------------------------------------------------------------

MESSAGES = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "{{ question }}"}]


async def test_prompt_versions_are_immutable_and_idempotent(pg: asyncpg.Connection, project: Any) -> None:
    prompt = await create_prompt(pg, project.id, "qa")
    with pytest.raises(ConflictError, match="a prompt named 'qa' already exists"):
        await create_prompt(pg, project.id, "qa")
    v1 = await create_prompt_version(pg, project.id, prompt.id, "v1", messages=MESSAGES)
    assert (v1.version, v1.template) == ("v1", {"messages": MESSAGES})
    assert (await create_prompt_version(pg, project.id, prompt.id, "v1", messages=MESSAGES)).id == v1.id
    with pytest.raises(ConflictError) as error:
        await create_prompt_version(pg, project.id, prompt.id, "v1", text="Q: {{question}}")
    assert str(error.value) == ("prompt 'qa' already has a version 'v1' with other content; prompt versions are "
                                "immutable: store the changed template under a new version label")
    v2 = await create_prompt_version(pg, project.id, prompt.id, "v2", text="Q: {{question}}")
    assert v2.template == {"text": "Q: {{question}}"}
    assert (await counts(pg))["prompt_versions"] == 2


async def test_prompt_template_validation(pg: asyncpg.Connection, project: Any) -> None:
    prompt = await create_prompt(pg, project.id, "qa")
    with pytest.raises(InvalidInputError) as error:
        await create_prompt_version(pg, project.id, prompt.id, " ", messages=[
            {"role": "bot", "content": "{{ a b }}"}, {"role": "user"}])
    assert error.value.problems == [
        "version: must be a string of 1 to 200 characters, not blank",
        "messages[0].role: 'bot' is not one of system, developer, user, assistant (expected one of: assistant, "
        "developer, system, user)",
        "messages[0].content: invalid placeholder '{{ a b }}': use {{name}} with letters, digits and _",
        "messages[1].content: required",
    ]
    with pytest.raises(InvalidInputError) as error:
        await create_prompt_version(pg, project.id, prompt.id, "v1", messages=MESSAGES, text="x")
    assert error.value.problems == ["template: give messages (chat) or text (completion), not both"]
    with pytest.raises(InvalidInputError) as error:
        await create_prompt_version(pg, project.id, prompt.id, "v1")
    assert error.value.problems == ["messages: required (a chat template), or text (a completion template)"]
    with pytest.raises(InvalidInputError, match="^name: must be 1 to 200 characters, not blank$"):
        await create_prompt(pg, project.id, "")
    await archive_prompt(pg, project.id, prompt.id)
    with pytest.raises(ConflictError, match="prompt 'qa' is archived; use another prompt, "
                                            "or create a new one with a different name"):
        await create_prompt_version(pg, project.id, prompt.id, "v1", messages=MESSAGES)
    assert (await counts(pg))["prompt_versions"] == 0


# --- experiments -----------------------------------------------------------------------------------------------

async def stored_catalog(pg: asyncpg.Connection, project: Any, box: SecretBox) -> dict[str, Any]:
    provider = await create_provider(pg, project.id, "mock", "openai", api_base="http://127.0.0.1:8100/v1",
                                     max_concurrency=4, api_key=SECRET, box=box)
    model = await create_model(pg, project.id, provider.id, "small", "mock-small", input_price_per_mtok=0.1,
                               params={"max_tokens": 32})
    prompt = await create_prompt(pg, project.id, "qa")
    await create_prompt_version(pg, project.id, prompt.id, "v1", messages=MESSAGES)
    dataset = await create_dataset(pg, project.id, "smoke")
    v1 = await import_dataset_items(pg, project.id, dataset.id, '{"id": "q1", "vars": {"question": "2+2?"}, '
                                    '"expected_output": 4}', "jsonl", "append")
    v2 = await import_dataset_items(pg, project.id, dataset.id, '{"id": "q2", "vars": {"question": "3+3?"}}',
                                    "jsonl", "append")
    return {"provider": provider, "model": model, "prompt": prompt, "dataset": dataset, "v1": v1.version,
            "v2": v2.version}


def reference_spec(**overrides: Any) -> dict[str, Any]:
    return {"name": "latency", "models": [{"name": "small"}], "prompts": [{"name": "qa", "version": "v1"}],
            "dataset": {"name": "smoke"}, **overrides}


async def test_experiment_references_are_filled_from_the_store(pg: asyncpg.Connection, project: Any,
                                                               box: SecretBox) -> None:
    stored = await stored_catalog(pg, project, box)
    before = await counts(pg)
    record = await create_experiment(pg, project.id, reference_spec(), box)
    spec = record.spec
    assert spec["project"] == "demo"
    assert spec["providers"] == [{"name": "mock", "type": "openai", "api_base": "http://127.0.0.1:8100/v1",
                                  "max_concurrency": 4, "transport": "auto"}]
    assert spec["models"] == [{"name": "small", "provider": "mock", "model": "mock-small",
                               "input_price_per_mtok": 0.1, "params": {"max_tokens": 32}}]
    assert spec["prompts"] == [{"name": "qa", "version": "v1", "messages": MESSAGES}]
    assert [item["id"] for item in spec["dataset"]["items"]] == ["q1", "q2"]
    assert spec["dataset"]["items"][0]["expected_output"] == 4
    assert record.dataset_version_id == stored["v2"].id  # the latest version, not a new one
    after = await counts(pg)
    assert {table: after[table] - before[table] for table in TABLES if after[table] != before[table]} == {
        "experiments": 1}
    assert box.decrypt(await pg.fetchval("SELECT credentials_encrypted FROM providers")) == SECRET
    await assert_secret_absent(pg)

    pinned = await create_experiment(pg, project.id, reference_spec(name="pinned", dataset={"name": "smoke",
                                                                                            "version": 1}), box)
    assert pinned.dataset_version_id == stored["v1"].id
    assert [item["id"] for item in pinned.spec["dataset"]["items"]] == ["q1"]


async def test_unknown_references_are_listed_with_their_paths(pg: asyncpg.Connection, project: Any,
                                                              box: SecretBox) -> None:
    await stored_catalog(pg, project, box)
    before = await counts(pg)
    spec = reference_spec(project="elsewhere", providers=[{"name": "nope"}],
                          models=[{"name": "small"}, {"name": "big"}],
                          prompts=[{"name": "qa", "version": "v9"}, {"name": "missing"}],
                          dataset={"name": "smoke", "version": 7})
    with pytest.raises(SpecError) as error:
        await create_experiment(pg, project.id, spec, box)
    assert error.value.problems == [
        "project: must be this project's slug 'demo' or left out",
        'models[1].name: no model "big" in this project; create it first or give provider and model',
        'providers[0].name: no provider "nope" in this project; create it first or give type',
        'prompts[0].version: prompt "qa" has no version "v9" (it has: v1); create it first or give messages or text',
        'prompts[1].name: no prompt "missing" in this project; create it first or give messages or text',
        'dataset.version: dataset "smoke" has no version 7 (the latest is 2)',
    ]
    with pytest.raises(SpecError) as error:
        await create_experiment(pg, project.id, reference_spec(dataset={"name": "nothing"}), box)
    assert error.value.problems == [
        'dataset.name: no dataset "nothing" in this project; create it and import items first, or give items']
    assert await counts(pg) == before


async def test_api_specs_cannot_read_server_files_or_environment(pg: asyncpg.Connection, project: Any,
                                                                 box: SecretBox) -> None:
    await stored_catalog(pg, project, box)
    spec = reference_spec(providers=[{"name": "x", "type": "openai", "api_key_env": "HOME"}],
                          dataset={"name": "smoke", "file": "/etc/passwd"})
    with pytest.raises(SpecError) as error:
        await create_experiment(pg, project.id, spec, box)
    assert [problem.split(":")[0] for problem in error.value.problems] == ["providers[0].api_key_env", "dataset.file"]
    assert "import the items into a stored dataset first" in error.value.problems[1]


async def test_spec_problems_come_from_the_spec_loader(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    await stored_catalog(pg, project, box)
    spec = reference_spec(repetitions=0, prompts=[{"name": "qa", "version": "v1"},
                                                  {"name": "inline", "text": "{{missing}}"}])
    with pytest.raises(SpecError) as error:
        await create_experiment(pg, project.id, spec, box)
    assert error.value.problems == [
        "repetitions: must be at least 1",
        "dataset.items[0].vars: missing 'missing' used by prompts[1] (inline v1)",
        "dataset.items[1].vars: missing 'missing' used by prompts[1] (inline v1)",
    ]
    with pytest.raises(SpecError, match="spec: must be a mapping"):
        await create_experiment(pg, project.id, ["not", "a", "spec"], box)  # type: ignore[arg-type]


async def test_inline_entries_may_not_change_stored_ones(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    stored = await stored_catalog(pg, project, box)
    before = await counts(pg)
    spec = reference_spec(providers=[{"name": "mock", "type": "anthropic", "api_key": SECRET}],
                          models=[{"name": "small", "provider": "mock", "model": "other", "params": {"max_tokens": 1}}])
    with pytest.raises(SpecError) as error:
        await create_experiment(pg, project.id, spec, box)
    assert error.value.problems == [
        "providers[0]: provider 'mock' is stored in this project with other settings; refer to it by name alone "
        "({name: mock}), change it with update_provider, or give this one another name",
        "models[0]: model 'small' is stored in this project with other settings; refer to it by name alone "
        "({name: small}), change it with update_model, or give this one another name",
    ]
    await archive_model(pg, project.id, stored["model"].id)
    with pytest.raises(SpecError, match='models\\[0\\].name: model "small" is archived; use another model, '
                                        'or create a new one with a different name'):
        await create_experiment(pg, project.id, reference_spec(), box)
    assert await counts(pg) == before
    assert (await pg.fetchval("SELECT provider_type FROM providers")) == "openai"


async def test_inline_spec_registers_new_entities(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    spec = {"name": "inline", "providers": [{"name": "p", "type": "openai", "api_key": SECRET}],
            "models": [{"name": "m", "provider": "p", "model": "gpt", "params": {"max_tokens": 4}}],
            "prompts": [{"name": "qa", "text": "{{q}}"}], "dataset": {"name": "d", "items": [{"vars": {"q": "x"}}]}}
    record = await create_experiment(pg, project.id, spec, box)
    assert "api_key" not in record.spec["providers"][0]
    assert await pg.fetchval("SELECT count(*) FROM providers WHERE credentials_encrypted IS NOT NULL") == 1
    await assert_secret_absent(pg)


async def test_experiment_names_conflict_and_update_replaces(pg: asyncpg.Connection, project: Any,
                                                             box: SecretBox) -> None:
    await stored_catalog(pg, project, box)
    record = await create_experiment(pg, project.id, reference_spec(), box)
    with pytest.raises(ConflictError, match=f"an experiment named 'latency' already exists in this project "
                                            f"\\(id {record.id}\\); choose a different name"):
        await create_experiment(pg, project.id, reference_spec(repetitions=2), box)
    updated = await update_experiment(pg, project.id, record.id, reference_spec(repetitions=3, description="d"), box)
    assert (updated.id, updated.spec["repetitions"], updated.description) == (record.id, 3, "d")
    renamed = await update_experiment(pg, project.id, record.id, reference_spec(name="renamed"), box)
    assert (renamed.id, renamed.name) == (record.id, "renamed")
    other = await create_experiment(pg, project.id, reference_spec(name="second"), box)
    with pytest.raises(ConflictError, match="an experiment named 'renamed' already exists"):
        await update_experiment(pg, project.id, other.id, reference_spec(name="renamed"), box)
    assert await pg.fetchval("SELECT count(*) FROM experiments") == 2
    first = await archive_experiment(pg, project.id, record.id)
    assert (await archive_experiment(pg, project.id, record.id)).archived_at == first.archived_at
    with pytest.raises(ConflictError, match="experiment 'renamed' is archived; use another experiment, "
                                            "or create a new one with a different name"):
        await update_experiment(pg, project.id, record.id, reference_spec(name="renamed"), box)
    other_project = await create_project(pg, "other", "Other")
    with pytest.raises(NotFoundError):
        await update_experiment(pg, other_project.id, other.id, reference_spec(name="second"), box)


async def test_a_failing_registration_leaves_no_trace(pg: asyncpg.Connection, project: Any, box: SecretBox) -> None:
    await stored_catalog(pg, project, box)
    before = await counts(pg)
    spec = reference_spec(prompts=[{"name": "qa", "version": "v1", "text": "changed {{question}}"}],
                          dataset={"name": "fresh", "items": [{"vars": {"question": "x"}}]})
    with pytest.raises(SpecError, match="already exists with different content"):
        await create_experiment(pg, project.id, spec, box)
    assert await counts(pg) == before
