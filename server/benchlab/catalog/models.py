"""Model commands. A model is a label (`name`, used in results) for a provider's model id, with prices and
fixed request parameters checked by the spec's parameter rules (temperature 0..2, max_tokens >= 1, ...).

The stored model's own id is called `model_record_id` here, because `model_id` is the provider's model id
(`gpt-4o-mini`), as in the table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from benchlab.catalog.common import UNSET, Unset, active_project, ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.validation import spec_entry
from benchlab.spec import ModelSpec
from benchlab.spec.load import read_model_entry
from benchlab.stores import models as model_store
from benchlab.stores.models import MODEL, ModelRecord
from benchlab.stores.postgres import PgConnection
from benchlab.stores.providers import PROVIDER


async def _active_provider_name(conn: PgConnection, project_id: UUID, provider_id: UUID) -> str:
    provider = await fetch_owned(conn, PROVIDER, project_id, provider_id)
    ensure_active(provider, PROVIDER)
    return provider.name


def _validated(fields: dict[str, Any], provider_name: str) -> ModelSpec:
    entry = {**fields, "provider": provider_name}
    return spec_entry("models", lambda problems: read_model_entry(entry, provider_name, problems),
                      renames={"model": "model_id"}, whole="model")


async def create_model(conn: PgConnection, project_id: UUID, provider_id: UUID, name: str, model_id: str, *,
                       input_price_per_mtok: float | None = None, output_price_per_mtok: float | None = None,
                       params: object = None) -> ModelRecord:
    """`params` is JSON as the caller sent it: checked here by the spec's rules."""
    async with conn.transaction():
        await active_project(conn, project_id)
        provider_name = await _active_provider_name(conn, project_id, provider_id)
        spec = _validated({"name": name, "model": model_id, "input_price_per_mtok": input_price_per_mtok,
                           "output_price_per_mtok": output_price_per_mtok, "params": params}, provider_name)
        return await write_unique(conn, MODEL, project_id, spec.name,
                                  lambda: model_store.insert_model(conn, project_id, provider_id, spec))


async def update_model(conn: PgConnection, project_id: UUID, model_record_id: UUID, *,
                       provider_id: UUID | None = None, name: str | None = None, model_id: str | None = None,
                       input_price_per_mtok: float | None | Unset = UNSET,
                       output_price_per_mtok: float | None | Unset = UNSET,
                       params: object = None) -> ModelRecord:
    """Change what is given. None leaves provider, name, model id and params as they are and clears a price;
    UNSET leaves a price as it is. `params` (JSON, checked here) replaces the whole mapping (give {} to remove
    them all)."""
    async with conn.transaction():
        await active_project(conn, project_id)
        current = await fetch_owned(conn, MODEL, project_id, model_record_id, for_update=True)
        ensure_active(current, MODEL)
        new_provider_id = current.provider_id if provider_id is None else provider_id
        provider_name = await _active_provider_name(conn, project_id, new_provider_id)
        spec = _validated({
            "name": current.name if name is None else name,
            "model": current.model_id if model_id is None else model_id,
            "input_price_per_mtok": current.input_price_per_mtok if input_price_per_mtok is UNSET
            else input_price_per_mtok,
            "output_price_per_mtok": current.output_price_per_mtok if output_price_per_mtok is UNSET
            else output_price_per_mtok,
            "params": current.params if params is None else params}, provider_name)
        return await write_unique(
            conn, MODEL, project_id, spec.name,
            lambda: model_store.update_model(conn, model_record_id, project_id, new_provider_id, spec))


async def archive_model(conn: PgConnection, project_id: UUID, model_record_id: UUID) -> ModelRecord:
    return await set_archived(conn, MODEL, project_id, model_record_id, True)
