"""Sign-in with OpenID Connect against real providers.

oidc-provider-mock 0.3.4 runs in a thread; the app runs through Starlette's TestClient with base URL =
BENCHLAB_PUBLIC_URL, so every redirect, cookie and callback is the real one. A second, tiny provider built on
authlib's server classes enforces PKCE S256 and can hand out forged ID tokens, proving that the callback
itself (not only the verification function) refuses them.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet, RSAKey
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.auth.id_tokens import IdTokenInvalid, allowed_algorithms, verify_id_token
from benchlab.auth.redirects import safe_return_to
from benchlab.auth.sessions import verify_access_token
from benchlab.config import OidcProvider, Settings
from benchlab.errors import ConfigError
from tests.helpers import forged_tokens as forged
from tests.helpers.access import db
from tests.helpers.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    PUBLIC_URL,
    callback,
    consent,
    login,
    login_error,
    mock_provider,
    query_of,
    replace_query,
    set_claims,
    start,
    with_provider,
)
from tests.helpers.pkce_provider import CLIENT_ID as PKCE_CLIENT_ID
from tests.helpers.pkce_provider import CLIENT_SECRET as PKCE_CLIENT_SECRET
from tests.helpers.pkce_provider import PkceProvider

# The providers (oidc-provider-mock, the PKCE provider) use authlib server APIs that authlib deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*")


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with mock_provider() as url:
        yield url


@pytest.fixture
def oidc_settings(settings: Settings, issuer: str) -> Settings:
    return with_provider(settings, issuer)


@pytest.fixture
def app(oidc_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(oidc_settings), base_url=PUBLIC_URL) as client:
        yield client


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


# --- the complete flow -----------------------------------------------------------------------------------------

def test_complete_sign_in_then_refresh_then_logout(app: TestClient, issuer: str) -> None:
    authorize = start(app, return_to="/graphql?tab=runs")
    params = query_of(authorize)
    assert authorize.startswith(f"{issuer}/oauth2/authorize?")
    assert params["redirect_uri"] == f"{PUBLIC_URL}/auth/callback/acme"
    assert params["client_id"] == CLIENT_ID and params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]

    response = callback(app, consent(authorize, "alice@example.com"))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/graphql?tab=runs"
    cookies = set_cookie_headers(response)
    access_header, refresh_header = cookies["benchlab_access"], cookies["benchlab_refresh"]
    for header in (access_header, refresh_header):
        assert "HttpOnly" in header and "SameSite=lax" in header and "Secure" not in header  # http:// dev URL
    assert "Path=/;" in access_header and "Max-Age=900" in access_header
    assert "Path=/auth;" in refresh_header and "Max-Age=1209600" in refresh_header

    runtime = app.app.state.runtime
    claims = verify_access_token(runtime, app.cookies["benchlab_access"])
    [user] = db(app, "SELECT id, email, display_name, is_instance_admin FROM users")
    assert (user["id"], user["email"], user["is_instance_admin"]) == (claims.user_id, "alice@example.com", True)
    [identity] = db(app, "SELECT provider, issuer, subject FROM user_identities")
    assert identity == {"provider": "acme", "issuer": issuer, "subject": "alice@example.com"}
    [audit] = db(app, "SELECT actor, action, details FROM audit_log WHERE action = 'auth.sign_in'")
    details = audit["details"]
    assert audit["actor"] == "alice@example.com" and details["provider"] == "acme" and details["address"]
    first_refresh = app.cookies["benchlab_refresh"]
    assert first_refresh not in json.dumps(details) and app.cookies["benchlab_access"] not in json.dumps(details)
    assert db(app, "SELECT token_hash FROM refresh_tokens")[0]["token_hash"] != first_refresh

    refreshed = app.post("/auth/refresh", headers={"Origin": PUBLIC_URL})
    assert refreshed.status_code == 200, refreshed.text
    second_refresh = app.cookies["benchlab_refresh"]
    assert second_refresh != first_refresh
    renewed = verify_access_token(runtime, app.cookies["benchlab_access"])
    assert (renewed.user_id, renewed.session_id) == (claims.user_id, claims.session_id)
    tokens = db(app, "SELECT family_id, used_at, revoked_at FROM refresh_tokens ORDER BY created_at")
    assert [t["family_id"] for t in tokens] == [claims.session_id] * 2
    assert tokens[0]["used_at"] is not None and tokens[1]["used_at"] is None

    logout = app.post("/auth/logout", headers={"Origin": PUBLIC_URL})
    assert logout.status_code == 200 and logout.json() == {"signedOut": True}
    assert 'benchlab_access=""' in set_cookie_headers(logout)["benchlab_access"]
    assert all(t["revoked_at"] is not None for t in db(app, "SELECT revoked_at FROM refresh_tokens"))
    again = app.post("/auth/refresh", headers={"Origin": PUBLIC_URL, "Cookie": f"benchlab_refresh={second_refresh}"})
    assert again.status_code == 401 and again.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    actions = [r["action"] for r in db(app, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["auth.sign_in", "auth.sign_out", "auth.refresh_refused"]


def test_first_user_is_admin_later_ones_are_not_and_profiles_follow_the_provider(app: TestClient,
                                                                                    issuer: str) -> None:
    assert login(app, "first@example.com").status_code == 303
    app.cookies.clear()  # another browser
    set_claims(issuer, "bob-sub", {"email": "bob@example.com", "name": "Bob"})
    assert login(app, "bob-sub").status_code == 303
    set_claims(issuer, "bob-sub", {"email": "robert@example.com", "name": "Robert"})
    assert login(app, "bob-sub").status_code == 303
    users = db(app, "SELECT email, display_name, is_instance_admin FROM users ORDER BY created_at")
    assert users == [
        {"email": "first@example.com", "display_name": "first", "is_instance_admin": True},
        {"email": "robert@example.com", "display_name": "Robert", "is_instance_admin": False}]
    assert len(db(app, "SELECT 1 FROM user_identities")) == 2


# --- state, replay, nonce, provider errors ------------------------------------------------------------------------

def test_wrong_state_is_refused(app: TestClient) -> None:
    back = consent(start(app))
    response = callback(app, replace_query(back, state="forged-state"))
    assert login_error(response) == "state_mismatch"
    assert "benchlab_access" not in set_cookie_headers(response)


def test_replayed_callback_is_refused_in_the_same_and_in_another_browser(app: TestClient) -> None:
    back = consent(start(app))
    assert callback(app, back).status_code == 303
    assert login_error(callback(app, back)) == "state_mismatch"
    back = consent(start(app))
    app.cookies.clear()  # another browser (login CSRF: an attacker's callback forced on a victim)
    assert login_error(callback(app, back)) == "state_mismatch"


def test_a_different_nonce_in_the_id_token_is_refused(app: TestClient) -> None:
    authorize = replace_query(start(app), nonce="attacker-chosen-nonce")
    response = callback(app, consent(authorize))
    assert login_error(response) == "id_token_invalid"
    assert db(app, "SELECT 1 FROM users") == []


def test_denied_consent_and_unknown_provider(app: TestClient) -> None:
    assert login_error(callback(app, consent(start(app), action="deny"))) == "access_denied"
    assert login_error(app.get("/auth/login/nope", follow_redirects=False)) == "unknown_provider"
    assert login_error(app.get("/auth/callback/nope?code=x&state=y", follow_redirects=False)) == "unknown_provider"


def test_provider_unreachable_or_claiming_another_issuer(settings: Settings, issuer: str) -> None:
    dead = with_provider(settings, "http://127.0.0.1:9", name="dead")
    wrong = with_provider(dead, issuer + "/", name="wrong")  # discovery answers for http://localhost:PORT
    with TestClient(create_app(wrong), base_url=PUBLIC_URL) as client:
        for name in ("dead", "wrong"):
            response = client.get(f"/auth/login/{name}", follow_redirects=False)
            assert login_error(response) == "provider_unavailable", name


# --- who may sign in -------------------------------------------------------------------------------------------------

def test_email_domain_allow_list(settings: Settings, issuer: str) -> None:
    restricted = with_provider(settings, issuer, allowed_email_domains=("example.com",))
    with TestClient(create_app(restricted), base_url=PUBLIC_URL) as client:
        assert login_error(login(client, "mallory@evil.test")) == "email_domain_not_allowed"
        assert db(client, "SELECT 1 FROM users") == []
        [refused] = db(client, "SELECT actor, action, details FROM audit_log")
        assert refused["action"] == "auth.sign_in_refused" and refused["actor"] == "mallory@evil.test"
        assert refused["details"]["reason"] == "email_domain_not_allowed"
        assert login(client, "carol@example.com").status_code == 303


def test_unverified_email_and_disabled_user_are_refused(app: TestClient, issuer: str) -> None:
    set_claims(issuer, "unverified-sub", {"email": "dave@example.com", "email_verified": False})
    assert login_error(login(app, "unverified-sub")) == "email_not_verified"
    assert login(app, "erin@example.com").status_code == 303
    db(app, "UPDATE users SET disabled_at = now() WHERE email = 'erin@example.com'")
    app.cookies.clear()
    assert login_error(login(app, "erin@example.com")) == "user_disabled"
    assert "benchlab_access" not in app.cookies


# --- return_to: never an open redirect ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_open_redirect_attempts_end_on_the_default_page(app: TestClient, target: str) -> None:
    response = login(app, return_to=target)
    assert response.status_code == 303 and response.headers["location"] == "/graphql"


@pytest.mark.parametrize("target", [
    None, "", "//evil.com", "///evil.com", "https://evil.com/", "http:/evil.com", "/\\evil.com", "\\\\evil.com",
    "javascript:alert(1)", "JAVASCRIPT:alert(1)", "/\t/evil.com", "/\n/evil.com", " /x", "evil.com", "/" + "a" * 3000,
    "/x\u3002evil.com",
])
def test_safe_return_to_rejects(target: str | None) -> None:
    assert safe_return_to(target) == "/graphql"


@pytest.mark.parametrize("target", ["/", "/graphql", "/graphql?query=%7B__typename%7D", "/%2F%2Fevil.com", "/a/b#c"])
def test_safe_return_to_keeps_local_paths(target: str) -> None:
    assert safe_return_to(target) == target


# --- ID token verification: the function the callback uses ------------------------------------------------------------

KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
JWKS = KeySet([KEY]).as_dict(private=False)
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key"})  # same kid, another key
ISSUER = "https://idp.example"


def good_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": "client-1", "sub": "user-1", "iat": now, "exp": now + 300, "nonce": "n-1",
            "email": "a@example.com", **changes}


def signed(claims: dict[str, Any], key: RSAKey = KEY) -> str:
    return forged.signed(claims, key, kid="test-key")


def verify(token: str, **overrides: Any) -> dict[str, Any]:
    args = {"jwks": JWKS, "issuer": ISSUER, "client_id": "client-1", "nonce": "n-1", "algorithms": ["RS256"]}
    return verify_id_token(token, **{**args, **overrides})


def test_a_genuine_id_token_verifies() -> None:
    assert verify(forged.signed(good_claims(), KEY, kid="test-key"))["sub"] == "user-1"


# Tokens are made when the test runs, not when pytest collects it: made at collection, a valid token's 300 s
# lifetime ran out before a slow CI machine reached these tests, and they failed on expiry instead of their
# own reason. The clock is moved 400 s on to prove it.
@pytest.mark.parametrize(("make_token", "overrides", "why"), [
    (lambda: forged.unsigned(good_claims(), kid="test-key"), {}, "unsupported_algorithm"),
    (lambda: forged.unsigned(good_claims(), kid="test-key"), {"algorithms": ["RS256", "none"]},
     "unsupported_algorithm"),
    (lambda: forged.unsigned(good_claims(), kid="test-key"), {"algorithms": ["none"]}, "accepted algorithms"),
    (lambda: forged.hmac_with_public_key(good_claims(), KEY, kid="test-key"), {}, "unsupported_algorithm"),
    # even when the provider advertises HS256, an HMAC token is never checked against a public key
    (lambda: forged.hmac_with_public_key(good_claims(), KEY, kid="test-key"), {"algorithms": ["HS256", "RS256"]},
     "unsupported_algorithm"),
    (lambda: forged.hmac_with_public_key(good_claims(), KEY, alg="HS512"), {"algorithms": ["HS512"]},
     "accepted algorithms"),
    (lambda: signed(good_claims(aud="someone-else")), {}, "'aud'"),
    (lambda: signed(good_claims(aud=["someone-else"], azp="client-1")), {}, "'aud'"),
    (lambda: signed(good_claims(iss="https://evil.example")), {}, "'iss'"),
    (lambda: signed(good_claims(exp=int(time.time()) - 600)), {}, "expired"),
    (lambda: signed(good_claims(nonce="other")), {}, "'nonce'"),
    (lambda: signed({k: v for k, v in good_claims().items() if k != "nonce"}), {}, "nonce"),
    (lambda: signed({k: v for k, v in good_claims().items() if k != "exp"}), {}, "exp"),
    (lambda: signed(good_claims()), {"nonce": ""}, "no nonce"),
    (lambda: forged.tamper_payload(signed(good_claims()), sub="admin"), {}, "bad_signature"),
    (lambda: signed(good_claims(), OTHER_KEY), {}, "bad_signature"),
])
def test_bad_id_tokens_are_refused(make_token: Callable[[], str], overrides: dict[str, Any], why: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 400)
    with pytest.raises(IdTokenInvalid, match=why):
        verify(make_token(), **overrides)


def test_unknown_signing_key_is_flagged_for_a_key_set_refresh() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "rotated"})
    with pytest.raises(IdTokenInvalid) as raised:
        verify(forged.signed(good_claims(), other, kid="rotated"))
    assert raised.value.unknown_key


def test_only_asymmetric_advertised_algorithms_are_used() -> None:
    assert allowed_algorithms(None) == ["RS256"]
    assert allowed_algorithms(["HS256", "none", "ES256", "RS256"]) == ["ES256", "RS256"]


# --- the tiny provider: PKCE enforced, forged tokens through the real callback ---------------------------------------

@pytest.fixture
def pkce() -> Iterator[PkceProvider]:
    provider = PkceProvider()
    with provider.serve():
        yield provider


@pytest.fixture
def pkce_app(settings: Settings, pkce: PkceProvider) -> Iterator[TestClient]:
    provider = OidcProvider("strict", pkce.issuer, PKCE_CLIENT_ID, PKCE_CLIENT_SECRET)
    configured = dataclasses.replace(settings, oidc_providers=(provider,), public_url_override=PUBLIC_URL)
    with TestClient(create_app(configured), base_url=PUBLIC_URL) as client:
        yield client


def approve(authorize_url: str) -> str:
    response = httpx.get(authorize_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def test_pkce_enforcing_provider_accepts_our_client(pkce_app: TestClient) -> None:
    response = callback(pkce_app, approve(start(pkce_app, "strict")))
    assert response.status_code == 303, response.headers.get("location")
    assert verify_access_token(pkce_app.app.state.runtime, pkce_app.cookies["benchlab_access"])


def test_pkce_enforcing_provider_refuses_missing_or_wrong_verifiers(pkce_app: TestClient, pkce: PkceProvider) -> None:
    authorize = start(pkce_app, "strict")
    without_challenge = replace_query(authorize, code_challenge="", code_challenge_method="")
    refused = httpx.get(without_challenge, follow_redirects=False)
    assert refused.status_code == 400 and "S256" in refused.json()["error_description"]

    back = approve(authorize)
    code = query_of(back)["code"]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": f"{PUBLIC_URL}/auth/callback/strict"}
    auth = (PKCE_CLIENT_ID, PKCE_CLIENT_SECRET)
    missing = httpx.post(f"{pkce.issuer}/token", data=exchange, auth=auth)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = httpx.post(f"{pkce.issuer}/token", data={**exchange, "code_verifier": "w" * 50}, auth=auth)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # the code is still unspent: our callback, which sends the right verifier from the sign-in cookie, succeeds
    assert callback(pkce_app, back).status_code == 303


@pytest.mark.parametrize("forge", [
    lambda token, key: forged.unsigned(forged.claims_of(token), kid=forged.header_of(token).get("kid")),
    lambda token, key: forged.hmac_with_public_key(forged.claims_of(token), key, kid=key.kid),
    lambda token, key: forged.signed({**forged.claims_of(token), "aud": "another-client"}, key, kid=key.kid),
    lambda token, key: forged.signed({**forged.claims_of(token), "iss": "https://evil.example"}, key, kid=key.kid),
    lambda token, key: forged.signed({**forged.claims_of(token), "nonce": "replayed"}, key, kid=key.kid),
    lambda token, key: forged.tamper_payload(token, sub="someone-else"),
], ids=["alg-none", "hs256-with-public-key", "wrong-audience", "wrong-issuer", "wrong-nonce", "tampered"])
def test_the_callback_refuses_forged_id_tokens(pkce_app: TestClient, pkce: PkceProvider, forge: Any) -> None:
    pkce.forge = lambda token: forge(token, pkce.key)
    response = callback(pkce_app, approve(start(pkce_app, "strict")))
    assert login_error(response) == "id_token_invalid"
    assert "benchlab_access" not in pkce_app.cookies
    assert db(pkce_app, "SELECT 1 FROM users") == []


# --- login page, rate limits, logs ----------------------------------------------------------------------------------

def test_login_page_lists_providers_and_escapes_everything(settings: Settings, issuer: str) -> None:
    odd = dataclasses.replace(with_provider(settings, issuer), oidc_providers=(
        OidcProvider("acme", issuer, CLIENT_ID, "s", display_name="<script>alert(1)</script>"),))
    with TestClient(create_app(odd), base_url=PUBLIC_URL) as client:
        page = client.get("/auth/login", params={"error": "<img src=x onerror=alert(1)>", "return_to": "/runs"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
        assert "onerror" not in page.text and "Sign-in failed" in page.text
        assert 'href="/auth/login/acme?return_to=%2Fruns"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        known = client.get("/auth/login", params={"error": "email_domain_not_allowed"})
        assert "Your email domain is not allowed" in known.text


def test_login_and_callback_are_rate_limited_per_address(settings: Settings, issuer: str) -> None:
    limited = with_provider(settings, issuer, auth_rate_limit=3)
    with TestClient(create_app(limited), base_url=PUBLIC_URL) as client:
        for _ in range(3):
            assert client.get("/auth/login/acme", follow_redirects=False).status_code == 302
        blocked = client.get("/auth/login/acme", follow_redirects=False)
        assert blocked.status_code == 429 and 1 <= int(blocked.headers["retry-after"]) <= 60
        for _ in range(3):
            assert client.get("/auth/callback/acme?state=x&code=y", follow_redirects=False).status_code == 303
        blocked = client.get("/auth/callback/acme?state=x&code=y", follow_redirects=False)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert "Too many sign-in attempts" in blocked.text


def test_logs_hold_no_token_code_or_cookie(app: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    authorize = start(app)
    back = consent(authorize)
    assert callback(app, back).status_code == 303
    assert login_error(callback(app, back)) == "state_mismatch"  # a failure logs details too
    app.post("/auth/refresh", headers={"Origin": PUBLIC_URL})
    secrets_seen = [query_of(back)["code"], query_of(authorize)["state"], query_of(authorize)["nonce"],
                    app.cookies["benchlab_access"], app.cookies["benchlab_refresh"], CLIENT_SECRET,
                    base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()]
    # What the server logs: not the provider's own log (werkzeug), nor this test's browser stand-ins (httpx for
    # the provider's consent form, the TestClient's requests to http://testserver); the server itself talks to
    # providers through authlib's httpx2.
    def from_server(record: logging.LogRecord) -> bool:
        if record.name == "werkzeug" or record.name.split(".")[0] in ("httpx", "httpcore"):
            return False
        return not (record.name.startswith("httpx2") and "http://testserver/" in record.getMessage())

    server_side = [r for r in caplog.records if from_server(r)]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in server_side)
    assert "sign-in failed (state_mismatch)" in text
    assert not [s for s in secrets_seen if s in text]


# --- configuration ------------------------------------------------------------------------------------------------

BASE_ENV = {"BENCHLAB_OIDC_PROVIDERS": "acme", "BENCHLAB_OIDC_ACME_ISSUER": "https://login.acme.example",
            "BENCHLAB_OIDC_ACME_CLIENT_ID": "benchlab", "BENCHLAB_OIDC_ACME_CLIENT_SECRET": "s3cret-value"}


def test_providers_from_the_environment(tmp_path: Any) -> None:
    env = {**BASE_ENV, "BENCHLAB_DATA_DIR": str(tmp_path), "BENCHLAB_OIDC_PROVIDERS": "acme,okta-eu",
           "BENCHLAB_OIDC_OKTA_EU_ISSUER": "http://localhost:9400", "BENCHLAB_OIDC_OKTA_EU_CLIENT_ID": "c",
           "BENCHLAB_OIDC_OKTA_EU_CLIENT_SECRET": "x", "BENCHLAB_OIDC_OKTA_EU_DISPLAY_NAME": "Okta (EU)",
           "BENCHLAB_OIDC_OKTA_EU_SCOPES": "openid email", "BENCHLAB_PUBLIC_URL": "https://bench.example.com/",
           "BENCHLAB_ALLOWED_EMAIL_DOMAINS": "Example.com, @corp.example"}
    settings = Settings.from_env(env)
    acme, okta = settings.oidc_providers
    assert (acme.name, acme.scopes, acme.display_name) == ("acme", "openid email profile", "acme")
    assert (okta.issuer, okta.scopes, okta.display_name) == ("http://localhost:9400", "openid email", "Okta (EU)")
    assert settings.public_url == "https://bench.example.com" and settings.cookie_secure
    assert settings.allowed_email_domains == ("example.com", "corp.example")
    assert not settings.local_mode
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in repr(acme)


@pytest.mark.parametrize(("changes", "variable", "hint"), [
    ({"BENCHLAB_OIDC_PROVIDERS": "Acme"}, "BENCHLAB_OIDC_PROVIDERS", "a-z, 0-9"),
    ({"BENCHLAB_OIDC_PROVIDERS": "acme,acme"}, "BENCHLAB_OIDC_PROVIDERS", "twice"),
    ({"BENCHLAB_OIDC_ACME_CLIENT_ID": ""}, "BENCHLAB_OIDC_ACME_CLIENT_ID", "required"),
    ({"BENCHLAB_OIDC_ACME_CLIENT_SECRET": ""}, "BENCHLAB_OIDC_ACME_CLIENT_SECRET", "required"),
    ({"BENCHLAB_OIDC_ACME_ISSUER": "http://login.acme.example"}, "BENCHLAB_OIDC_ACME_ISSUER", "https://"),
    ({"BENCHLAB_OIDC_ACME_ISSUER": "login.acme.example"}, "BENCHLAB_OIDC_ACME_ISSUER", "https://"),
    ({"BENCHLAB_OIDC_ACME_SCOPES": "email profile"}, "BENCHLAB_OIDC_ACME_SCOPES", "openid"),
    ({"BENCHLAB_PUBLIC_URL": "https://bench.example.com/sub"}, "BENCHLAB_PUBLIC_URL", "no path"),
    ({"BENCHLAB_PUBLIC_URL": "ftp://bench"}, "BENCHLAB_PUBLIC_URL", "http(s)"),
    ({"BENCHLAB_COOKIE_SAMESITE": "none"}, "BENCHLAB_COOKIE_SAMESITE", "requires secure"),
    ({"BENCHLAB_COOKIE_SAMESITE": "loose"}, "BENCHLAB_COOKIE_SAMESITE", "lax, strict, none"),
    ({"BENCHLAB_COOKIE_SECURE": "maybe"}, "BENCHLAB_COOKIE_SECURE", "boolean"),
    ({"BENCHLAB_ALLOWED_EMAIL_DOMAINS": "example.com,not a domain"}, "BENCHLAB_ALLOWED_EMAIL_DOMAINS", "domain"),
    ({"BENCHLAB_ACCESS_TOKEN_TTL_S": "5"}, "BENCHLAB_ACCESS_TOKEN_TTL_S", "out of range"),
])
def test_misconfiguration_names_the_variable(tmp_path: Any, changes: dict[str, str], variable: str,
                                             hint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE_ENV, "BENCHLAB_DATA_DIR": str(tmp_path), **changes})
    assert str(raised.value).startswith(f"{variable}: ") and hint in str(raised.value)
    assert "s3cret-value" not in str(raised.value)
