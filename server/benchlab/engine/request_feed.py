"""The live feed of finished requests (the `runRequests` subscription), batched to bound its cost.

Each finished request becomes a small dict (`RequestEvent.feed_entry`); a publisher sends what accumulated
every FLUSH_INTERVAL_S as one message, so a run at thousands of requests per second costs a handful of
publishes per second. If publishing falls behind, the oldest entries are dropped and the next message says
how many were missed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

FLUSH_INTERVAL_S = 0.1
MAX_PENDING = 5_000


def feed_channel(run_id: object) -> str:
    return f"run:{run_id}:requests"


class RequestFeed:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._pending: deque[dict[str, Any]] = deque()
        self._max_pending = max_pending
        self._missed = 0

    def add(self, entry: dict[str, Any]) -> None:
        if len(self._pending) >= self._max_pending:
            self._pending.popleft()
            self._missed += 1
        self._pending.append(entry)

    def take(self) -> dict[str, Any] | None:
        """The next message to publish, or None when nothing finished since the last one."""
        if not self._pending and not self._missed:
            return None
        message = {"type": "requests", "items": list(self._pending), "missed": self._missed}
        self._pending.clear()
        self._missed = 0
        return message
