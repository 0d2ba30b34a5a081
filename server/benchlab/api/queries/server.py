"""Query fields about the server itself."""

from __future__ import annotations

import time

import strawberry
from strawberry.types import Info

from benchlab import __version__
from benchlab.api.context import runtime_of
from benchlab.api.permissions import Public
from benchlab.api.types.server_info import ServerInfo


@strawberry.type
class ServerQueries:
    @strawberry.field(permission_classes=[Public],
                      description="Version, store backends and uptime of this server. Needs no sign-in.")
    def server_info(self, info: Info) -> ServerInfo:
        runtime = runtime_of(info)
        return ServerInfo(
            version=__version__,
            postgres_backend="embedded" if runtime.embedded_postgres else "external",
            clickhouse_backend=runtime.clickhouse.backend,
            realtime_backend=runtime.hub.backend_name,
            started_at=runtime.started_at,
            uptime_seconds=round(time.monotonic() - runtime.started_monotonic, 3),
        )
