"""The audit trail: who did what, when, from where, with before/after for changes. Never secrets."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from benchlab.stores.audit_log import insert_entry
from benchlab.stores.postgres import PgConnection


async def record(conn: PgConnection, *, actor: str, action: str, target: str = "",
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
    await insert_entry(conn, actor=actor, action=action, target=target, project_id=project_id, details=payload)
