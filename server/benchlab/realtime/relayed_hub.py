"""The hub of a worker with no Redis: it publishes progress through the API server it relays its rows to.

Embedded mode's hub is in-process (memory://), so a separate worker process reaches the API's subscribers only
through that API server (`POST /worker/v1/publish`, ingest/routes.py). Such a worker only publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.realtime.hub import Hub
from benchlab.stores.server_link import ServerLink, raise_for_answer


class RelayedHub(Hub):
    def __init__(self, link: ServerLink) -> None:
        super().__init__(None)
        self._link = link

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        response = await self._link.post("/worker/v1/publish", json={"channel": channel, "message": dict(message)})
        raise_for_answer(response, f"progress of {channel}")

    async def ping(self) -> None:
        response = await self._link.get("/healthz")
        raise_for_answer(response, "the server's health check")
