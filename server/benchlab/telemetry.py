"""The Prometheus metrics of this process (prometheus-client), defined once; served at `/metrics`.

Every metric object lives here, at the bottom of the layers, so any module may count into it with one line.
They sit in `REGISTRY`, a registry of our own rather than prometheus-client's process-wide default:

- the default registry is shared with every library in the process (litellm's Prometheus callback registers
  there), so `/metrics` would serve whatever they add, under names we do not choose, and a clash of names
  would fail at import;
- tests build many apps in one process: metric objects made per app would be registered twice ("Duplicated
  timeseries") in a process-wide registry; ours are made once at import and shared by every app of the
  process, which is what a process-level metric is anyway;
- `/metrics` then shows exactly what docs/operations.md lists (plus the standard `process_*` metrics).

Labels are bounded by construction: route templates, schema field names, table names, fixed vocabularies;
never a raw URL, an operation name a client chose, an id or anything secret.

Figures that need the database or a directory listing (runs by state, queue depth, the writers' backlog and
spool) are never computed during a scrape: a scrape may run in prometheus-client's listener thread (a
separate metrics port), and it must not wait for PostgreSQL. An async task of the process
(stores/telemetry_figures.py) refreshes them into `FIGURES` at most once per interval and only while
someone scrapes; `_FiguresCollector` serves the latest snapshot, and leaves out figures too old to trust.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, open fds, ...

# Seconds: sub-millisecond GraphQL hits of the caches up to minute-long analytics queries.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUEST_DURATION = Histogram(
    "benchlab_http_request_duration_seconds",
    "HTTP requests served, from the first byte received to the last byte sent, by method, route template "
    "(unmatched for paths no route serves) and status class (2xx..5xx). WebSocket connections are not requests.",
    ["method", "route", "status_class"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
GRAPHQL_OPERATION_DURATION = Histogram(
    "benchlab_graphql_operation_duration_seconds",
    "GraphQL queries and mutations (HTTP and WebSocket): parse, validation and execution, by operation type, "
    "root field (its schema name when the operation selects exactly one, else multiple or other) and outcome "
    "(error when the result carries any error).",
    ["operation_type", "field", "outcome"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "benchlab_active_subscriptions", "GraphQL subscriptions running in this process now, by root field.",
    ["field"], registry=REGISTRY)
WEBSOCKET_CONNECTIONS = Gauge(
    "benchlab_websocket_connections", "WebSocket connections (graphql-transport-ws) open on this process now.",
    registry=REGISTRY)
INGEST_ROWS = Counter(
    "benchlab_ingest_rows", "Rows received by the ingest endpoints, by table and outcome: accepted (written or "
    "spooled) or rejected (listed back to the sender).", ["table", "outcome"], registry=REGISTRY)
CLICKHOUSE_ERRORS = Counter(
    "benchlab_clickhouse_errors", "ClickHouse statements that failed, by operation (query, insert, command) and "
    "kind: limit (time or memory limit hit), query (refused by ClickHouse), unavailable (no connection).",
    ["operation", "kind"], registry=REGISTRY)
POSTGRES_ERRORS = Counter(
    "benchlab_postgres_errors", "PostgreSQL statements that failed, by operation (select, insert, update, delete, "
    "other) and kind (the SQLSTATE class: connection, constraint, conflict, timeout, ...).",
    ["operation", "kind"], registry=REGISTRY)
FIGURE_REFRESHES = Counter(
    "benchlab_metrics_refreshes", "Refreshes of the figures read from the stores (runs by state, queue, "
    "writers, spool): at most one per interval, and none while nobody scrapes.", registry=REGISTRY)

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def status_class(status: int) -> str:
    """`2xx` for 204; no answer at all (the app failed before answering) counts as a server error."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "5xx"


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else "other"


def count_ingest_rows(table: str, accepted: int, rejected: int) -> None:
    """One ingest batch's outcome (its table is one of the ingest tables: a bounded label)."""
    if accepted:
        INGEST_ROWS.labels(table, "accepted").inc(accepted)
    if rejected:
        INGEST_ROWS.labels(table, "rejected").inc(rejected)


# --- Figures from the stores, refreshed outside scrapes -------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One consistent snapshot, replaced whole (readers in another thread never see half of one)."""

    refreshed_at: float                                         # time.time()
    runs_by_state: dict[str, int] = field(default_factory=dict)  # every state, 0 included
    queue_jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (entrypoint, status) -> jobs
    queue_oldest_age_s: dict[str, float] = field(default_factory=dict)   # entrypoint -> oldest queued job
    writers: int = 0
    writer_rows_in_memory: int = 0
    spool_rows: int = 0
    spool_bytes: int = 0
    spool_files: int = 0
    database_ok: bool = True  # False when the last refresh could not read PostgreSQL (its figures are left out)


class FigureBoard:
    """The latest Figures, and who to wake when a scrape wants fresher ones. Thread-safe."""

    def __init__(self, stale_after_s: float = 60.0) -> None:
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._latest: Figures | None = None
        self._last_scrape = 0.0  # time.monotonic()
        self._wakers: list[Callable[[], None]] = []

    def publish(self, figures: Figures) -> None:
        self._latest = figures

    def latest(self) -> Figures | None:
        return self._latest

    def scraped(self) -> None:
        """A scrape happened: refreshers that sleep for lack of demand wake up (the answer itself never waits)."""
        self._last_scrape = time.monotonic()
        with self._lock:
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    def scraped_since(self, monotonic: float) -> bool:
        return self._last_scrape >= monotonic

    def add_waker(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.append(wake)

    def remove_waker(self, wake: Callable[[], None]) -> None:
        with self._lock:
            if wake in self._wakers:
                self._wakers.remove(wake)


FIGURES = FigureBoard()


class _FiguresCollector(Collector):
    """Serves FIGURES at scrape time: reads the snapshot, never a store."""

    def __init__(self, board: FigureBoard) -> None:
        self._board = board

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        self._board.scraped()
        figures = self._board.latest()
        if figures is not None and time.time() - figures.refreshed_at > self._board.stale_after_s:
            figures = None  # too old to pass for the present; the refresher woken above brings fresh ones
        return list(self._families(figures))

    def _families(self, figures: Figures | None) -> Iterator[Metric]:
        runs = GaugeMetricFamily("benchlab_runs", "Runs in PostgreSQL by state (the whole database: the same on "
                                 "every process; aggregate with max).", labels=["state"])
        jobs = GaugeMetricFamily("benchlab_queue_jobs", "Jobs in the queue (pgqueuer) by entrypoint and status: "
                                 "queued jobs wait for a worker, picked ones are held by one. The run queue's "
                                 "depth is entrypoint=\"benchlab.run\", status=\"queued\".",
                                 labels=["entrypoint", "status"])
        oldest = GaugeMetricFamily("benchlab_queue_oldest_age_seconds", "Age of the oldest queued job, by "
                                   "entrypoint (absent when none waits).", labels=["entrypoint"])
        writers = GaugeMetricFamily("benchlab_event_writers", "Buffered ClickHouse writers open in this process "
                                    "(ingest, and one per run or scoring pass executing here).")
        backlog = GaugeMetricFamily("benchlab_writer_backlog_rows", "Rows this process's writers accepted that "
                                    "ClickHouse has not acknowledged yet, by where they wait: memory, or spool "
                                    "(files on disk, retried until acknowledged).", labels=["place"])
        spool_bytes = GaugeMetricFamily("benchlab_spool_bytes", "Size of the spool files of this process's "
                                        "writers' folders.")
        spool_files = GaugeMetricFamily("benchlab_spool_files", "Spooled batches (files) waiting for ClickHouse.")
        age = GaugeMetricFamily("benchlab_metrics_figures_age_seconds", "How old the figures above are (they are "
                                "left out when older than a minute).")
        if figures is not None:
            if figures.database_ok:
                for state, count in sorted(figures.runs_by_state.items()):
                    runs.add_metric([state], count)
                for (entrypoint, status), count in sorted(figures.queue_jobs.items()):
                    jobs.add_metric([entrypoint, status], count)
                for entrypoint, seconds in sorted(figures.queue_oldest_age_s.items()):
                    oldest.add_metric([entrypoint], seconds)
            writers.add_metric([], figures.writers)
            backlog.add_metric(["memory"], figures.writer_rows_in_memory)
            backlog.add_metric(["spool"], figures.spool_rows)
            spool_bytes.add_metric([], figures.spool_bytes)
            spool_files.add_metric([], figures.spool_files)
            age.add_metric([], max(0.0, time.time() - figures.refreshed_at))
        yield from (runs, jobs, oldest, writers, backlog, spool_bytes, spool_files, age)


REGISTRY.register(_FiguresCollector(FIGURES))


def exposition(accept: str | None, accept_encoding: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The registry in the format the scraper asks for (Prometheus text, or OpenMetrics by `Accept`), gzipped
    when it accepts gzip: the body and its headers, as prometheus-client's own listener answers."""
    encoder, content_type = choose_encoder(accept or "")
    body = encoder(REGISTRY)
    headers = {"Content-Type": content_type}
    if accept_encoding and gzip_accepted(accept_encoding):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers
