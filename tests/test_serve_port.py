"""`benchlab serve` on a port something else holds: one line naming the port and the flags, before any store starts."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.helpers.server_process import run_cli


def test_a_busy_port_is_one_line_and_starts_no_store(tmp_path: Path) -> None:
    # Another server (here a plain socket) listens on the port; this data dir is free, so the data-dir lock,
    # which stops a second serve on the same data dir, does not come into play.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli(["serve", "--port", str(port)], {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert result.stderr.strip().splitlines() == [
        f"benchlab: error: port {port} on 127.0.0.1 is already in use (another benchlab serve?); stop that process "
        "or choose another port with --port or BENCHLAB_PORT"], output
    assert not (tmp_path / "data" / "postgres").exists()  # refused before embedded PostgreSQL was initialised

