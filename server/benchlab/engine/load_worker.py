"""A load-generator process (`python -m benchlab.engine.load_worker`), started by engine/load_pool.py.

It reads its configuration from stdin, opens and warms its connections with benchlab's own HTTP client, says
it is ready, then sends each request attempt it is given and answers with the `ResponseRecord`, stamped here
(the send as the bytes are written, each event as its bytes arrive). Its own event loop is measured as the
run's is (selfcheck.py); the report goes back when the pool closes. It exits when told to close or when its
stdin closes (the run's process has gone), cancelling whatever it still has in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from typing import Any

from benchlab.engine.direct_transports import open_direct
from benchlab.engine.load_pool import PoolProvider, read_frame, write_frame
from benchlab.engine.response import ResponseRecord
from benchlab.engine.selfcheck import SelfMeasurement
from benchlab.engine.transport_http import LLMRequest, PooledTransport

TRANSPORT_CLOSE_S = 2.0


class _Worker:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.transports: dict[str, PooledTransport] = {}
        self.monitor = SelfMeasurement()
        self.tasks: dict[int, asyncio.Task[None]] = {}

    async def serve(self) -> None:
        kind, config = await read_frame(self.reader)
        if kind != "config":
            raise RuntimeError(f"expected the configuration first, not {kind!r}")
        providers: list[PoolProvider] = config["providers"]
        for provider in providers:
            self.transports[provider.name] = open_direct(provider.api, provider.api_base, provider.api_key,
                                                         provider.connections, config["timeout_s"])
        await asyncio.gather(*(self.transports[p.name].warm_up(p.warm_up) for p in providers))
        self.monitor.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        write_frame(self.writer, ("ready", os.getpid()))
        try:
            await self._receive()
        finally:
            in_flight = list(self.tasks.values())
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await self.monitor.stop()
            report: dict[str, Any] = self.monitor.report()
            wall_s = time.perf_counter() - wall0
            report.update(pid=os.getpid(), index=config["index"], cpu_s=round(time.process_time() - cpu0, 3),
                          wall_s=round(wall_s, 3))
            with contextlib.suppress(Exception):
                write_frame(self.writer, ("report", report))
                await self.writer.drain()
            for transport in self.transports.values():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(TRANSPORT_CLOSE_S):
                        await transport.close()

    async def _receive(self) -> None:
        while True:
            try:
                message = await read_frame(self.reader)
            except asyncio.IncompleteReadError:
                return  # the run's process has gone: nobody is waiting for answers
            if message[0] == "send":
                _, request_id, provider, request = message
                self._start(request_id, provider, request)
            elif message[0] == "cancel":
                running = self.tasks.get(message[1])
                if running is not None:
                    running.cancel()
            elif message[0] == "close":
                return

    def _start(self, request_id: int, provider: str, request: LLMRequest) -> None:
        task = asyncio.create_task(self._send(request_id, provider, request))
        self.tasks[request_id] = task

        def forget(_: asyncio.Task[None]) -> None:
            self.tasks.pop(request_id, None)

        task.add_done_callback(forget)

    async def _send(self, request_id: int, provider: str, request: LLMRequest) -> None:
        decided_ns = time.perf_counter_ns()
        try:
            record: ResponseRecord = await self.transports[provider].send(request)
        except Exception as exc:  # not a request failure the transport classifies: the run's to report
            write_frame(self.writer, ("error", request_id, f"{type(exc).__name__}: {exc}"))
            return
        if not record.first_on_connection:
            self.monitor.record_send_lag(decided_ns, record.send_ns)
        write_frame(self.writer, ("result", request_id, record))


async def _main(in_fd: int, out_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", buffering=0))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        os.fdopen(out_fd, "wb", buffering=0))
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    try:
        await _Worker(reader, writer).serve()
    finally:
        writer.close()


def main() -> None:
    # The pipes are kept on private descriptors; stdin reads nothing and stdout goes to stderr, so a stray
    # print can never corrupt a frame.
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(in_fd, out_fd))


if __name__ == "__main__":
    main()
