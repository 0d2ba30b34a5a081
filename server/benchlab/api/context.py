"""What every resolver can reach: the stores, the settings, the request id, the per-request loaders."""

from __future__ import annotations

from typing import Any, TypedDict

from strawberry.types import Info

from benchlab.api.db import RequestDb
from benchlab.api.loaders import Loaders
from benchlab.auth.identity import Identity
from benchlab.auth.services import AuthServices
from benchlab.runtime import Runtime


class Context(TypedDict):
    request: Any
    response: Any
    request_id: str
    runtime: Runtime
    auth: AuthServices
    db: RequestDb
    loaders: Loaders
    identity: Identity
    auth_error: str | None


def build_context(request: Any, response: Any, request_id: str, auth: AuthServices, identity: Identity,
                  auth_error: str | None = None) -> Context:
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
