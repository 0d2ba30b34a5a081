"""The alerts background work of one server process: the rule evaluator and the webhook sender, as two tasks.

Every replica may run them (`BENCHLAB_ALERTS_INTERVAL_S` > 0): the evaluator's claims and conditional
transitions and the sender's claimed, leased deliveries make the work happen once however many run. With 0,
the process leaves alerts to the others (an API-only replica, a test server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from benchlab.alerts.evaluator import Evaluator
from benchlab.alerts.webhooks import WebhookSender
from benchlab.config import Settings
from benchlab.realtime.hub import Hub
from benchlab.secrets import SecretBox
from benchlab.stores.clickhouse import ClickHouseStore

log = logging.getLogger(__name__)


class AlertService:
    def __init__(self, settings: Settings, pg: asyncpg.Pool, clickhouse: ClickHouseStore, hub: Hub,
                 secrets: SecretBox) -> None:
        self.interval_s = settings.alerts_interval_s
        self.sender = WebhookSender(pg, secrets)
        self.evaluator = Evaluator(pg, clickhouse, hub, public_url=settings.public_url,
                                   interval_s=max(self.interval_s, 1), on_enqueued=self.sender.wake)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.interval_s <= 0 or self._tasks:
            return
        self._tasks = [asyncio.create_task(self.evaluator.run(), name="alerts-evaluator"),
                       asyncio.create_task(self.sender.run(), name="alerts-webhooks")]
        log.info("alerts: evaluating rules every %d s, sending webhooks", self.interval_s)

    async def stop(self) -> None:
        """Cancel both loops. A delivery cut mid-attempt keeps its lease and is sent again once it expires."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.sender.close()
