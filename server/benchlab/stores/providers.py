"""Providers (table `providers`): LLM endpoints of a project, unique by name within it.

The API key arrives here already encrypted (`credentials`) and is never selected again: a record only says
whether one is stored (`has_credentials`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from benchlab.spec import ProviderSpec
from benchlab.stores.entities import Entity, StoredRecord, select_list
from benchlab.stores.postgres import PgConnection, fetch_one


@dataclass(frozen=True)
class ProviderRecord(StoredRecord):
    id: UUID
    project_id: UUID
    name: str
    type: str
    api_base: str | None
    transport: str
    max_concurrency: int | None
    has_credentials: bool
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


PROVIDER = Entity("providers", "provider", ProviderRecord, select_list(
    ProviderRecord, type="provider_type", has_credentials="credentials_encrypted IS NOT NULL"))


async def insert_provider(conn: PgConnection, project_id: UUID, spec: ProviderSpec,
                          credentials: bytes | None) -> ProviderRecord:
    """A new provider; a taken name raises asyncpg.UniqueViolationError."""
    row = await fetch_one(
        conn,
        "INSERT INTO providers (project_id, name, provider_type, api_base, transport, max_concurrency, "
        f"credentials_encrypted) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PROVIDER.columns}",
        project_id, spec.name, spec.type, spec.api_base, spec.transport.value, spec.max_concurrency, credentials)
    return ProviderRecord.from_row(row)


async def update_provider(conn: PgConnection, provider_id: UUID, project_id: UUID, spec: ProviderSpec, *,
                          replace_key: bool, credentials: bytes | None) -> ProviderRecord:
    """Store `spec`'s settings; the stored key is replaced by `credentials` only when `replace_key`."""
    row = await fetch_one(
        conn,
        "UPDATE providers SET name = $3, provider_type = $4, api_base = $5, transport = $6, max_concurrency = $7, "
        "credentials_encrypted = CASE WHEN $8 THEN $9 ELSE credentials_encrypted END, updated_at = now() "
        f"WHERE id = $1 AND project_id = $2 RETURNING {PROVIDER.columns}",
        provider_id, project_id, spec.name, spec.type, spec.api_base, spec.transport.value, spec.max_concurrency,
        replace_key, credentials)
    return ProviderRecord.from_row(row)


async def upsert_provider(conn: PgConnection, project_id: UUID, spec: ProviderSpec,
                          credentials: bytes | None) -> tuple[UUID, bool]:
    """Create or overwrite the provider of this name; a stored key is kept when `credentials` is None.
    Returns its id and whether it was created."""
    row = await fetch_one(
        conn,
        "INSERT INTO providers (project_id, name, provider_type, api_base, transport, max_concurrency, "
        "credentials_encrypted) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (project_id, name) DO UPDATE SET provider_type = EXCLUDED.provider_type, "
        "api_base = EXCLUDED.api_base, transport = EXCLUDED.transport, "
        "max_concurrency = EXCLUDED.max_concurrency, updated_at = now(), "
        "credentials_encrypted = coalesce(EXCLUDED.credentials_encrypted, providers.credentials_encrypted) "
        "RETURNING id, xmax = 0 AS inserted", project_id, spec.name, spec.type, spec.api_base,
        spec.transport.value, spec.max_concurrency, credentials)
    return row["id"], row["inserted"]


async def find_by_name(conn: PgConnection, project_id: UUID, name: str) -> ProviderRecord | None:
    row = await conn.fetchrow(f"SELECT {PROVIDER.columns} FROM providers WHERE project_id = $1 AND name = $2",
                              project_id, name)
    return None if row is None else ProviderRecord.from_row(row)


async def stored_credentials(conn: PgConnection, project_id: UUID) -> dict[str, bytes]:
    """The encrypted API key of each provider of the project that has one, by provider name (for a run)."""
    rows = await conn.fetch("SELECT name, credentials_encrypted FROM providers "
                            "WHERE project_id = $1 AND credentials_encrypted IS NOT NULL", project_id)
    return {row["name"]: row["credentials_encrypted"] for row in rows}
