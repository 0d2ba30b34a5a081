"""Sign-in tests against real identity providers: oidc-provider-mock in a thread, scripted like a browser.

`login(client)` walks the whole flow without a browser: GET /auth/login/<provider> on our app -> the
provider's authorize URL -> POST its consent form with a `sub` -> the provider's redirect to our callback
-> GET the callback with the client's cookies. Each step is a function too, so tests can tamper in between.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import oidc_provider_mock
from starlette.testclient import TestClient

from benchlab.config import OidcProvider, Settings

CLIENT_ID = "benchlab-test-client"
CLIENT_SECRET = "benchlab-test-secret"
PUBLIC_URL = "http://testserver"


@contextmanager
def mock_provider() -> Iterator[str]:
    """oidc-provider-mock on a free loopback port; yields its issuer URL."""
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def with_provider(settings: Settings, issuer: str, name: str = "acme", **changes: Any) -> Settings:
    provider = OidcProvider(name, issuer, CLIENT_ID, CLIENT_SECRET, display_name=name.title())
    return dataclasses.replace(settings, oidc_providers=(*settings.oidc_providers, provider),
                               public_url_override=PUBLIC_URL, **changes)


def set_claims(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    """Make the mock put these claims (besides `sub`) in the user's tokens."""
    response = httpx.put(f"{issuer}/users/{sub}", json=claims)
    assert response.status_code == 204, response.text


def start(client: TestClient, provider: str = "acme", return_to: str | None = None) -> str:
    """GET /auth/login/<provider>: returns the provider's authorize URL we were sent to."""
    query = f"?{urlencode({'return_to': return_to})}" if return_to is not None else ""
    response = client.get(f"/auth/login/{provider}{query}", follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def consent(authorize_url: str, sub: str = "alice@example.com", **form: str) -> str:
    """Submit the mock's consent form; returns the callback URL (our redirect URI with code and state)."""
    response = httpx.post(authorize_url, data={"sub": sub, **form}, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def callback(client: TestClient, callback_url: str) -> httpx.Response:
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL, callback_url
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def login(client: TestClient, sub: str = "alice@example.com", provider: str = "acme",
          return_to: str | None = None) -> httpx.Response:
    return callback(client, consent(start(client, provider, return_to), sub))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def replace_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {**query_of(url), **params}
    return urlunsplit(parts._replace(query=urlencode(query)))


def login_error(response: httpx.Response) -> str | None:
    """The `error` code of a redirect to the login page (None if it is not one)."""
    location = response.headers.get("location", "")
    if response.status_code not in (302, 303) or not location.startswith("/auth/login?"):
        return None
    return query_of(location).get("error")
