"""The GraphiQL page in a real browser (issue 9, items 12 and 13). Headless Chromium here cannot reach the
internet, which is exactly the offline case: the page must say why GraphiQL cannot load and what to do, load
it from BENCHLAB_GRAPHIQL_ASSETS when that is set, and keep a signed-in session alive on its own (renew the
access cookie before it expires, retry once after a refresh on UNAUTHENTICATED).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from benchlab.auth.sessions import issue_access_token
from benchlab.config import Settings
from benchlab.secrets import SecretBox
from tests.helpers.server_process import ServerProcess, free_port
from tests.helpers.webdriver import Browser, chromium_available, headless_chromium

pytestmark = pytest.mark.skipif(not chromium_available() and os.environ.get("CI") != "true",
                                reason="needs Debian's chromium and chromium-driver (installed by .ci/run)")

PAGE_STATE = """
const done = arguments[arguments.length - 1];
const offline = document.getElementById('benchlab-offline');
done({offline: offline && !offline.hidden, text: offline ? offline.innerText : '',
      rendered: Boolean(window.benchlabRendered), graphiql: document.getElementById('graphiql').innerText});
"""
QUERY_FROM_PAGE = """
const done = arguments[arguments.length - 1];
window.benchlab.graphql('{ viewer { kind email } projects(first: 1) { totalCount } }')
  .then(body => done(body)).catch(e => done({error: String(e)}));
"""
SIGNED_IN = {"data": {"viewer": {"kind": "user", "email": "local-admin@localhost"}, "projects": {"totalCount": 0}}}
WAIT_S = 30


def page_state(browser: Browser, until: str) -> dict[str, Any]:
    """Poll the page (at most WAIT_S) until `state[until]` is true."""
    deadline = time.monotonic() + WAIT_S
    while True:
        state = browser.run_async(PAGE_STATE)
        if state[until] or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


@contextmanager
def server(tmp_path: Path, database_url: str, **extra: str) -> Iterator[ServerProcess]:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url, **extra}
    with ServerProcess(env, port=free_port()) as process:
        process.wait_ready()
        yield process


def test_offline_the_page_says_why_graphiql_cannot_load_and_what_to_do(tmp_path: Path, database_url: str) -> None:
    with server(tmp_path, database_url) as process, headless_chromium() as browser:
        started = time.monotonic()
        browser.go(f"{process.base_url}/graphql")
        state = page_state(browser, "offline")
        waited = time.monotonic() - started
    print(f"offline message shown {waited:.1f}s after opening the page")
    assert state["offline"], state
    for said in ("GraphiQL could not load", "POST /graphql", f"curl -X POST {process.base_url}/graphql",
                 "BENCHLAB_GRAPHIQL_ASSETS", "npm install --prefix /opt/graphiql graphiql@3.8.3"):
        assert said in state["text"], (said, state["text"])


STUBS = {  # stand-ins for the npm packages, enough to prove the page loads them from the server, not the CDN
    "react/umd/react.production.min.js": "window.React = {createElement: function (c, p) { return {c: c, p: p}; }};",
    "react-dom/umd/react-dom.production.min.js": (
        "window.ReactDOM = {createRoot: function (el) { return {render: function (e) {"
        " el.textContent = 'graphiql from ' + e.c.source + ', fetcher ' + typeof e.p.fetcher; }}; }};"),
    "graphiql/graphiql.min.js": ("window.GraphiQL = function () {}; window.GraphiQL.source = 'local assets';"
                                 "window.GraphiQL.createFetcher = function (o) { return o.fetch; };"),
    "graphiql/graphiql.min.css": "#graphiql { color: black; }",
}


def test_graphiql_assets_are_served_from_where_they_are_installed(tmp_path: Path, database_url: str) -> None:
    installed = tmp_path / "node_modules"
    for path, text in STUBS.items():
        (installed / path).parent.mkdir(parents=True, exist_ok=True)
        (installed / path).write_text(text)
    with server(tmp_path, database_url, BENCHLAB_GRAPHIQL_ASSETS=str(installed)) as process, \
            headless_chromium() as browser:
        browser.go(f"{process.base_url}/graphql")
        state = page_state(browser, "rendered")
    assert state["rendered"] and not state["offline"], state
    assert state["graphiql"] == "graphiql from local assets, fetcher function", state


async def session_of_local_admin(database_url: str) -> tuple[Any, Any, int]:
    """(user id, session id, used refresh tokens) of the local admin's one session."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT user_id, family_id, count(*) FILTER (WHERE used_at IS NOT NULL) AS used "
                                  "FROM refresh_tokens GROUP BY user_id, family_id")
    finally:
        await conn.close()
    return row["user_id"], row["family_id"], row["used"]


def test_the_page_keeps_a_browser_session_alive(tmp_path: Path, database_url: str) -> None:
    key = Fernet.generate_key()
    with server(tmp_path, database_url, BENCHLAB_SECRET_KEY=key.decode()) as process, \
            headless_chromium() as browser:
        link = re.search(r"sign in: (\S+)", process.output).group(1)
        browser.go(link)
        browser.wait_for_url(f"{process.base_url}/graphql")
        user, session, used = asyncio.run(session_of_local_admin(database_url))
        assert used == 0

        # The access cookie is gone (it expired): `projects` answers UNAUTHENTICATED, the page refreshes, retries.
        browser._call("DELETE", "/cookie/benchlab_access")
        body = browser.run_async(QUERY_FROM_PAGE)
        assert body == SIGNED_IN, body
        assert asyncio.run(session_of_local_admin(database_url))[2] == 1

        # An access cookie about to expire: the page renews it ahead of time, without any request of ours.
        runtime = SimpleNamespace(settings=Settings(data_dir=tmp_path, public_url_override=process.base_url),
                                  secrets=SecretBox(key))
        short = issue_access_token(runtime, user, session, ttl_s=3)  # type: ignore[arg-type]
        browser._call("POST", "/cookie", {"cookie": {"name": "benchlab_access", "value": short, "path": "/",
                                                     "httpOnly": True}})
        browser.go(f"{process.base_url}/graphql")
        started = time.monotonic()
        while asyncio.run(session_of_local_admin(database_url))[2] < 2:
            assert time.monotonic() - started < WAIT_S, "the page did not renew the session before it expired"
            time.sleep(0.2)
        renewed_after = time.monotonic() - started
        time.sleep(max(0.0, 3.5 - renewed_after))  # past the short token's expiry
        body = browser.run_async(QUERY_FROM_PAGE)
    print(f"session renewed {renewed_after:.1f}s after loading a page whose access token had 3 s left")
    assert renewed_after < 3, "renewed before the access token expired"
    assert body == SIGNED_IN, body
    assert asyncio.run(session_of_local_admin(database_url))[2] == 2, "no refresh was needed after that"
