"""One sign-in in a real browser: headless Chromium signs in through the identity provider's own page,
lands on /graphql, and runs a query there with the session cookie it was given.

GraphiQL's scripts come from a CDN this machine cannot reach, so the query is sent from the page's own
JavaScript context (same origin, cookies attached by the browser), which is what GraphiQL does.
CI installs Debian's chromium and chromium-driver (.ci/run); where they are missing the test is skipped,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.oidc import CLIENT_ID, CLIENT_SECRET, mock_provider
from tests.helpers.server_process import ServerProcess, free_port
from tests.helpers.webdriver import chromium_available, headless_chromium

QUERY_FROM_PAGE = """
const done = arguments[arguments.length - 1];
fetch('/graphql', {method: 'POST', headers: {'content-type': 'application/json'},
                   body: JSON.stringify({query: '{ viewer { kind email isInstanceAdmin } }'})})
  .then(r => r.json()).then(body => done({body: body, cookies: document.cookie}))
  .catch(e => done({error: String(e)}));
"""


@pytest.mark.skipif(not chromium_available() and os.environ.get("CI") != "true",
                    reason="needs Debian's chromium and chromium-driver (installed by .ci/run)")
def test_sign_in_through_the_provider_page_then_query_from_graphiql(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with mock_provider() as issuer:
        env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
               "BENCHLAB_PUBLIC_URL": base, "BENCHLAB_OIDC_PROVIDERS": "acme",
               "BENCHLAB_OIDC_ACME_ISSUER": issuer, "BENCHLAB_OIDC_ACME_CLIENT_ID": CLIENT_ID,
               "BENCHLAB_OIDC_ACME_CLIENT_SECRET": CLIENT_SECRET, "BENCHLAB_OIDC_ACME_DISPLAY_NAME": "Acme SSO"}
        with ServerProcess(env, port=port) as server, headless_chromium() as browser:
            server.wait_ready()
            browser.go(f"{base}/auth/login")
            browser.click(browser.find('a[href*="/auth/login/acme"]'))
            sub = browser.find('input[name="sub"]')  # the identity provider's own consent page
            assert browser.url.startswith(issuer)
            browser.type(sub, "ada@example.com")
            browser.click(browser.find('button[type="submit"]'))
            landed = browser.wait_for_url(f"{base}/graphql")
            assert "error" not in landed
            result = browser.run_async(QUERY_FROM_PAGE)
    assert "error" not in result, result
    viewer = result["body"]["data"]["viewer"]
    assert viewer == {"kind": "user", "email": "ada@example.com", "isInstanceAdmin": True}  # the first user
    assert "benchlab_access" not in result["cookies"], "session cookies must be HttpOnly"
