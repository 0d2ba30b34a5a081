"""What every catalog mutation does: resolve ids, run one command in its own transaction, reload the row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.node_lookup import required_row
from benchlab.catalog import UNSET as CATALOG_UNSET
from benchlab.catalog import Unset
from benchlab.stores.postgres import PgConnection

T = TypeVar("T")
P = ParamSpec("P")


async def run_command(info: Info, command: Callable[Concatenate[PgConnection, P], Awaitable[T]], *args: P.args,
                      **kwargs: P.kwargs) -> T:
    """One catalog command on a pooled connection (the command opens its own transaction)."""
    async with runtime_of(info).pg.acquire() as conn:
        return await command(conn, *args, **kwargs)


async def owned(info: Info, global_id: strawberry.ID, type_name: str, argument: str = "id") -> tuple[UUID, UUID]:
    """The database id of the object a global id names, and its project's id (NOT_FOUND when missing)."""
    row = await required_row(info, global_id, type_name, argument)
    return row["id"], row["project_id"]


def keep_unset(value: T) -> T | Unset:
    """Strawberry's UNSET (argument omitted) as the catalog's UNSET ("leave as is"); null stays "clear"."""
    return CATALOG_UNSET if value is strawberry.UNSET else value


def given(value: T | None) -> T | None:
    """Required fields in updates: omitted or null both mean "leave as is"."""
    return None if value is strawberry.UNSET else value
