"""Project commands. A project's slug is its stable handle (specs name it), so only name and description change."""

from __future__ import annotations

from uuid import UUID

from benchlab.catalog.common import ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.validation import checked, description_field, name_field, slug_field
from benchlab.spec.fields import Section
from benchlab.stores import projects as project_store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.projects import PROJECT, ProjectRecord


async def create_project(conn: PgConnection, slug: str, name: str, description: str = "") -> ProjectRecord:
    def read(section: Section) -> tuple[str, str, str]:
        return slug_field(section), name_field(section), description_field(section)

    slug, name, description = checked(read, {"slug": slug, "name": name, "description": description})
    async with conn.transaction():
        return await write_unique(conn, PROJECT, None, slug,
                                  lambda: project_store.insert_project(conn, slug, name, description))


async def update_project(conn: PgConnection, project_id: UUID, name: str | None = None,
                         description: str | None = None) -> ProjectRecord:
    """Change what is given (None leaves a field as it is); an archived project must be unarchived first."""
    async with conn.transaction():
        current = await fetch_owned(conn, PROJECT, project_id, project_id, for_update=True)
        ensure_active(current, PROJECT)

        def read(section: Section) -> tuple[str, str]:
            return name_field(section), description_field(section)

        name, description = checked(read, {
            "name": current.name if name is None else name,
            "description": current.description if description is None else description})
        return await project_store.update_project(conn, project_id, name, description)


async def archive_project(conn: PgConnection, project_id: UUID) -> ProjectRecord:
    return await set_archived(conn, PROJECT, project_id, project_id, True)


async def unarchive_project(conn: PgConnection, project_id: UUID) -> ProjectRecord:
    return await set_archived(conn, PROJECT, project_id, project_id, False)
