"""Sessions (access JWT + rotating refresh token), cross-site protection, rate limits and local mode.

Sessions here start through local mode's one-time link (no identity provider needed); the OIDC sign-in
that starts them the other way is in test_auth_oidc.py. Local mode is also run for real: `benchlab serve`
prints a link that works once, and refuses to listen beyond loopback without an identity provider.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from joserfc.jwk import RSAKey
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.auth.local_mode import check_listen_address, create_login_link
from benchlab.auth.origin import check_origin
from benchlab.auth.rate_limit import RateLimiter
from benchlab.auth.sessions import (
    AUDIENCE,
    KEY_LABEL,
    InvalidAccessToken,
    issue_access_token,
    verify_access_token,
)
from benchlab.config import OidcProvider, Settings
from benchlab.errors import BenchlabError, ConfigError
from tests.helpers import forged_tokens as forged
from tests.helpers.access import db
from tests.helpers.oidc import PUBLIC_URL, login_error
from tests.helpers.server_process import ServerProcess, free_port, run_cli

SAME_ORIGIN = {"Origin": PUBLIC_URL}


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, oidc_providers=(), public_url_override=PUBLIC_URL)


@pytest.fixture
def app(local_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(local_settings), base_url=PUBLIC_URL) as client:
        yield client


def new_link(client: TestClient) -> str:
    runtime = client.app.state.runtime

    async def create() -> str:
        async with runtime.pg.acquire() as conn:
            return await create_login_link(conn, runtime.settings)

    url = client.portal.call(create)
    assert url.startswith(f"{PUBLIC_URL}/auth/local?token=")
    return url.removeprefix(PUBLIC_URL)


def sign_in(client: TestClient) -> httpx.Response:
    response = client.get(new_link(client), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/graphql", response.headers
    return response


def gql(client: TestClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/graphql", json={"query": "{ __typename }"}, headers=headers or {})


# --- local mode --------------------------------------------------------------------------------------------------

def test_local_link_signs_the_local_admin_in_once(app: TestClient) -> None:
    path = new_link(app)
    first = app.get(path, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/graphql"
    claims = verify_access_token(app.app.state.runtime, app.cookies["benchlab_access"])
    [admin] = db(app, "SELECT id, email, is_instance_admin FROM users")
    assert (admin["id"], admin["email"], admin["is_instance_admin"]) == (claims.user_id, "local-admin@localhost", True)
    [audit] = db(app, "SELECT actor, action, details FROM audit_log")
    assert audit["actor"] == "local-admin@localhost" and audit["details"]["provider"] == "local-link"
    assert path.split("token=")[1] not in audit["details"]

    assert login_error(app.get(path, follow_redirects=False)) == "link_used"
    assert login_error(app.get("/auth/local?token=made-up", follow_redirects=False)) == "link_invalid"
    assert login_error(app.get("/auth/local", follow_redirects=False)) == "link_invalid"
    older, newer, unused = new_link(app), new_link(app), new_link(app)  # a new link leaves older ones alone...
    assert app.get(older, follow_redirects=False).status_code == 303
    assert login_error(app.get(newer, follow_redirects=False)) == "link_expired"  # ...using one retires the rest
    assert login_error(app.get(unused, follow_redirects=False)) == "link_expired"
    assert len(db(app, "SELECT 1 FROM users")) == 1


def test_local_links_do_nothing_once_an_identity_provider_is_configured(local_settings: Settings) -> None:
    with_idp = dataclasses.replace(local_settings, oidc_providers=(
        OidcProvider("acme", "https://login.acme.example", "c", "s"),))
    with TestClient(create_app(with_idp), base_url=PUBLIC_URL) as client:
        path = new_link(client)
        assert login_error(client.get(path, follow_redirects=False)) == "link_invalid"


def test_serve_refuses_a_public_address_without_an_identity_provider(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(["serve", "--host", "0.0.0.0", "--port", str(free_port())],
                     {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "benchlab: error: refusing to listen on 0.0.0.0 without an identity provider: configure "
        "BENCHLAB_OIDC_PROVIDERS or listen on 127.0.0.1")
    assert time.monotonic() - started < 30
    assert not (tmp_path / "data" / "postgres").exists(), "nothing is started before the refusal"


@pytest.mark.parametrize(("host", "providers", "refused"), [
    ("127.0.0.1", False, False), ("::1", False, False), ("localhost", False, False), ("127.0.0.2", False, False),
    ("0.0.0.0", False, True), ("::", False, True), ("192.168.1.20", False, True), ("bench.example.com", False, True),
    ("bench.example.com", True, False),
])
def test_listen_address_rule(tmp_path: Path, host: str, providers: bool, refused: bool) -> None:
    idp = (OidcProvider("acme", "https://login.acme.example", "c", "s"),) if providers else ()
    settings = Settings(data_dir=tmp_path, host=host, oidc_providers=idp)
    if refused:
        with pytest.raises(BenchlabError, match=f"refusing to listen on {re.escape(host)} without"):
            check_listen_address(settings)
    else:
        check_listen_address(settings)


def test_an_identity_provider_on_a_wildcard_address_needs_the_public_url(tmp_path: Path) -> None:
    idp = (OidcProvider("acme", "https://login.acme.example", "c", "s"),)
    with pytest.raises(ConfigError, match="^BENCHLAB_PUBLIC_URL: required when listening on 0.0.0.0"):
        check_listen_address(Settings(data_dir=tmp_path, host="0.0.0.0", oidc_providers=idp))
    check_listen_address(Settings(data_dir=tmp_path, host="0.0.0.0", oidc_providers=idp,
                                  public_url_override="https://bench.example.com"))


def test_serve_prints_a_one_time_sign_in_link(live_server: ServerProcess) -> None:
    match = re.search(r"^  sign in: (http://127\.0\.0\.1:\d+/auth/local\?token=[\w-]+)$", live_server.output, re.M)
    assert match, live_server.output
    link = match.group(1)
    first = httpx.get(link, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/graphql"
    assert "benchlab_access" in first.cookies and "benchlab_refresh" in first.cookies
    again = httpx.get(link, follow_redirects=False)
    assert again.headers["location"] == "/auth/login?error=link_used"
    cookie = {"Cookie": f"benchlab_access={first.cookies['benchlab_access']}"}
    refused = httpx.post(f"{live_server.base_url}/graphql", json={"query": "{ __typename }"}, headers=cookie)
    assert refused.status_code == 403
    accepted = httpx.post(f"{live_server.base_url}/graphql", json={"query": "{ __typename }"},
                          headers={**cookie, "Origin": live_server.base_url})
    assert accepted.status_code == 200, accepted.text


def test_sign_in_messages_show_commands_as_code_not_backticks(app: TestClient) -> None:
    for code in ("link_used", "link_expired"):
        page = app.get(f"/auth/login?error={code}").text
        assert "<code>benchlab login-link</code>" in page and "`" not in page, page
    page = app.get("/auth/login").text  # local mode's login page says how to get a link without a restart
    assert "<code>benchlab serve</code>" in page and "<code>benchlab login-link</code>" in page and "`" not in page


# --- a browser session lasts as long as its refresh token -----------------------------------------------------------

def test_the_login_page_renews_a_session_whose_refresh_cookie_is_still_valid(app: TestClient) -> None:
    sign_in(app)
    first_refresh = app.cookies["benchlab_refresh"]
    app.cookies.delete("benchlab_access")  # the browser dropped it when it expired
    renewed = app.get("/auth/login?return_to=/graphql%3Fquery%3D1", follow_redirects=False)
    assert renewed.status_code == 303 and renewed.headers["location"] == "/graphql?query=1", renewed.text
    assert verify_access_token(app.app.state.runtime, app.cookies["benchlab_access"]).user_id
    assert app.cookies["benchlab_refresh"] != first_refresh, "renewing rotates the refresh token"
    away = app.get("/auth/login?return_to=https://evil.example/", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/graphql"
    assert app.get("/auth/login?error=signed_out").status_code == 200  # a page with a message is shown, not skipped
    # a refresh cookie that was used already: the sign-in page, the cookies cleared, the reuse audited
    stale = app.get("/auth/login", headers={"Cookie": f"benchlab_refresh={first_refresh}"}, follow_redirects=False)
    assert stale.status_code == 200 and "Sign in to benchlab" in stale.text
    assert 'benchlab_refresh=""' in ";".join(stale.headers.get_list("set-cookie"))
    assert [r["action"] for r in db(app, "SELECT action FROM audit_log WHERE action = 'auth.refresh_refused'")] == [
        "auth.refresh_refused"]


# --- access tokens ------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 forgery uses our key
def test_access_tokens_are_verified_strictly(app: TestClient) -> None:
    runtime = app.app.state.runtime
    user, session = uuid4(), uuid4()
    good = issue_access_token(runtime, user, session)
    claims = verify_access_token(runtime, good)
    assert (claims.user_id, claims.session_id) == (user, session)
    assert 890 <= claims.expires_at.timestamp() - time.time() <= 900

    key = runtime.secrets.derive(KEY_LABEL)
    now = int(time.time())
    base = {"sub": str(user), "sid": str(session), "iat": now, "exp": now + 60, "iss": PUBLIC_URL, "aud": AUDIENCE}
    other_rsa = RSAKey.generate_key(2048)
    cases = {
        "expired": issue_access_token(runtime, user, session, ttl_s=-5),
        "tampered": forged.tamper_payload(good, sub=str(uuid4())),
        "alg none": forged.unsigned(base),
        "another key": jwt.encode(base, b"k" * 32, algorithm="HS256"),
        "HS512 with our key": jwt.encode(base, key, algorithm="HS512"),
        "RS256": forged.signed(base, other_rsa),
        "wrong audience": jwt.encode({**base, "aud": "grafana"}, key, algorithm="HS256"),
        "wrong issuer": jwt.encode({**base, "iss": "https://evil.example"}, key, algorithm="HS256"),
        "no sid": jwt.encode({k: v for k, v in base.items() if k != "sid"}, key, algorithm="HS256"),
        "no exp": jwt.encode({k: v for k, v in base.items() if k != "exp"}, key, algorithm="HS256"),
        "sub not a uuid": jwt.encode({**base, "sub": "admin"}, key, algorithm="HS256"),
        "garbage": "not.a.jwt",
    }
    for case, token in cases.items():
        with pytest.raises(InvalidAccessToken) as raised:
            verify_access_token(runtime, token)
        message = str(raised.value)
        assert message == ("the session has expired" if case == "expired" else "the session token is not valid"), case
        assert token not in message


# --- refresh and logout -------------------------------------------------------------------------------------------

def test_refresh_rotates_and_reuse_revokes_the_whole_family(app: TestClient) -> None:
    sign_in(app)
    first = app.cookies["benchlab_refresh"]
    session = verify_access_token(app.app.state.runtime, app.cookies["benchlab_access"]).session_id
    assert app.post("/auth/refresh", headers=SAME_ORIGIN).status_code == 200
    second = app.cookies["benchlab_refresh"]
    assert second != first

    stolen = app.post("/auth/refresh", headers={**SAME_ORIGIN, "Cookie": f"benchlab_refresh={first}"})
    assert stolen.status_code == 401
    assert "already used" in stolen.json()["errors"][0]["message"]
    assert 'benchlab_refresh=""' in ";".join(stolen.headers.get_list("set-cookie"))
    tokens = db(app, "SELECT family_id, revoked_at FROM refresh_tokens")
    assert len(tokens) == 2 and all(t["family_id"] == session and t["revoked_at"] for t in tokens)
    legit = app.post("/auth/refresh", headers={**SAME_ORIGIN, "Cookie": f"benchlab_refresh={second}"})
    assert legit.status_code == 401 and "ended" in legit.json()["errors"][0]["message"]
    audits = db(app, "SELECT actor, action, details FROM audit_log WHERE action = 'auth.refresh_refused' ORDER BY id")
    assert [a["details"]["reason"] for a in audits] == ["reused", "revoked"]
    assert audits[0]["details"]["family_revoked"] is True
    assert audits[0]["actor"] == "local-admin@localhost"
    assert first not in audits[0]["details"]


def test_refresh_refusals(app: TestClient) -> None:
    assert app.post("/auth/refresh", headers=SAME_ORIGIN).status_code == 401  # no cookie at all
    unknown = app.post("/auth/refresh", headers={**SAME_ORIGIN, "Cookie": "benchlab_refresh=made-up"})
    assert unknown.status_code == 401 and "not known" in unknown.text

    sign_in(app)
    db(app, "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    expired = app.post("/auth/refresh", headers=SAME_ORIGIN)
    assert expired.status_code == 401 and "expired" in expired.text

    sign_in(app)
    db(app, "UPDATE users SET disabled_at = now()")
    disabled = app.post("/auth/refresh", headers=SAME_ORIGIN)
    assert disabled.status_code == 401 and "disabled" in disabled.text
    assert db(app, "SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS NULL AND used_at IS NULL "
                   "AND expires_at > now()")[0]["n"] == 0


def test_logout_revokes_the_session_found_by_either_cookie(app: TestClient) -> None:
    sign_in(app)
    refresh_token = app.cookies["benchlab_refresh"]
    response = app.post("/auth/logout", headers=SAME_ORIGIN)
    assert response.status_code == 200 and "benchlab_access" not in app.cookies
    assert app.post("/auth/refresh", headers={**SAME_ORIGIN, "Cookie": f"benchlab_refresh={refresh_token}"}
                    ).status_code == 401

    # only an access cookie left, and it has expired: still identifies the session to end
    sign_in(app)
    runtime = app.app.state.runtime
    claims = verify_access_token(runtime, app.cookies["benchlab_access"])
    expired = issue_access_token(runtime, claims.user_id, claims.session_id, ttl_s=-60)
    assert app.post("/auth/logout", headers={**SAME_ORIGIN, "Cookie": f"benchlab_access={expired}"}).status_code == 200
    live = db(app, "SELECT count(*) AS n FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL",
              claims.session_id)
    assert live[0]["n"] == 0
    assert [r["action"] for r in db(app, "SELECT action FROM audit_log WHERE action = 'auth.sign_out'")] == [
        "auth.sign_out"] * 2
    app.cookies.clear()
    assert app.post("/auth/logout").json() == {"signedOut": True}  # nothing to end is fine


# --- cross-site protection ----------------------------------------------------------------------------------------

def test_cookie_authenticated_posts_need_our_origin(app: TestClient) -> None:
    sign_in(app)
    refused = gql(app)
    assert refused.status_code == 403
    body = refused.json()
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert body["errors"][0]["message"].startswith("cross-site request refused: ")
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/x"},
                    {"Origin": "http://testserver.evil.example"}, {"Origin": "https://testserver"}):
        assert gql(app, headers).status_code == 403, headers
    assert gql(app, {"Origin": PUBLIC_URL}).status_code == 200
    assert gql(app, {"Referer": f"{PUBLIC_URL}/some/page?x=1"}).status_code == 200
    evil = {"Origin": "https://evil.example"}
    assert app.post("/auth/refresh", headers=evil).status_code == 403
    assert app.post("/auth/logout", headers=evil).status_code == 403
    assert app.get("/graphql", params={"query": "{ __typename }"}, headers=evil).status_code != 403


def test_requests_without_our_cookies_are_not_subject_to_the_origin_check(app: TestClient) -> None:
    evil = {"Origin": "https://evil.example"}
    bearer = gql(app, {"Authorization": "Bearer blk_not_a_real_key"})
    assert bearer.status_code != 403 and "cross-site" not in bearer.text
    assert gql(app, {**evil, "Cookie": "other_app=1"}).status_code == 200
    smuggled = gql(app, {"Cookie": 'x="a b"; benchlab_access=whatever'})  # odd syntax still counts as our cookie
    assert smuggled.status_code == 403


def scope(headers: dict[str, str], method: str = "POST", path: str = "/graphql") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


@pytest.mark.parametrize(("public_url", "headers", "allowed"), [
    ("http://127.0.0.1:8000", {"Host": "localhost:8000", "Origin": "http://localhost:8000"}, True),
    ("http://127.0.0.1:8000", {"Host": "[::1]:8000", "Origin": "http://[::1]:8000"}, True),
    ("http://127.0.0.1:8000", {"Host": "evil.example", "Origin": "http://evil.example"}, False),
    ("http://127.0.0.1:8000", {"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8001"}, False),
    ("https://bench.example.com", {"Origin": "https://bench.example.com:443"}, True),
    ("https://bench.example.com", {"Origin": "https://BENCH.example.com"}, True),
    ("https://bench.example.com", {"Origin": "http://bench.example.com"}, False),
    ("https://bench.example.com", {"Origin": "https://bench.example.com.evil.example"}, False),
    ("https://bench.example.com", {}, False),
])
def test_check_origin(tmp_path: Path, public_url: str, headers: dict[str, str], allowed: bool) -> None:
    settings = Settings(data_dir=tmp_path, public_url_override=public_url)
    reason = check_origin(scope({**headers, "Cookie": "benchlab_access=x"}), settings)
    assert (reason is None) == allowed, reason
    assert check_origin(scope(headers), settings) is None  # no cookie of ours: not judged


# --- rate limits ---------------------------------------------------------------------------------------------------

async def test_in_process_limiter_windows_and_memory_bound() -> None:
    limiter = RateLimiter(None, max_local_keys=50)
    assert [await limiter.hit("a", 3, 0.3) for _ in range(3)] == [None] * 3
    wait = await limiter.hit("a", 3, 0.3)
    assert wait is not None and 0 < wait <= 0.3
    assert await limiter.hit("b", 3, 0.3) is None  # keys are independent
    await asyncio.sleep(0.35)
    assert await limiter.hit("a", 3, 0.3) is None
    for i in range(1000):
        await limiter.hit(f"address-{i}", 3, 60)
    assert len(limiter._windows) <= 50


async def test_redis_limiter_is_shared_between_processes(valkey_url: str) -> None:
    one, two = RateLimiter(valkey_url), RateLimiter(valkey_url)
    try:
        assert one.distributed
        assert await one.hit("shared", 2, 5) is None
        assert await two.hit("shared", 2, 5) is None
        wait = await one.hit("shared", 2, 5)
        assert wait is not None and 4 <= wait <= 5
        assert await two.hit("other", 2, 5) is None
    finally:
        await one.close()
        await two.close()


async def test_redis_limiter_fails_open_when_redis_is_down() -> None:
    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert [await limiter.hit("k", 1, 5) for _ in range(3)] == [None] * 3
    finally:
        await limiter.close()


def test_refresh_and_links_are_rate_limited_per_address(local_settings: Settings) -> None:
    with TestClient(create_app(dataclasses.replace(local_settings, auth_rate_limit=2)), base_url=PUBLIC_URL) as client:
        assert [client.post("/auth/refresh").status_code for _ in range(2)] == [401, 401]
        limited = client.post("/auth/refresh")
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        for _ in range(2):
            client.get("/auth/local?token=guess", follow_redirects=False)
        guessing = client.get("/auth/local?token=guess", follow_redirects=False)
        assert guessing.status_code == 429 and "retry-after" in guessing.headers
