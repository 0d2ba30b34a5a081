"""Model commands. A model is a label (`name`, used in results) for a provider's model id, with prices and
fixed request parameters checked by the spec's parameter rules (temperature 0..2, max_tokens >= 1, ...).

The stored model's own id is called `model_record_id` here, because `model_id` is the provider's model id
(`gpt-4o-mini`), as in the table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from benchlab.catalog.common import UNSET, Unset, active_project, ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.records import MODEL, PROVIDER, ModelRecord
from benchlab.catalog.validation import spec_entry
from benchlab.spec import ModelSpec
from benchlab.spec.load import _models


async def _active_provider_name(conn: asyncpg.Connection, project_id: UUID, provider_id: UUID) -> str:
    provider = await fetch_owned(conn, PROVIDER, project_id, provider_id)
    ensure_active(provider, PROVIDER)
    return provider["name"]


def _validated(fields: dict[str, Any], provider_name: str) -> ModelSpec:
    located = spec_entry("models", {**fields, "provider": provider_name}, lambda top: _models(top, {provider_name}),
                         renames={"model": "model_id"}, whole="model")
    return located[1]


async def create_model(conn: asyncpg.Connection, project_id: UUID, provider_id: UUID, name: str, model_id: str, *,
                       input_price_per_mtok: float | None = None, output_price_per_mtok: float | None = None,
                       params: dict[str, Any] | None = None) -> ModelRecord:
    async with conn.transaction():
        await active_project(conn, project_id)
        provider_name = await _active_provider_name(conn, project_id, provider_id)
        spec = _validated({"name": name, "model": model_id, "input_price_per_mtok": input_price_per_mtok,
                           "output_price_per_mtok": output_price_per_mtok, "params": params}, provider_name)
        row = await write_unique(
            conn, MODEL, project_id, spec.name,
            "INSERT INTO models (project_id, provider_id, name, model_id, input_price_per_mtok, output_price_per_mtok, "
            f"params) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING {MODEL.columns}",
            project_id, provider_id, spec.name, spec.model, spec.input_price_per_mtok, spec.output_price_per_mtok,
            spec.params)
    return ModelRecord.from_row(row)


async def update_model(conn: asyncpg.Connection, project_id: UUID, model_record_id: UUID, *,
                       provider_id: UUID | None = None, name: str | None = None, model_id: str | None = None,
                       input_price_per_mtok: float | None | Unset = UNSET,
                       output_price_per_mtok: float | None | Unset = UNSET,
                       params: dict[str, Any] | None = None) -> ModelRecord:
    """Change what is given. None leaves provider, name, model id and params as they are and clears a price;
    UNSET leaves a price as it is. `params` replaces the whole mapping (give {} to remove them all)."""
    async with conn.transaction():
        await active_project(conn, project_id)
        current = await fetch_owned(conn, MODEL, project_id, model_record_id, for_update=True)
        ensure_active(current, MODEL)
        provider_id = current["provider_id"] if provider_id is None else provider_id
        provider_name = await _active_provider_name(conn, project_id, provider_id)
        spec = _validated({
            "name": current["name"] if name is None else name,
            "model": current["model_id"] if model_id is None else model_id,
            "input_price_per_mtok": current["input_price_per_mtok"] if input_price_per_mtok is UNSET
            else input_price_per_mtok,
            "output_price_per_mtok": current["output_price_per_mtok"] if output_price_per_mtok is UNSET
            else output_price_per_mtok,
            "params": ModelRecord.from_row(current).params if params is None else params}, provider_name)
        row = await write_unique(
            conn, MODEL, project_id, spec.name,
            "UPDATE models SET provider_id = $3, name = $4, model_id = $5, input_price_per_mtok = $6, "
            "output_price_per_mtok = $7, params = $8::jsonb, updated_at = now() "
            f"WHERE id = $1 AND project_id = $2 RETURNING {MODEL.columns}",
            model_record_id, project_id, provider_id, spec.name, spec.model, spec.input_price_per_mtok,
            spec.output_price_per_mtok, spec.params)
    return ModelRecord.from_row(row)


async def archive_model(conn: asyncpg.Connection, project_id: UUID, model_record_id: UUID) -> ModelRecord:
    return ModelRecord.from_row(await set_archived(conn, MODEL, project_id, model_record_id, True))


async def unarchive_model(conn: asyncpg.Connection, project_id: UUID, model_record_id: UUID) -> ModelRecord:
    return ModelRecord.from_row(await set_archived(conn, MODEL, project_id, model_record_id, False))
