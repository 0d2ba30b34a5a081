"""The precise timer behind every due time: `Pacer` runs callbacks at absolute `time.monotonic_ns()` times.

It exists apart from the HTTP code because timing precision is the mock's whole point and has its own
mechanics (a timerfd armed early, then a rationed busy-wait); the server only says when, never how.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import time
from collections.abc import Callable

monotonic_ns = time.monotonic_ns
MAX_PASS_NS = 500_000  # the pacer yields to I/O at least this often, even when events are back to back
SPIN_SHARE = 50  # busy-waiting may use 1/50 (2 %) of wall time: precise when idle, no CPU theft under load
SPIN_CREDIT_CAP_NS = 2_000_000


class _TimerFd:
    """A CLOCK_MONOTONIC timerfd armed at absolute ns times (Linux; Python 3.11 has no os.timerfd_*)."""

    class _ITimerSpec(ctypes.Structure):  # two struct timespec {tv_sec, tv_nsec}
        _fields_ = [("it_interval", ctypes.c_long * 2), ("it_value", ctypes.c_long * 2)]

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        clock_monotonic, nonblock_cloexec = 1, os.O_NONBLOCK | os.O_CLOEXEC
        self.fd = self._libc.timerfd_create(clock_monotonic, nonblock_cloexec)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = self._ITimerSpec()

    def arm(self, at_ns: int) -> None:
        self._spec.it_value[:] = divmod(max(at_ns, 1), 1_000_000_000)  # 0 would disarm; past times fire at once
        self._libc.timerfd_settime(self.fd, 1, ctypes.byref(self._spec), None)  # 1 = TFD_TIMER_ABSTIME

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)


class Pacer:
    """Runs callbacks at absolute `time.monotonic_ns()` times, tens of µs late at most instead of ~1 ms.

    asyncio and uvloop timers have millisecond resolution (epoll_wait, libuv); measured on a 2-vCPU VM an
    `asyncio.sleep` woke 0.15-0.6 ms late. A timerfd has ns resolution, but waking an idle vCPU still took
    ~70 µs (p99 ~250 µs), so the timer is armed `spin_ns` early and the rest is busy-waited. Spinning is
    rationed to SPIN_SHARE of the time: under load, when events are dense and a loaded client needs the CPU,
    the pacer simply wakes at the due time. A pass yields to I/O after MAX_PASS_NS. Where timerfd does not
    exist (not Linux) the loop's own timer is used, with its millisecond error.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, spin_ns: int) -> None:
        self._loop = loop
        self._spin_ns = spin_ns
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._firing = False
        self._handle: asyncio.TimerHandle | None = None
        self._spin_credit_ns, self._credit_at = 0, monotonic_ns()
        try:
            self._timer: _TimerFd | None = _TimerFd()
        except (OSError, AttributeError):
            self._timer = None
        else:
            loop.add_reader(self._timer.fd, self._fire)

    def call_at(self, due_ns: int, callback: Callable[[], None]) -> None:
        entry = (due_ns, next(self._order), callback)
        heapq.heappush(self._heap, entry)
        if not self._firing and self._heap[0] is entry:
            self._arm()

    def _credit(self) -> int:
        """Nanoseconds of busy-waiting allowed right now (refilled at SPIN_SHARE of elapsed time)."""
        now = monotonic_ns()
        self._spin_credit_ns = min(SPIN_CREDIT_CAP_NS, self._spin_credit_ns + (now - self._credit_at) // SPIN_SHARE)
        self._credit_at = now
        return self._spin_credit_ns

    def _arm(self) -> None:
        early_ns = self._heap[0][0] - self._spin_ns
        credit_then = self._credit() + max(0, early_ns - self._credit_at) // SPIN_SHARE  # refills while asleep
        wake_ns = early_ns if credit_then >= self._spin_ns else early_ns + self._spin_ns
        if self._timer is not None:
            self._timer.arm(wake_ns)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(0, wake_ns - monotonic_ns()) / 1e9, self._fire)

    def _fire(self) -> None:
        if self._timer is not None:
            self._timer.clear()
        heap, started = self._heap, monotonic_ns()
        self._firing = True
        try:
            while heap:
                now = monotonic_ns()
                wait = heap[0][0] - now
                if wait > 0:
                    if wait > self._spin_ns or now - started > MAX_PASS_NS or wait > self._credit():
                        break
                    while monotonic_ns() < heap[0][0]:
                        pass
                    self._spin_credit_ns -= monotonic_ns() - now
                heapq.heappop(heap)[2]()
        finally:
            self._firing = False
            if heap:
                self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._loop.remove_reader(self._timer.fd)
            self._timer.close()
        if self._handle is not None:
            self._handle.cancel()
