"""Batches the ingest endpoint answered, by idempotency key (postgres/migrations/0010): replays get the first
answer and write nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchlab.stores.postgres import PgConnection

KEEP_S = 24 * 3600


@dataclass(frozen=True)
class SeenBatch:
    body_sha256: str
    response: dict[str, Any]


async def seen(conn: PgConnection, caller: str, table: str, key: str) -> SeenBatch | None:
    row = await conn.fetchrow("SELECT body_sha256, response FROM ingest_batches WHERE caller = $1 AND "
                              "table_name = $2 AND idempotency_key = $3", caller, table, key)
    return SeenBatch(row["body_sha256"], row["response"]) if row else None


async def remember(conn: PgConnection, caller: str, table: str, key: str, body_sha256: str,
                   response: dict[str, Any]) -> None:
    await conn.execute("INSERT INTO ingest_batches (caller, table_name, idempotency_key, body_sha256, response) "
                       "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING", caller, table, key, body_sha256,
                       response)


async def prune(conn: PgConnection) -> int:
    result = await conn.execute("DELETE FROM ingest_batches WHERE created_at < now() - make_interval(secs => $1)",
                                KEEP_S)
    return int(result.split()[-1])
