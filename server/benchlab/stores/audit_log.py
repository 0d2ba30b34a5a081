"""The audit log (table `audit_log`): append-only entries of who did what, when, to which project."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from benchlab.stores.postgres import PgConnection

_JsonValue = str | int | float | bool | None | list["_JsonValue"] | dict[str, "_JsonValue"]


async def insert_entry(conn: PgConnection, *, actor: str, action: str, target: str, project_id: UUID | None,
                       details: Mapping[str, Any]) -> None:
    """Append one entry; values JSON cannot hold (ids, times) are written as their text."""
    await conn.execute("INSERT INTO audit_log (actor, project_id, action, target, details) VALUES ($1, $2, $3, $4, $5)",
                       actor, project_id, action, target, _json_value(details))


def _json_value(value: Any) -> _JsonValue:
    """`value` with mappings, lists and tuples followed, and anything else JSON has no type for as its str()."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return str(value)
