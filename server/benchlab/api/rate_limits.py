"""GraphQL operations per caller per minute (BENCHLAB_GRAPHQL_RATE_LIMIT), counted before anything runs.

The caller is the signed-in user or API key; anonymous callers count per client address. Counters live in
Redis when BENCHLAB_REDIS_URL is set (every replica shares them), in the process otherwise. Over the limit
the operation fails with RATE_LIMITED, `extensions.retryAfter` and, over HTTP, a Retry-After header.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from benchlab.api.errors import ErrorCode
from benchlab.auth.identity import IdentityKind

WINDOW_S = 60.0


def caller_key(context: dict) -> str:
    identity = context["identity"]
    if identity.kind is IdentityKind.API_KEY:
        return f"gql:key:{identity.key_id}"
    if identity.user_id is not None:
        return f"gql:user:{identity.user_id}"
    client = getattr(context.get("request"), "client", None)
    return f"gql:addr:{client.host if client else 'unknown'}"


class GraphQLRateLimit(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        auth = context.get("auth") if isinstance(context, dict) else None
        if auth is not None:
            limit = auth.runtime.settings.graphql_rate_limit
            wait = await auth.limiter.hit(caller_key(context), limit, WINDOW_S)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                response = context.get("response")
                if response is not None and hasattr(response, "headers"):
                    response.headers["Retry-After"] = str(seconds)
                raise GraphQLError(f"more than {limit} operations per minute; retry in {seconds} s",
                                   extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": seconds})
        yield
