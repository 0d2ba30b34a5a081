"""The one buffered writer through which event and score rows reach ClickHouse.

Rows are batched (a batch is cut at `max_batch_rows` or when its oldest row is `flush_interval_s` old),
never inserted one by one. A batch counts as written only once ClickHouse acknowledged it. Each batch has
a random id sent as `insert_deduplication_token` on every attempt, so a batch that landed although its
acknowledgement was lost is not counted twice on retry (the tables set `non_replicated_deduplication_window`).
Whatever fails goes to the on-disk spool (`spool.py`) and is retried with exponential backoff until
acknowledged; while ClickHouse is down, or a batch waited more than a few seconds for its turn, batches go
to disk, so memory stays bounded.

Two background tasks: the sender is the only one that talks to ClickHouse (sending batches, retrying the
spool); the batcher cuts batches on time and moves batches to disk that memory should not hold, even while
an insert attempt hangs. Batches are rows as given (row-oriented insert): cutting one is O(1) on the loop.

A writer may carry a fence (the executing worker's claim on its run, stores/run_queue.py): before each batch
of its own it asks whether the claim still holds, and drops the batch when another worker took the run over
(that worker re-sends those requests; writing them too would duplicate rows). Replayed spool files are not
fenced: they may belong to any run.

Closing must end in bounded time whatever state the writer is in, because it runs while the process is being
stopped: `close(timeout_s)` gives ClickHouse that long, then stops the background tasks (also when someone
else already cancelled them, as asyncio does to every task when a program is interrupted) and writes every
batch not yet acknowledged to the spool. A batch whose insert was cut short may have landed too; its
deduplication token keeps the replay from counting it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchlab.errors import StoreUnavailableError
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.spool import Spool, SpooledBatch

log = logging.getLogger(__name__)

# A batch the sender has not taken within this time (an insert hangs, or rows arrive faster than ClickHouse
# takes them) goes to disk: memory holds at most this many seconds of rows plus the batch in flight.
_MAX_WAIT_IN_MEMORY_S = 5.0


@dataclass(frozen=True)
class WriterStats:
    rows_added: int
    rows_written: int  # acknowledged by ClickHouse
    batches_written: int
    batches_spooled: int
    rows_pending_on_disk: int
    last_error: str  # one line, no row contents or secrets
    rows_in_memory: int = 0  # added and neither acknowledged nor spooled yet (/metrics: the writer backlog)


@dataclass
class _Batch:
    batch_id: str
    rows: list[Sequence[Any]] | pa.Table  # an Arrow table: a batch received as such by the ingest endpoint
    cut_at: float  # time.monotonic()


_RUNNING: weakref.WeakSet[EventWriter] = weakref.WeakSet()


def running_writers() -> list[EventWriter]:
    """The writers of this process started and not yet closed (or collected)."""
    return [writer for writer in list(_RUNNING) if not writer._closed]


class WriterStopped(RuntimeError):
    """A background task of the writer ended (cancelled or failed) while rows were waiting for it."""


class EventWriter:
    """Buffers rows for one table; `add` from request tasks, `flush`/`close` at the end of a run."""

    def __init__(self, store: ClickHouseStore, table: str, columns: Sequence[str], spool_dir: Path, *,
                 max_batch_rows: int = 20_000, flush_interval_s: float = 1.0, retry_backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, fence: Callable[[], Awaitable[bool]] | None = None,
                 relay_headers: dict[str, str] | None = None) -> None:
        self._store = store
        self._fence = fence
        self._insert_extra = {"relay_headers": relay_headers} if relay_headers else {}
        self._table = table
        self._columns = list(columns)
        self._spool = Spool(spool_dir)
        self._max_batch_rows = max_batch_rows
        self._flush_interval_s = flush_interval_s
        self._initial_backoff_s = retry_backoff_s
        self._max_backoff_s = max_backoff_s
        self._caller = f"event_writer:{table}"

        self._buffer: list[Sequence[Any]] = []
        self._buffer_since = 0.0
        self._ready: deque[_Batch] = deque()  # cut, waiting for the sender
        self._held: deque[_Batch] = deque()  # neither written nor spooled (the disk failed too)
        self._unsettled: dict[str, _Batch] = {}  # batches neither acknowledged nor spooled yet, by id
        self._on_disk: dict[Path, SpooledBatch] = {}  # spooled batches known to this writer
        self._healthy = True
        self._backoff_s = retry_backoff_s
        self._retry_at = 0.0
        self._spool_failing = False
        self._closed = False
        self._stopping = False
        self._wake_sender = asyncio.Event()
        self._wake_batcher = asyncio.Event()
        self._progress: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._hurry_s: float | None = None
        self._close_deadline: asyncio.Timeout | None = None

        self._rows_added = 0
        self._rows_written = 0
        self._batches_written = 0
        self._batches_spooled = 0
        self._last_error = ""

    @property
    def stats(self) -> WriterStats:
        return WriterStats(self._rows_added, self._rows_written, self._batches_written, self._batches_spooled,
                           self._rows_on_disk(), self._last_error, len(self._buffer) + sum(
                               len(batch.rows) for batch in (*self._unsettled.values(), *self._held)))

    async def start(self) -> None:
        """Replay what an earlier process left in the spool, then start the background tasks."""
        await asyncio.to_thread(self._spool.prepare)
        await self._retry_pending()
        self._tasks = [asyncio.create_task(self._send_loop(), name=f"{self._caller}:sender"),
                       asyncio.create_task(self._batch_loop(), name=f"{self._caller}:batcher")]
        _RUNNING.add(self)  # counted in /metrics while it lives (stores/telemetry_figures.py)

    def add(self, row: Sequence[Any]) -> None:
        """Buffer one row (values in column order); never blocks."""
        if self._closed:
            raise RuntimeError(f"the {self._table} writer is closed")
        if len(row) != len(self._columns):
            raise ValueError(f"a {self._table} row needs {len(self._columns)} values, got {len(row)}")
        if not self._buffer:
            self._buffer_since = time.monotonic()
            self._wake_batcher.set()
        self._buffer.append(row)
        self._rows_added += 1
        if len(self._buffer) >= self._max_batch_rows:
            self._cut()

    async def write_batch(self, rows: Sequence[Sequence[Any]] | pa.Table, dedupe_token: str | None = None) -> None:
        """Write `rows` as one batch of their own (an ingest request's), returning once ClickHouse acknowledged it
        or it is on disk. `dedupe_token` (derived from the sender's idempotency key) is the batch id, so a batch
        sent again is dropped by ClickHouse's insert deduplication."""
        if self._closed or not self._tasks:
            raise RuntimeError(f"the {self._table} writer is not running")
        batch = _Batch(dedupe_token or uuid.uuid4().hex, rows if isinstance(rows, pa.Table) else list(rows),
                       time.monotonic())
        self._rows_added += len(batch.rows)
        self._ready.append(batch)
        self._unsettled[batch.batch_id] = batch
        self._wake_sender.set()
        self._wake_batcher.set()
        while batch.batch_id in self._unsettled:
            await self._wait_for_progress()
        if any(held is batch for held in self._held):
            raise StoreUnavailableError("BENCHLAB_CLICKHOUSE_URL", self._table, f"neither written nor spooled: "
                                        f"{self._last_error}")

    async def flush(self) -> None:
        """Return once every row added so far is acknowledged or on disk."""
        if not self._tasks:
            raise RuntimeError(f"the {self._table} writer is not started")
        self._cut()
        waiting = set(self._unsettled)
        while not waiting.isdisjoint(self._unsettled):
            await self._wait_for_progress()

    async def close(self, timeout_s: float | None = None) -> None:
        """Flush, try the spool once more, stop; what is still unwritten stays on disk for the next start.

        With `timeout_s`, ClickHouse gets that long; then every batch it has not acknowledged goes to disk.
        """
        self._closed = True
        if self._hurry_s is not None:
            timeout_s = min(timeout_s, self._hurry_s) if timeout_s is not None else self._hurry_s
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                self._close_deadline = deadline
                await self.flush()
                self._stopping = True
                self._wake_sender.set()
                self._wake_batcher.set()
                await asyncio.gather(*self._tasks)
        except (TimeoutError, WriterStopped) as exc:
            log.warning("%s: stopping before ClickHouse took every row (%s); the rest goes to %s",
                        self._caller, "time is up" if isinstance(exc, TimeoutError) else exc,
                        self._spool.directory)
        finally:
            self._close_deadline = None
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._cut()
        for batch in list(self._unsettled.values()):
            await self._spool_batch(batch)
        for batch in [self._held.popleft() for _ in range(len(self._held))]:
            await self._spool_batch(batch)  # the disk may work again; failures go back to `_held`
        if self._held:
            log.error("%s: %d rows could neither be written nor spooled and are lost at exit: %s",
                      self._caller, sum(len(b.rows) for b in self._held), self._last_error)

    def hurry(self, within_s: float) -> None:
        """Let a close in progress (or the next one) wait at most `within_s` more seconds for ClickHouse."""
        self._hurry_s = within_s
        deadline = self._close_deadline
        if deadline is not None:
            due, current = asyncio.get_running_loop().time() + within_s, deadline.when()
            if current is None or due < current:
                deadline.reschedule(due)

    def _cut(self) -> None:
        if not self._buffer:
            return
        batch = _Batch(uuid.uuid4().hex, self._buffer, time.monotonic())
        self._buffer = []
        self._ready.append(batch)
        self._unsettled[batch.batch_id] = batch
        self._wake_sender.set()
        self._wake_batcher.set()

    async def _send_loop(self) -> None:
        while True:
            if self._stopping:
                await self._retry_pending()
                return
            if self._healthy and self._ready:
                batch = self._ready.popleft()
                if not await self._fence_holds():
                    log.warning("%s: dropped %d rows: the run was taken over by another worker", self._caller,
                                len(batch.rows))
                    self._settle(batch)
                elif await self._insert(batch.batch_id, self._columns, batch.rows):
                    self._settle(batch)
                else:
                    await self._spool_batch(batch)
            elif self._has_pending() and time.monotonic() >= self._retry_at:
                await self._retry_pending()
            else:
                await _wait(self._wake_sender, self._retry_at - time.monotonic() if self._has_pending() else None)

    async def _batch_loop(self) -> None:
        while not self._stopping:
            if self._buffer and time.monotonic() - self._buffer_since >= self._flush_interval_s:
                self._cut()
            while self._ready and (not self._healthy or self._ready[0].cut_at + _MAX_WAIT_IN_MEMORY_S
                                   <= time.monotonic()):
                await self._spool_batch(self._ready.popleft())
            deadlines = [self._buffer_since + self._flush_interval_s] if self._buffer else []
            if self._ready:
                deadlines.append(self._ready[0].cut_at + _MAX_WAIT_IN_MEMORY_S)
            await _wait(self._wake_batcher, min(deadlines) - time.monotonic() if deadlines else None)

    async def _fence_holds(self) -> bool:
        """Whether this writer's run is still ours; True without a fence, or when the check itself fails (the
        store the fence lives in is down: ClickHouse decides, as before fencing existed)."""
        if self._fence is None:
            return True
        try:
            return await self._fence()
        except Exception as exc:
            log.warning("%s: could not check the run's claim (%s); writing anyway", self._caller, _describe(exc))
            return True

    async def _retry_pending(self) -> None:
        """Retry held batches, then spooled ones oldest first, until one fails."""
        while self._held:
            batch = self._held[0]
            if not await self._insert(batch.batch_id, self._columns, batch.rows):
                return
            self._held.popleft()
        for spooled in await asyncio.to_thread(self._spool.pending):  # also finds other writers' leftovers
            self._on_disk.setdefault(spooled.path, spooled)
        for path in sorted(self._on_disk):
            spooled = self._on_disk[path]
            rows = await self._read_spooled(spooled)
            if rows is None:
                continue
            if not await self._insert(spooled.batch_id, *rows):
                return
            await asyncio.to_thread(self._spool.remove, spooled)
            del self._on_disk[path]

    async def _read_spooled(self, spooled: SpooledBatch) -> tuple[list[str], list[tuple[Any, ...]]] | None:
        try:
            return await asyncio.to_thread(self._spool.read, spooled)
        except FileNotFoundError:  # replayed and removed by another writer sharing the folder
            pass
        except Exception as exc:
            target = await asyncio.to_thread(self._spool.quarantine, spooled)
            log.error("%s: spool file %s is unreadable (%s); set aside as %s, not retried", self._caller,
                      spooled.path.name, _describe(exc), target.name)
        del self._on_disk[spooled.path]
        return None

    async def _insert(self, batch_id: str, columns: Sequence[str], rows: Sequence[Sequence[Any]] | pa.Table) -> bool:
        """One attempt; True once ClickHouse acknowledged the batch. Tracks availability and backoff."""
        settings = {"insert_deduplication_token": batch_id, **self._insert_extra}
        try:
            if isinstance(rows, pa.Table):
                await self._store.insert_arrow(self._table, rows, caller=self._caller, settings=settings)
            else:
                await self._store.insert(self._table, rows, columns, caller=self._caller, settings=settings)
        except Exception as exc:
            self._last_error = _describe(exc)
            if self._healthy:
                self._healthy = False
                self._wake_batcher.set()
                log.warning("%s: ClickHouse is unavailable (%s); batches wait in %s and are retried",
                            self._caller, self._last_error, self._spool.directory)
            self._retry_at = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self._max_backoff_s)
            return False
        self._rows_written += len(rows)
        self._batches_written += 1
        self._backoff_s = self._initial_backoff_s
        self._retry_at = 0.0
        if not self._healthy:
            self._healthy = True
            log.info("%s: ClickHouse is available again; writing %d spooled rows", self._caller,
                     self._rows_on_disk())
        return True

    async def _spool_batch(self, batch: _Batch) -> None:
        try:
            spooled = await asyncio.to_thread(self._spool.write, batch.batch_id, self._columns, batch.rows)
        except Exception as exc:
            self._held.append(batch)
            self._last_error = f"spool: {_describe(exc)}"
            if not self._spool_failing:
                self._spool_failing = True
                log.error("%s: cannot spool to %s (%s); keeping batches in memory", self._caller,
                          self._spool.directory, self._last_error)
        else:
            self._spool_failing = False
            self._batches_spooled += 1
            self._on_disk[spooled.path] = spooled
        self._settle(batch)

    def _has_pending(self) -> bool:
        return bool(self._held or self._on_disk)

    def _rows_on_disk(self) -> int:
        return sum(spooled.rows for spooled in self._on_disk.values())

    def _settle(self, batch: _Batch) -> None:
        self._unsettled.pop(batch.batch_id, None)
        if self._progress is not None and not self._progress.done():
            self._progress.set_result(None)
        self._progress = None

    async def _wait_for_progress(self) -> None:
        """Wait until a batch settles; raise WriterStopped if a background task ended instead (failed, or
        cancelled from outside): nothing would ever settle the batches then."""
        if self._progress is None:
            self._progress = asyncio.get_running_loop().create_future()
        await asyncio.wait([self._progress, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in self._tasks:
            if task.done():
                cause = None if task.cancelled() else task.exception()
                raise WriterStopped(f"{task.get_name()} {'was cancelled' if task.cancelled() else 'stopped'}") \
                    from cause


async def _wait(event: asyncio.Event, within_s: float | None) -> None:
    """Wait for `event` (cleared afterwards) at most `within_s` seconds; callers re-check their state."""
    try:
        async with asyncio.timeout(within_s):
            await event.wait()
    except TimeoutError:
        pass
    event.clear()


def _describe(exc: BaseException) -> str:
    """One line for logs and stats. Store errors carry no row data; URLs are redacted by the store."""
    if isinstance(exc, StoreUnavailableError):
        return str(exc)
    text = str(exc).strip()
    first_line = text.splitlines()[0][:300] if text else ""
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
