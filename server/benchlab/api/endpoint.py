"""The `/graphql` endpoint: HTTP (GraphiQL in a browser, POST for clients) and graphql-transport-ws.

Only the `graphql-transport-ws` protocol is offered: the legacy `graphql-ws` one allowed operations
before `connection_init` (CVE-2026-35523). Queries over GET are off, so GraphQL never runs from a link.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from benchlab.api.context import build_context
from benchlab.api.errors import ApiError
from benchlab.api.identity import ANONYMOUS
from benchlab.api.schema import BenchlabSchema


class GraphQLEndpoint(GraphQL):
    def __init__(self, schema: BenchlabSchema) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            keep_alive=True,
            keep_alive_interval=15,
        )

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Any:
        """Identify the caller from the request; WebSockets are identified again in `on_ws_connect`."""
        runtime = request.app.state.runtime
        identity, problem = ANONYMOUS, None
        try:
            identity = await runtime.authenticator.identify(request.headers, request.cookies)
        except ApiError as exc:  # a wrong credential: fields that need sign-in report why
            problem = str(exc)
        return build_context(request, response, request.scope["state"]["request_id"], runtime, identity, problem)

    async def on_ws_connect(self, context: dict[str, Any]) -> Any:
        """graphql-transport-ws: authenticate at connection_init, from its payload or the session cookie.

        Payload `{"authorization": "Bearer <API key or access token>"}` (or `{"token": "..."}`). Without a
        valid credential the connection is refused with close code 4403, before any subscription runs.
        """
        params = context.get("connection_params") or {}
        if not isinstance(params, dict):
            raise ConnectionRejectionError({"message": "connection_init payload must be an object"})
        credential = params.get("authorization") or (f"Bearer {params['token']}" if params.get("token") else "")
        authenticator = context["runtime"].authenticator
        try:
            if credential:
                identity = await authenticator.identify({"authorization": str(credential)}, {})
            else:
                identity = context["identity"]
        except ApiError as exc:
            raise ConnectionRejectionError({"message": str(exc), "code": exc.code.value}) from None
        if identity.kind == "anonymous":
            raise ConnectionRejectionError({"message": context.get("auth_error") or "not signed in: send "
                                            "{\"authorization\": \"Bearer <API key or access token>\"} in "
                                            "connection_init, or sign in so the session cookie is sent",
                                            "code": "UNAUTHENTICATED"})
        context["identity"] = identity
        context["auth_error"] = None
        return {"viewer": identity.kind}
