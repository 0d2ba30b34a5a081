"""Exported rows read back (JSONL, CSV, Parquet) and normalised for comparison with what ClickHouse holds."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow.parquet as pq

from benchlab.exports import pages
from benchlab.exports.scope import ExportFormat, ExportTable
from benchlab.stores.ingest_format import TABLES, Kind
from tests.helpers.server_process import child_env


def normal(table: ExportTable, row: dict[str, Any]) -> dict[str, Any]:
    """A row's values in one comparable form whatever format they came from: exact bits for Float32."""
    specs = TABLES[pages.LAYOUTS[table].name].specs
    out = {}
    for name, value in row.items():
        spec = specs[name]
        if spec.kind is Kind.UUID:
            value = str(UUID(str(value)))
        elif spec.kind is Kind.DATETIME:
            value = datetime.fromisoformat(value) if isinstance(value, str) else value
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        elif spec.kind is Kind.BOOL:
            value = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else bool(value)
        elif spec.kind is Kind.INT:
            value = int(value)
        elif spec.kind is Kind.FLOAT:
            value = _f32(float(value)) if "Float32" in spec.clickhouse_type else float(value)
        elif spec.kind in (Kind.FLOAT_LIST, Kind.INT_LIST):
            values = json.loads(value) if isinstance(value, str) else list(value)
            value = [_f32(float(v)) for v in values] if spec.kind is Kind.FLOAT_LIST else [int(v) for v in values]
        out[name] = value
    return out


def _f32(value: float) -> bytes:
    return struct.pack("<f", value)


def read_back(fmt: ExportFormat, data: bytes) -> list[dict[str, Any]]:
    if fmt is ExportFormat.JSONL:
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    if fmt is ExportFormat.CSV:
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    return pq.read_table(io.BytesIO(data)).to_pylist()



_READ_SORTED = textwrap.dedent("""
    import asyncio, json, sys
    from benchlab.exports import pages
    from benchlab.exports.scope import ExportTable
    from benchlab.stores.clickhouse import ClickHouseStore

    async def main(url, table, where):
        store = ClickHouseStore(url, "benchlab")
        await store.start()
        layout = pages.LAYOUTS[ExportTable(table)]
        key = ", ".join(expression for expression, _ in layout.key)
        try:
            result = await store.query(f"SELECT {', '.join(layout.columns)} FROM {layout.name} WHERE {where} "
                                       f"ORDER BY project_id, {key}", caller="tests")
        finally:
            await store.close()
        print(json.dumps(result.dicts(), default=lambda v: v.isoformat() + "+00:00" if hasattr(v, "isoformat")
                         else str(v)))

    asyncio.run(main(*sys.argv[1:]))
""")


def stored_sorted(data_dir: Path, table: ExportTable, where: str) -> list[dict[str, Any]]:
    """A data dir's rows in export order, read by another process (chDB: one engine path per process)."""
    result = subprocess.run([sys.executable, "-c", _READ_SORTED, f"chdb://{data_dir / 'clickhouse'}", table.value,
                             where], capture_output=True, text=True, timeout=120, env=child_env({}))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
