"""Embedded-mode ownership: the data-dir lock and the embedded PostgreSQL, for as long as a command runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace

from benchlab.config import Settings
from benchlab.stores.datadir import DataDirLock
from benchlab.stores.embedded_postgres import EmbeddedPostgres

log = logging.getLogger(__name__)


@contextmanager
def local_stores(settings: Settings,
                 starting: Callable[[], AbstractContextManager[object]] = nullcontext) -> Iterator[Settings]:
    """Lock the data dir and start embedded PostgreSQL when the settings call for it.

    Yields the settings with `database_url` resolved. On exit PostgreSQL is stopped and the lock released,
    whatever happened inside. `starting()` wraps PostgreSQL's start, which must not be cut short: a command
    passes what holds its stop signals meanwhile.
    """
    if not settings.owns_data_dir:
        yield settings
        return
    with DataDirLock(settings.data_dir):
        if not settings.embedded_postgres:
            yield settings
            return
        postgres = EmbeddedPostgres(settings.data_dir)
        try:
            with starting():
                url = postgres.start()
            yield replace(settings, database_url=url)
        finally:
            postgres.stop()
