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
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from benchlab.api.context import build_context
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
        return build_context(request, response, request.scope["state"]["request_id"], request.app.state.runtime)
