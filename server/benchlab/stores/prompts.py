"""Prompts and their versions (tables `prompts`, `prompt_versions`). A version's `template` (jsonb) is
`{"messages": [...]}` or `{"text": "..."}`; a version label is unique per prompt and its content never
changes once stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.stores.entities import Entity, StoredRecord, select_list
from benchlab.stores.postgres import PgConnection, fetch_one


@dataclass(frozen=True)
class PromptRecord(StoredRecord):
    id: UUID
    project_id: UUID
    name: str
    created_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class PromptVersionRecord(StoredRecord):
    id: UUID
    prompt_id: UUID
    version: str
    template: dict[str, Any]  # {"messages": [{"role", "content"}, ...]} or {"text": "..."}
    content_hash: str
    created_at: datetime


PROMPT = Entity("prompts", "prompt", PromptRecord, select_list(PromptRecord))
VERSION_COLUMNS = select_list(PromptVersionRecord)


async def insert_prompt(conn: PgConnection, project_id: UUID, name: str) -> PromptRecord:
    """A new prompt without versions; a taken name raises asyncpg.UniqueViolationError."""
    row = await fetch_one(conn, f"INSERT INTO prompts (project_id, name) VALUES ($1, $2) RETURNING {PROMPT.columns}",
                          project_id, name)
    return PromptRecord.from_row(row)


async def ensure_prompt(conn: PgConnection, project_id: UUID, name: str) -> UUID:
    """The id of the project's prompt of this name, created when there is none."""
    return await conn.fetchval(
        "INSERT INTO prompts (project_id, name) VALUES ($1, $2) ON CONFLICT (project_id, name) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id", project_id, name)


async def find_version_by_label(conn: PgConnection, prompt_id: UUID, version: str) -> asyncpg.Record | None:
    """`id` and `content_hash` of the prompt's version with this label."""
    return await conn.fetchrow("SELECT id, content_hash FROM prompt_versions WHERE prompt_id = $1 AND version = $2",
                               prompt_id, version)


async def insert_version(conn: PgConnection, prompt_id: UUID, version: str, template: dict[str, Any],
                         content_hash: str) -> UUID:
    """A new version; a label stored meanwhile by someone else raises asyncpg.UniqueViolationError."""
    return await conn.fetchval(
        "INSERT INTO prompt_versions (prompt_id, version, template, content_hash) VALUES ($1, $2, $3::jsonb, $4) "
        "RETURNING id", prompt_id, version, template, content_hash)


async def find_version(conn: PgConnection, version_id: UUID) -> PromptVersionRecord:
    row = await fetch_one(conn, f"SELECT {VERSION_COLUMNS} FROM prompt_versions WHERE id = $1", version_id)
    return PromptVersionRecord.from_row(row)


async def versions_by_prompt_name(conn: PgConnection, project_id: UUID, name: str) -> list[asyncpg.Record]:
    """The prompt's `archived_at` with each version's `version` and `template`, most recently stored first;
    one row with a null version when the prompt has none, no rows when there is no such prompt."""
    return await conn.fetch(
        "SELECT p.archived_at, v.version, v.template FROM prompts p LEFT JOIN prompt_versions v "
        "ON v.prompt_id = p.id WHERE p.project_id = $1 AND p.name = $2 ORDER BY v.created_at DESC, v.version DESC",
        project_id, name)
