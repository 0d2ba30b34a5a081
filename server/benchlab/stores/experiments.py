"""Experiments (table `experiments`): a validated spec (jsonb, secrets removed) under a name unique in its
project, with the dataset version it runs on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.stores.entities import Entity, StoredRecord, select_list
from benchlab.stores.postgres import PgConnection


@dataclass(frozen=True)
class ExperimentRecord(StoredRecord):
    id: UUID
    project_id: UUID
    name: str
    description: str
    spec: dict[str, Any]  # the resolved, validated spec (references filled in, secrets removed)
    dataset_version_id: UUID | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


EXPERIMENT = Entity("experiments", "experiment", ExperimentRecord, select_list(ExperimentRecord))


async def claim_name(conn: PgConnection, project_id: UUID, name: str) -> UUID:
    """An experiment with this name and an empty spec, to be filled by `upsert_experiment`; a taken name
    raises asyncpg.UniqueViolationError."""
    return await conn.fetchval(
        "INSERT INTO experiments (project_id, name, spec) VALUES ($1, $2, '{}'::jsonb) RETURNING id",
        project_id, name)


async def rename(conn: PgConnection, experiment_id: UUID, project_id: UUID, name: str) -> UUID:
    """A taken name raises asyncpg.UniqueViolationError."""
    return await conn.fetchval("UPDATE experiments SET name = $3 WHERE id = $1 AND project_id = $2 RETURNING id",
                               experiment_id, project_id, name)


async def upsert_experiment(conn: PgConnection, project_id: UUID, name: str, description: str,
                            spec: dict[str, Any], dataset_version_id: UUID) -> UUID:
    """Store the spec under the experiment of this name (created when there is none); returns its id."""
    return await conn.fetchval(
        "INSERT INTO experiments (project_id, name, description, spec, dataset_version_id) "
        "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (project_id, name) DO UPDATE SET "
        "description = EXCLUDED.description, spec = EXCLUDED.spec, "
        "dataset_version_id = EXCLUDED.dataset_version_id, updated_at = now() RETURNING id",
        project_id, name, description, spec, dataset_version_id)
