"""PostgreSQL access for one GraphQL request: a pool borrowed per statement, and a statement count.

The count lets a test prove that a nested query costs a fixed number of statements however many rows it
returns (DataLoaders batch every relation); it costs one integer increment per statement. It is the
`stores.listing.Reader` every read of the request goes through.
"""

from __future__ import annotations

from typing import Any

import asyncpg


class RequestDb:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.statements = 0

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self.statements += 1
        async with self.pool.acquire() as conn:
            return await conn.fetch(sql, *args)
