"""Record an experiment spec's entities in PostgreSQL, in one transaction, before a run starts.

Providers and models are upserted by name (credentials encrypted, never stored in plain text), and the ones
created are reported so that the API can audit them like createProvider/createModel; the dataset
becomes a version identified by its content (an unchanged dataset reuses its version, a changed item gets a
new append-only revision); prompt versions are immutable (same name and version with other content is an
error asking for a new version); the experiment keeps the full spec, secrets removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from benchlab.secrets import SecretBox
from benchlab.spec import DatasetItem, DatasetSpec, ExperimentSpec, PromptSpec, SpecError
from benchlab.spec.model import canonical_hash, to_plain


@dataclass(frozen=True)
class Created:
    """A provider or model that registering a spec created (rather than found stored)."""

    kind: str          # "provider" | "model"
    name: str
    credentials_set: bool = False


@dataclass(frozen=True)
class RegisteredExperiment:
    project_id: UUID
    experiment_id: UUID
    dataset_version_id: UUID
    created: tuple[Created, ...] = ()


async def ensure_project(conn: asyncpg.Connection, slug: str) -> UUID:
    return await conn.fetchval(
        "INSERT INTO projects (slug, name) VALUES ($1, $1) ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug "
        "RETURNING id", slug)


async def register_experiment(conn: asyncpg.Connection, spec: ExperimentSpec, box: SecretBox) -> RegisteredExperiment:
    async with conn.transaction():
        project_id = await ensure_project(conn, spec.project)
        provider_ids = {}
        created = []
        for provider in spec.providers:
            key = provider.resolve_api_key()
            row = await conn.fetchrow(
                "INSERT INTO providers (project_id, name, provider_type, api_base, transport, max_concurrency, "
                "credentials_encrypted) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (project_id, name) DO UPDATE SET provider_type = EXCLUDED.provider_type, "
                "api_base = EXCLUDED.api_base, transport = EXCLUDED.transport, "
                "max_concurrency = EXCLUDED.max_concurrency, updated_at = now(), "
                "credentials_encrypted = coalesce(EXCLUDED.credentials_encrypted, providers.credentials_encrypted) "
                "RETURNING id, xmax = 0 AS inserted", project_id, provider.name, provider.type, provider.api_base,
                provider.transport, provider.max_concurrency, box.encrypt(key) if key else None)
            provider_ids[provider.name] = row["id"]
            if row["inserted"]:
                created.append(Created("provider", provider.name, credentials_set=bool(key)))
        for model in spec.models:
            inserted = await conn.fetchval(
                "INSERT INTO models (project_id, provider_id, name, model_id, input_price_per_mtok, "
                "output_price_per_mtok, params) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) "
                "ON CONFLICT (project_id, name) DO UPDATE SET provider_id = EXCLUDED.provider_id, "
                "model_id = EXCLUDED.model_id, input_price_per_mtok = EXCLUDED.input_price_per_mtok, "
                "output_price_per_mtok = EXCLUDED.output_price_per_mtok, params = EXCLUDED.params, updated_at = now() "
                "RETURNING xmax = 0", project_id, provider_ids[model.provider], model.name, model.model,
                model.input_price_per_mtok, model.output_price_per_mtok, model.params)
            if inserted:
                created.append(Created("model", model.name))
        for prompt in spec.prompts:
            await _register_prompt_version(conn, project_id, prompt)
        version_id = await _register_dataset_version(conn, project_id, spec.dataset)
        experiment_id = await conn.fetchval(
            "INSERT INTO experiments (project_id, name, description, spec, dataset_version_id) "
            "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (project_id, name) DO UPDATE SET "
            "description = EXCLUDED.description, spec = EXCLUDED.spec, "
            "dataset_version_id = EXCLUDED.dataset_version_id, updated_at = now() RETURNING id",
            project_id, spec.name, spec.description or "", spec.to_dict(), version_id)
    return RegisteredExperiment(project_id, experiment_id, version_id, tuple(created))


async def _register_prompt_version(conn: asyncpg.Connection, project_id: UUID, prompt: PromptSpec) -> UUID:
    prompt_id = await conn.fetchval(
        "INSERT INTO prompts (project_id, name) VALUES ($1, $2) ON CONFLICT (project_id, name) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id", project_id, prompt.name)
    template = {"text": prompt.text} if prompt.text is not None else {"messages": to_plain(prompt.messages)}
    content_hash = canonical_hash(template)
    existing = await conn.fetchrow("SELECT id, content_hash FROM prompt_versions WHERE prompt_id = $1 AND version = $2",
                                   prompt_id, prompt.version)
    if existing is not None:
        if existing["content_hash"] != content_hash:
            raise SpecError([f"prompts: {prompt.name}@{prompt.version} already exists with different content; "
                             "prompt versions are immutable, give the changed prompt a new version"])
        return existing["id"]
    return await conn.fetchval(
        "INSERT INTO prompt_versions (prompt_id, version, template, content_hash) VALUES ($1, $2, $3::jsonb, $4) "
        "RETURNING id", prompt_id, prompt.version, template, content_hash)


async def _register_dataset_version(conn: asyncpg.Connection, project_id: UUID, dataset: DatasetSpec) -> UUID:
    dataset_id = await conn.fetchval(
        "INSERT INTO datasets (project_id, name) VALUES ($1, $2) ON CONFLICT (project_id, name) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id", project_id, dataset.name)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1::text))", str(dataset_id))
    existing = await conn.fetchval(
        "SELECT id FROM dataset_versions WHERE dataset_id = $1 AND content_hash = $2", dataset_id, dataset.content_hash)
    if existing is not None:
        return existing
    version = await conn.fetchval(
        "SELECT coalesce(max(version), 0) + 1 FROM dataset_versions WHERE dataset_id = $1", dataset_id)
    version_id = await conn.fetchval(
        "INSERT INTO dataset_versions (dataset_id, version, content_hash, item_count) VALUES ($1, $2, $3, $4) "
        "RETURNING id", dataset_id, version, dataset.content_hash, len(dataset.items))
    for position, item in enumerate(dataset.items):
        revision_id = await _item_revision(conn, dataset_id, item)
        await conn.execute("INSERT INTO dataset_version_items (version_id, revision_id, position) VALUES ($1, $2, $3)",
                           version_id, revision_id, position)
    return version_id


async def _item_revision(conn: asyncpg.Connection, dataset_id: UUID, item: DatasetItem) -> UUID:
    """The item's revision with this content: the latest one if unchanged, else a new one appended."""
    item_id = await conn.fetchval(
        "INSERT INTO dataset_items (dataset_id, external_id) VALUES ($1, $2) ON CONFLICT (dataset_id, external_id) "
        "DO UPDATE SET external_id = EXCLUDED.external_id RETURNING id", dataset_id, item.id)
    content = {"input": {"messages": to_plain(item.messages)} if item.messages else {"vars": item.vars},
               "expected_output": item.expected_output, "expected_tool_calls": to_plain(item.expected_tool_calls),
               "metadata": item.metadata}
    content_hash = canonical_hash(content)
    latest = await conn.fetchrow(
        "SELECT id, content_hash, revision FROM dataset_item_revisions WHERE item_id = $1 "
        "ORDER BY revision DESC LIMIT 1", item_id)
    if latest is not None and latest["content_hash"] == content_hash:
        return latest["id"]
    expected = item.expected_output
    return await conn.fetchval(
        "INSERT INTO dataset_item_revisions (item_id, revision, content_hash, input, expected_output, "
        "expected_tool_calls, metadata) VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7::jsonb) RETURNING id",
        item_id, (latest["revision"] + 1) if latest else 1, content_hash, content["input"],
        None if expected is None else (expected if isinstance(expected, str) else json.dumps(expected)),
        None if item.expected_tool_calls is None else content["expected_tool_calls"],
        item.metadata)
