"""What the catalog's tables have in common: one frozen record per row, and the statements every entity needs
(its row by id within a project, archiving, who holds a name).

Ownership is part of the WHERE clause (`id = $1 AND project_id = $2`), so an id of another project reads
exactly like an id that does not exist. Table and column names come from each repository's `Entity`
constant, never from input.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Generic, Self, TypeVar
from uuid import UUID

import asyncpg

from benchlab.stores.postgres import PgConnection


@dataclass(frozen=True)
class StoredRecord:
    """A frozen record built from a row that holds its entity's `columns` (subclasses add the fields)."""

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Self:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


R = TypeVar("R", bound=StoredRecord)


def select_list(record: type[StoredRecord], **expressions: str) -> str:
    """The SELECT (and RETURNING) list a record is built from: its fields, some computed
    (`type="provider_type"` selects `provider_type AS type`)."""
    return ", ".join(f"{expressions[f.name]} AS {f.name}" if f.name in expressions else f.name
                     for f in fields(record))


@dataclass(frozen=True)
class Entity(Generic[R]):
    """Where an entity's rows live and which record they make. Constants only, never user input."""

    table: str
    label: str            # how a person names the kind of thing: "provider"
    record: type[R]
    columns: str          # the SELECT (and RETURNING) list of `record`
    owner_column: str = "project_id"   # the column that must equal the caller's project id
    name_column: str = "name"          # the unique, human-chosen key


async def find_owned(conn: PgConnection, entity: Entity[R], project_id: UUID, entity_id: UUID, *,
                     for_update: bool = False) -> R | None:
    """The entity's record if it belongs to the project. `for_update` locks the row until the transaction
    ends, so a read-modify-write cannot lose a concurrent change."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {entity.columns} FROM {entity.table} WHERE id = $1 AND {entity.owner_column} = $2{lock}",
        entity_id, project_id)
    return None if row is None else entity.record.from_row(row)


async def set_archived(conn: PgConnection, entity: Entity[R], project_id: UUID, entity_id: UUID,
                       archived: bool) -> R | None:
    """Archive (a repeat keeps the first archive time) or unarchive; None when the project has no such entity."""
    row = await conn.fetchrow(
        f"UPDATE {entity.table} SET archived_at = CASE WHEN $3 THEN coalesce(archived_at, now()) END "
        f"WHERE id = $1 AND {entity.owner_column} = $2 RETURNING {entity.columns}",
        entity_id, project_id, archived)
    return None if row is None else entity.record.from_row(row)


async def find_name_holder(conn: PgConnection, entity: Entity[R], project_id: UUID | None,
                           name: str) -> asyncpg.Record | None:
    """`id` and `archived_at` of the entity holding `name` in the project (archived ones still hold theirs)."""
    return await conn.fetchrow(
        f"SELECT id, archived_at FROM {entity.table} WHERE project_id = $1 AND {entity.name_column} = $2",
        project_id, name)


async def is_archived(conn: PgConnection, entity: Entity[R], project_id: UUID, name: str) -> bool:
    """Whether the project holds an archived entity of this name (False when it holds none)."""
    return bool(await conn.fetchval(
        f"SELECT archived_at IS NOT NULL FROM {entity.table} WHERE project_id = $1 AND {entity.name_column} = $2",
        project_id, name))
