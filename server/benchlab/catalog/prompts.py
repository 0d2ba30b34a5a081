"""Prompt commands. Prompt versions are immutable (runs and results point at them): storing a version label
again with the same content is a harmless repeat, with other content it is a conflict asking for a new label.
Templates are checked by the spec's rules (roles, `{{name}}` placeholders)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from benchlab.catalog.common import active_project, ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.validation import checked, name_field, spec_entry
from benchlab.errors import ConflictError
from benchlab.spec import PromptSpec, SpecError
from benchlab.spec.load import read_prompt_entry
from benchlab.spec.model import canonical_hash, to_plain
from benchlab.stores import prompts as prompt_store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.prompts import PROMPT, PromptRecord, PromptVersionRecord


async def create_prompt(conn: PgConnection, project_id: UUID, name: str) -> PromptRecord:
    name = checked(name_field, {"name": name})
    async with conn.transaction():
        await active_project(conn, project_id)
        return await write_unique(conn, PROMPT, project_id, name,
                                  lambda: prompt_store.insert_prompt(conn, project_id, name))


async def create_prompt_version(conn: PgConnection, project_id: UUID, prompt_id: UUID, version: str, *,
                                messages: object = None, text: str | None = None) -> PromptVersionRecord:
    """A chat template (`messages`: [{role, content}]) or a completion template (`text`), not both; both are
    checked here by the spec's rules (`messages` is JSON as the caller sent it)."""
    async with conn.transaction():
        await active_project(conn, project_id)
        prompt = await fetch_owned(conn, PROMPT, project_id, prompt_id)
        ensure_active(prompt, PROMPT)
        entry = {"name": prompt.name, "version": version, "messages": messages, "text": text}
        spec = spec_entry("prompts", lambda problems: read_prompt_entry(entry, problems), whole="template")
        try:
            try:
                async with conn.transaction():
                    version_id = await register_prompt_version(conn, project_id, spec)
            except asyncpg.UniqueViolationError:  # stored concurrently: compare with that one instead
                version_id = await register_prompt_version(conn, project_id, spec)
        except SpecError:
            raise ConflictError(f"prompt '{spec.name}' already has a version '{spec.version}' with other content; "
                                "prompt versions are immutable: store the changed template under a new version "
                                "label") from None
        return await prompt_store.find_version(conn, version_id)


async def archive_prompt(conn: PgConnection, project_id: UUID, prompt_id: UUID) -> PromptRecord:
    return await set_archived(conn, PROMPT, project_id, prompt_id, True)


async def register_prompt_version(conn: PgConnection, project_id: UUID, prompt: PromptSpec) -> UUID:
    """The id of the stored version of `prompt`, stored (with the prompt) when new; SpecError when its label
    already holds other content."""
    prompt_id = await prompt_store.ensure_prompt(conn, project_id, prompt.name)
    template = {"text": prompt.text} if prompt.text is not None else {"messages": to_plain(prompt.messages)}
    content_hash = canonical_hash(template)
    existing = await prompt_store.find_version_by_label(conn, prompt_id, prompt.version)
    if existing is not None:
        if existing["content_hash"] != content_hash:
            raise SpecError([f"prompts: {prompt.name}@{prompt.version} already exists with different content; "
                             "prompt versions are immutable, give the changed prompt a new version"])
        return existing["id"]
    return await prompt_store.insert_version(conn, prompt_id, prompt.version, template, content_hash)
