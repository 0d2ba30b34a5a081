"""Counting failed statements of both stores into the Prometheus counters (benchlab/telemetry.py).

ClickHouse: every statement goes through `ClickHouseStore._run`, which calls `count_clickhouse_error`.
PostgreSQL: no single function runs every statement (each store module uses its pool connection), so every
pooled connection gets asyncpg's query logger (`count_postgres_errors`, added where the pool opens
connections): asyncpg calls it after each statement, with the exception when it failed. Cancellation (a
client that went away mid-query) is not a store error and is not counted.

Labels are fixed vocabularies (the statement's first keyword, the SQLSTATE class), never the SQL text.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from benchlab.telemetry import CLICKHOUSE_ERRORS, POSTGRES_ERRORS

_CLICKHOUSE_QUERIES = frozenset({"select", "with", "show", "describe", "desc", "exists", "explain"})
_POSTGRES_OPERATIONS = frozenset({"select", "insert", "update", "delete"})
# SQLSTATE classes (first two characters) worth telling apart; https://www.postgresql.org/docs/current/errcodes-appendix.html
_SQLSTATE_CLASSES = {"08": "connection", "23": "constraint", "40": "conflict", "57": "operator",
                     "53": "resources", "42": "statement", "22": "data", "55": "state", "25": "transaction",
                     "28": "authorization", "P0": "plpgsql", "XX": "internal"}


def _first_word(sql: str) -> str:
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    return words[0].lower() if words else ""


def count_clickhouse_error(sql: str, kind: str) -> None:
    """A ClickHouse statement failed; `kind` is limit, query or unavailable."""
    word = _first_word(sql)
    operation = "insert" if word == "insert" else "query" if word in _CLICKHOUSE_QUERIES else "command"
    CLICKHOUSE_ERRORS.labels(operation, kind).inc()


def postgres_error_kind(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.PostgresError):
        return _SQLSTATE_CLASSES.get((exc.sqlstate or "")[:2], "other")
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (asyncpg.InterfaceError, OSError)):  # the connection broke (ConnectionDoesNotExistError)
        return "connection"
    return "other"


def count_postgres_errors(record: Any) -> None:
    """asyncpg query logger (`Connection.add_query_logger`): count the statement if it failed."""
    exc = record.exception
    if exc is None or not isinstance(exc, Exception):  # CancelledError is a BaseException: not a store error
        return
    word = _first_word(record.query or "")
    POSTGRES_ERRORS.labels(word if word in _POSTGRES_OPERATIONS else "other", postgres_error_kind(exc)).inc()
