"""The encoders: an export as a stream of bytes chunks in JSONL, CSV or Parquet (docs/exports.md).

JSONL and CSV are written by ClickHouse itself, page by page (its JSONEachRow and CSV formats, in C++, about
ten times faster than Python's json per row): UUIDs as text, times as ISO 8601 in UTC with microseconds
(`2025-01-02T03:04:05.123456Z`), floats in their shortest form that reads back to the same stored value (a
Float32 0.1 is `0.1`), booleans `true`/`false`. In CSV, a header row of column names, then RFC 4180 rows
(every text quoted, `"` doubled, newlines kept inside quotes) and arrays as their JSON text in one cell
(`"[12.5,3.25]"`; the two array columns hold numbers only). Parquet is written with pyarrow's `ParquetWriter`,
one row group per page, with Arrow types that keep what ClickHouse holds: UUIDs as 36-character strings (every
Parquet reader shows them as is; 16-byte binary would need a logical-type-aware reader), DateTime64(6) as
`timestamp[us, tz=UTC]`, Float32 as `float`, UInt8/16/32 as `uint8/16/32`, arrays as lists. Every format keeps
the table's column order (stores/request_events.py, stores/scores.py). Only one page is in memory at a time.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq

from benchlab.errors import NotFoundError
from benchlab.exports import pages
from benchlab.exports import scope as scopes
from benchlab.exports.datasets import item_lines
from benchlab.exports.scope import ExportFormat, ExportScope, ExportTable
from benchlab.stores import datasets as dataset_store
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.ingest_arrow import arrow_type
from benchlab.stores.ingest_format import TABLES, Kind

CONTENT_TYPES = {ExportFormat.JSONL: "application/x-ndjson", ExportFormat.CSV: "text/csv; charset=utf-8",
                 ExportFormat.PARQUET: "application/vnd.apache.parquet"}
_CLICKHOUSE_FORMATS = {ExportFormat.JSONL: "JSONEachRow", ExportFormat.CSV: "CSV"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
DATASET_CHUNK_ITEMS = 1000


def parquet_schema(table: ExportTable) -> pa.Schema:
    ingest = TABLES[pages.LAYOUTS[table].name]
    return pa.schema([pa.field(name, pa.string() if ingest.specs[name].kind is Kind.UUID
                               else arrow_type(ingest.specs[name]), nullable=False)
                      for name in pages.LAYOUTS[table].columns])


@dataclass
class PreparedExport:
    """An export checked and resolved (everything that can fail on bad input has), ready to stream."""

    scope: ExportScope
    filename: str
    content_type: str
    _store: ClickHouseStore
    _filter: pages.Filter | None = None
    _pg: asyncpg.Pool | None = None          # DATASET: where the version's items are read when streaming starts
    _dataset_version: UUID | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file, chunk by chunk (one page each; Parquet: a row group each, then the footer)."""
        if self.scope.table is ExportTable.DATASET:
            # A version holds at most what one import or spec may (100,000 items, 20 MB): read at once.
            assert self._pg is not None and self._dataset_version is not None
            async with self._pg.acquire() as conn:
                items = await dataset_store.version_items(conn, self._dataset_version)
            for start in range(0, len(items), DATASET_CHUNK_ITEMS):
                yield item_lines(items[start:start + DATASET_CHUNK_ITEMS])
            return
        assert self._filter is not None
        layout = pages.LAYOUTS[self.scope.table]
        if self.scope.format is ExportFormat.PARQUET:
            async for chunk in _parquet(self._store, layout, self._filter, parquet_schema(self.scope.table)):
                yield chunk
            return
        fmt = _CLICKHOUSE_FORMATS[self.scope.format]
        if self.scope.format is ExportFormat.CSV:
            yield (",".join(layout.columns) + "\n").encode()

        async def fetch(condition: str, parameters: dict[str, Any]) -> tuple[bytes, int, bool]:
            return await pages.text_page(self._store, layout, fmt, condition, parameters)

        async for page in pages.pages(self._store, layout, self._filter, fetch):
            yield page
            del page  # before the next page is read


async def prepare_export(pg: asyncpg.Pool, store: ClickHouseStore, scope: ExportScope) -> PreparedExport:
    """Check the scope against the stores (the run, the dataset version, the passes) before a byte is sent."""
    scope = scopes.checked_scope(scope)
    async with pg.acquire() as conn:
        if scope.run_id is not None:
            project_of_run = await scopes.run_project(conn, scope.run_id)
            if project_of_run != scope.project_id:
                raise NotFoundError(f"run: no run with id {scope.run_id} in this project")
        slug = await conn.fetchval("SELECT slug FROM projects WHERE id = $1", scope.project_id)
        if slug is None:
            raise NotFoundError(f"project: no project with id {scope.project_id}")
        if scope.table is ExportTable.DATASET:
            ref = await scopes.dataset_version(conn, scope)
            return PreparedExport(scope, _safe(f"{ref.name}-v{ref.version}.jsonl"),
                                  CONTENT_TYPES[ExportFormat.JSONL], store, _pg=pg, _dataset_version=ref.version_id)
        superseded = [] if scope.table is ExportTable.REQUESTS or scope.all_passes else \
            await scopes.superseded_passes(conn, scope)
    runs = await pages.source_runs(store, scope) if scope.table is ExportTable.SCORES and scope.source else None
    where = pages.scope_filter(scope, superseded_passes=superseded, source_runs=runs)
    subject = f"run-{scope.run_id}" if scope.run_id is not None else slug
    return PreparedExport(scope, _safe(f"{scope.table.value}-{subject}.{scope.format.value}"),
                          CONTENT_TYPES[scope.format], store, where)


async def _parquet(store: ClickHouseStore, layout: pages.TableLayout, where: pages.Filter,
                   schema: pa.Schema) -> AsyncIterator[bytes]:
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        async def fetch(condition: str, parameters: dict[str, Any]) -> tuple[pa.Table, int, bool]:
            return await pages.arrow_page(store, layout, condition, parameters)

        async for page in pages.pages(store, layout, where, fetch):
            # Compressing a row group is CPU work: off the event loop, which serves other requests meanwhile.
            await asyncio.to_thread(writer.write_table, page.cast(schema))
            del page
            yield sink.drain()
    finally:
        await asyncio.to_thread(writer.close)
    yield sink.drain()


class _Chunks(io.RawIOBase):
    """A write-only file for ParquetWriter whose bytes are taken out after each row group."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _safe(filename: str) -> str:
    """A file name any browser and shell takes (Content-Disposition, the CLI's default output)."""
    return _UNSAFE_NAME.sub("_", filename).strip("._") or "export"

