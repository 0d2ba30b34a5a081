"""What every resolver can reach: the stores, the settings, the request id, the per-request loaders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info

from benchlab.api.db import RequestDb
from benchlab.api.loaders import Loaders
from benchlab.auth.identity import Identity
from benchlab.auth.services import AuthServices
from benchlab.runtime import Runtime

if TYPE_CHECKING:
    from benchlab.api.endpoint import TransportWSHandler
    from benchlab.api.live_connections import LiveConnection


class Context(TypedDict):
    request: Request | WebSocket
    response: Response | WebSocket | None
    request_id: str
    runtime: Runtime
    auth: AuthServices
    db: RequestDb
    loaders: Loaders
    identity: Identity
    auth_error: str | None
    # A WebSocket connection's only (its operations share one context): connection_init's payload (JSON, set
    # by strawberry), the protocol handler, and the registration that lets an access change close it.
    connection_params: NotRequired[dict[str, Any]]
    ws_handler: NotRequired[TransportWSHandler]
    live: NotRequired[LiveConnection]


def build_context(request: Request | WebSocket, response: Response | WebSocket | None, request_id: str,
                  auth: AuthServices, identity: Identity, auth_error: str | None = None) -> Context:
    runtime = auth.runtime
    db = RequestDb(runtime.pg)
    return Context(request=request, response=response, request_id=request_id, runtime=runtime, auth=auth, db=db,
                   loaders=Loaders(db), identity=identity, auth_error=auth_error)


def runtime_of(info: Info) -> Runtime:
    return info.context["runtime"]


def auth_of(info: Info) -> AuthServices:
    return info.context["auth"]


def loaders_of(info: Info) -> Loaders:
    return info.context["loaders"]


def identity_of(info: Info) -> Identity:
    return info.context["identity"]
