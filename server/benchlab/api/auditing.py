"""Audit entries for GraphQL mutations: the caller, their address, what changed (never secrets)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strawberry.types import Info

from benchlab.api.context import identity_of, runtime_of
from benchlab.auth.audit import record


def client_address(info: Info) -> str | None:
    request = info.context.get("request")
    client = getattr(request, "client", None)
    return client.host if client else None


async def audit(info: Info, action: str, target: str = "", project_id: UUID | None = None, **details: Any) -> None:
    async with runtime_of(info).pg.acquire() as conn:
        await record(conn, actor=identity_of(info).actor, action=action, target=target, project_id=project_id,
                     address=client_address(info), **details)
