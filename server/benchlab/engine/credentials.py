"""Which API key a provider's requests carry: its stored (encrypted) credentials, else the spec's env var."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from benchlab.engine.deps import EngineDeps
from benchlab.spec import ProviderSpec
from benchlab.stores import providers as provider_store


async def provider_keys(deps: EngineDeps, project_id: UUID, providers: Iterable[ProviderSpec]) -> dict[str, str | None]:
    """Stored (encrypted) credentials win; else the environment variable the spec names."""
    async with deps.pg.acquire() as conn:
        stored = await provider_store.stored_credentials(conn, project_id)
    keys: dict[str, str | None] = {}
    for provider in providers:
        token = stored.get(provider.name)
        keys[provider.name] = deps.secrets.decrypt(token) if token else provider.resolve_api_key()
    return keys
