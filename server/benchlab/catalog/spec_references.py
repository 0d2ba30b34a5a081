"""Fill a spec's references to stored entities, so an API client can name what the project already holds.

- a model `{name: small}` is filled from the stored model; the provider of every model (and judge) that the
  spec's `providers` do not list is added from the stored provider (type, api_base, transport, max_concurrency);
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

from benchlab.catalog.common import archived_advice
from benchlab.spec import SpecError
from benchlab.spec.fields import is_integer
from benchlab.spec.model import to_plain
from benchlab.stores import datasets as dataset_store
from benchlab.stores import models as model_store
from benchlab.stores import prompts as prompt_store
from benchlab.stores import providers as provider_store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.projects import ProjectRecord
from benchlab.stores.providers import ProviderRecord

PRICE_KEYS = ("input_price_per_mtok", "output_price_per_mtok")


async def resolve_references(conn: PgConnection, project: ProjectRecord, document: object) -> dict[str, Any]:
    """A copy of `document` with every reference replaced by the stored entity; SpecError lists what is not found."""
    if not isinstance(document, Mapping):
        raise SpecError(["spec: must be a mapping"])
    doc = copy.deepcopy(dict(document))
    problems: list[str] = []
    if doc.get("project") is not None and doc["project"] != project.slug:
        problems.append(f"project: must be this project's slug '{project.slug}' or left out")
    doc["project"] = project.slug
    _refuse_server_reads(doc, problems)
    project_id = project.id
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


async def _fill_models(conn: PgConnection, project_id: UUID, doc: dict[str, Any], problems: list[str]) -> None:
    for index, (path, entry) in enumerate(_entries(doc, "models")):
        name = _reference_name(entry, ("name",))
        if name is None:
            continue
        row = await model_store.find_by_name_with_provider(conn, project_id, name)
        if row is None:
            problems.append(f'{path}.name: no model "{name}" in this project; create it first or give provider and '
                            "model")
        elif row["archived_at"] is not None:
            problems.append(f'{path}.name: model "{name}" is archived; {archived_advice("model")}')
        else:
            prices = {key: row[key] for key in PRICE_KEYS if row[key] is not None}
            doc["models"][index] = {"name": name, "provider": row["provider"], "model": row["model_id"], **prices,
                                    "params": row["params"]}


def _provider_entry(provider: ProviderRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": provider.name, "type": provider.type, "transport": provider.transport}
    if provider.api_base is not None:
        entry["api_base"] = provider.api_base
    if provider.max_concurrency is not None:
        entry["max_concurrency"] = provider.max_concurrency
    return entry


async def _fill_providers(conn: PgConnection, project_id: UUID, doc: dict[str, Any],
                          problems: list[str]) -> None:
    listed = set()
    for index, (path, entry) in enumerate(_entries(doc, "providers")):
        name = _reference_name(entry, ("name",))
        if name is not None:
            provider = await provider_store.find_by_name(conn, project_id, name)
            if provider is None:
                problems.append(f'{path}.name: no provider "{name}" in this project; create it first or give type')
            elif provider.archived_at is not None:
                problems.append(f'{path}.name: provider "{name}" is archived; {archived_advice("provider")}')
            else:
                doc["providers"][index] = _provider_entry(provider)
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str | int):
            listed.add(str(entry["name"]))
    if doc.get("providers") is not None and not isinstance(doc["providers"], list):
        return  # the spec's own validation reports it
    for path, model in [*_entries(doc, "models"), *_entries(doc, "judges")]:  # judges name providers too
        provider_name = model.get("provider") if isinstance(model, Mapping) else None
        if not isinstance(provider_name, str) or provider_name in listed:
            continue
        stored = await provider_store.find_by_name(conn, project_id, provider_name)
        if stored is not None and stored.archived_at is not None:
            problems.append(f'{path}.provider: provider "{provider_name}" is archived; '
                            f'{archived_advice("provider")}')
        elif stored is not None:
            doc.setdefault("providers", []).append(_provider_entry(stored))
        listed.add(provider_name)  # an unknown provider is reported by the spec's own validation


async def _fill_prompts(conn: PgConnection, project_id: UUID, doc: dict[str, Any], problems: list[str]) -> None:
    for index, (path, entry) in enumerate(_entries(doc, "prompts")):
        name = _reference_name(entry, ("name", "version"))
        if name is None:
            continue
        wanted = entry.get("version")
        if wanted is not None and not (isinstance(wanted, str) or is_integer(wanted)):
            problems.append(f"{path}.version: must be a string (quote it: as a number, 1.10 would read 1.1)")
            continue
        wanted = None if wanted is None else str(wanted)
        rows = await prompt_store.versions_by_prompt_name(conn, project_id, name)
        versions = [row for row in rows if row["version"] is not None]
        found = next((row for row in versions if row["version"] == wanted), None) if wanted else \
            next(iter(versions), None)
        if not rows:
            problems.append(f'{path}.name: no prompt "{name}" in this project; create it first or give messages '
                            "or text")
        elif rows[0]["archived_at"] is not None:
            problems.append(f'{path}.name: prompt "{name}" is archived; {archived_advice("prompt")}')
        elif found is None and wanted:
            known = ", ".join(row["version"] for row in versions) or "none"
            problems.append(f'{path}.version: prompt "{name}" has no version "{wanted}" (it has: {known}); create it '
                            "first or give messages or text")
        elif found is None:
            problems.append(f'{path}.name: prompt "{name}" has no versions yet; create one first or give messages '
                            "or text")
        else:
            doc["prompts"][index] = {"name": name, "version": found["version"], **found["template"]}


async def _fill_dataset(conn: PgConnection, project_id: UUID, doc: dict[str, Any], problems: list[str]) -> None:
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
    stored = await dataset_store.find_by_name(conn, project_id, name)
    if stored is None:
        problems.append(f'dataset.name: no dataset "{name}" in this project; create it and import items first, or '
                        "give items")
        return
    if stored.archived_at is not None:
        problems.append(f'dataset.name: dataset "{name}" is archived; {archived_advice("dataset")}')
        return
    version = await _dataset_version(conn, stored.id, name, dataset.get("version"), problems)
    if version is not None:
        items = await dataset_store.version_items(conn, version)
        doc["dataset"] = {"name": name, "items": [to_plain(item) for item in items]}


async def _dataset_version(conn: PgConnection, dataset_id: UUID, name: str, wanted: object,
                           problems: list[str]) -> UUID | None:
    latest = await dataset_store.latest_version(conn, dataset_id)
    if latest is None:
        problems.append(f'dataset.name: dataset "{name}" has no items yet; import items first')
        return None
    if wanted is None:
        return latest.id
    if not is_integer(wanted) or wanted < 1:
        problems.append("dataset.version: must be an integer of at least 1 (a version number)")
        return None
    version = await dataset_store.find_version_by_number(conn, dataset_id, wanted)
    if version is None:
        problems.append(f'dataset.version: dataset "{name}" has no version {wanted} (the latest is '
                        f'{latest.version})')
        return None
    return version.id
