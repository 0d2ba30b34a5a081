"""Guards every catalog command shares: ownership lookups, archive state, unique-name clashes.

An id of another project is reported exactly like an id that does not exist (the stores check ownership in
the statement), so no command reveals what other projects hold. Archiving is for good, except for
projects (unarchiveProject): the messages about archived entities say what a person can do instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Protocol, TypeVar
from uuid import UUID

import asyncpg

from benchlab.errors import ConflictError, NotFoundError
from benchlab.stores import entities
from benchlab.stores.entities import Entity, R
from benchlab.stores.postgres import PgConnection
from benchlab.stores.projects import PROJECT, ProjectRecord

T = TypeVar("T")


class Unset(Enum):
    """The type of UNSET: "leave this field as it is" in updates, where None means "clear it"."""

    UNSET = "UNSET"


UNSET = Unset.UNSET


def archived_advice(label: str) -> str:
    """What to do about an archived entity (other than a project, which can be unarchived)."""
    return f"use another {label}, or create a new one with a different name"


async def fetch_owned(conn: PgConnection, entity: Entity[R], project_id: UUID, entity_id: UUID, *,
                      for_update: bool = False) -> R:
    """The entity's record if it belongs to the project; NotFoundError otherwise.

    `for_update` locks the row until the transaction ends, so a read-modify-write update cannot lose a
    concurrent one.
    """
    record = await entities.find_owned(conn, entity, project_id, entity_id, for_update=for_update)
    if record is None:
        raise NotFoundError(f"{entity.label} {entity_id} not found in this project")
    return record


class Archivable(Protocol):
    """A record of an entity that can be archived."""

    @property
    def archived_at(self) -> datetime | None: ...


def ensure_active(record: Archivable, entity: Entity[R]) -> None:
    """Archived entities are read-only, and nothing new is made with them."""
    if record.archived_at is not None:
        name = getattr(record, entity.name_column)
        advice = "unarchive it first (unarchiveProject)" if entity is PROJECT else archived_advice(entity.label)
        raise ConflictError(f"{entity.label} '{name}' is archived; {advice}")


async def active_project(conn: PgConnection, project_id: UUID) -> ProjectRecord:
    """The project's record, refusing an archived project: nothing new is added to an archived project."""
    record = await fetch_owned(conn, PROJECT, project_id, project_id)
    ensure_active(record, PROJECT)
    return record


async def set_archived(conn: PgConnection, entity: Entity[R], project_id: UUID, entity_id: UUID,
                       archived: bool) -> R:
    """Archive or unarchive; repeating either is a no-op success that keeps the first archive time."""
    async with conn.transaction():
        record = await entities.set_archived(conn, entity, project_id, entity_id, archived)
    if record is None:
        raise NotFoundError(f"{entity.label} {entity_id} not found in this project")
    return record


async def write_unique(conn: PgConnection, entity: Entity[R], project_id: UUID | None, name: str,
                       write: Callable[[], Awaitable[T]]) -> T:
    """Run a store write that takes a unique name; a clash becomes a ConflictError naming the holder.

    The write runs in a savepoint so that, after a clash, the transaction can still look up the holder
    to say whether it is archived (a name held by an archived entity is still taken).
    """
    try:
        async with conn.transaction():
            return await write()
    except asyncpg.UniqueViolationError:
        if entity is PROJECT:  # slugs are global: say it is taken, but nothing about the other project
            raise ConflictError(f"a project with slug '{name}' already exists; choose a different slug") from None
        holder = await entities.find_name_holder(conn, entity, project_id, name)
        archived = holder is not None and holder["archived_at"] is not None
        state = "an archived" if archived else ("an" if entity.label[0] in "aeiou" else "a")
        held_by = f" (id {holder['id']})" if holder is not None else ""
        raise ConflictError(f"{state} {entity.label} named '{name}' already exists in this project{held_by}; "
                            "choose a different name") from None
