"""Which server a command talks to, and with which credential; None: run on the stores in this process.

1. `--server URL` or `BENCHLAB_SERVER_URL`: that server, with the API key in `BENCHLAB_API_KEY` (required).
   Nothing local is read or written: no database URL and no data dir are needed.
2. Otherwise, when this command would own the data dir (embedded stores) and a `benchlab serve` holding it
   has written `<data dir>/server.json` (client/local_server.py) and answers: that server, as the local admin
   with the token of that file (local mode), else with `BENCHLAB_API_KEY`.
3. Otherwise None: the command opens the stores itself, as it always did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from benchlab.client.graphql import base_url
from benchlab.client.local_server import LocalServer, read_server_file
from benchlab.config import Settings
from benchlab.errors import BenchlabError

SERVER_URL_ENV = "BENCHLAB_SERVER_URL"
API_KEY_ENV = "BENCHLAB_API_KEY"


@dataclass(frozen=True)
class ServerTarget:
    url: str
    credential: str
    local: LocalServer | None = None  # found through the data dir, not given

    @property
    def server_flag(self) -> str:
        """What a follow-up command needs to reach the same server (` --server URL`, or nothing when local)."""
        return "" if self.local is not None else f" --server {self.url}"


def server_target(flag_url: str | None, settings: Settings,
                  env: Mapping[str, str] | None = None) -> ServerTarget | None:
    env = os.environ if env is None else env
    url = flag_url or env.get(SERVER_URL_ENV, "").strip()
    key = env.get(API_KEY_ENV, "").strip()
    if url:
        if not key:
            raise BenchlabError(f"{API_KEY_ENV} is not set: a server needs an API key (a project admin creates one "
                                "with createApiKey), sent as `Authorization: Bearer blk_…`")
        return ServerTarget(base_url(url), key)
    if not settings.owns_data_dir:
        return None
    found = read_server_file(settings.data_dir)
    if found is None or not _answers(found.url):
        return None
    credential = found.token or key
    if not credential:
        raise BenchlabError(f"data dir {settings.data_dir} is in use by benchlab serve (pid {found.pid}, "
                            f"{found.url}), which has an identity provider: set {API_KEY_ENV} to an API key of "
                            "the spec's project to submit to it")
    return ServerTarget(found.url, credential, found)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False
