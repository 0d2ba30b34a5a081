"""What a validated API spec may not do to the entities the project already stores.

`catalog_repo.register_experiment` upserts providers and models by name, which suits a spec file that owns
its entities. Through the API, a spec that repeats a stored provider or model with other settings would
silently change the entity every other experiment refers to (or replace a stored key), so it is refused with
a pointer to the update commands; archived entities cannot be used until unarchived.
Entries filled from references match their stored entity by construction and pass.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from benchlab.spec import ExperimentSpec
from benchlab.spec.model import canonical_json


async def store_conflicts(conn: asyncpg.Connection, project_id: UUID, spec: ExperimentSpec) -> list[str]:
    """`path: problem` for each spec entry that clashes with the stored entity of the same name."""
    problems: list[str] = []
    for index, provider in enumerate(spec.providers):
        path = f"providers[{index}]"
        row = await conn.fetchrow("SELECT provider_type, api_base, transport, max_concurrency, archived_at "
                                  "FROM providers WHERE project_id = $1 AND name = $2", project_id, provider.name)
        if row is None:
            continue
        stored = (row["provider_type"], row["api_base"], row["transport"], row["max_concurrency"])
        if row["archived_at"] is not None:
            problems.append(f"{path}.name: provider '{provider.name}' is archived; unarchive it first")
        elif stored != (provider.type, provider.api_base, provider.transport, provider.max_concurrency):
            problems.append(_changed(path, "provider", provider.name, "update_provider"))
        elif provider.api_key is not None:
            problems.append(f"{path}.api_key: provider '{provider.name}' is stored in this project; set its key with "
                            "update_provider, not in a spec")
    for index, model in enumerate(spec.models):
        path = f"models[{index}]"
        row = await conn.fetchrow(
            "SELECT p.name AS provider, m.model_id, m.input_price_per_mtok, m.output_price_per_mtok, m.params, "
            "m.archived_at FROM models m JOIN providers p ON p.id = m.provider_id "
            "WHERE m.project_id = $1 AND m.name = $2", project_id, model.name)
        if row is None:
            continue
        stored = (row["provider"], row["model_id"], row["input_price_per_mtok"], row["output_price_per_mtok"],
                  canonical_json(row["params"]))
        if row["archived_at"] is not None:
            problems.append(f"{path}.name: model '{model.name}' is archived; unarchive it first")
        elif stored != (model.provider, model.model, model.input_price_per_mtok, model.output_price_per_mtok,
                        canonical_json(model.params)):
            problems.append(_changed(path, "model", model.name, "update_model"))
    for index, prompt in enumerate(spec.prompts):
        if await _archived(conn, "prompts", project_id, prompt.name):
            problems.append(f"prompts[{index}].name: prompt '{prompt.name}' is archived; unarchive it first")
    if await _archived(conn, "datasets", project_id, spec.dataset.name):
        problems.append(f"dataset.name: dataset '{spec.dataset.name}' is archived; unarchive it first")
    return problems


def _changed(path: str, kind: str, name: str, command: str) -> str:
    return (f"{path}: {kind} '{name}' is stored in this project with other settings; refer to it by name alone "
            f"({{name: {name}}}), change it with {command}, or give this one another name")


async def _archived(conn: asyncpg.Connection, table: str, project_id: UUID, name: str) -> bool:
    return bool(await conn.fetchval(f"SELECT archived_at IS NOT NULL FROM {table} WHERE project_id = $1 AND name = $2",
                                    project_id, name))
