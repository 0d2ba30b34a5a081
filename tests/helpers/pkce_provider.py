"""A tiny OpenID provider that *requires* PKCE S256, built from authlib's own server classes.

oidc-provider-mock 0.3.4 accepts any code_verifier (observed on that version), so it cannot
prove that our client's PKCE works. This provider refuses an authorization request without an S256
`code_challenge`, and a token request whose `code_verifier` is missing or wrong. Note that authlib's
`CodeChallenge(required=True)` alone enforces PKCE only for public clients: a confidential client (ours,
with a secret) may skip it, hence the stricter subclass below.

Every authorization request is approved at once for one fixed user (no consent page). Setting `forge`
replaces the ID token of the next token responses with whatever it returns (a test's crafted token), so
tests can prove that the real callback refuses it.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import flask
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

CLIENT_ID = "pkce-client"
CLIENT_SECRET = "pkce-secret"
KEY_ID = "pkce-key-1"


@dataclass
class Client:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in ("openid", "email", "profile"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return True

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class RequireS256(CodeChallenge):
    """PKCE for every client, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required")
        super().validate_code_challenge(grant, redirect_uri)


class PkceProvider:
    def __init__(self, email: str = "pkce-user@example.com") -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "alg": "RS256", "use": "sig"})
        self.email = email
        self.codes: dict[str, AuthorizationCode] = {}
        self.issuer = ""
        self.forge: Callable[[str], str] | None = None
        self.app = self._build()

    def _build(self) -> flask.Flask:
        app = flask.Flask(__name__)
        provider = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                provider.codes[code] = AuthorizationCode(
                    code, request.client.client_id, request.payload.redirect_uri, request.scope,
                    data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"))

            def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
                item = provider.codes.get(code)
                return item if item and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
                return provider.email

        class IdTokens(OpenIDCode):
            def exists_nonce(self, nonce: str, request: Any) -> bool:
                return False

            def resolve_client_private_key(self, client: Any) -> Any:
                return provider.key

            def get_client_algorithm(self, client: Any) -> str:
                return "RS256"

            def get_encode_header(self, client: Any) -> dict[str, str]:
                return {"alg": "RS256", "kid": KEY_ID}

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.client_id], "exp": int(time.time()) + 300}

            def generate_user_info(self, user: str, scope: str) -> dict[str, Any]:
                return {"sub": user, "email": user, "email_verified": True, "name": "PKCE User"}

        server = AuthorizationServer(app, query_client=lambda cid: Client() if cid == CLIENT_ID else None,
                                     save_token=lambda token, request: None)
        server.register_grant(CodeGrant, [IdTokens(require_nonce=True), RequireS256()])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return flask.jsonify({
                "issuer": provider.issuer, "authorization_endpoint": f"{provider.issuer}/authorize",
                "token_endpoint": f"{provider.issuer}/token", "jwks_uri": f"{provider.issuer}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]})

        @app.get("/jwks")
        def jwks() -> Any:
            return flask.jsonify(KeySet([provider.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            try:
                server.get_consent_grant(end_user=provider.email)
            except OAuth2Error as error:
                return flask.jsonify({"error": error.error, "error_description": error.description}), 400
            return server.create_authorization_response(grant_user=provider.email)

        @app.post("/token")
        def token() -> Any:
            response = server.create_token_response()
            data = json.loads(response.get_data())
            if provider.forge is not None and "id_token" in data:
                data["id_token"] = provider.forge(data["id_token"])
                response.set_data(json.dumps(data))
            return response

        return app

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on a free loopback port in a thread; yields the issuer URL."""
        http = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{http.server_port}"
        thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self.issuer
        finally:
            http.shutdown()
            thread.join(5)
