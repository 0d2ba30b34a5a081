"""Projects (table `projects`). A project's slug is its global, stable handle (specs name it); name and
description may change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from benchlab.stores.entities import Entity, StoredRecord, select_list
from benchlab.stores.listing import Reader
from benchlab.stores.postgres import PgConnection, fetch_one


@dataclass(frozen=True)
class ProjectRecord(StoredRecord):
    id: UUID
    slug: str
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None


# A project owns itself: its id is checked where other entities check their project_id.
PROJECT = Entity("projects", "project", ProjectRecord, select_list(ProjectRecord), owner_column="id",
                 name_column="slug")


async def insert_project(conn: PgConnection, slug: str, name: str, description: str) -> ProjectRecord:
    """A new project; a taken slug raises asyncpg.UniqueViolationError."""
    row = await fetch_one(
        conn,
        f"INSERT INTO projects (slug, name, description) VALUES ($1, $2, $3) RETURNING {PROJECT.columns}",
        slug, name, description)
    return ProjectRecord.from_row(row)


async def update_project(conn: PgConnection, project_id: UUID, name: str, description: str) -> ProjectRecord:
    row = await fetch_one(
        conn,
        f"UPDATE projects SET name = $2, description = $3 WHERE id = $1 RETURNING {PROJECT.columns}",
        project_id, name, description)
    return ProjectRecord.from_row(row)


async def ensure_project(conn: PgConnection, slug: str) -> UUID:
    """The id of the project with this slug, created (named after its slug) when there is none."""
    return await conn.fetchval(
        "INSERT INTO projects (slug, name) VALUES ($1, $1) ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug "
        "RETURNING id", slug)


async def find_row_by_slug(db: Reader, slug: str) -> asyncpg.Record | None:
    """The project's whole row, as the API's Project type reads it."""
    rows = await db.fetch("SELECT * FROM projects WHERE slug = $1", slug)
    return rows[0] if rows else None
