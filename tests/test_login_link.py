"""`benchlab login-link` (issue 9, item 12): a fresh one-time sign-in link for local mode without a restart,
on the embedded stores, whether `benchlab serve` is running on the data dir or not. Real processes only."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.helpers.server_process import ServerProcess, free_port, run_cli

LINK = re.compile(r"^sign in: (http://[^/\s]+/auth/local\?token=[\w-]+)$", re.M)


def make_link(env: dict[str, str]) -> tuple[str, str]:
    result = run_cli(["login-link"], env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    match = LINK.search(result.stdout)
    assert match, result.stdout
    return match.group(1), result.stdout


def signs_in(link: str) -> httpx.Response:
    return httpx.get(link, follow_redirects=False, timeout=10)


def test_login_link_with_and_without_a_running_server(tmp_path: Path) -> None:
    port = free_port()
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_PORT": "8000"}  # serve is told another port
    made_offline, said = make_link(env)
    assert "no server is running" in said and "benchlab serve" in said
    with ServerProcess(env, port=port) as server:
        server.wait_ready(timeout=120)
        printed_at_start = re.search(r"sign in: (\S+)", server.output).group(1)
        # the link made while no server ran survives the start
        first = signs_in(made_offline.replace(":8000/", f":{port}/"))
        assert first.status_code == 303 and first.headers["location"] == "/graphql", first.headers
        cookie = {"Cookie": f"benchlab_access={first.cookies['benchlab_access']}", "Origin": server.base_url}
        viewer = httpx.post(f"{server.base_url}/graphql", json={"query": "{ viewer { email } }"}, headers=cookie)
        assert viewer.json() == {"data": {"viewer": {"email": "local-admin@localhost"}}}
        # using it retired the link the start printed
        assert signs_in(printed_at_start).headers["location"] == "/auth/login?error=link_expired"
        # while the server runs: a new link through its own PostgreSQL socket, naming the port it listens on
        made_online, said = make_link(env)
        assert made_online.startswith(f"{server.base_url}/auth/local?token="), said
        assert "no server is running" not in said
        again = signs_in(made_online)
        assert again.status_code == 303 and "benchlab_refresh" in again.cookies
        assert signs_in(made_online).headers["location"] == "/auth/login?error=link_used"
        assert server.process is not None and server.process.poll() is None, "the server was not disturbed"


def test_login_link_is_for_local_mode_only(tmp_path: Path) -> None:
    result = run_cli(["login-link"], {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_OIDC_PROVIDERS": "acme",
                                      "BENCHLAB_OIDC_ACME_ISSUER": "https://login.acme.example",
                                      "BENCHLAB_OIDC_ACME_CLIENT_ID": "c", "BENCHLAB_OIDC_ACME_CLIENT_SECRET": "s"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("benchlab: error: login links are for local mode only (no identity provider); "
                                     "with BENCHLAB_OIDC_PROVIDERS set, sign in at http://127.0.0.1:8000/auth/login")
    assert not (tmp_path / "data" / "postgres").exists(), "nothing was started"
