"""`benchlab` commands as a person runs them in a terminal: signals to the whole process group, output read
while it runs, and the rows a command left in its embedded ClickHouse read back by a separate process.

Ctrl-C in a terminal sends SIGINT to every process of the foreground process group, so each command runs in a
session of its own and `signal_group` reaches it (and any child it started in its group) the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from tests.helpers.server_process import BENCHLAB, child_env


class CliProcess:
    def __init__(self, args: list[str], env: dict[str, str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / f"stdout-{time.monotonic_ns()}.log"
        self.stderr_path = workdir / f"stderr-{time.monotonic_ns()}.log"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen([*BENCHLAB, *args], env=child_env(env), stdout=out, stderr=err,
                                            start_new_session=True)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"benchlab exited ({self.process.returncode}) before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout}s:\n{self.stderr}")
            time.sleep(0.05)

    def signal_group(self, signum: int) -> None:
        """What a terminal does on Ctrl-C (SIGINT) or what a supervisor does to a process group."""
        os.killpg(self.process.pid, signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"benchlab did not exit within {timeout}s:\n{self.stderr}") from None

    def json_report(self) -> dict[str, Any]:
        return json.loads(self.stdout)


_READ_ROWS = textwrap.dedent("""
    import asyncio, json, sys
    from benchlab.stores.clickhouse import ClickHouseStore

    async def main(url, run_id, columns):
        store = ClickHouseStore(url, "benchlab")
        await store.start()
        try:
            result = await store.query(f"SELECT {columns} FROM request_events WHERE run_id = {{run:UUID}}",
                                       {"run": run_id}, caller="tests")
        finally:
            await store.close()
        print(json.dumps(result.dicts(), default=str))

    asyncio.run(main(*sys.argv[1:]))
""")


def stored_rows(data_dir: Path, run_id: UUID | str, columns: str = "*") -> list[dict[str, Any]]:
    """The run's rows in the data dir's embedded ClickHouse (read by another process: chDB allows one engine
    path per process, and the test process has its own)."""
    result = subprocess.run([sys.executable, "-c", _READ_ROWS, f"chdb://{data_dir / 'clickhouse'}", str(run_id),
                             columns], capture_output=True, text=True, timeout=120, env=child_env({}))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def exited_by_signal_status(signum: int) -> int:
    return 128 + signum


SIGINT_STATUS = exited_by_signal_status(signal.SIGINT)
SIGTERM_STATUS = exited_by_signal_status(signal.SIGTERM)
