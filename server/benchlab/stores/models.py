"""Models (table `models`): a label (`name`, unique in the project) for a provider's model id, with prices and
fixed request parameters (`params`, jsonb)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.spec import ModelSpec
from benchlab.stores.entities import Entity, StoredRecord, select_list
from benchlab.stores.postgres import PgConnection, fetch_one


@dataclass(frozen=True)
class ModelRecord(StoredRecord):
    id: UUID
    project_id: UUID
    provider_id: UUID
    name: str
    model_id: str   # the provider's model id (`gpt-4o-mini`), not this record's id
    input_price_per_mtok: float | None
    output_price_per_mtok: float | None
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


MODEL = Entity("models", "model", ModelRecord, select_list(ModelRecord))


async def insert_model(conn: PgConnection, project_id: UUID, provider_id: UUID, spec: ModelSpec) -> ModelRecord:
    """A new model; a taken name raises asyncpg.UniqueViolationError."""
    row = await fetch_one(
        conn,
        "INSERT INTO models (project_id, provider_id, name, model_id, input_price_per_mtok, output_price_per_mtok, "
        f"params) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING {MODEL.columns}",
        project_id, provider_id, spec.name, spec.model, spec.input_price_per_mtok, spec.output_price_per_mtok,
        spec.params)
    return ModelRecord.from_row(row)


async def update_model(conn: PgConnection, model_record_id: UUID, project_id: UUID, provider_id: UUID,
                       spec: ModelSpec) -> ModelRecord:
    row = await fetch_one(
        conn,
        "UPDATE models SET provider_id = $3, name = $4, model_id = $5, input_price_per_mtok = $6, "
        "output_price_per_mtok = $7, params = $8::jsonb, updated_at = now() "
        f"WHERE id = $1 AND project_id = $2 RETURNING {MODEL.columns}",
        model_record_id, project_id, provider_id, spec.name, spec.model, spec.input_price_per_mtok,
        spec.output_price_per_mtok, spec.params)
    return ModelRecord.from_row(row)


async def upsert_model(conn: PgConnection, project_id: UUID, provider_id: UUID, spec: ModelSpec) -> bool:
    """Create or overwrite the model of this name; True when it was created."""
    return await conn.fetchval(
        "INSERT INTO models (project_id, provider_id, name, model_id, input_price_per_mtok, "
        "output_price_per_mtok, params) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) "
        "ON CONFLICT (project_id, name) DO UPDATE SET provider_id = EXCLUDED.provider_id, "
        "model_id = EXCLUDED.model_id, input_price_per_mtok = EXCLUDED.input_price_per_mtok, "
        "output_price_per_mtok = EXCLUDED.output_price_per_mtok, params = EXCLUDED.params, updated_at = now() "
        "RETURNING xmax = 0", project_id, provider_id, spec.name, spec.model,
        spec.input_price_per_mtok, spec.output_price_per_mtok, spec.params)


async def find_by_name_with_provider(conn: PgConnection, project_id: UUID, name: str) -> asyncpg.Record | None:
    """The model's `model_id`, prices, `params` and `archived_at`, with its provider's name as `provider`."""
    return await conn.fetchrow(
        "SELECT m.model_id, m.input_price_per_mtok, m.output_price_per_mtok, m.params, m.archived_at, "
        "p.name AS provider FROM models m JOIN providers p ON p.id = m.provider_id "
        "WHERE m.project_id = $1 AND m.name = $2", project_id, name)
