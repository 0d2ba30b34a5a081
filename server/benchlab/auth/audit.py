"""The audit trail: who did what, when, from where, with before/after for changes. Never secrets."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg


async def record(conn: asyncpg.Connection, *, actor: str, action: str, target: str = "",
                 project_id: UUID | None = None, address: str | None = None,
                 before: Any = None, after: Any = None, **details: Any) -> None:
    """Append one entry. `before`/`after` describe a change; callers pass only non-secret fields."""
    payload = {key: value for key, value in details.items() if value is not None}
    if address:
        payload["address"] = address
    if before is not None:
        payload["before"] = before
    if after is not None:
        payload["after"] = after
    await conn.execute(
        "INSERT INTO audit_log (actor, project_id, action, target, details) VALUES ($1, $2, $3, $4, $5::jsonb)",
        actor, project_id, action, target, json.loads(json.dumps(payload, default=str)))
