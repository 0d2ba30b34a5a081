"""External stores by URL: the same binary uses them; a bad one is one clear line naming the variable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.server_process import ServerProcess, free_port, run_cli


@pytest.mark.parametrize(("variable", "url"), [
    ("BENCHLAB_DATABASE_URL", "postgresql://bench:s3cr3t-pw@127.0.0.1:{port}/benchlab"),
    ("BENCHLAB_CLICKHOUSE_URL", "http://default:s3cr3t-pw@127.0.0.1:{port}"),
    ("BENCHLAB_REDIS_URL", "redis://:s3cr3t-pw@127.0.0.1:{port}/0"),
])
def test_unreachable_store_is_one_line_naming_the_variable(tmp_path: Path, database_url: str, variable: str,
                                                           url: str) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
           variable: url.format(port=free_port())}
    result = run_cli(["serve", "--port", str(free_port())], env, timeout=60)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].startswith(f"benchlab: error: {variable}: ")
    assert "Traceback" not in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_malformed_url_is_rejected_before_anything_starts(tmp_path: Path) -> None:
    result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": str(tmp_path), "BENCHLAB_DATABASE_URL": "mysql://x@h/db"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("benchlab: error: BENCHLAB_DATABASE_URL: ")
    assert not (tmp_path / "postgres").exists()


def test_server_uses_external_postgres_and_redis(tmp_path: Path, database_url: str, valkey_url: str) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
           "BENCHLAB_REDIS_URL": valkey_url}
    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready()
        body = httpx.post(f"{server.base_url}/graphql",
                          json={"query": "{ serverInfo { postgresBackend realtimeBackend } }"}).json()
        assert body["data"]["serverInfo"] == {"postgresBackend": "external", "realtimeBackend": "redis"}
        assert httpx.get(f"{server.base_url}/readyz").json()["checks"]["realtime"] == "ok"
    assert not (tmp_path / "data" / "postgres").exists(), "no embedded PostgreSQL when a URL is given"
