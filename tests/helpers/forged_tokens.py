"""Hand-made JWTs for negative tests: unsigned (`alg: none`), HMAC-signed with an RSA *public* key (the
classic algorithm-confusion attack), or properly signed with claims a test changed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without verifying anything (only to build forgeries from real tokens)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict[str, Any]:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def unsigned(claims: dict[str, Any], **header: Any) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT', **header})}.{_segment(claims)}."


def hmac_with_public_key(claims: dict[str, Any], public_key: RSAKey, alg: str = "HS256", **header: Any) -> str:
    """Signed with HMAC whose secret is the provider's public key (PEM), as a confused verifier would check it."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{_segment({'alg': alg, 'typ': 'JWT', **header})}.{_segment(claims)}"
    secret = public_key.as_pem(private=False)
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), digest).digest())}"


def signed(claims: dict[str, Any], key: RSAKey, **header: Any) -> str:
    return jwt.encode({"alg": "RS256", **header}, claims, key)


def tamper_payload(token: str, **changes: Any) -> str:
    """The same header and signature over a changed payload (the signature no longer matches)."""
    head, _, signature = token.split(".")
    return f"{head}.{_segment({**claims_of(token), **changes})}.{signature}"
