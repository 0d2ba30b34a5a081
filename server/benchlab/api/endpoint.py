"""The `/graphql` endpoint: HTTP (GraphiQL in a browser, POST for clients) and graphql-transport-ws.

Only the `graphql-transport-ws` protocol is offered: the legacy `graphql-ws` one allowed operations
before `connection_init` (CVE-2026-35523). Queries over GET are off, so GraphQL never runs from a link.

Authentication (README "Roles and API keys"): over HTTP, a credential that is present but wrong (a garbage or
revoked key, an expired session) fails the whole request with UNAUTHENTICATED, rather than running it as
anonymous. Over WebSocket the credential comes from `connection_init`'s payload, else from the upgrade
request (its `Authorization` header or session cookie); every refusal closes the socket with 4403 and a
reason saying why, and an accepted connection is registered so that a later loss of access closes it too
(api/live_connections.py).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from benchlab.api.context import Context, build_context
from benchlab.api.errors import ErrorCode
from benchlab.api.graphiql import render_graphiql
from benchlab.api.live_connections import ACCESS_REVOKED_CODE, LiveConnection, LiveConnections
from benchlab.api.schema import BenchlabSchema
from benchlab.api.shared_feeds import CURRENT_OPERATION, OperationSocket, SharedFeeds
from benchlab.auth.authenticator import bearer_credential
from benchlab.auth.cookies import ACCESS_COOKIE
from benchlab.auth.identity import ANONYMOUS, IdentityKind
from benchlab.auth.origin import is_our_origin
from benchlab.auth.services import AuthServices
from benchlab.auth.services import auth_of as auth_services
from benchlab.errors import BenchlabError, UnauthenticatedError

if TYPE_CHECKING:  # strawberry's request adapter (its cross_web dependency), in a signature only
    from cross_web import AsyncHTTPRequestAdapter

MAX_CLOSE_REASON_BYTES = 123  # a close frame carries at most 125 bytes, two of them the code
NOT_SIGNED_IN = ('not signed in: send {"authorization": "Bearer <API key or access token>"} in connection_init, '
                 "or sign in")


class ConnectionRefused(Exception):
    """Raised by `on_ws_connect`: close the socket with `code` and `reason` (strawberry would say "Forbidden")."""

    def __init__(self, reason: str, code: int = ACCESS_REVOKED_CODE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def close_reason(text: str) -> str:
    """`text` cut to fit a WebSocket close frame (clients show the reason; a longer one is a protocol error)."""
    encoded = text.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return text
    return encoded[:MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."


class WebSocketAdapter(ASGIWebSocketAdapter):
    async def send_text(self, text: str) -> None:
        """A frame encoded already (a shared feed's, api/shared_feeds.py); a vanished socket as strawberry says it."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        """Close once: a connection may be ended by an access change while strawberry closes it for its own
        reasons, and a closed (or vanished) socket cannot be closed again."""
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            return
        with contextlib.suppress(RuntimeError, OSError):
            await self.ws.close(code=code, reason=close_reason(reason))


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with refusal reasons and an `end` that access changes can call."""

    def __init__(self, **kwargs: Any) -> None:  # strawberry's own arguments, passed on as they come
        super().__init__(**kwargs)
        self.context["ws_handler"] = self

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Let the run feeds send shared `next` frames of this operation themselves (api/shared_feeds.py)."""
        feeds = self.view.shared_feeds if isinstance(self.view, GraphQLEndpoint) else None
        if feeds is not None and isinstance(self.websocket, WebSocketAdapter):
            CURRENT_OPERATION.set(OperationSocket(feeds, operation.id, operation.query, operation.operation_name,
                                                  operation.variables, self.websocket.send_text))
        await super().run_operation(operation)

    async def end(self, code: int, reason: str) -> None:
        """Stop every operation of this connection, then close the socket with `code` and `reason`."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            live = self.context.get("live")
            if live is not None and isinstance(self.view, GraphQLEndpoint):
                self.view.live.remove(live)


class GraphQLEndpoint(GraphQL[Context, None]):
    websocket_adapter_class = WebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, schema: BenchlabSchema) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            keep_alive=True,
            keep_alive_interval=15,
        )
        self.live = LiveConnections()
        self.shared_feeds: SharedFeeds | None = None

    def share_live_results(self, feeds: SharedFeeds) -> None:
        """Execute the run feeds' live messages once per distinct operation (called once per app)."""
        self.shared_feeds = feeds

    def follow_access_changes(self, auth: AuthServices) -> None:
        """Re-check this endpoint's WebSocket connections whenever access changes (called once per app)."""
        auth.authenticator.on_access_change(lambda change: self.live.recheck(change, auth.authenticator.recheck))

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our GraphiQL page: keeps the session alive, works offline, says why when it cannot load."""
        return HTMLResponse(render_graphiql(auth_services(request).runtime, request.cookies.get(ACCESS_COOKIE)),
                            headers={"Cache-Control": "no-store"})

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None) -> Context:
        """Identify the caller from the request; WebSockets may send another credential in `connection_init`."""
        auth = auth_services(request)
        identity, problem = ANONYMOUS, None
        try:
            identity = await auth.authenticator.identify(request.headers, request.cookies, _client_host(request))
        except BenchlabError as exc:  # refused in execute_single (HTTP) or on_ws_connect (WebSocket)
            problem = str(exc)
        return build_context(request, response, request.scope["state"]["request_id"], auth, identity, problem)

    async def execute_single(self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
                             sub_response: Response, context: Context, root_value: None,
                             request_data: GraphQLRequestData) -> ExecutionResult:
        """A wrong credential fails the whole HTTP request: the caller must not get anonymous answers."""
        problem = context.get("auth_error")
        if problem:
            return ExecutionResult(data=None, errors=[GraphQLError(
                problem, extensions={"code": ErrorCode.UNAUTHENTICATED.value})])
        return await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                            request_data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws: authenticate at connection_init.

        The payload may carry `{"authorization": "Bearer <API key or access token>"}` (also `Authorization`,
        `headers: {"Authorization": ...}`, or `{"token": "<API key or access token>"}`); without one, the
        upgrade request's `Authorization` header or session cookie counts.
        """
        authenticator = context["auth"].authenticator
        try:
            credential = _payload_credential(context.get("connection_params") or {})
            problem = context.get("auth_error")
            if credential is not None:
                identity = await authenticator.from_bearer(credential, _client_host(context["request"]))
            elif problem:
                raise UnauthenticatedError(problem)
            else:
                identity = context["identity"]
        except BenchlabError as exc:
            raise ConnectionRefused(str(exc)) from None
        if identity.kind is IdentityKind.ANONYMOUS:
            raise ConnectionRefused(NOT_SIGNED_IN)
        context["identity"] = identity
        context["auth_error"] = None
        live = context["live"] = LiveConnection(context, context["ws_handler"].end)
        self.live.add(live)
        return {"viewer": identity.kind.value}

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """Besides strawberry's same-origin rule: BENCHLAB_PUBLIC_URL's origin (a proxy may rewrite Host)."""
        return is_our_origin(origin, auth_services(request).runtime.settings, request.headers.get("host"))

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        """Say why a cross-site handshake is refused: a refused handshake (HTTP 403) reaches no client code."""
        await request.accept(subprotocol=await self.pick_websocket_subprotocol(request))
        public_url = auth_services(request).runtime.settings.public_url
        await request.close(code=ACCESS_REVOKED_CODE, reason=close_reason(
            f"cross-site WebSocket refused: the page's Origin is not {public_url}"))
        return request


def _client_host(connection: Request | WebSocket) -> str | None:
    """The caller's address as uvicorn reports it (a local proxy's forwarded address, when it sends one)."""
    return connection.client.host if connection.client else None


def _payload_credential(params: dict[str, Any]) -> str | None:
    """The credential in a connection_init payload, in the forms clients send, or None when there is none."""
    nested = params.get("headers")
    headers: dict[str, Any] = nested if isinstance(nested, dict) else {}
    for source in (params, headers):
        for key in ("authorization", "Authorization"):
            if source.get(key):
                value = source[key]
                if not isinstance(value, str):
                    raise UnauthenticatedError(
                        f"connection_init payload: {key} must be a string, `Bearer <credential>`")
                return bearer_credential(value)
    token = params.get("token")
    if token:
        if not isinstance(token, str):
            raise UnauthenticatedError("connection_init payload: token must be a string (an API key or access token)")
        return token.strip()
    return None
