"""Verify an OpenID Connect ID token ourselves, every check explicit.

authlib's `authorize_access_token` verifies ID tokens too, but (1.9.9) it takes the allowed algorithms
from the provider's discovery document, skips verification when no nonce was stored, and checks the
audience only indirectly (a token for another client with `azp` set to ours would pass). This module is
the single verification path the callback uses:

- signature against the provider's JWKS, with algorithms pinned to asymmetric ones we accept: `none` and
  every HMAC algorithm are refused outright, so an "HS256 token signed with the provider's public key"
  (algorithm confusion) never reaches a key;
- `iss` equal to the configured issuer, `aud` containing our client id (and `azp`, when several
  audiences are named, equal to it), `exp`/`iat` present and valid with a small clock leeway, `sub` present;
- `nonce` present and equal to the one stored in this browser's sign-in session (replay protection);
- `at_hash`, when present, matching the access token returned alongside.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError, MissingKeyError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

# Asymmetric signatures only: the verifier holds public keys, never a shared secret with the provider.
ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
DEFAULT_LEEWAY_S = 60


class IdTokenInvalid(Exception):
    """The ID token failed a check; the message says which (never the token) and goes to the log only.

    `unknown_key`: no key in the set matches the token's `kid` (the provider may have rotated its keys).
    """

    def __init__(self, message: str, *, unknown_key: bool = False) -> None:
        super().__init__(message)
        self.unknown_key = unknown_key


def allowed_algorithms(advertised: Collection[str] | None) -> list[str]:
    """The provider's advertised signing algorithms that we accept (RS256, the OIDC default, if none)."""
    offered = list(advertised) if advertised else ["RS256"]
    return [alg for alg in offered if alg in ACCEPTED_ALGORITHMS]


def verify_id_token(id_token: str, *, jwks: Mapping[str, Any], issuer: str, client_id: str, nonce: str,
                    algorithms: Collection[str] = ("RS256",), access_token: str | None = None,
                    leeway_s: int = DEFAULT_LEEWAY_S, now: int | None = None) -> dict[str, Any]:
    """The verified claims of `id_token`, or IdTokenInvalid saying which check failed."""
    pinned = [alg for alg in algorithms if alg in ACCEPTED_ALGORITHMS]
    if not pinned:
        raise IdTokenInvalid(f"the provider signs ID tokens with none of the accepted algorithms "
                             f"({', '.join(ACCEPTED_ALGORITHMS)})")
    if not nonce:
        raise IdTokenInvalid("no nonce was stored for this sign-in")
    try:
        keys = KeySet.import_key_set({"keys": jwks["keys"]})
        token = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=pinned, strict_check_header=False))
    except JoseError as exc:
        raise IdTokenInvalid(f"signature check failed: {exc.error}",
                             unknown_key=isinstance(exc, InvalidKeyIdError | MissingKeyError)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise IdTokenInvalid(f"malformed ID token or key set: {type(exc).__name__}") from None
    options = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "nonce": {"essential": True, "value": nonce},
    }
    claims = CodeIDToken(token.claims, token.header, options,
                         {"nonce": nonce, "client_id": client_id, "access_token": access_token})
    try:
        claims.validate(now=now if now is not None else int(time.time()), leeway=leeway_s)
    except JoseError as exc:
        raise IdTokenInvalid(f"claim check failed: {exc.error}: {exc.description or ''}".rstrip(": ")) from None
    return dict(claims)
