"""Sign-in and caller identification for one server process, created with the app and closed with it.

One of each per process, shared by every request: the authenticator (API keys, sessions, and what happens when
access changes), the identity-provider clients (they cache discovery documents and keys), the rate limiter
(it may hold a Redis connection), and the key that signs the cookie of a sign-in in flight.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from benchlab.auth.authenticator import Authenticator
from benchlab.auth.local_cli import LocalCliCredential
from benchlab.auth.providers import Providers
from benchlab.auth.rate_limit import RateLimiter
from benchlab.runtime import Runtime

SIGNIN_SESSION_LABEL = "benchlab sign-in session cookie v1"


class AuthServices:
    def __init__(self, runtime: Runtime, local_cli: LocalCliCredential | None = None) -> None:
        self.runtime = runtime
        self.authenticator = Authenticator(runtime, local_cli)
        self.providers = Providers(runtime.settings)
        self.limiter = RateLimiter(runtime.settings.redis_url)
        # Signs the short-lived cookie holding state, nonce and PKCE verifier of a sign-in in flight.
        self.signin_session_secret = runtime.secrets.derive(SIGNIN_SESSION_LABEL).hex()

    async def close(self) -> None:
        await self.limiter.close()


def auth_of(connection: HTTPConnection) -> AuthServices:
    """The app's AuthServices (set by its lifespan), from a request or a WebSocket."""
    return connection.app.state.auth
