"""What every resolver can reach: the stores, the settings, the request id (built once per request)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from strawberry.types import Info

if TYPE_CHECKING:
    from benchlab.runtime import Runtime


class Context(TypedDict):
    request: Any
    response: Any
    request_id: str
    runtime: Runtime


def runtime_of(info: Info) -> Runtime:
    return info.context["runtime"]
