"""The configured identity providers as authlib Starlette clients: discovery, authorization URL, code exchange.

authlib does the protocol mechanics (discovery, state, nonce, PKCE S256 verifier and challenge, the token
request with client authentication); benchlab adds what authlib 1.9.9 leaves open:
- the discovery document must name exactly the configured issuer (a document served elsewhere or for
  another issuer is refused, cf. CVE-2026-104056);
- ID tokens go through `id_tokens.verify_id_token` with pinned algorithms and explicit aud/nonce checks,
  refetching the JWKS once when the signing key is unknown (key rotation).
Discovery happens at the first sign-in through a provider, not at start-up, so an IdP outage cannot keep
the server from starting; a failed discovery is retried at the next attempt.
"""

from __future__ import annotations

import logging
from typing import Any

from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

from benchlab.auth.id_tokens import IdTokenInvalid, allowed_algorithms, verify_id_token
from benchlab.config import OidcProvider, Settings

log = logging.getLogger(__name__)
# authlib logs PKCE verifiers at DEBUG; never let them reach a log, whatever BENCHLAB_LOG_LEVEL says.
logging.getLogger("authlib").setLevel(logging.INFO)

HTTP_TIMEOUT_S = 10


class ProviderUnavailable(Exception):
    """The provider's discovery document or keys could not be fetched or are not acceptable (log only)."""


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class Providers:
    def __init__(self, settings: Settings) -> None:
        self._oauth = OAuth()
        self._configs = {p.name: p for p in settings.oidc_providers}
        for provider in settings.oidc_providers:
            self._oauth.register(
                provider.name, client_id=provider.client_id, client_secret=provider.client_secret,
                server_metadata_url=discovery_url(provider.issuer),
                client_kwargs={"scope": provider.scopes, "code_challenge_method": "S256",
                               "timeout": HTTP_TIMEOUT_S})

    def config(self, name: str) -> OidcProvider | None:
        return self._configs.get(name)

    def client(self, name: str) -> StarletteOAuth2App:
        client = self._oauth.create_client(name)
        assert client is not None, name
        return client

    async def metadata(self, name: str) -> dict[str, Any]:
        """The discovery document, checked to belong to the configured issuer."""
        provider, client = self._configs[name], self.client(name)
        try:
            metadata = await client.load_server_metadata()
        except Exception as exc:
            raise ProviderUnavailable(f"discovery at {discovery_url(provider.issuer)} failed: "
                                      f"{type(exc).__name__}") from None
        if metadata.get("issuer") != provider.issuer:
            client.server_metadata.pop("_loaded_at", None)  # look again next time: it may be fixed by then
            raise ProviderUnavailable(f"the discovery document names issuer {metadata.get('issuer')!r}, but "
                                      f"{provider.issuer!r} is configured; set the issuer exactly as the "
                                      "provider spells it")
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(endpoint), str):
                raise ProviderUnavailable(f"the discovery document has no {endpoint}")
        methods = metadata.get("code_challenge_methods_supported")
        if methods is not None and "S256" not in methods:
            log.warning("identity provider %s does not list PKCE S256 as supported; sending it anyway", name)
        return metadata

    async def verify(self, name: str, id_token: str, *, nonce: str, access_token: str | None) -> dict[str, Any]:
        """Verified ID-token claims (IdTokenInvalid otherwise); refetches the key set once on an unknown key."""
        provider, client = self._configs[name], self.client(name)
        metadata = await self.metadata(name)
        algorithms = allowed_algorithms(metadata.get("id_token_signing_alg_values_supported"))
        for attempt in (0, 1):
            try:
                jwks = await client.fetch_jwk_set(force=attempt > 0)
            except Exception as exc:
                raise ProviderUnavailable(f"fetching the provider's keys failed: {type(exc).__name__}") from None
            try:
                return verify_id_token(id_token, jwks=jwks, issuer=provider.issuer, client_id=provider.client_id,
                                       nonce=nonce, algorithms=algorithms, access_token=access_token)
            except IdTokenInvalid as exc:
                if not exc.unknown_key or attempt:
                    raise
        raise AssertionError("unreachable")
