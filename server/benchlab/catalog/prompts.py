"""Prompt commands. Prompt versions are immutable (runs and results point at them): storing a version label
again with the same content is a harmless repeat, with other content it is a conflict asking for a new label.
Templates are checked by the spec's rules (roles, `{{name}}` placeholders) and stored by `catalog_repo`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.catalog.common import active_project, ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.records import PROMPT, PROMPT_VERSION_COLUMNS, PromptRecord, PromptVersionRecord
from benchlab.catalog.validation import checked, name_field, spec_entry
from benchlab.errors import ConflictError
from benchlab.spec import PromptSpec, SpecError
from benchlab.spec.load import _prompts
from benchlab.stores.catalog_repo import _register_prompt_version


async def create_prompt(conn: asyncpg.Connection, project_id: UUID, name: str) -> PromptRecord:
    name = checked(name_field, {"name": name})
    async with conn.transaction():
        await active_project(conn, project_id)
        row = await write_unique(conn, PROMPT, project_id, name,
                                 f"INSERT INTO prompts (project_id, name) VALUES ($1, $2) RETURNING {PROMPT.columns}",
                                 project_id, name)
    return PromptRecord.from_row(row)


async def create_prompt_version(conn: asyncpg.Connection, project_id: UUID, prompt_id: UUID, version: str, *,
                                messages: Sequence[dict[str, Any]] | None = None,
                                text: str | None = None) -> PromptVersionRecord:
    """A chat template (`messages`: [{role, content}]) or a completion template (`text`), not both."""
    async with conn.transaction():
        await active_project(conn, project_id)
        prompt = await fetch_owned(conn, PROMPT, project_id, prompt_id)
        ensure_active(prompt, PROMPT)
        located = spec_entry("prompts", {"name": prompt["name"], "version": version, "messages": messages,
                                         "text": text}, _prompts, whole="template")
        spec: PromptSpec = located[1]
        try:
            try:
                async with conn.transaction():
                    version_id = await _register_prompt_version(conn, project_id, spec)
            except asyncpg.UniqueViolationError:  # stored concurrently: compare with that one instead
                version_id = await _register_prompt_version(conn, project_id, spec)
        except SpecError:
            raise ConflictError(f"prompt '{spec.name}' already has a version '{spec.version}' with other content; "
                                "prompt versions are immutable: store the changed template under a new version "
                                "label") from None
        row = await conn.fetchrow(f"SELECT {PROMPT_VERSION_COLUMNS} FROM prompt_versions WHERE id = $1", version_id)
    return PromptVersionRecord.from_row(row)


async def archive_prompt(conn: asyncpg.Connection, project_id: UUID, prompt_id: UUID) -> PromptRecord:
    return PromptRecord.from_row(await set_archived(conn, PROMPT, project_id, prompt_id, True))


async def unarchive_prompt(conn: asyncpg.Connection, project_id: UUID, prompt_id: UUID) -> PromptRecord:
    return PromptRecord.from_row(await set_archived(conn, PROMPT, project_id, prompt_id, False))
