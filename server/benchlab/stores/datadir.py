"""Exclusive ownership of the data directory.

chDB allows one engine per directory and the embedded PostgreSQL must have one owner, so a second
`benchlab serve` on the same data dir must fail at once rather than hang or corrupt anything. An
`flock` is released by the kernel when the process dies, even on `kill -9`, so no stale lock survives.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from benchlab.errors import ConfigError, DataDirBusyError

LOCK_FILE_NAME = "benchlab.lock"


class DataDirLock:
    """Holds an exclusive, non-blocking lock on `<data_dir>/benchlab.lock` until released."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # read-only file system, no permission, a file in the way: one line, no traceback
            raise ConfigError("BENCHLAB_DATA_DIR", f"cannot create or write {self.data_dir}: "
                              f"{exc.strerror or exc}; point it at a directory this user can write") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirBusyError(
                f"data dir {self.data_dir} is in use by another benchlab process (pid {owner}); "
                "embedded mode allows one server per data dir. Stop that process, point "
                "BENCHLAB_DATA_DIR elsewhere, or use external stores (BENCHLAB_DATABASE_URL, "
                "BENCHLAB_CLICKHOUSE_URL) to run several processes."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
