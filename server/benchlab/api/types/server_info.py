"""What a client can learn about the server it talks to."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.type(description="The running server: version, where its data lives, how long it has been up.")
class ServerInfo:
    version: str = strawberry.field(description="Benchlab version.")
    postgres_backend: str = strawberry.field(
        description="`embedded` (PostgreSQL started from the data dir) or `external` (BENCHLAB_DATABASE_URL).")
    clickhouse_backend: str = strawberry.field(
        description="`chdb` (in-process ClickHouse engine) or `http` (a ClickHouse server).")
    realtime_backend: str = strawberry.field(
        description="Subscription fan-out: `memory` (one process) or `redis` (across replicas).")
    started_at: datetime = strawberry.field(description="When this server process became ready (UTC).")
    uptime_seconds: float = strawberry.field(description="Seconds since `startedAt`.")


@strawberry.type(description="One tick of the `heartbeat` subscription.")
class Heartbeat:
    sequence: int = strawberry.field(description="1 for the first tick, then +1 per tick.")
    at: datetime = strawberry.field(description="Server time of the tick (UTC).")
