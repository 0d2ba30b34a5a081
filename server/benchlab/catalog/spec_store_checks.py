"""What a validated API spec may not do to the entities the project already stores.

`register_experiment` upserts providers and models by name, which suits a spec file that owns its entities.
Through the API, a spec that repeats a stored provider or model with other settings would silently change
the entity every other experiment refers to (or replace a stored key), so it is refused with a pointer to
the update commands; archived entities are not used again. Entries filled from references match their
stored entity by construction and pass.
"""

from __future__ import annotations

from uuid import UUID

from benchlab.catalog.common import archived_advice
from benchlab.spec import ExperimentSpec
from benchlab.spec.model import canonical_json
from benchlab.stores import models as model_store
from benchlab.stores import providers as provider_store
from benchlab.stores.datasets import DATASET
from benchlab.stores.entities import is_archived
from benchlab.stores.postgres import PgConnection
from benchlab.stores.prompts import PROMPT


async def store_conflicts(conn: PgConnection, project_id: UUID, spec: ExperimentSpec) -> list[str]:
    """`path: problem` for each spec entry that clashes with the stored entity of the same name."""
    problems: list[str] = []
    for index, provider in enumerate(spec.providers):
        path = f"providers[{index}]"
        stored = await provider_store.find_by_name(conn, project_id, provider.name)
        if stored is None:
            continue
        if stored.archived_at is not None:
            problems.append(f"{path}.name: provider '{provider.name}' is archived; {archived_advice('provider')}")
        elif (stored.type, stored.api_base, stored.transport, stored.max_concurrency) != (
                provider.type, provider.api_base, provider.transport, provider.max_concurrency):
            problems.append(_changed(path, "provider", provider.name, "update_provider"))
        elif provider.api_key is not None:
            problems.append(f"{path}.api_key: provider '{provider.name}' is stored in this project; set its key with "
                            "update_provider, not in a spec")
    for index, model in enumerate(spec.models):
        path = f"models[{index}]"
        row = await model_store.find_by_name_with_provider(conn, project_id, model.name)
        if row is None:
            continue
        stored_model = (row["provider"], row["model_id"], row["input_price_per_mtok"], row["output_price_per_mtok"],
                        canonical_json(row["params"]))
        if row["archived_at"] is not None:
            problems.append(f"{path}.name: model '{model.name}' is archived; {archived_advice('model')}")
        elif stored_model != (model.provider, model.model, model.input_price_per_mtok, model.output_price_per_mtok,
                              canonical_json(model.params)):
            problems.append(_changed(path, "model", model.name, "update_model"))
    for index, prompt in enumerate(spec.prompts):
        if await is_archived(conn, PROMPT, project_id, prompt.name):
            problems.append(f"prompts[{index}].name: prompt '{prompt.name}' is archived; {archived_advice('prompt')}")
    if await is_archived(conn, DATASET, project_id, spec.dataset.name):
        problems.append(f"dataset.name: dataset '{spec.dataset.name}' is archived; {archived_advice('dataset')}")
    return problems


def _changed(path: str, kind: str, name: str, command: str) -> str:
    return (f"{path}: {kind} '{name}' is stored in this project with other settings; refer to it by name alone "
            f"({{name: {name}}}), change it with {command}, or give this one another name")
