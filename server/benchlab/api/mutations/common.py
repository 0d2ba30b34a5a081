"""What every catalog mutation does: resolve ids, run one command in its own transaction, reload the row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.node_lookup import load_required
from benchlab.catalog import UNSET as CATALOG_UNSET

T = TypeVar("T")


async def run_command(info: Info, command: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """One catalog command on a pooled connection (the command opens its own transaction)."""
    async with runtime_of(info).pg.acquire() as conn:
        return await command(conn, *args, **kwargs)


async def owned(info: Info, global_id: strawberry.ID, type_name: str, argument: str = "id") -> tuple[UUID, UUID]:
    """The database id of the object a global id names, and its project's id (NOT_FOUND when missing)."""
    node = await load_required(info, global_id, type_name, argument)
    return node.db_id, node.project_id


def keep_unset(value: Any) -> Any:
    """Strawberry's UNSET (argument omitted) as the catalog's UNSET ("leave as is"); null stays "clear"."""
    return CATALOG_UNSET if value is strawberry.UNSET else value


def given(value: object) -> object:
    """Required fields in updates: omitted or null both mean "leave as is"."""
    return None if value is strawberry.UNSET else value
