"""The figures `/metrics` reads from the stores, refreshed by a task of the process, never by a scrape.

A scrape only reads the latest snapshot (telemetry.FIGURES). This task refreshes it at most once per
`interval_s`, and only while someone scrapes: with no scraper it sleeps after its first refresh (a server
nobody monitors costs the database nothing); a scrape wakes it, and the next one reads figures at most one
interval old. So N scrapes (or N scrapers) of one process cost at most one round of queries per interval,
and a slow or unreachable PostgreSQL delays the figures, never a scrape.

One round: runs by state (one GROUP BY over `runs`), the queue's jobs by entrypoint and status and the age of
the oldest waiting one (pgqueuer's own statistics queries), the writers' rows in memory (their stats), and the
spool folders' files (a directory listing, in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from benchlab.stores.event_writer import running_writers
from benchlab.stores.run_queue import queue
from benchlab.stores.runs import RunState
from benchlab.stores.spool import Spool
from benchlab.telemetry import FIGURE_REFRESHES, FIGURES, FigureBoard, Figures

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 5.0


class FigureRefresher:
    """Refreshes `board` from `pool` and the spool folders under `spool_root`; `start()` / `stop()` on the loop."""

    def __init__(self, pool: asyncpg.Pool, spool_root: Path, *, interval_s: float = REFRESH_INTERVAL_S,
                 board: FigureBoard = FIGURES) -> None:
        self._pool = pool
        self._spool_root = spool_root
        self._interval_s = interval_s
        self._board = board
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._wake: Callable[[], None] = lambda: None

    def start(self) -> None:
        loop = asyncio.get_running_loop()

        def wake() -> None:  # called from the scraping thread
            with contextlib.suppress(RuntimeError):  # the loop is closing: nothing left to refresh
                loop.call_soon_threadsafe(self._wanted.set)

        self._wake = wake
        self._board.add_waker(wake)
        self._task = asyncio.create_task(self._run(), name="metrics-figures")

    async def stop(self) -> None:
        self._board.remove_waker(self._wake)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wanted.clear()
            refreshed = time.monotonic()
            await self.refresh()
            await asyncio.sleep(self._interval_s)  # at most one refresh per interval, however many scrapes
            if not self._board.scraped_since(refreshed):
                await self._wanted.wait()  # nobody scraped since: sleep until someone does

    async def refresh(self) -> Figures:
        """One round of figures, published to the board (PostgreSQL unreachable: its figures are left out)."""
        runs: dict[str, int] = {}
        jobs: dict[tuple[str, str], int] = {}
        oldest: dict[str, float] = {}
        database_ok = True
        try:
            runs, jobs, oldest = await asyncio.wait_for(self._database_figures(), timeout=max(self._interval_s, 5))
            self._failing = False
        except Exception as exc:  # said once per outage; the figures show it by their absence
            database_ok = False
            if not self._failing:
                log.warning("metrics: could not read runs and queue figures from PostgreSQL (%s)", exc)
            self._failing = True
        writers = running_writers()
        spool_files, spool_rows, spool_bytes = await asyncio.to_thread(_spool_usage, self._spool_root)
        figures = Figures(refreshed_at=time.time(), runs_by_state=runs, queue_jobs=jobs, queue_oldest_age_s=oldest,
                          writers=len(writers), writer_rows_in_memory=sum(w.stats.rows_in_memory for w in writers),
                          spool_rows=spool_rows, spool_bytes=spool_bytes, spool_files=spool_files,
                          database_ok=database_ok)
        self._board.publish(figures)
        FIGURE_REFRESHES.inc()
        return figures

    async def _database_figures(self) -> tuple[dict[str, int], dict[tuple[str, str], int], dict[str, float]]:
        runs = dict.fromkeys((state.value for state in RunState), 0)
        async with self._pool.acquire() as conn:
            for row in await conn.fetch("SELECT status, count(*) AS runs FROM runs GROUP BY status"):
                runs[row["status"]] = row["runs"]
        queries = queue(self._pool)
        jobs: dict[tuple[str, str], int] = {}
        for size in await queries.queue_size():  # by entrypoint, priority and status
            key = (str(size.entrypoint), str(size.status))
            jobs[key] = jobs.get(key, 0) + size.count
        for entrypoint in {entrypoint for entrypoint, _ in jobs}:  # both statuses, 0 when none
            for status in ("queued", "picked"):
                jobs.setdefault((entrypoint, status), 0)
        oldest = {str(age.entrypoint): float(age.oldest_age_seconds) for age in await queries.queue_age()}
        return runs, jobs, oldest


def _spool_usage(root: Path) -> tuple[int, int, int]:
    """(files, rows, bytes) of the spooled batches in the folders under `root` (one folder per writer kind)."""
    files = rows = size = 0
    if not root.is_dir():
        return 0, 0, 0
    for folder in [root, *(path for path in root.iterdir() if path.is_dir())]:
        for batch in Spool(folder).pending():
            with contextlib.suppress(FileNotFoundError):  # replayed and removed meanwhile
                size += os.stat(batch.path).st_size
                files += 1
                rows += batch.rows
    return files, rows, size

