"""Guards every catalog command shares: ownership lookups, archive state, unique-name clashes.

Ownership is checked in the WHERE clause (`id = $1 AND project_id = $2`), so an id from another project is
indistinguishable from an id that does not exist: no command reveals what other projects hold.
"""

from __future__ import annotations

from enum import Enum
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.catalog.records import PROJECT, Entity
from benchlab.errors import ConflictError, NotFoundError


class Unset(Enum):
    """The type of UNSET: "leave this field as it is" in updates, where None means "clear it"."""

    UNSET = "UNSET"


UNSET = Unset.UNSET


async def fetch_owned(conn: asyncpg.Connection, entity: Entity, project_id: UUID, entity_id: UUID, *,
                      for_update: bool = False) -> asyncpg.Record:
    """The entity's row if it belongs to the project; NotFoundError otherwise.

    `for_update` locks the row until the transaction ends, so a read-modify-write update cannot lose a
    concurrent one.
    """
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {entity.columns} FROM {entity.table} WHERE id = $1 AND {entity.owner_column} = $2{lock}",
        entity_id, project_id)
    if row is None:
        raise NotFoundError(f"{entity.label} {entity_id} not found in this project")
    return row


def ensure_active(row: asyncpg.Record, entity: Entity) -> None:
    """Archived entities are read-only: changing one must be a deliberate unarchive first."""
    if row["archived_at"] is not None:
        raise ConflictError(f"{entity.label} '{row[entity.name_column]}' is archived; unarchive it first")


async def active_project(conn: asyncpg.Connection, project_id: UUID) -> asyncpg.Record:
    """The project's row, refusing an archived project: nothing new is added to an archived project."""
    row = await fetch_owned(conn, PROJECT, project_id, project_id)
    ensure_active(row, PROJECT)
    return row


async def set_archived(conn: asyncpg.Connection, entity: Entity, project_id: UUID, entity_id: UUID,
                       archived: bool) -> asyncpg.Record:
    """Archive or unarchive; repeating either is a no-op success that keeps the first archive time."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"UPDATE {entity.table} SET archived_at = CASE WHEN $3 THEN coalesce(archived_at, now()) END "
            f"WHERE id = $1 AND {entity.owner_column} = $2 RETURNING {entity.columns}",
            entity_id, project_id, archived)
    if row is None:
        raise NotFoundError(f"{entity.label} {entity_id} not found in this project")
    return row


async def write_unique(conn: asyncpg.Connection, entity: Entity, project_id: UUID | None, name: str, query: str,
                       *args: Any) -> asyncpg.Record:
    """Run an INSERT or UPDATE that takes a unique name; a clash becomes a ConflictError naming the holder.

    The statement runs in a savepoint so that, after a clash, the transaction can still look up the holder
    to say whether it is archived (a name held by an archived entity is still taken).
    """
    try:
        async with conn.transaction():
            return await conn.fetchrow(query, *args)
    except asyncpg.UniqueViolationError:
        if entity is PROJECT:  # slugs are global: say it is taken, but nothing about the other project
            raise ConflictError(f"a project with slug '{name}' already exists; choose a different slug") from None
        holder = await conn.fetchrow(
            f"SELECT id, archived_at FROM {entity.table} WHERE project_id = $1 AND {entity.name_column} = $2",
            project_id, name)
        archived = holder is not None and holder["archived_at"] is not None
        state = "an archived" if archived else ("an" if entity.label[0] in "aeiou" else "a")
        held_by = f" (id {holder['id']})" if holder is not None else ""
        raise ConflictError(f"{state} {entity.label} named '{name}' already exists in this project{held_by}; "
                            "choose a different name") from None
