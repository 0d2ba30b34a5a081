"""Load generation across processes: the run's requests sent by N child processes, each with its own event loop.

The run's process keeps everything but the HTTP attempt: the schedule (closed-loop streams, open-loop timers),
retries and their backoff, provider concurrency limits, progress and the event rows, which it writes once, as
with one process. `LoadPool.transport(provider)` is a `Transport` like any other: its `send` hands one attempt
to the child with the fewest attempts in flight and returns the child's `ResponseRecord`. Each child
(engine/load_worker.py) opens and warms its own connections before the run's clock starts and measures itself
(event-loop lag, send lag), which `close()` returns for the run's self-measurement (selfcheck.merge_reports).

Clocks: `time.perf_counter_ns()` is CLOCK_MONOTONIC on Linux, one clock for every process of the machine, so
the parent's intended send and a child's send and arrival stamps are directly comparable. The hop from the
parent's decision to the child's write (pickling, the pipe, the child's loop) is therefore measured, not
assumed: it lands in queue_delay (actual send − intended send) of every request and in the self-measurement's
`dispatch_lag_ms`; TTFT, TPOT and E2E are measured in the child from its own send stamp, so the hop is not in them.

Wire format: length-prefixed (4 bytes, big-endian) pickle frames over the child's stdin and stdout. The
parent sends ("config", {...}) once (API keys travel here, never on a command line or in the environment),
then ("send", id, provider, LLMRequest), ("cancel", id) and ("close",); a child answers ("ready", pid),
("result", id, ResponseRecord), ("error", id, message) and, on close, ("report", self-measurement). A child
exits when its stdin closes, so it never outlives the run's process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import pickle
import signal
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchlab.engine.response import ResponseRecord
from benchlab.engine.transport_http import LLMRequest

log = logging.getLogger(__name__)

WORKER_MODULE = "benchlab.engine.load_worker"
START_TIMEOUT_S = 60.0       # a child starts, opens and warms its connections within this
CLOSE_TIMEOUT_S = 5.0        # a child sends its report and exits within this, or it is killed
ANSWER_GRACE_S = 30.0        # beyond the request timeout: a child alive but silent this long is given up on
_HEADER = struct.Struct(">I")


class LoadWorkerLost(RuntimeError):
    """A load-generator process died, or stopped answering: the requests it had in flight cannot be timed."""


def write_frame(writer: asyncio.StreamWriter, message: tuple[Any, ...]) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_HEADER.pack(len(payload)) + payload)


async def read_frame(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """The next message; raises asyncio.IncompleteReadError when the other side has gone."""
    size, = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
    return message


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PoolProvider:
    """What a child needs to open one provider's transport. The key is sent over the pipe, never logged."""

    name: str
    api: str                      # "openai" (OpenAI-compatible) or "anthropic" (Messages API)
    api_base: str
    api_key: str | None = field(repr=False)
    connections: int              # per child
    warm_up: int                  # connections each child opens before the run's clock starts


@dataclass
class _Child:
    index: int
    process: asyncio.subprocess.Process
    stdin: asyncio.StreamWriter
    stdout: asyncio.StreamReader
    pending: dict[int, asyncio.Future[ResponseRecord]] = field(default_factory=dict)
    report: asyncio.Future[dict[str, Any]] | None = None
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


class RemoteTransport:
    """One provider's `Transport` over the pool: connections are the children's, opened by `LoadPool.start`."""

    def __init__(self, pool: LoadPool, provider: str) -> None:
        self._pool, self._provider = pool, provider

    async def send(self, request: LLMRequest) -> ResponseRecord:
        return await self._pool.send(self._provider, request)

    async def warm_up(self, connections: int) -> None:
        """The children warmed their connections when the pool started."""

    async def close(self) -> None:
        """The pool is closed once, by its owner (the children's reports come back then)."""


class LoadPool:
    """N load-generator processes; `send` dispatches one request attempt to the least busy one."""

    def __init__(self, processes: int, providers: list[PoolProvider], timeout_s: float) -> None:
        self.processes = processes
        self.providers = providers
        self.timeout_s = timeout_s
        self.dispatch_lag_ms: list[float] = []   # parent's decision to send -> the child wrote the bytes
        self._children: list[_Child] = []
        self._ids = itertools.count()
        self._broken: str | None = None
        self._closing = False

    def transport(self, provider: str) -> RemoteTransport:
        return RemoteTransport(self, provider)

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children]

    async def start(self) -> None:
        """Start the children and wait until each has opened and warmed its connections."""
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await asyncio.gather(*(self._start_child(index) for index in range(self.processes)))
        except BaseException as exc:
            await self.close()
            if isinstance(exc, TimeoutError):
                raise LoadWorkerLost(f"the load-generator processes did not get ready within {START_TIMEOUT_S:g} s "
                                     "(starting Python and opening their connections)") from None
            raise

    async def _start_child(self, index: int) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", WORKER_MODULE, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        child = _Child(index, process, process.stdin, process.stdout)
        self._children.append(child)
        write_frame(child.stdin, ("config", {"index": index, "timeout_s": self.timeout_s,
                                             "providers": self.providers}))
        await child.stdin.drain()
        try:
            message = await read_frame(child.stdout)
        except asyncio.IncompleteReadError:
            raise LoadWorkerLost(f"load-generator process {index + 1} of {self.processes} (pid {child.pid}) "
                                 f"{await _how_it_ended(process)} before it was ready (see its stderr)") from None
        if message[0] != "ready":
            raise LoadWorkerLost(f"load-generator process {index + 1} did not start: {message[1:]}")
        child.report = asyncio.get_running_loop().create_future()
        child.reader = asyncio.create_task(self._read(child), name=f"load-worker-{index + 1}")

    async def send(self, provider: str, request: LLMRequest) -> ResponseRecord:
        if self._broken is not None:
            raise LoadWorkerLost(self._broken)
        if self._closing:
            raise LoadWorkerLost("the load-generator processes were stopped")
        child = min(self._children, key=lambda c: len(c.pending))
        request_id = next(self._ids)
        answer: asyncio.Future[ResponseRecord] = asyncio.get_running_loop().create_future()
        child.pending[request_id] = answer
        decided_ns = time.perf_counter_ns()
        write_frame(child.stdin, ("send", request_id, provider, request))
        try:
            async with asyncio.timeout(self.timeout_s + ANSWER_GRACE_S):
                record = await answer
        except TimeoutError:
            raise LoadWorkerLost(f"load-generator process {child.index + 1} of {self.processes} (pid {child.pid}) "
                                 f"gave no answer within {self.timeout_s + ANSWER_GRACE_S:g} s (the request "
                                 f"timeout is {self.timeout_s:g} s)") from None
        except asyncio.CancelledError:
            if not answer.done() and not self._closing and child.process.returncode is None:
                write_frame(child.stdin, ("cancel", request_id))  # the child stops that request too
            raise
        finally:
            child.pending.pop(request_id, None)
        if not record.first_on_connection:
            self.dispatch_lag_ms.append(max(0.0, (record.send_ns - decided_ns) / 1e6))
        return record

    async def _read(self, child: _Child) -> None:
        """Answers from one child, until it closes its stdout (it exited, or was killed)."""
        try:
            while True:
                message = await read_frame(child.stdout)
                kind = message[0]
                if kind == "result" or kind == "error":
                    answer = child.pending.get(message[1])
                    if answer is None or answer.done():
                        continue  # cancelled meanwhile
                    if kind == "result":
                        answer.set_result(message[2])
                    else:
                        answer.set_exception(LoadWorkerLost(
                            f"load-generator process {child.index + 1}: the request failed: {message[2]}"))
                elif kind == "report" and child.report is not None and not child.report.done():
                    child.report.set_result(message[1])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self._closing:
            return
        how = await _how_it_ended(child.process)
        self._broken = (f"load-generator process {child.index + 1} of {self.processes} (pid {child.pid}) {how} "
                        f"during the run, with {len(child.pending)} request(s) in flight; the run cannot go on "
                        "without it (its requests are not recorded; resume the run to send them)")
        log.error("%s", self._broken)
        self._fail_pending(child, self._broken)

    def _fail_pending(self, child: _Child, reason: str) -> None:
        for answer in child.pending.values():
            if not answer.done():
                answer.set_exception(LoadWorkerLost(reason))
        if child.report is not None and not child.report.done():
            child.report.cancel()

    async def close(self) -> list[dict[str, Any]]:
        """Stop the children (requests still in flight end with them); returns the self-measurement report of
        each child that could send one."""
        self._closing = True
        await asyncio.gather(*(self._close_child(child) for child in self._children), return_exceptions=True)
        reports = []
        for child in self._children:
            self._fail_pending(child, "the load-generator processes were stopped")
            if child.report is not None and child.report.done() and not child.report.cancelled():
                reports.append(child.report.result())
        return reports

    async def _close_child(self, child: _Child) -> None:
        process = child.process
        if process.returncode is None and child.report is not None:
            write_frame(child.stdin, ("close",))
            await asyncio.wait({child.report}, timeout=CLOSE_TIMEOUT_S)  # a dead or stuck child is killed below
        child.stdin.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            log.warning("load-generator process %s (pid %s) did not exit; killing it", child.index + 1, child.pid)
            process.kill()
            await process.wait()
        if child.reader is not None:
            await asyncio.gather(child.reader, return_exceptions=True)


async def _how_it_ended(process: asyncio.subprocess.Process) -> str:
    try:
        async with asyncio.timeout(2.0):
            code = await process.wait()
    except TimeoutError:
        return "stopped answering (its output closed)"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def per_process(total: int, processes: int) -> int:
    """What each of `processes` needs so that together they hold `total` (connections, streams)."""
    return max(1, math.ceil(total / processes))
