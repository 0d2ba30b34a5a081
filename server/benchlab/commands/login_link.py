"""`benchlab login-link`: a new one-time sign-in link for local mode's admin, with or without a server running.

Local mode's browser session ends when its refresh token does (14 days by default) or at sign-out; after
that the only way back in used to be restarting the server for a fresh link. This command makes one instead.

Where the link is stored: with external PostgreSQL (BENCHLAB_DATABASE_URL), there. With the embedded one, a
running `benchlab serve` owns the data dir (its lock) and its PostgreSQL listens only on a Unix socket inside
the data dir (`run/`, mode 0700): like Jupyter's runtime files, permission to read the data dir is the
credential, so we connect to that socket as the server does. With no server running we start the embedded
PostgreSQL for a moment, as `benchlab migrate` does (commands/configured_postgres.py, shared with `benchlab
keys`). The link names the running server's address (the port
it listens on, found from its process) unless BENCHLAB_PUBLIC_URL says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from benchlab.auth.local_mode import LINK_TTL_S, create_login_link
from benchlab.commands.configured_postgres import Reached, on_configured_postgres
from benchlab.config import Settings
from benchlab.errors import BenchlabError
from benchlab.stores.datadir import LOCK_FILE_NAME
from benchlab.stores.postgres import PgConnection


def login_link_command(settings: Settings) -> int:
    if not settings.local_mode:
        raise BenchlabError("login links are for local mode only (no identity provider); with "
                            f"BENCHLAB_OIDC_PROVIDERS set, sign in at {settings.public_url}/auth/login")

    async def job(conn: PgConnection) -> str:
        base_url = _running_server_url(settings) if settings.embedded_postgres else None
        return await create_login_link(conn, settings, base_url)

    link, reached = on_configured_postgres(settings, job)
    return _print(link, running={Reached.EXTERNAL: None, Reached.STARTED: False, Reached.RUNNING: True}[reached])


def _running_server_url(settings: Settings) -> str | None:
    """`http://host:port` the server holding the data dir listens on (None: unknown, use the settings')."""
    if settings.public_url_override:
        return None
    try:
        pid = int((Path(settings.data_dir) / LOCK_FILE_NAME).read_text().split()[0])
        listening = [c.laddr for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    if not listening:
        return None  # a `benchlab run`, not a server: the settings' address is as good a guess as any
    host, port = listening[0].ip, listening[0].port  # loopback: local mode listens nowhere else
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _print(link: str, *, running: bool | None) -> int:
    print(f"sign in: {link}\n  one-time link for the local admin, valid {LINK_TTL_S // 3600} h; using it retires "
          "every other unused link")
    if running is False:
        print("  no server is running on this data dir: start `benchlab serve`, then open the link")
    return 0
