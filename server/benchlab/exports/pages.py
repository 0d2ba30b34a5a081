"""A table's rows in scope, read from ClickHouse page by page in the table's sort order (keyset pagination).

Why pages and not one streamed query (measured in benchmarks/exports.py): clickhouse-connect's
`query_arrow_stream` and `raw_stream` materialize the whole result on chDB (Arrow has a global header; a query
with settings cannot stream there), and one query open for a whole download is cut by `max_execution_time`
when the client reads slowly, and holds a server connection meanwhile. Each page here is a short query that
ends before the next begins, the same on chDB and on a server:

1. the page's last key: `SELECT <sort key> ... WHERE <scope> AND <key> > <previous last key> ORDER BY <sort key>
   LIMIT 1 OFFSET n-1` reads the sort-key columns only, in index order;
2. the page itself: `<key> > previous AND <key> <= last`, in the format asked for. Rows with equal keys (the
   tables are plain MergeTree: nothing forbids a duplicate) are never split across pages, so none is lost.

Pages hold at most `max_rows` rows and about `target_bytes` (the next page's row count follows the bytes per
row seen so far): memory stays flat whatever the export's size, even with 64 KiB outputs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from benchlab.exports.scope import ExportScope, ExportTable
from benchlab.stores import request_events, scores
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.ingest_format import TABLES, Kind

MAX_PAGE_ROWS = 50_000
FIRST_PAGE_ROWS = 2_000
MIN_PAGE_ROWS = 100
TARGET_PAGE_BYTES = 8 * 1024 * 1024

# ClickHouse's own text formats: ISO 8601 times ("2025-01-02T03:04:05.123456Z"), shortest round-trip floats
# (a Float32 0.1 is written 0.1 and reads back to the same Float32), no escaped slashes.
TEXT_SETTINGS = {"date_time_output_format": "iso", "output_format_json_escape_forward_slashes": 0,
                 "output_format_json_quote_64bit_integers": 0, "output_format_csv_crlf_end_of_line": 0}
# prefer_column_name_to_alias: the page condition names the UUID columns, not their `toString(...) AS` aliases.
ARROW_SETTINGS = {"output_format_arrow_low_cardinality_as_dictionary": 0, "prefer_column_name_to_alias": 1}


@dataclass(frozen=True)
class TableLayout:
    name: str
    columns: tuple[str, ...]            # the table's column order, which every format keeps
    key: tuple[tuple[str, str], ...]    # the sort key after project_id: (expression, ClickHouse type)


LAYOUTS: dict[ExportTable, TableLayout] = {
    ExportTable.REQUESTS: TableLayout(request_events.TABLE, request_events.COLUMNS, (
        ("toStartOfHour(ts)", "DateTime('UTC')"), ("run_id", "UUID"), ("model", "String"), ("event_id", "UUID"))),
    ExportTable.SCORES: TableLayout(scores.TABLE, scores.COLUMNS, (
        ("run_id", "UUID"), ("pass_id", "UUID"), ("evaluator", "String"), ("score_name", "String"),
        ("event_id", "UUID"))),
}


@dataclass(frozen=True)
class Filter:
    """The scope as a WHERE clause with bound parameters."""

    sql: str
    parameters: dict[str, Any]


def scope_filter(scope: ExportScope, *, superseded_passes: Sequence[Any] = (),
                 source_runs: Sequence[Any] | None = None) -> Filter:
    conditions = ["project_id = {project:UUID}"]
    parameters: dict[str, Any] = {"project": scope.project_id}
    if scope.run_id is not None:
        conditions.append("run_id = {run:UUID}")
        parameters["run"] = scope.run_id
    if scope.start is not None:
        conditions.append("ts >= {start:DateTime64(6, 'UTC')}")
        parameters["start"] = scope.start
    if scope.end is not None:
        conditions.append("ts < {end:DateTime64(6, 'UTC')}")
        parameters["end"] = scope.end
    if scope.source is not None:
        if scope.table is ExportTable.REQUESTS:
            conditions.append("source = {source:String}")
            parameters["source"] = scope.source
        else:  # scores carry no source: a score belongs to its run's source
            conditions.append("run_id IN {source_runs:Array(UUID)}")
            parameters["source_runs"] = list(source_runs or ())
    if superseded_passes:
        conditions.append("pass_id NOT IN {superseded:Array(UUID)}")
        parameters["superseded"] = list(superseded_passes)
    return Filter(" AND ".join(conditions), parameters)


async def source_runs(store: ClickHouseStore, scope: ExportScope) -> list[Any]:
    """The runs whose requests come from the scope's source (for scores, which have no source column)."""
    request_scope = ExportScope(ExportTable.REQUESTS, scope.format, scope.project_id, scope.run_id, scope.start,
                                scope.end, scope.source)
    where = scope_filter(request_scope)
    result = await store.query(f"SELECT DISTINCT run_id FROM request_events WHERE {where.sql}", where.parameters,
                               caller="export-source-runs")
    return [row[0] for row in result.rows]


def arrow_select(layout: TableLayout) -> str:
    """UUIDs as their text (36 characters), everything else as stored."""
    kinds = TABLES[layout.name].kinds
    return ", ".join(f"toString({name}) AS {name}" if kinds[name] is Kind.UUID else name for name in layout.columns)


async def pages(store: ClickHouseStore, layout: TableLayout, where: Filter,
                fetch: Callable[[str, dict[str, Any]], Awaitable[tuple[Any, int, bool]]], *,
                max_rows: int | None = None, target_bytes: int | None = None) -> AsyncIterator[Any]:
    """Every page of the scope, in sort order: `fetch(condition_sql, parameters)` reads one page (text bytes
    or an Arrow table) and returns it with its size in bytes and whether it holds rows; the bytes per row of a
    full page steer the next page's row count."""
    max_rows = max_rows or MAX_PAGE_ROWS
    target_bytes = target_bytes or TARGET_PAGE_BYTES
    key_sql = ", ".join(expression for expression, _ in layout.key)
    order = f"project_id, {key_sql}"
    after: tuple[Any, ...] | None = None
    rows = min(FIRST_PAGE_ROWS, max_rows)
    while True:
        parameters = dict(where.parameters)
        condition = where.sql
        if after is not None:
            condition += f" AND {_key_bound(layout, 'after', after, parameters)}"
        boundary = await store.query(
            f"SELECT {key_sql} FROM {layout.name} WHERE {condition} ORDER BY {order} "
            "LIMIT 1 OFFSET {offset:UInt64}", {**parameters, "offset": rows - 1}, caller="export-page-key")
        last = tuple(_aware(value) for value in boundary.rows[0]) if boundary.rows else None
        if last is not None:
            condition += f" AND {_key_bound(layout, 'last', last, parameters, above=False)}"
        page, size, has_rows = await fetch(condition, parameters)
        if has_rows:
            yield page
        del page  # before the next page is read: one page in memory, not two
        if last is None:
            return
        after = last
        per_row = max(size / rows, 1.0)  # a page with a last key holds at least `rows` rows
        rows = int(min(max_rows, max(min(MIN_PAGE_ROWS, max_rows), target_bytes / per_row)))


def _key_bound(layout: TableLayout, prefix: str, values: tuple[Any, ...], parameters: dict[str, Any], *,
               above: bool = True) -> str:
    """`(key) > (values)` (or `<=` when not `above`), spelled out as `k0 > v0 OR (k0 = v0 AND k1 > v1) OR ...`:
    ClickHouse's primary index reads each conjunction, where it cannot read a tuple comparison, so a page reads
    the granules it returns and not every granule from the start of the hour."""
    placeholders = []
    for index, ((_, type_name), value) in enumerate(zip(layout.key, values, strict=True)):
        parameters[f"{prefix}{index}"] = value
        placeholders.append(f"{{{prefix}{index}:{type_name}}}")
    expressions = [expression for expression, _ in layout.key]
    strict, last = (">", ">") if above else ("<", "<=")
    terms = []
    for depth in range(len(expressions)):
        equal = [f"{expressions[i]} = {placeholders[i]}" for i in range(depth)]
        operator = last if depth == len(expressions) - 1 else strict
        terms.append(" AND ".join([*equal, f"{expressions[depth]} {operator} {placeholders[depth]}"]))
    return "(" + " OR ".join(f"({term})" for term in terms) + ")"


def _aware(value: Any) -> Any:
    """clickhouse-connect returns naive UTC datetimes; bound back, they must say they are UTC."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


async def text_page(store: ClickHouseStore, layout: TableLayout, fmt: str, condition: str,
                    parameters: dict[str, Any]) -> tuple[bytes, int, bool]:
    """One page in a ClickHouse text format (`JSONEachRow`, `CSV`): the bytes, their size, whether any rows."""
    key_sql = ", ".join(expression for expression, _ in layout.key)
    data = await store.query_raw(
        f"SELECT {', '.join(layout.columns)} FROM {layout.name} WHERE {condition} ORDER BY project_id, {key_sql}",
        parameters, fmt=fmt, caller="export-page", settings=TEXT_SETTINGS)
    return data, len(data), bool(data)


async def arrow_page(store: ClickHouseStore, layout: TableLayout, condition: str,
                     parameters: dict[str, Any]) -> tuple[pa.Table, int, bool]:
    key_sql = ", ".join(expression for expression, _ in layout.key)
    table = await store.query_arrow(
        f"SELECT {arrow_select(layout)} FROM {layout.name} WHERE {condition} ORDER BY project_id, {key_sql}",
        parameters, caller="export-page", settings=ARROW_SETTINGS)
    return table, table.nbytes, table.num_rows > 0

