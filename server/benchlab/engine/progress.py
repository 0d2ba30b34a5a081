"""Live run progress: counters, a rolling TTFT window and the message published to subscribers.

TTFT takes the rows the run summary takes and the same quantile method (`benchlab.metrics`), so the last
message of a run without warm-up or cool-down, whose TTFT values fit the window, gives the summary's p50/p99.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from benchlab.metrics import METRICS
from benchlab.stores.runs import RunState

_ROLLING = 2000
_TTFT = METRICS["ttft_ms"]

FINISHING: Literal["finishing"] = "finishing"
"""A progress status that is no run state: every request was sent, the summary is being computed."""
SCORING: Literal["scoring"] = "scoring"
"""A progress status that is no run state: the run's responses are being scored (after the measurement)."""
ProgressStatus = RunState | Literal["finishing", "scoring"]


class ProgressMessage(TypedDict):
    """One message of the `runProgress` feed (JSON on the realtime hub; keys as the API spells them)."""

    type: Literal["progress"]
    runId: str
    sequence: int
    status: str          # a RunState's value, or FINISHING
    done: int
    total: int | None
    failed: int
    errors: dict[str, int]
    requestsPerSecond: float
    ttftP50Ms: float
    ttftP99Ms: float
    elapsedSeconds: float
    phase: str           # measuring | finishing | scoring | ended
    scored: int          # requests scored by the run's scoring pass so far
    scoringTotal: int | None


@dataclass
class Progress:
    total: int | None
    done: int = 0
    failed: int = 0
    sequence: int = 0
    started: float = field(default_factory=time.monotonic)
    errors: dict[str, int] = field(default_factory=dict)  # failed requests by error class
    scored: int = 0
    scoring_total: int | None = None
    _recent_ttft: deque[float] = field(default_factory=lambda: deque(maxlen=_ROLLING))

    def record(self, ok: bool, ttft_ms: float, error_type: str) -> None:
        self.done += 1
        if _TTFT.takes({"status": "ok" if ok else "error", "ttft_ms": ttft_ms}):  # the row as stored
            self._recent_ttft.append(ttft_ms)
        if not ok:
            self.failed += 1
            self.errors[error_type] = self.errors.get(error_type, 0) + 1

    @property
    def error_rate(self) -> float:
        return self.failed / self.done if self.done else 0.0

    def message(self, run_id: str, status: ProgressStatus) -> ProgressMessage:
        """One progress event; `sequence` increases by one per message so clients can spot gaps."""
        self.sequence += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {"type": "progress", "runId": run_id, "sequence": self.sequence, "status": str(status),
                "done": self.done, "total": self.total, "failed": self.failed, "errors": dict(self.errors),
                "requestsPerSecond": round(self.done / elapsed, 3),
                "ttftP50Ms": self._ttft(0.5), "ttftP99Ms": self._ttft(0.99), "elapsedSeconds": round(elapsed, 3),
                "phase": _phase(status), "scored": self.scored, "scoringTotal": self.scoring_total}

    def _ttft(self, level: float) -> float:
        """A TTFT quantile of the window; 0 before any value (the message's fields are never null)."""
        value = _TTFT.clean(_TTFT.quantile(self._recent_ttft, level))
        return 0.0 if value is None else value


def _phase(status: ProgressStatus) -> str:
    if status in (FINISHING, SCORING):
        return str(status)
    return "measuring" if status in (RunState.RUNNING, RunState.QUEUED, RunState.PENDING) else "ended"
