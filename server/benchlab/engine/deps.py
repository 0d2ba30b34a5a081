"""What the experiment engine runs on: the stores, the fan-out hub, the data dir (spool), the secrets box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from benchlab.realtime.hub import Hub
from benchlab.secrets import SecretBox
from benchlab.stores.clickhouse import ClickHouseStore


@dataclass(frozen=True)
class EngineDeps:
    pg: asyncpg.Pool
    clickhouse: ClickHouseStore
    hub: Hub
    data_dir: Path
    secrets: SecretBox
