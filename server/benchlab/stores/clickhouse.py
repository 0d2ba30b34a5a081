"""The one way into ClickHouse: clickhouse-connect, identical for chDB (`chdb://`) and servers (`http(s)://`).

clickhouse-connect's chDB backend is synchronous, and a chDB connection shared between threads returns
wrong results with bound parameters (measured on chdb-core 26.9). So every call runs in a small
thread pool whose threads each own one client; the event loop never blocks. Every query carries
`max_execution_time` and a `log_comment` naming its caller; timeouts and memory limits come back as
`AnalyticsQueryError` asking the user to narrow the filter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from benchlab.config import redact_text, redact_url
from benchlab.errors import InvalidInputError, StoreUnavailableError
from benchlab.stores.store_metrics import count_clickhouse_error

log = logging.getLogger(__name__)

T = TypeVar("T")
URL_VARIABLE = "BENCHLAB_CLICKHOUSE_URL"
_NARROW_CODES = {"TIMEOUT_EXCEEDED", "MEMORY_LIMIT_EXCEEDED", "TOO_MANY_ROWS", "TOO_MANY_BYTES"}


class AnalyticsQueryError(InvalidInputError):
    """A query hit a time or memory limit; the user should narrow the filter."""


@dataclass(frozen=True)
class QueryResult:
    column_names: tuple[str, ...]
    rows: list[Sequence[Any]]  # driver rows: the values' types are the columns' ClickHouse types

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.column_names, row, strict=True)) for row in self.rows]


class ClickHouseStore:
    """Async facade over per-thread clickhouse-connect clients."""

    def __init__(self, url: str, database: str, *, query_timeout_s: int = 30, threads: int = 4) -> None:
        self.url = url
        self.database = database
        self.query_timeout_s = query_timeout_s
        self.backend = "chdb" if url.startswith("chdb:") else "http"
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clickhouse")
        self._local = threading.local()
        self._clients: list[Client] = []
        self._clients_lock = threading.Lock()

    async def start(self) -> None:
        """Create the database if needed and prove the store answers."""
        await self._run(self._bootstrap)

    async def close(self) -> None:
        def close_all() -> None:
            with self._clients_lock:
                for client in self._clients:
                    client.close()
                self._clients.clear()

        await asyncio.get_running_loop().run_in_executor(None, close_all)
        self._executor.shutdown(wait=True)

    async def query(self, sql: str, parameters: dict[str, Any] | None = None, *, caller: str,
                    settings: dict[str, Any] | None = None) -> QueryResult:
        def run() -> QueryResult:
            result = self._client().query(sql, parameters=parameters, settings=self._settings(caller, settings))
            return QueryResult(tuple(result.column_names), list(result.result_rows))

        return await self._run(run, sql)

    async def query_raw(self, sql: str, parameters: dict[str, Any] | None = None, *, fmt: str, caller: str,
                        settings: dict[str, Any] | None = None) -> bytes:
        """The answer as ClickHouse formats it (e.g. `JSONEachRow`, `CSV`): one bounded query, read whole."""
        return await self._run(lambda: bytes(self._client().raw_query(
            sql, parameters=parameters, settings=self._settings(caller, settings), fmt=fmt)), sql)

    async def query_arrow(self, sql: str, parameters: dict[str, Any] | None = None, *, caller: str,
                          settings: dict[str, Any] | None = None) -> pa.Table:
        """The answer as an Arrow table (strings as `string`): one bounded query, read whole."""
        return await self._run(lambda: self._client().query_arrow(
            sql, parameters=parameters, settings=self._settings(caller, settings), use_strings=True), sql)

    async def command(self, sql: str, parameters: dict[str, Any] | None = None, *, caller: str) -> None:
        """A statement whose answer nobody reads (DDL, migrations)."""
        await self._run(
            lambda: self._client().command(sql, parameters=parameters, settings=self._settings(caller)), sql)

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str], *,
                     caller: str, settings: dict[str, Any] | None = None) -> int:
        """Insert rows in one batch; returns the number of rows ClickHouse acknowledged."""
        def run() -> int:
            summary = self._client().insert(table, rows, column_names=list(column_names),
                                            settings={"log_comment": caller, **(settings or {})})
            return summary.written_rows

        return await self._run(run, f"INSERT INTO {table}")

    async def insert_arrow(self, table: str, data: pa.Table, *, caller: str,
                           settings: dict[str, Any] | None = None) -> int:
        """Insert an Arrow table in one batch (the ingest endpoint's format v2): no conversion to Python values."""
        def run() -> int:
            summary = self._client().insert_arrow(table, data, settings={"log_comment": caller, **(settings or {})})
            return summary.written_rows

        return await self._run(run, f"INSERT INTO {table} FORMAT Arrow")

    async def ping(self) -> None:
        await self.query("SELECT 1", caller="readyz")

    def _settings(self, caller: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"max_execution_time": self.query_timeout_s, "log_comment": caller, **(extra or {})}

    async def _run(self, fn: Callable[[], T], sql: str = "") -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except OperationalError as exc:  # before DatabaseError, its base class: the server cannot be reached
            count_clickhouse_error(sql, "unavailable")  # telemetry.py
            raise self._unavailable(exc) from None
        except DatabaseError as exc:
            code = _error_code(str(exc))
            count_clickhouse_error(sql, "limit" if code in _NARROW_CODES else "query")
            if code in _NARROW_CODES:
                raise AnalyticsQueryError(
                    f"the query exceeded the store's limits ({code}); narrow your filter "
                    "(shorter time range, fewer runs or models)") from exc
            raise

    def _bootstrap(self) -> None:
        try:
            admin = self._new_client(database=None)
            try:
                admin.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
            finally:
                admin.close()
            self._client().query("SELECT 1")
        except StoreUnavailableError:
            raise
        except Exception as exc:  # connection, auth, engine-path errors: one clear line
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        """One line naming the setting; the driver's text is scrubbed, as it may quote the URL it was given."""
        return StoreUnavailableError(URL_VARIABLE, redact_url(self.url), redact_text(_first_line(exc), self.url))

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client(database=self.database)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _new_client(self, database: str | None) -> Client:
        kwargs: dict[str, Any] = {"dsn": self.url}
        if database:
            kwargs["database"] = database
        if self.backend == "http":
            kwargs.update(connect_timeout=5, send_receive_timeout=self.query_timeout_s + 10,
                          autogenerate_session_id=False)
        return clickhouse_connect.get_client(**kwargs)


def _error_code(message: str) -> str:
    """The symbolic error name ClickHouse puts in parentheses, e.g. TIMEOUT_EXCEEDED."""
    start = message.rfind("(")
    end = message.find(")", start)
    return message[start + 1:end] if 0 <= start < end else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Connection refused" in text:
        return "connection refused"
    if "Max retries exceeded" in text or "timed out" in text.lower():
        return "no answer (host unreachable or timed out)"
    return text.splitlines()[0][:300] if text else type(exc).__name__
