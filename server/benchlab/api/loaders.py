"""Per-request DataLoaders: every relation, list and count of the API is batched into one statement.

A nested query such as projects → experiments → runs costs one statement per level, whatever the number
of rows: children lists of many parents come from one windowed query (`row_number() OVER (PARTITION BY
parent …)`), objects by id from one `id = ANY($1)`. Loaders live in the request context, so their caches
never outlive a request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from strawberry.dataloader import DataLoader

from benchlab.api.db import RequestDb
from benchlab.api.pagination import Page, as_uuid, decode_cursor, encode_cursor
from benchlab.errors import InvalidInputError

Filter = tuple[str, Any]   # an SQL condition with `$?` for its one bound value, and the value


@dataclass(frozen=True)
class ListSpec:
    """A list of rows of `source`, optionally children of a parent row through `parent_column`."""

    name: str
    source: str
    parent_column: str | None
    sort_column: str = "created_at"
    descending: bool = True
    integer_ids: bool = False   # bigint identity ids (the audit log) instead of UUIDs


@dataclass(frozen=True)
class ListArgs:
    first: int
    after: str | None = None
    filters: tuple[Filter, ...] = ()
    sort_column: str | None = None
    descending: bool | None = None


def _conditions(spec: ListSpec, filters: tuple[Filter, ...], params: list[Any],
                parent_ids: Sequence[UUID] | None) -> list[str]:
    conditions = []
    if spec.parent_column is not None:
        params.append(list(parent_ids or []))
        conditions.append(f"{spec.parent_column} = ANY(${len(params)}::uuid[])")
    for template, value in filters:
        if "$?" in template:
            params.append(value)
            template = template.replace("$?", f"${len(params)}")
        conditions.append(template)
    return conditions


def page_query(spec: ListSpec, args: ListArgs, parent_ids: Sequence[UUID] | None) -> tuple[str, list[Any]]:
    params: list[Any] = []
    conditions = _conditions(spec, args.filters, params, parent_ids)
    sort = args.sort_column or spec.sort_column
    descending = spec.descending if args.descending is None else args.descending
    direction = "DESC" if descending else "ASC"
    if args.after:
        sort_value, row_id = decode_cursor(args.after)
        params += [sort_value, _int_id(row_id) if spec.integer_ids else as_uuid(row_id)]
        conditions.append(f"({sort}, id) {'<' if descending else '>'} (${len(params) - 1}, ${len(params)})")
    partition = f"PARTITION BY {spec.parent_column} " if spec.parent_column else ""
    where = " AND ".join(conditions) or "true"
    sql = (f"SELECT * FROM (SELECT t.*, row_number() OVER ({partition}ORDER BY {sort} {direction}, id "
           f"{direction}) AS _rn FROM {spec.source} t WHERE {where}) s WHERE _rn <= {args.first + 1} ORDER BY _rn")
    return sql, params


def count_query(spec: ListSpec, filters: tuple[Filter, ...], parent_ids: Sequence[UUID] | None) -> tuple[str, list]:
    params: list[Any] = []
    where = " AND ".join(_conditions(spec, filters, params, parent_ids)) or "true"
    if spec.parent_column is None:
        return f"SELECT NULL AS parent, count(*) AS n FROM {spec.source} t WHERE {where}", params
    return (f"SELECT {spec.parent_column} AS parent, count(*) AS n FROM {spec.source} t WHERE {where} "
            f"GROUP BY {spec.parent_column}"), params


@dataclass
class Loaders:
    db: RequestDb
    _by_id: dict[str, DataLoader] = field(default_factory=dict)
    _pages: dict[str, DataLoader] = field(default_factory=dict)
    _counts: dict[str, DataLoader] = field(default_factory=dict)
    _memberships: DataLoader | None = None

    async def membership(self, user_id: UUID, project_id: UUID) -> str | None:
        """The user's role in the project, or None (batched: one statement for every check of a request)."""
        if self._memberships is None:
            async def load(keys: list[tuple[UUID, UUID]]) -> list[str | None]:
                rows = await self.db.fetch(
                    "SELECT user_id, project_id, role FROM project_members "
                    "WHERE (user_id, project_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
                    [u for u, _ in keys], [p for _, p in keys])
                found = {(r["user_id"], r["project_id"]): r["role"] for r in rows}
                return [found.get(key) for key in keys]
            self._memberships = DataLoader(load)
        return await self._memberships.load((user_id, project_id))

    def by_id(self, table: str) -> DataLoader[UUID, asyncpg.Record | None]:
        if table not in self._by_id:
            async def load(ids: list[UUID]) -> list[asyncpg.Record | None]:
                rows = await self.db.fetch(f"SELECT * FROM {table} t WHERE id = ANY($1::uuid[])", ids)
                found = {row["id"]: row for row in rows}
                return [found.get(i) for i in ids]
            self._by_id[table] = DataLoader(load)
        return self._by_id[table]

    async def row(self, table: str, db_id: UUID) -> asyncpg.Record | None:
        return await self.by_id(table).load(db_id)

    async def page(self, spec: ListSpec, parent_id: UUID | None, args: ListArgs) -> Page:
        if spec.name not in self._pages:
            self._pages[spec.name] = DataLoader(lambda keys: self._load_pages(spec, keys))
        return await self._pages[spec.name].load((parent_id, args))

    async def count(self, spec: ListSpec, parent_id: UUID | None, filters: tuple[Filter, ...]) -> int:
        if spec.name not in self._counts:
            self._counts[spec.name] = DataLoader(lambda keys: self._load_counts(spec, keys))
        return await self._counts[spec.name].load((parent_id, filters))

    async def _load_pages(self, spec: ListSpec, keys: list[tuple[UUID | None, ListArgs]]) -> list[Page]:
        by_args: dict[ListArgs, list[UUID | None]] = defaultdict(list)
        for parent_id, args in keys:
            by_args[args].append(parent_id)
        pages: dict[tuple[UUID | None, ListArgs], Page] = {}
        for args, parent_ids in by_args.items():
            sql, params = page_query(spec, args, [p for p in parent_ids if p is not None])
            rows = await self.db.fetch(sql, *params)
            grouped: dict[UUID | None, list[asyncpg.Record]] = defaultdict(list)
            for row in rows:
                grouped[row[spec.parent_column] if spec.parent_column else None].append(row)
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
            sql, params = count_query(spec, filters, [p for p in parent_ids if p is not None])
            found = {row["parent"]: row["n"] for row in await self.db.fetch(sql, *params)}
            for parent_id in parent_ids:
                counts[(parent_id, filters)] = found.get(parent_id, 0)
        return [counts[key] for key in keys]


def _int_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError("after: malformed cursor", argument="after") from None
