"""`<data dir>/server.json`: how a running `benchlab serve` makes itself known to commands on the same data dir.

Embedded mode allows one process per data dir, so `benchlab run` and `benchlab eval` cannot open the stores
while `serve` holds them; they submit to that server through its API instead. `serve` writes this file once
it listens (atomically: a temporary file, then a rename) and removes it when it stops cleanly:

    {"url": "http://127.0.0.1:8000", "pid": 4242, "token": "bll_…", "version": "0.1.0"}

`token` is the local CLI credential (auth/local_cli.py), present in local mode only; so the file is created
with mode 0600, readable by the data dir's owner alone. A file whose process is gone (a crash, `kill -9`) is
ignored, as is one whose server does not answer: the command then runs on the stores itself, or reports the
data dir as in use.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

SERVER_FILE_NAME = "server.json"


@dataclass(frozen=True)
class LocalServer:
    url: str
    pid: int
    token: str | None
    version: str


def server_file(data_dir: Path) -> Path:
    return data_dir / SERVER_FILE_NAME


def write_server_file(data_dir: Path, server: LocalServer) -> None:
    """Write the file atomically with mode 0600 (it may hold the local token)."""
    path = server_file(data_dir)
    temporary = path.with_name(f".{SERVER_FILE_NAME}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    document = {"url": server.url, "pid": server.pid, "version": server.version}
    if server.token is not None:
        document["token"] = server.token
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def remove_server_file(data_dir: Path, pid: int) -> None:
    """Remove the file if it is this process's (`pid`); a newer server's file is left alone."""
    found = read_server_file(data_dir, check_alive=False)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            server_file(data_dir).unlink()


def read_server_file(data_dir: Path, *, check_alive: bool = True) -> LocalServer | None:
    """The server that wrote the file, or None: no file, an unreadable one, or (`check_alive`) its process gone."""
    try:
        document = json.loads(server_file(data_dir).read_text(encoding="utf-8"))
        server = LocalServer(url=str(document["url"]), pid=int(document["pid"]),
                             token=str(document["token"]) if document.get("token") else None,
                             version=str(document.get("version", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if check_alive and not _process_exists(server.pid):
        return None
    return server


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, though its file would not be readable
        return True
    return True
