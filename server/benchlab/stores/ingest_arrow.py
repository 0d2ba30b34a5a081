"""Ingest format v2: an Arrow IPC stream per batch (docs/ingest.md), for producers that send many rows.

Format v1 (JSON lines, stores/ingest_format.py) costs Python work per value on both ends: about 20,000 rows per
second per core for request rows with their inter-event gaps. v2 carries the columns as Arrow arrays, which
both ends convert in C: the server checks the schema once per batch and the values column by column, and hands
the table to ClickHouse as Arrow. Workers relaying their rows through a server use v2.

The schema is derived from the same column list as v1 (`TABLES`): UUIDs as Arrow's `arrow.uuid` extension
(16 bytes), timestamps as `timestamp[us, UTC]`, unsigned integers as the matching `uint8/16/32`, Float32 and
Float64 columns as `float`/`double`, arrays as `list<...>`, strings as `string`. A column left out takes its
default (as in v1); a required column left out, an unknown column, or a column of another type refuses the
batch (400, naming the column and the type it needs). Row by row: a null anywhere, a non-finite number, or a
second row with the same key rejects that row (its 1-based index is its `line`), and the other rows are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc

from benchlab.stores.ingest_format import IngestColumn, IngestFormatError, IngestTable, Kind, RejectedRow

FORMAT_VERSION = 2
CONTENT_TYPE = "application/vnd.apache.arrow.stream"
_UUID = pa.uuid()


def arrow_type(column: IngestColumn) -> pa.DataType:
    """The Arrow type a column travels as."""
    kind, ch_type = column.kind, column.clickhouse_type
    if kind is Kind.UUID:
        return _UUID
    if kind is Kind.STR:
        return pa.string()
    if kind is Kind.BOOL:
        return pa.bool_()
    if kind is Kind.DATETIME:
        return pa.timestamp("us", tz="UTC")
    if kind in (Kind.INT, Kind.INT_LIST):
        element = {255: pa.uint8(), 65535: pa.uint16(), 2 ** 32 - 1: pa.uint32()}[int(column.maximum or 0)]
        return element if kind is Kind.INT else pa.list_(element)
    element = pa.float32() if "Float32" in ch_type else pa.float64()
    return element if kind is Kind.FLOAT else pa.list_(element)


def arrow_schema(table: IngestTable) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(table.specs[name])) for name in table.columns])


@dataclass
class ArrowBatch:
    table: pa.Table               # accepted rows, columns in COLUMNS order, ready for an Arrow insert
    rejected: list[RejectedRow]   # by 1-based row index
    rows: int                     # rows received


def encode_arrow(table: IngestTable, rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows in COLUMNS order, as the engine builds them, as a v2 body (LZ4-compressed IPC stream)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
    arrays = [_array(table.specs[name], values) for name, values in zip(table.columns, columns, strict=True)]
    batch = pa.Table.from_arrays(arrays, schema=arrow_schema(table))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(batch)
    return bytes(sink.getvalue().to_pybytes())


def decode_arrow(table: IngestTable, body: bytes, *, max_rows: int) -> ArrowBatch:
    """Read a v2 body; whole-batch problems raise IngestFormatError, row problems reject those rows."""
    try:
        received = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestFormatError(f"the body is not an Arrow IPC stream ({exc}); send one stream per batch "
                                f"(Content-Type {CONTENT_TYPE})") from None
    if received.num_rows > max_rows:
        raise IngestFormatError(f"the batch holds {received.num_rows} rows, more than the limit of {max_rows} rows "
                                "per batch; split the batch", limit=max_rows)
    if received.num_rows == 0:
        raise IngestFormatError("the stream holds no rows")
    unknown = sorted(set(received.column_names) - set(table.columns))
    if unknown:
        raise IngestFormatError(f"unknown column(s) {', '.join(unknown)}; the {table.name} columns are listed in "
                                "docs/ingest.md")
    missing = sorted(table.required - set(received.column_names))
    if missing:
        raise IngestFormatError(f"required column(s) {', '.join(missing)} missing")
    n = received.num_rows
    arrays = []
    for name in table.columns:
        spec, wanted = table.specs[name], arrow_type(table.specs[name])
        if name not in received.column_names:
            arrays.append(_array(spec, [spec.default] * n))
            continue
        column = received.column(name)
        if column.type != wanted:
            try:
                column = column.cast(wanted, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise IngestFormatError(f"column {name} is {column.type}; send {wanted} ({exc})") from None
        arrays.append(column)
    batch = pa.Table.from_arrays(arrays, schema=arrow_schema(table))
    bad = _bad_rows(table, batch)
    rejected = [RejectedRow(index + 1, reason) for index, reason in sorted(bad.items())]
    if bad:
        keep = pa.array([index not in bad for index in range(n)])
        batch = batch.filter(keep)
    return ArrowBatch(batch, rejected, n)


def _bad_rows(table: IngestTable, batch: pa.Table) -> dict[int, str]:
    """Row index -> why: nulls, non-finite numbers, duplicate keys (first reason per row)."""
    bad: dict[int, str] = {}

    def mark(mask: pa.ChunkedArray | pa.Array, reason: str) -> None:
        for index in pc.indices_nonzero(pc.fill_null(mask, True)).to_pylist():
            bad.setdefault(index, reason)

    for name in table.columns:
        column = batch.column(name)
        if column.null_count:
            mark(column.is_null(), f"{name} is null; leave the column out for its default, or send a value")
        kind = table.specs[name].kind
        if kind is Kind.FLOAT:
            mark(pc.invert(pc.is_finite(column)), f"{name} is not a finite number")
        elif kind is Kind.FLOAT_LIST:
            flat = pc.list_flatten(column)
            if len(flat) and not pc.all(pc.is_finite(flat)).as_py():
                finite = pa.array([all(_finite(v) for v in values or []) for values in column.to_pylist()])
                mark(pc.invert(finite), f"{name} holds a number that is not finite")
    if len(table.key) == 1 and pc.count_distinct(_plain(batch.column(table.key[0]))).as_py() == batch.num_rows:
        return bad  # no duplicates: the common case, answered in C
    seen: dict[Any, int] = {}
    keys = zip(*(_plain(batch.column(name)).to_pylist() for name in table.key), strict=True)
    for index, key in enumerate(keys):
        first = seen.setdefault(key, index)
        if first != index:
            bad.setdefault(index, f"duplicate of row {first + 1}: the same {', '.join(table.key)}; send each row once")
    return bad


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """UUIDs as their 16 bytes (hashable and comparable in C); other columns as they are."""
    return pc.cast(column, pa.binary(16)) if column.type == _UUID else column


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def _array(spec: IngestColumn, values: Iterable[Any]) -> pa.Array:
    wanted = arrow_type(spec)
    if spec.kind is Kind.UUID:
        storage = pa.array([value.bytes if isinstance(value, UUID) else UUID(str(value)).bytes for value in values],
                           type=pa.binary(16))
        return pa.ExtensionArray.from_storage(_UUID, storage)
    return pa.array(list(values), type=wanted)
