"""One job on the configured PostgreSQL for a short administrative command, whether `benchlab serve` runs or not.

The way `benchlab login-link` reaches the database (commands/login_link.py explains why it is safe): with
external PostgreSQL (BENCHLAB_DATABASE_URL), there, migrated first as `benchlab run` does. With the embedded
one and nobody holding the data dir, the command locks it and starts PostgreSQL for a moment (migrating a fresh
install). When a `benchlab serve` (or `run`) holds it, its PostgreSQL listens on a Unix socket inside the
data dir and the command connects there, as the server does; the server migrated it when it started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from benchlab.config import Settings, redact_text, redact_url
from benchlab.errors import BenchlabError, DataDirBusyError, StoreUnavailableError
from benchlab.stores.embedded_postgres import EmbeddedPostgres, socket_is_live
from benchlab.stores.local import local_stores
from benchlab.stores.postgres import URL_VARIABLE, PgConnection, connect, describe_connect_error
from benchlab.stores.postgres_migrations import migrate_postgres

T = TypeVar("T")
Job = Callable[[PgConnection], Awaitable[T]]


class Reached(Enum):
    EXTERNAL = "external"    # BENCHLAB_DATABASE_URL
    STARTED = "started"      # embedded, started for this command: no server runs on the data dir
    RUNNING = "running"      # embedded, owned by the benchlab process holding the data dir


def on_configured_postgres(settings: Settings, job: Job[T]) -> tuple[T, Reached]:
    """Run `job` on one connection to the configured PostgreSQL; returns its result and how it was reached."""
    if not settings.embedded_postgres:
        assert settings.database_url
        return asyncio.run(_run(settings.database_url, job, migrate=True)), Reached.EXTERNAL
    try:
        with local_stores(settings) as resolved:  # no server: the data dir is ours for a moment
            assert resolved.database_url
            return asyncio.run(_run(resolved.database_url, job, migrate=True)), Reached.STARTED
    except DataDirBusyError:
        pass
    postgres = EmbeddedPostgres(settings.data_dir)
    if not socket_is_live(postgres.socket_dir):
        raise BenchlabError(f"data dir {settings.data_dir} is in use by another benchlab process, but its PostgreSQL "
                            f"does not answer on {postgres.socket_dir}; wait until it has started, then try again")
    return asyncio.run(_run(postgres.url, job, migrate=False)), Reached.RUNNING


async def _run(database_url: str, job: Job[T], *, migrate: bool) -> T:
    try:
        conn = await connect(database_url)
    except Exception as exc:  # one line naming the setting, as the pool does (stores/postgres.py)
        raise StoreUnavailableError(URL_VARIABLE, redact_url(database_url),
                                    redact_text(describe_connect_error(exc), database_url)) from None
    try:
        if migrate:
            await migrate_postgres(conn)
        return await job(conn)
    finally:
        await conn.close()
