"""Fill a spec's references to stored entities, so an API client can name what the project already holds.

- a model `{name: small}` is filled from the stored model; the provider of every model that the spec's
  `providers` do not list is added from the stored provider (type, api_base, transport, max_concurrency);
  a provider may also be referred to as `{name: mock}`. No key travels in the spec: the engine uses the
  stored, encrypted one.
- a prompt `{name: qa, version: v1}` (no messages or text) is filled from that stored version; without a
  version, from the prompt's most recently stored version.
- `dataset: {name: smoke}` (no items) takes the items of the dataset's latest version, `version: 3` pins one.

Two things a spec read from disk may do are refused here, because through the API they would read the
server: `dataset.file` (a server path) and `providers[].api_key_env` (a server environment variable, whose
value would then be sent to whatever api_base the client chose).
Problems are collected with their paths and raised together as a SpecError, before the spec is validated.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.catalog.dataset_items import latest_version, version_items
from benchlab.catalog.records import DATASET_VERSION_COLUMNS
from benchlab.spec import SpecError
from benchlab.spec.fields import is_integer
from benchlab.spec.model import to_plain

PRICE_KEYS = ("input_price_per_mtok", "output_price_per_mtok")


async def resolve_references(conn: asyncpg.Connection, project: asyncpg.Record, document: object) -> dict[str, Any]:
    """A copy of `document` with every reference replaced by the stored entity; SpecError lists what is not found."""
    if not isinstance(document, Mapping):
        raise SpecError(["spec: must be a mapping"])
    doc = copy.deepcopy(dict(document))
    problems: list[str] = []
    if doc.get("project") is not None and doc["project"] != project["slug"]:
        problems.append(f"project: must be this project's slug '{project['slug']}' or left out")
    doc["project"] = project["slug"]
    _refuse_server_reads(doc, problems)
    project_id = project["id"]
    await _fill_models(conn, project_id, doc, problems)
    await _fill_providers(conn, project_id, doc, problems)
    await _fill_prompts(conn, project_id, doc, problems)
    await _fill_dataset(conn, project_id, doc, problems)
    if problems:
        raise SpecError(problems)
    return doc


def _refuse_server_reads(doc: dict[str, Any], problems: list[str]) -> None:
    for path, entry in _entries(doc, "providers"):
        if isinstance(entry, Mapping) and entry.get("api_key_env") is not None:
            problems.append(f"{path}.api_key_env: not accepted through the API (it would read the server's "
                            "environment); store the key on the provider and refer to the provider by name")
    dataset = doc.get("dataset")
    if isinstance(dataset, Mapping) and dataset.get("file") is not None:
        problems.append("dataset.file: the API does not read files; import the items into a stored dataset first, "
                        "then refer to it as dataset: {name: <dataset>}")


def _entries(doc: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
    value = doc.get(key)
    return [(f"{key}[{index}]", entry) for index, entry in enumerate(value)] if isinstance(value, list) else []


def _reference_name(entry: object, keys: Collection[str]) -> str | None:
    """The name a reference entry points at: a mapping with a name and nothing but `keys` set."""
    if not isinstance(entry, Mapping) or not all(key in keys for key, value in entry.items() if value is not None):
        return None
    name = entry.get("name")
    return str(name) if isinstance(name, str) or is_integer(name) else None


async def _fill_models(conn: asyncpg.Connection, project_id: UUID, doc: dict[str, Any], problems: list[str]) -> None:
    for index, (path, entry) in enumerate(_entries(doc, "models")):
        name = _reference_name(entry, ("name",))
        if name is None:
            continue
        row = await conn.fetchrow(
            "SELECT m.model_id, m.input_price_per_mtok, m.output_price_per_mtok, m.params, m.archived_at, "
            "p.name AS provider FROM models m JOIN providers p ON p.id = m.provider_id "
            "WHERE m.project_id = $1 AND m.name = $2", project_id, name)
        if row is None:
            problems.append(f'{path}.name: no model "{name}" in this project; create it first or give provider and '
                            "model")
        elif row["archived_at"] is not None:
            problems.append(f'{path}.name: model "{name}" is archived; unarchive it first')
        else:
            prices = {key: row[key] for key in PRICE_KEYS if row[key] is not None}
            doc["models"][index] = {"name": name, "provider": row["provider"], "model": row["model_id"], **prices,
                                    "params": row["params"]}


async def _stored_provider(conn: asyncpg.Connection, project_id: UUID, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT name, provider_type, api_base, transport, max_concurrency, archived_at FROM providers "
        "WHERE project_id = $1 AND name = $2", project_id, name)


def _provider_entry(row: asyncpg.Record) -> dict[str, Any]:
    entry = {"name": row["name"], "type": row["provider_type"], "transport": row["transport"]}
    entry.update({key: row[key] for key in ("api_base", "max_concurrency") if row[key] is not None})
    return entry


async def _fill_providers(conn: asyncpg.Connection, project_id: UUID, doc: dict[str, Any],
                          problems: list[str]) -> None:
    listed = set()
    for index, (path, entry) in enumerate(_entries(doc, "providers")):
        name = _reference_name(entry, ("name",))
        if name is not None:
            row = await _stored_provider(conn, project_id, name)
            if row is None:
                problems.append(f'{path}.name: no provider "{name}" in this project; create it first or give type')
            elif row["archived_at"] is not None:
                problems.append(f'{path}.name: provider "{name}" is archived; unarchive it first')
            else:
                doc["providers"][index] = _provider_entry(row)
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str | int):
            listed.add(str(entry["name"]))
    if doc.get("providers") is not None and not isinstance(doc["providers"], list):
        return  # the spec's own validation reports it
    for path, model in _entries(doc, "models"):
        provider = model.get("provider") if isinstance(model, Mapping) else None
        if not isinstance(provider, str) or provider in listed:
            continue
        row = await _stored_provider(conn, project_id, provider)
        if row is not None and row["archived_at"] is not None:
            problems.append(f'{path}.provider: provider "{provider}" is archived; unarchive it first')
        elif row is not None:
            doc.setdefault("providers", []).append(_provider_entry(row))
        listed.add(provider)  # an unknown provider is reported by the spec's own validation


async def _fill_prompts(conn: asyncpg.Connection, project_id: UUID, doc: dict[str, Any], problems: list[str]) -> None:
    for index, (path, entry) in enumerate(_entries(doc, "prompts")):
        name = _reference_name(entry, ("name", "version"))
        if name is None:
            continue
        wanted = entry.get("version")
        if wanted is not None and not (isinstance(wanted, str) or is_integer(wanted)):
            problems.append(f"{path}.version: must be a string (quote it: as a number, 1.10 would read 1.1)")
            continue
        wanted = None if wanted is None else str(wanted)
        rows = await conn.fetch(
            "SELECT p.archived_at, v.version, v.template FROM prompts p LEFT JOIN prompt_versions v "
            "ON v.prompt_id = p.id WHERE p.project_id = $1 AND p.name = $2 ORDER BY v.created_at DESC, v.version DESC",
            project_id, name)
        versions = [row for row in rows if row["version"] is not None]
        found = next((row for row in versions if row["version"] == wanted), None) if wanted else \
            next(iter(versions), None)
        if not rows:
            problems.append(f'{path}.name: no prompt "{name}" in this project; create it first or give messages '
                            "or text")
        elif rows[0]["archived_at"] is not None:
            problems.append(f'{path}.name: prompt "{name}" is archived; unarchive it first')
        elif found is None and wanted:
            known = ", ".join(row["version"] for row in versions) or "none"
            problems.append(f'{path}.version: prompt "{name}" has no version "{wanted}" (it has: {known}); create it '
                            "first or give messages or text")
        elif found is None:
            problems.append(f'{path}.name: prompt "{name}" has no versions yet; create one first or give messages '
                            "or text")
        else:
            doc["prompts"][index] = {"name": name, "version": found["version"], **found["template"]}


async def _fill_dataset(conn: asyncpg.Connection, project_id: UUID, doc: dict[str, Any], problems: list[str]) -> None:
    dataset = doc.get("dataset")
    if not isinstance(dataset, Mapping) or dataset.get("file") is not None:
        return
    if dataset.get("items") is not None:
        if dataset.get("version") is not None:
            problems.append("dataset.version: only for a stored dataset given by name; give items or version, not both")
        return
    name = _reference_name(dataset, ("name", "version"))
    if name is None:
        return  # no name, or unknown keys: the spec's own validation reports them
    row = await conn.fetchrow("SELECT id, archived_at FROM datasets WHERE project_id = $1 AND name = $2",
                              project_id, name)
    if row is None:
        problems.append(f'dataset.name: no dataset "{name}" in this project; create it and import items first, or '
                        "give items")
        return
    if row["archived_at"] is not None:
        problems.append(f'dataset.name: dataset "{name}" is archived; unarchive it first')
        return
    version = await _dataset_version(conn, row["id"], name, dataset.get("version"), problems)
    if version is not None:
        doc["dataset"] = {"name": name, "items": [to_plain(item) for item in await version_items(conn, version)]}


async def _dataset_version(conn: asyncpg.Connection, dataset_id: UUID, name: str, wanted: object,
                           problems: list[str]) -> UUID | None:
    latest = await latest_version(conn, dataset_id)
    if latest is None:
        problems.append(f'dataset.name: dataset "{name}" has no items yet; import items first')
        return None
    if wanted is None:
        return latest["id"]
    if not is_integer(wanted) or wanted < 1:
        problems.append("dataset.version: must be an integer of at least 1 (a version number)")
        return None
    row = await conn.fetchrow(f"SELECT {DATASET_VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 "
                              "AND version = $2", dataset_id, wanted)
    if row is None:
        problems.append(f'dataset.version: dataset "{name}" has no version {wanted} (the latest is '
                        f'{latest["version"]})')
        return None
    return row["id"]
