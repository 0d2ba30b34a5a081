"""`benchlab serve` on embedded defaults, as a real process: start, stop, crash, restart, exclusivity."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import httpx

from benchlab.stores.embedded_postgres import EmbeddedPostgres
from tests.helpers.server_process import ServerProcess, free_port, postgres_processes, run_cli


def embedded_env(data_dir: Path) -> dict[str, str]:
    return {"BENCHLAB_DATA_DIR": str(data_dir)}


def count_projects(data_dir: Path, insert_slug: str | None = None) -> int:
    """Talk to the server's own PostgreSQL through its socket (the server must be running)."""
    async def run() -> int:
        conn = await asyncpg.connect(EmbeddedPostgres(data_dir).url)
        try:
            if insert_slug:
                await conn.execute("INSERT INTO projects (slug, name) VALUES ($1, $1)", insert_slug)
            return await conn.fetchval("SELECT count(*) FROM projects")
        finally:
            await conn.close()

    return asyncio.run(run())


def test_first_start_restart_and_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pgdata = data_dir / "postgres"
    with ServerProcess(embedded_env(data_dir), port=free_port()) as server:
        server.wait_ready()
        assert "listening on http://127.0.0.1:" in server.output
        assert f"data dir: {data_dir}" in server.output
        info = httpx.post(f"{server.base_url}/graphql", json={"query": "{ serverInfo { postgresBackend } }"}).json()
        assert info["data"]["serverInfo"]["postgresBackend"] == "embedded"
        assert postgres_processes(pgdata), "embedded PostgreSQL should be running"
        assert count_projects(data_dir, insert_slug="kept-across-restarts") == 1
        assert server.stop(signal.SIGTERM) == 0
    assert postgres_processes(pgdata) == [], "SIGTERM must not leave PostgreSQL running"

    with ServerProcess(embedded_env(data_dir), port=free_port()) as server:
        server.wait_ready()
        assert count_projects(data_dir) == 1, "data must survive a restart"
        assert "applied" not in server.output, "a warm restart has no migrations left to apply"
        assert server.stop(signal.SIGINT) == 0
    assert postgres_processes(pgdata) == []


def test_recovers_after_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pgdata = data_dir / "postgres"
    with ServerProcess(embedded_env(data_dir), port=free_port()) as server:
        server.wait_ready()
        count_projects(data_dir, insert_slug="before-crash")
        server.stop(signal.SIGKILL)
    # PostgreSQL outlives a kill -9 of its parent; the lock file and postmaster.pid are left behind.
    assert (data_dir / "benchlab.lock").exists()

    with ServerProcess(embedded_env(data_dir), port=free_port()) as server:
        server.wait_ready()
        assert count_projects(data_dir) == 1
        assert server.stop(signal.SIGTERM) == 0
    assert postgres_processes(pgdata) == [], "the adopted PostgreSQL must be stopped too"


def test_second_server_on_the_same_data_dir_fails_at_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ServerProcess(embedded_env(data_dir), port=free_port()) as server:
        server.wait_ready()
        started = time.monotonic()
        second = run_cli(["serve", "--port", str(free_port())], embedded_env(data_dir), timeout=60)
        assert second.returncode == 2
        assert "is in use by another benchlab process" in second.stderr
        assert "Traceback" not in second.stderr
        assert time.monotonic() - started < 30, "must fail at once, not wait for the first server"
        # The first server is untouched.
        assert httpx.get(f"{server.base_url}/readyz").status_code == 200
