"""Per-request DataLoaders: every relation, list and count of the API is batched into one statement.

A nested query such as projects → experiments → runs costs one statement per level, whatever the number of
rows: the loaders gather the keys a level asks for and `stores.listing` reads them at once (children of many
parents in one windowed query, objects by id in one `id = ANY($1)`). Loaders live in the request context, so
their caches never outlive a request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from strawberry.dataloader import DataLoader

from benchlab.api.db import RequestDb
from benchlab.api.pagination import Page, as_uuid
from benchlab.errors import InvalidInputError
from benchlab.stores import listing
from benchlab.stores.cursors import decode_cursor, encode_cursor
from benchlab.stores.listing import Filter, Keyset, ListSpec


@dataclass(frozen=True)
class ListArgs:
    first: int
    after: str | None = None
    filters: tuple[Filter, ...] = ()
    sort_column: str | None = None
    descending: bool | None = None


@dataclass
class Loaders:
    db: RequestDb
    _by_id: dict[str, DataLoader] = field(default_factory=dict)
    _pages: dict[str, DataLoader] = field(default_factory=dict)
    _counts: dict[str, DataLoader] = field(default_factory=dict)
    _memberships: DataLoader | None = None
    _other: dict[str, DataLoader] = field(default_factory=dict)

    def keyed(self, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
        """A request-scoped loader of another kind (e.g. ClickHouse rows), created on first use under `name`."""
        if name not in self._other:
            self._other[name] = DataLoader(load)
        return self._other[name]

    async def membership(self, user_id: UUID, project_id: UUID) -> str | None:
        """The user's role in the project, or None (batched: one statement for every check of a request)."""
        if self._memberships is None:
            async def load(keys: list[tuple[UUID, UUID]]) -> list[str | None]:
                found = await listing.member_roles(self.db, keys)
                return [found.get(key) for key in keys]
            self._memberships = DataLoader(load)
        return await self._memberships.load((user_id, project_id))

    def by_id(self, table: str) -> DataLoader[UUID, asyncpg.Record | None]:
        if table not in self._by_id:
            async def load(ids: list[UUID]) -> list[asyncpg.Record | None]:
                found = await listing.rows_by_id(self.db, table, ids)
                return [found.get(i) for i in ids]
            self._by_id[table] = DataLoader(load)
        return self._by_id[table]

    async def row(self, table: str, db_id: UUID) -> asyncpg.Record | None:
        return await self.by_id(table).load(db_id)

    async def page(self, spec: ListSpec, parent_id: UUID | None, args: ListArgs) -> Page[asyncpg.Record]:
        if spec.name not in self._pages:
            self._pages[spec.name] = DataLoader(lambda keys: self._load_pages(spec, keys))
        return await self._pages[spec.name].load((parent_id, args))

    async def count(self, spec: ListSpec, parent_id: UUID | None, filters: tuple[Filter, ...]) -> int:
        if spec.name not in self._counts:
            self._counts[spec.name] = DataLoader(lambda keys: self._load_counts(spec, keys))
        return await self._counts[spec.name].load((parent_id, filters))

    async def _load_pages(self, spec: ListSpec,
                          keys: list[tuple[UUID | None, ListArgs]]) -> list[Page[asyncpg.Record]]:
        by_args: dict[ListArgs, list[UUID | None]] = defaultdict(list)
        for parent_id, args in keys:
            by_args[args].append(parent_id)
        pages: dict[tuple[UUID | None, ListArgs], Page[asyncpg.Record]] = {}
        for args, parent_ids in by_args.items():
            grouped = await listing.fetch_pages(
                self.db, spec, [p for p in parent_ids if p is not None], first=args.first,
                after=_keyset(spec, args.after), filters=args.filters, sort_column=args.sort_column,
                descending=args.descending)
            sort = args.sort_column or spec.sort_column

            def cursor_of(row: asyncpg.Record, sort: str = sort) -> str:
                return encode_cursor(row[sort], row["id"])

            for parent_id in parent_ids:
                found = grouped.get(parent_id, [])
                pages[(parent_id, args)] = Page(found[:args.first], len(found) > args.first, args.after is not None,
                                                cursor_of)
        return [pages[key] for key in keys]

    async def _load_counts(self, spec: ListSpec, keys: list[tuple[UUID | None, tuple[Filter, ...]]]) -> list[int]:
        by_filters: dict[tuple[Filter, ...], list[UUID | None]] = defaultdict(list)
        for parent_id, filters in keys:
            by_filters[filters].append(parent_id)
        counts: dict[tuple[UUID | None, tuple[Filter, ...]], int] = {}
        for filters, parent_ids in by_filters.items():
            found = await listing.count_rows(self.db, spec, [p for p in parent_ids if p is not None], filters)
            for parent_id in parent_ids:
                counts[(parent_id, filters)] = found.get(parent_id, 0)
        return [counts[key] for key in keys]


def _keyset(spec: ListSpec, cursor: str | None) -> Keyset | None:
    """The sort value and row id an `after` cursor holds, the id typed as the list's ids are."""
    if not cursor:
        return None
    sort_value, row_id = decode_cursor(cursor)
    return sort_value, _int_id(row_id) if spec.integer_ids else as_uuid(row_id)


def _int_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError("after: malformed cursor", argument="after") from None
