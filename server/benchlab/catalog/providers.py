"""Provider commands. The API key is encrypted before it reaches the database and never leaves it again:
records only say `has_credentials`, and the engine decrypts the key when a run opens its transports."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from benchlab.catalog.common import UNSET, Unset, active_project, ensure_active, fetch_owned, set_archived, write_unique
from benchlab.catalog.validation import spec_entry
from benchlab.secrets import SecretBox
from benchlab.spec import ProviderSpec
from benchlab.spec.load import read_provider_entry
from benchlab.stores import providers as provider_store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.providers import PROVIDER, ProviderRecord


def _validated(fields: dict[str, Any]) -> ProviderSpec:
    """By the spec's provider rules: type a litellm prefix, api_base an http(s) URL without credentials,
    transport auto|litellm|direct (direct needs api_base), max_concurrency >= 1, api_key non-empty."""
    return spec_entry("providers", lambda problems: read_provider_entry(fields, problems), whole="provider")


async def create_provider(conn: PgConnection, project_id: UUID, name: str, type: str, *,
                          api_base: str | None = None, transport: str = "auto", max_concurrency: int | None = None,
                          api_key: str | None = None, box: SecretBox) -> ProviderRecord:
    spec = _validated({"name": name, "type": type, "api_base": api_base, "transport": transport,
                       "max_concurrency": max_concurrency, "api_key": api_key})
    credentials = box.encrypt(spec.api_key.reveal()) if spec.api_key is not None else None
    async with conn.transaction():
        await active_project(conn, project_id)
        return await write_unique(conn, PROVIDER, project_id, spec.name,
                                  lambda: provider_store.insert_provider(conn, project_id, spec, credentials))


async def update_provider(conn: PgConnection, project_id: UUID, provider_id: UUID, *, box: SecretBox,
                          name: str | None = None, type: str | None = None, api_base: str | None | Unset = UNSET,
                          transport: str | None = None, max_concurrency: int | None | Unset = UNSET,
                          api_key: str | None | Unset = UNSET) -> ProviderRecord:
    """Change what is given. None leaves name, type and transport as they are and clears api_base,
    max_concurrency and api_key; UNSET leaves those three as they are. The result is validated as a whole,
    so clearing api_base of a `direct` provider is refused."""
    async with conn.transaction():
        await active_project(conn, project_id)
        current = await fetch_owned(conn, PROVIDER, project_id, provider_id, for_update=True)
        ensure_active(current, PROVIDER)
        spec = _validated({
            "name": current.name if name is None else name,
            "type": current.type if type is None else type,
            "api_base": current.api_base if api_base is UNSET else api_base,
            "transport": current.transport if transport is None else transport,
            "max_concurrency": current.max_concurrency if max_concurrency is UNSET else max_concurrency,
            "api_key": api_key if isinstance(api_key, str) else None})
        credentials = box.encrypt(spec.api_key.reveal()) if spec.api_key is not None else None
        return await write_unique(
            conn, PROVIDER, project_id, spec.name,
            lambda: provider_store.update_provider(conn, provider_id, project_id, spec,
                                                   replace_key=api_key is not UNSET, credentials=credentials))


async def archive_provider(conn: PgConnection, project_id: UUID, provider_id: UUID) -> ProviderRecord:
    return await set_archived(conn, PROVIDER, project_id, provider_id, True)
