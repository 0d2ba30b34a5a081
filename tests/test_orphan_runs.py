"""README: "A run left running by a crashed process is marked `interrupted` at the next start", by `benchlab serve`
and by `benchlab run`, as real processes on a database that holds such runs.

A run's owner is gone when it ran on this host and its pid no longer exists, or when its heartbeat is older
than HEARTBEAT_STALE_S (a process on another host that stopped beating). Runs whose owner is alive, here or
elsewhere, are left alone.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from cryptography.fernet import Fernet

from benchlab.catalog import register_experiment
from benchlab.engine.runs import planned_total
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.runs import HEARTBEAT_STALE_S, create_run
from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import ServerProcess, free_port, run_cli

HOST = socket.gethostname()
NO_SUCH_PID = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # above the kernel's limit: never a process


async def leave_runs(pg: asyncpg.Connection, base_url: str) -> dict[str, UUID]:
    """Runs as processes leave them: `running`, with an owner and a last heartbeat."""
    spec = load_spec(mock_spec(base_url, items=3))
    registered = await register_experiment(pg, spec, SecretBox(Fernet.generate_key()))
    owners = {
        "crashed here": (f"{HOST}:{NO_SUCH_PID}", 0),
        "silent elsewhere": ("another-host:4242", HEARTBEAT_STALE_S + 60),
        "alive elsewhere": ("another-host:4243", 0),
        "alive here": (f"{HOST}:{os.getpid()}", 0),
    }
    runs = {}
    for name, (owner, heartbeat_age_s) in owners.items():
        run_id = await create_run(pg, registered.project_id, registered.experiment_id, spec.to_dict(),
                                  planned_total(spec))
        await pg.execute("UPDATE runs SET status = 'running', started_at = now(), owner = $2, "
                         "heartbeat_at = now() - make_interval(secs => $3) WHERE id = $1",
                         run_id, owner, heartbeat_age_s)
        runs[name] = run_id
    return runs


async def statuses(pg: asyncpg.Connection, runs: dict[str, UUID]) -> dict[str, tuple[str, str | None]]:
    rows = {r["id"]: r for r in await pg.fetch("SELECT id, status, error FROM runs WHERE id = ANY($1)",
                                               list(runs.values()))}
    return {name: (rows[run_id]["status"], rows[run_id]["error"]) for name, run_id in runs.items()}


def assert_orphans_interrupted(found: dict[str, tuple[str, str | None]], *, resumed: str | None = None) -> None:
    for name in ("crashed here", "silent elsewhere"):
        if name != resumed:
            status, error = found[name]
            assert status == "interrupted" and "resume" in error, (name, found)
    assert found["alive elsewhere"] == ("running", None) and found["alive here"] == ("running", None), found


async def test_serve_marks_orphaned_runs_interrupted_at_start(tmp_path: Path, database_url: str,
                                                             pg: asyncpg.Connection) -> None:
    runs = await leave_runs(pg, "http://127.0.0.1:9/v1")
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url}
    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready()  # orphans are marked before the server listens
        assert_orphans_interrupted(await statuses(pg, runs))
        log = server.output
    for name in ("crashed here", "silent elsewhere"):
        assert f"run {runs[name]} was left running by a process that stopped" in log, log


async def test_run_marks_orphaned_runs_interrupted_at_start_and_resumes_one(tmp_path: Path, database_url: str,
                                                                            pg: asyncpg.Connection) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        runs = await leave_runs(pg, mock.base_url)
        # Only an interrupted run can be resumed: this one is, once `run` marked it at its start.
        result = run_cli(["run", "--resume", str(runs["crashed here"]), "--json"],
                         {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url},
                         timeout=180)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["runId"] == str(runs["crashed here"]) and report["status"] == "completed"
    assert sum(group["requests"] for group in report["summary"]["groups"]) == 3
    found = await statuses(pg, runs)
    assert found["crashed here"] == ("completed", None)
    assert_orphans_interrupted(found, resumed="crashed here")
