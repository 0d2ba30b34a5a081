"""Who holds which role in a project (table `project_members`, one row per project and user)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from benchlab.stores.listing import PROJECT_MEMBERS
from benchlab.stores.postgres import PgConnection


async def role_of(conn: PgConnection, project_id: UUID, user_id: UUID) -> str | None:
    """The user's role in the project, or None when they are not a member."""
    return await conn.fetchval("SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
                               project_id, user_id)


async def has_other_owner(conn: PgConnection, project_id: UUID, user_id: UUID) -> bool:
    """Whether someone besides `user_id` owns the project."""
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM project_members WHERE project_id = $1 "
                               "AND role = 'owner' AND user_id <> $2)", project_id, user_id)


async def set_role(conn: PgConnection, project_id: UUID, user_id: UUID, role: str) -> None:
    """Make the user a member with `role`, or change the role they have."""
    await conn.execute("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3) "
                       "ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role",
                       project_id, user_id, role)


async def remove_member(conn: PgConnection, project_id: UUID, user_id: UUID) -> None:
    await conn.execute("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2", project_id, user_id)


async def find_member_with_user(conn: PgConnection, project_id: UUID, user_id: UUID) -> asyncpg.Record | None:
    """The membership as the project's member list shows it (the user's columns with the membership's role)."""
    return await conn.fetchrow(f"SELECT * FROM {PROJECT_MEMBERS.source} t WHERE project_id = $1 AND id = $2",
                               project_id, user_id)
