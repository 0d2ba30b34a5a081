"""`benchlab serve`: own the data dir, open and migrate the stores, then run uvicorn until a signal.

Once it listens, a server that owns the data dir (embedded stores) says so in `<data dir>/server.json`
(client/local_server.py), with a local CLI token in local mode (auth/local_cli.py), so `benchlab run` and
`benchlab eval` on the same data dir submit to it instead of failing with "data dir in use". The file is
removed when the server stops.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from functools import partial

import uvicorn
from starlette.types import ASGIApp

from benchlab import __version__
from benchlab.app import create_app
from benchlab.auth.local_cli import LocalCliCredential, new_local_cli_credential
from benchlab.auth.local_mode import check_listen_address, create_login_link
from benchlab.client.local_server import LocalServer, remove_server_file, write_server_file
from benchlab.commands.signals import STOP_SIGNALS, announce_signals, signals_held
from benchlab.config import Settings, redact_url
from benchlab.errors import BenchlabError
from benchlab.metrics_endpoint import MetricsListener
from benchlab.runtime import Runtime
from benchlab.stores.local import local_stores

log = logging.getLogger("benchlab")


async def serve(settings: Settings) -> None:
    started = time.perf_counter()
    check_listen_address(settings)  # before any store starts: a refusal is one line and nothing to undo
    listeners = bind_listeners(settings.host, settings.port)
    try:
        metrics = MetricsListener.start(settings)  # BENCHLAB_METRICS_PORT: bound before the stores, as the port
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    try:
        await _serve(settings, listeners, started)
    finally:
        for sock in listeners:
            sock.close()
        if metrics is not None:
            await asyncio.to_thread(metrics.stop)
    log.info("benchlab stopped cleanly")


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """Bind the listening sockets before any store starts, the way uvicorn would (every address the host
    resolves to), and hand them to uvicorn: a busy port is then one line naming the flags to change, not
    uvicorn's log line and exit 3 after the stores started, and no other process can take the port between
    the check and the serving."""
    try:
        addresses = dict.fromkeys((family, kind, proto, address) for family, kind, proto, _, address in
                                  socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                     flags=socket.AI_PASSIVE))
    except OSError as exc:
        raise BenchlabError(f"cannot listen on {host}: {exc.strerror or exc}; give an address of this machine "
                            "with --host or BENCHLAB_HOST") from None
    listeners: list[socket.socket] = []
    try:
        for family, kind, proto, address in addresses:
            sock = socket.socket(family, kind, proto)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart over TIME_WAIT
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in listeners:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BenchlabError(f"port {port} on {host} is already in use (another benchlab serve?); stop that "
                                "process or choose another port with --port or BENCHLAB_PORT") from None
        raise BenchlabError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; change --host / "
                            "BENCHLAB_HOST or --port / BENCHLAB_PORT") from None
    return listeners


async def _serve(settings: Settings, listeners: list[socket.socket], started: float) -> None:
    if settings.uses_chdb:
        log.info("embedded ClickHouse (chDB) allows one server process per data dir; use a ClickHouse server "
                 "(BENCHLAB_CLICKHOUSE_URL) to run several workers or replicas")
    with local_stores(settings, starting=lambda: signals_held("PostgreSQL has started")) as resolved:
        runtime = await Runtime.open(resolved, embedded_postgres=settings.embedded_postgres)
        try:
            report = await runtime.migrate()
            for run_id in await runtime.recover_interrupted_runs():
                log.warning("run %s was left running by a process that stopped; marked interrupted (resumable)",
                            run_id)
            applied = len(report.postgres) + len(report.clickhouse)
            if applied:
                log.info("applied %d migration(s)", applied)
            login_link = None
            local_token: str | None = None
            local_cli: LocalCliCredential | None = None
            if resolved.local_mode:
                async with runtime.pg.acquire() as conn:
                    login_link = await create_login_link(conn, resolved)
                    if settings.owns_data_dir:
                        local_token, local_cli = await new_local_cli_credential(conn)
            server = uvicorn.Server(uvicorn_config(create_app(resolved, runtime, local_cli), resolved))
            listening = None
            if settings.owns_data_dir:
                listening = partial(_write_server_file, settings, listeners, local_token)
            announcer = asyncio.create_task(_announce_when_started(server, runtime, started, login_link, listening))
            # While uvicorn serves it handles SIGINT/SIGTERM itself (graceful drain) and re-raises them
            # afterwards; a no-op handler underneath lets this function's cleanup run after that, and later
            # signals only say that the server is stopping (they must not cut the stores' shutdown short).
            for each in STOP_SIGNALS:
                signal.signal(each, signal.SIG_IGN)
            try:
                await server.serve(sockets=listeners)
            finally:
                announcer.cancel()
                if settings.owns_data_dir:
                    remove_server_file(settings.data_dir, os.getpid())
                announce_signals()
        finally:
            await runtime.close()


def _write_server_file(settings: Settings, listeners: list[socket.socket], token: str | None) -> None:
    """Tell commands on this data dir where this server listens (and, in local mode, its local CLI token)."""
    host, port = listeners[0].getsockname()[:2]
    family = listeners[0].family
    if host in ("0.0.0.0", "::"):
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        write_server_file(settings.data_dir, LocalServer(url=url, pid=os.getpid(), token=token, version=__version__))
    except OSError as exc:  # commands on this data dir then report it as in use, as before
        log.warning("could not write %s/server.json (%s); `benchlab run` on this data dir cannot find this server",
                    settings.data_dir, exc.strerror or exc)


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """How `serve` runs uvicorn (benchmarks use the same). No per-message deflate on WebSockets: progress
    messages are small, and compressing each one for each of hundreds of subscribers costs more CPU than
    the bytes it saves on a LAN."""
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                          lifespan="on", ws="websockets-sansio", ws_per_message_deflate=False,
                          timeout_graceful_shutdown=10)


async def _announce_when_started(server: uvicorn.Server, runtime: Runtime, started: float,
                                 login_link: str | None, listening: Callable[[], None] | None = None) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a bool, not an event
        await asyncio.sleep(0.02)
    if listening is not None:  # before the banner: once it says "ready", server.json is there
        listening()
    settings = runtime.settings
    base = f"http://{settings.host}:{settings.port}"
    postgres = "embedded" if runtime.embedded_postgres else redact_url(settings.database_url or "")
    print(f"benchlab {__version__} ready in {time.perf_counter() - started:.2f}s, listening on {base}\n"
          f"  GraphQL:  {base}/graphql   health: {base}/healthz   readiness: {base}/readyz\n"
          f"  data dir: {settings.data_dir}\n"
          f"  PostgreSQL: {postgres}   ClickHouse: {redact_url(settings.effective_clickhouse_url)}"
          f"   realtime: {redact_url(settings.redis_url or 'memory://')}", flush=True)
    if login_link:  # local mode: printed, never logged (it is a credential for whoever reads this terminal)
        print(f"  sign in: {login_link}\n"
              "           (local mode: one-time link for the local admin, valid 24 h; no identity provider "
              "is configured)", flush=True)
