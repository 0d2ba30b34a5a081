"""PostgreSQL connections (asyncpg): the pool, with errors that name the setting to fix, and one JSON codec.

Every connection benchlab opens gets the same codec for `json` and `jsonb`: Python values in, Python values out.
No statement passes JSON text and no reader decodes it by hand.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from benchlab.config import redact_text, redact_url
from benchlab.errors import StoreUnavailableError
from benchlab.stores.store_metrics import count_postgres_errors

log = logging.getLogger(__name__)

URL_VARIABLE = "BENCHLAB_DATABASE_URL"
CONNECT_TIMEOUT_S = 10.0

# What every store function takes: a connection of its own or one borrowed from the pool (a proxy, not a subclass).
PgConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


def describe_connect_error(exc: BaseException) -> str:
    """A one-line reason for a failed connection, without credentials."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "authentication failed (check user and password)"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "database does not exist"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def fetch_one(conn: PgConnection, sql: str, *args: object) -> asyncpg.Record:
    """The row a statement always returns (INSERT … RETURNING, a read by an id the database just gave): its
    absence is a bug, not something a person can fix, so it is a LookupError rather than a BenchlabError."""
    row = await conn.fetchrow(sql, *args)
    if row is None:
        raise LookupError(f"no row returned by: {sql[:80]}")
    return row


async def register_json_codec(conn: PgConnection) -> None:
    """`json`/`jsonb` as Python values on this connection (every pooled connection runs this first)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    """Every pooled connection: the JSON codec, and failed statements counted for /metrics (store_metrics.py)."""
    await register_json_codec(conn)
    conn.add_query_logger(count_postgres_errors)


async def connect(url: str) -> asyncpg.Connection:
    """One connection outside the pool (a short command, a test), with the same JSON codec as the pool."""
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    await register_json_codec(conn)
    return conn


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool and prove it works with one round trip, or raise StoreUnavailableError."""
    try:
        pool = await asyncio.wait_for(
            asyncpg.create_pool(url, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S,
                                command_timeout=60, init=_prepare_connection),
            timeout=CONNECT_TIMEOUT_S + 1,
        )
    except Exception as exc:  # every failure becomes one clear line naming the variable
        # asyncpg may quote part of a URL it cannot parse (a host spec holding half a password): scrub the reason
        raise StoreUnavailableError(URL_VARIABLE, redact_url(url),
                                    redact_text(describe_connect_error(exc), url)) from None
    return pool


async def ping(pool: asyncpg.Pool) -> None:
    """One round trip (readiness checks)."""
    async with pool.acquire(timeout=5) as conn:
        await conn.fetchval("SELECT 1")
