"""Batches ClickHouse has not acknowledged, kept on disk until it has: never dropped.

One batch per file, in the Arrow IPC file format (zstd-compressed): a versioned, language-neutral format
that carries its own schema, so a file outlives the code that wrote it and can be read by any Arrow tool
(ClickHouse itself: `SELECT * FROM file('….arrow', Arrow)`). Column types are inferred by pyarrow from the
Python values, so reading a file back yields the values that were handed to the writer (aware datetime at
microsecond precision, float/int lists, bools, strings; UUIDs as their bytes), and ClickHouse converts them
exactly as it would have on the first attempt. Conversion runs in chunks of rows, so the worker thread doing
it never holds the GIL (and stalls the event loop) for long.

A file appears only complete (temp file, fsync, rename, fsync of the folder). Its name,
`<time_ns>-<batch_id>-<rows>.arrow`, sorts in creation order and tells the batch id (the insert
deduplication token) and row count without opening it; batch ids make names unique, so several writers
may share a folder.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

SUFFIX = ".arrow"
_NAME = re.compile(r"(?P<time>\d{20})-(?P<batch_id>[0-9a-f]{32})-(?P<rows>\d+)\.arrow")
_CHUNK_ROWS = 2048
_STALE_TEMP_S = 3600.0
_FORMAT_VERSION = b"1"


@dataclass(frozen=True)
class SpooledBatch:
    path: Path
    batch_id: str
    rows: int


class Spool:
    """A folder of spooled batches. Every method does blocking I/O: call them from a worker thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        """Create the folder and delete temp files a crashed process left half-written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - _STALE_TEMP_S
        for temp in self.directory.glob(".*.tmp"):
            if temp.stat().st_mtime < cutoff:
                temp.unlink(missing_ok=True)

    def pending(self) -> list[SpooledBatch]:
        """Spooled batches, oldest first (files not named by `write` are ignored)."""
        batches = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if name := _NAME.fullmatch(path.name):
                batches.append(SpooledBatch(path, name["batch_id"], int(name["rows"])))
        return batches

    def write(self, batch_id: str, columns: Sequence[str], rows: Sequence[Sequence[Any]] | pa.Table) -> SpooledBatch:
        """Store a non-empty batch (rows, or an Arrow table received by the ingest endpoint) durably; `batch_id`
        names it in the file name (letters, digits)."""
        arrow = rows if isinstance(rows, pa.Table) else _to_arrow(columns, rows)
        table = arrow.replace_schema_metadata(
            {"benchlab.spool_format": _FORMAT_VERSION, "benchlab.batch_id": batch_id})
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as writer:
            writer.write_table(table)
        path = self.directory / f"{time.time_ns():020d}-{batch_id}-{len(rows)}{SUFFIX}"
        temp = self.directory / f".{path.name}.tmp"
        with open(temp, "wb") as file:
            file.write(sink.getvalue())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        _fsync_directory(self.directory)
        return SpooledBatch(path, batch_id, len(rows))

    def read(self, batch: SpooledBatch) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The batch's column names and rows as they were written, except that UUIDs come back as their 16
        bytes (`uuid.bytes`): clickhouse-connect stores those as the same UUID, and building `uuid.UUID`
        objects would cost as much as the rest of the read."""
        with pa.memory_map(str(batch.path)) as source:
            reader = ipc.open_file(source)
            rows: list[tuple[Any, ...]] = []
            for index in range(reader.num_record_batches):
                chunk = reader.get_batch(index)
                rows.extend(zip(*(_to_python(column) for column in chunk.columns), strict=True))
            return list(reader.schema.names), rows

    def remove(self, batch: SpooledBatch) -> None:
        batch.path.unlink(missing_ok=True)  # another writer sharing the folder may have replayed it

    def quarantine(self, batch: SpooledBatch) -> Path:
        """Set an unreadable file aside (kept for inspection, no longer retried)."""
        target = batch.path.with_suffix(".unreadable")
        os.replace(batch.path, target)
        return target


def _to_arrow(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Rows (at least one) to a table chunk by chunk; chunks whose inferred types differ (an int 0 in a float column,
    only empty lists) are promoted to a common type."""
    chunks = []
    for start in range(0, len(rows), _CHUNK_ROWS):
        values = zip(*rows[start:start + _CHUNK_ROWS], strict=True)
        chunks.append(pa.Table.from_arrays([pa.array(column) for column in values], names=list(columns)))
    return pa.concat_tables(chunks, promote_options="permissive")


def _to_python(column: pa.Array) -> list[Any]:
    return column.storage.to_pylist() if column.type == pa.uuid() else column.to_pylist()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
