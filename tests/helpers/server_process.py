"""Run `benchlab` as a real subprocess: the server on a free port, or any other command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

BENCHLAB = [sys.executable, "-m", "benchlab.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHLAB_")}
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENCHLAB, *args], env=child_env(env), capture_output=True, text=True, timeout=timeout)


class ServerProcess:
    """`benchlab serve` in a subprocess; output goes to a log file the test can read."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path | None = None) -> None:
        self.env = env
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        data_dir = Path(env["BENCHLAB_DATA_DIR"])
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path or data_dir.parent / f"serve-{port}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([*BENCHLAB, "serve", "--port", str(self.port)], env=child_env(self.env),
                                            stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> float:
        """Poll /readyz until 200 and the start-up banner is printed; returns seconds waited.

        The banner is printed by a task polling uvicorn's `started` flag, so /readyz can answer a few
        milliseconds before it: waiting for both keeps assertions on the banner free of that race.
        Fails with the server's output if the server exits.
        """
        started = time.perf_counter()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output}")
            try:
                ready = httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
                if ready and "listening on " in self.output:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """PostgreSQL postmasters serving `pgdata` (to prove none is left behind)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        cmdline = proc.info.get("cmdline") or []
        alive = proc.info.get("status") != psutil.STATUS_ZOMBIE
        if alive and proc.info.get("name") == "postgres" and str(pgdata) in cmdline:
            found.append(proc)
    return found


@contextmanager
def replicas(tmp_path: Path, shared_env: dict[str, str],
             names: tuple[str, ...] = ("a", "b")) -> Iterator[list[ServerProcess]]:
    """Server processes sharing `shared_env` (one database, one Redis, ...), each with its own data dir under
    `tmp_path/<name>`; started together (they boot in parallel), all stopped at the end, and their logs printed
    (pytest shows them only when the test fails)."""
    servers = [ServerProcess({**shared_env, "BENCHLAB_DATA_DIR": str(tmp_path / name / "data")}, port=free_port())
               for name in names]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(timeout=120)
        yield servers
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                try:
                    server.stop()
                except Exception:  # did not stop in time: do not leave it behind
                    server.process.kill()
                    server.process.wait(10)
        for name, server in zip(names, servers, strict=True):
            if server.log_path.exists():
                print(f"----- replica {name.upper()} ({server.base_url}) -----\n{server.output[-6000:]}")
