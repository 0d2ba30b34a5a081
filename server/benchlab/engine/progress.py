"""Live run progress: counters, a rolling TTFT window and the message published to subscribers."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from benchlab.engine.selfcheck import percentile

_ROLLING = 2000


@dataclass
class Progress:
    total: int | None
    done: int = 0
    failed: int = 0
    sequence: int = 0
    started: float = field(default_factory=time.monotonic)
    errors: dict[str, int] = field(default_factory=dict)  # failed requests by error class
    _recent_ttft: deque[float] = field(default_factory=lambda: deque(maxlen=_ROLLING))

    def record(self, ok: bool, ttft_ms: float, error_type: str) -> None:
        self.done += 1
        if ok:
            self._recent_ttft.append(ttft_ms)
        else:
            self.failed += 1
            self.errors[error_type] = self.errors.get(error_type, 0) + 1

    @property
    def error_rate(self) -> float:
        return self.failed / self.done if self.done else 0.0

    def message(self, run_id: str, status: str) -> dict[str, Any]:
        """One progress event; `sequence` increases by one per message so clients can spot gaps."""
        self.sequence += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        ttft = list(self._recent_ttft)
        return {"type": "progress", "runId": run_id, "sequence": self.sequence, "status": status,
                "done": self.done, "total": self.total, "failed": self.failed, "errors": dict(self.errors),
                "requestsPerSecond": round(self.done / elapsed, 3),
                "ttftP50Ms": round(percentile(ttft, 0.5), 3), "ttftP99Ms": round(percentile(ttft, 0.99), 3),
                "elapsedSeconds": round(elapsed, 3)}
