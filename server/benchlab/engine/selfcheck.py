"""The client measures itself: event-loop lag and send lag, so a saturated client is flagged, not trusted.

Event-loop lag: every 5 ms a callback is queued and the wait until it runs is recorded; a busy loop delays
every timestamp taken on it by that much. Send lag: how long after the client decided to send, the request
bytes were actually written (connection set-up excluded). A run whose p99 of either exceeds 1 ms is marked
`client_saturated`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from benchlab.metrics import quantile

SATURATION_P99_MS = 1.0
_TICK_S = 0.005


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # the monitor may have been stopped (and the future cancelled) meanwhile
        future.set_result(None)


def _lag_quantile(values: list[float], level: float) -> float:
    """By the one quantile method, as every other percentile; 0 when nothing was measured."""
    value = quantile(values, level)
    return 0.0 if value is None else value


@dataclass
class SelfMeasurement:
    loop_lag_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def record_send_lag(self, decided_ns: int, sent_ns: int) -> None:
        self.send_lag_ms.append(max(0.0, (sent_ns - decided_ns) / 1e6))

    async def _tick(self) -> None:
        """Every 5 ms, time how long a callback waits in the loop's ready queue.

        Measuring a sleep's lateness instead would mostly measure the poller's 1 ms timeout granularity.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_TICK_S)
            queued = loop.create_future()
            scheduled_ns = time.perf_counter_ns()
            loop.call_soon(_resolve, queued)
            await queued
            self.loop_lag_ms.append((time.perf_counter_ns() - scheduled_ns) / 1e6)

    def report(self) -> dict[str, Any]:
        loop_p99 = _lag_quantile(self.loop_lag_ms, 0.99)
        send_p99 = _lag_quantile(self.send_lag_ms, 0.99)
        return {
            "loop_lag_ms": {"p50": round(_lag_quantile(self.loop_lag_ms, 0.5), 3), "p99": round(loop_p99, 3),
                            "max": round(max(self.loop_lag_ms, default=0.0), 3), "samples": len(self.loop_lag_ms)},
            "send_lag_ms": {"p50": round(_lag_quantile(self.send_lag_ms, 0.5), 3), "p99": round(send_p99, 3),
                            "max": round(max(self.send_lag_ms, default=0.0), 3), "samples": len(self.send_lag_ms)},
            "threshold_p99_ms": SATURATION_P99_MS,
            "client_saturated": loop_p99 > SATURATION_P99_MS or send_p99 > SATURATION_P99_MS,
        }


def _worst(reports: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The worst p50, p99 and max of one lag across processes (those that measured any), samples summed."""
    measured = [r[key] for r in reports if r[key]["samples"]]
    return {level: max((m[level] for m in measured), default=0.0) for level in ("p50", "p99", "max")} | {
        "samples": sum(m["samples"] for m in measured)}


def merge_reports(own: dict[str, Any], children: list[dict[str, Any]], dispatch_lag_ms: list[float],
                  processes: int) -> dict[str, Any]:
    """The self-measurement of a run whose requests were sent by load-generator processes (engine/load_pool.py).

    Same shape as one process's report, each lag the worst across the run's process (schedule, rows) and the
    children (sends, arrivals): a run is `client_saturated` when any of them was. Each process's own report is
    kept under `processes`. `dispatch_lag_ms` (the run's decision to send -> the child wrote the bytes: the
    hop between processes plus the child's send lag) is reported beside; it is in every request's queue delay
    and not in TTFT, TPOT or E2E, so it does not decide the flag.
    """
    reports = [own, *children]
    loop_lag, send_lag = _worst(reports, "loop_lag_ms"), _worst(reports, "send_lag_ms")
    lost = processes - len(children)
    return {
        "loop_lag_ms": loop_lag,
        "send_lag_ms": send_lag,
        "threshold_p99_ms": SATURATION_P99_MS,
        "client_saturated": any(r["client_saturated"] for r in reports),
        "dispatch_lag_ms": {"p50": round(_lag_quantile(dispatch_lag_ms, 0.5), 3),
                            "p99": round(_lag_quantile(dispatch_lag_ms, 0.99), 3),
                            "max": round(max(dispatch_lag_ms, default=0.0), 3), "samples": len(dispatch_lag_ms)},
        "processes": [{"role": "run", **own}, *({"role": "load-generator", **child} for child in children)],
        **({"reports_missing": lost} if lost else {}),  # a child that died sent none
    }
