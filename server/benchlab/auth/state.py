"""Sign-in state of one server process (`runtime.auth`): provider clients, the rate limiter, derived keys.

Created on first use, because the provider clients cache discovery documents and keys and the limiter may
hold a Redis connection: one of each per process, shared by all requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchlab.auth.providers import Providers
from benchlab.auth.rate_limit import RateLimiter

if TYPE_CHECKING:
    from benchlab.runtime import Runtime

SIGNIN_SESSION_LABEL = "benchlab sign-in session cookie v1"


class AuthState:
    def __init__(self, runtime: Runtime) -> None:
        self.providers = Providers(runtime.settings)
        self.limiter = RateLimiter(runtime.settings.redis_url)
        # Signs the short-lived cookie holding state, nonce and PKCE verifier of a sign-in in flight.
        self.signin_session_secret = runtime.secrets.derive(SIGNIN_SESSION_LABEL).hex()

    async def close(self) -> None:
        await self.limiter.close()
