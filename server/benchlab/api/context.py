"""What every resolver can reach: the stores, the settings, the request id, the per-request loaders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from strawberry.types import Info

from benchlab.api.db import RequestDb
from benchlab.api.loaders import Loaders
from benchlab.auth.identity import Identity

if TYPE_CHECKING:
    from benchlab.runtime import Runtime


class Context(TypedDict):
    request: Any
    response: Any
    request_id: str
    runtime: Runtime
    db: RequestDb
    loaders: Loaders
    identity: Identity
    auth_error: str | None


def build_context(request: Any, response: Any, request_id: str, runtime: Runtime, identity: Identity,
                  auth_error: str | None = None) -> Context:
    db = RequestDb(runtime.pg)
    return Context(request=request, response=response, request_id=request_id, runtime=runtime, db=db,
                   loaders=Loaders(db), identity=identity, auth_error=auth_error)


def runtime_of(info: Info) -> Runtime:
    return info.context["runtime"]


def loaders_of(info: Info) -> Loaders:
    return info.context["loaders"]


def db_of(info: Info) -> RequestDb:
    return info.context["db"]


def identity_of(info: Info) -> Identity:
    return info.context["identity"]
