"""Outgoing webhooks: endpoint checks, and the sender that works through the delivery outbox.

The sender claims due deliveries with `FOR UPDATE SKIP LOCKED` (stores/alerts.py), each under a lease and a
claim token, and POSTs them outside any transaction (a slow receiver holds no row lock and no connection);
the outcome and the attempt's log row (status code, error, duration) are written only while the claim is
current. A sender that dies mid-attempt leaves a lease that expires, and the delivery is sent again: delivery
is at least once, always with the same `Benchlab-Delivery` id and the same body, so a receiver that remembers
the ids it processed sees each notification once.

Retries: any answer other than 2xx (redirects are not followed) and any transport failure (refused, timed out)
is retried after an exponential backoff with jitter, `base · 2^(attempt − 1)` capped at `max_delay_s`, then
drawn uniformly from its upper half (the "equal jitter" of AWS's backoff article: receivers coming back after
an outage are not hit by every sender at once, and no wait is shorter than half the nominal one). After
`max_attempts` attempts the delivery is `failed`. httpx does the HTTP; the backoff is a line of arithmetic,
simpler to own than to bend a retry library around a schedule kept in PostgreSQL across processes.

Secrets: the signing secret is decrypted only to sign, and neither it nor the URL's path and query (where
Slack's incoming webhooks keep their token) ever reach a log line or the delivery log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import httpx

from benchlab import __version__
from benchlab.alerts.evaluator import Clock, utc_now
from benchlab.alerts.signing import ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature
from benchlab.errors import InvalidInputError
from benchlab.secrets import SecretBox
from benchlab.stores import alerts as alert_store
from benchlab.stores.alerts import ClaimedDelivery

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2000
SECRET_LENGTHS = (16, 512)
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BASE_DELAY_S = 5.0
DEFAULT_MAX_DELAY_S = 600.0
_ERROR_LIMIT = 300


def check_url(url: str) -> str:
    """The URL if a webhook can be sent to it (absolute http(s) with a host); InvalidInputError otherwise."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise InvalidInputError("url: not a valid URL; e.g. https://hooks.example.com/benchlab",
                                argument="url") from None
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInputError(f"url: at most {MAX_URL_LENGTH} characters", argument="url")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("url: an absolute http:// or https:// URL with a host, e.g. "
                                "https://hooks.slack.com/services/...", argument="url")
    return url


def check_secret(secret: str) -> str:
    low, high = SECRET_LENGTHS
    if not low <= len(secret) <= high or secret.strip() != secret:
        raise InvalidInputError(f"secret: {low} to {high} characters without surrounding spaces (e.g. the output of "
                                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)", argument="secret")
    return secret


def shown_url(url: str) -> str:
    """What logs and errors may show of a webhook URL: scheme, host and port (the path may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def backoff_s(attempt: int, base_s: float, max_s: float,
              draw: Callable[[float, float], float] = random.uniform) -> float:
    """The wait after failed attempt `attempt` (1-based): half the capped exponential, plus up to as much again."""
    nominal = min(max_s, base_s * 2 ** (attempt - 1))
    return nominal / 2 + draw(0.0, nominal / 2)


class WebhookSender:
    def __init__(self, pg: asyncpg.Pool, secrets: SecretBox, *, clock: Clock = utc_now,
                 timeout_s: float = DEFAULT_TIMEOUT_S, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 base_delay_s: float = DEFAULT_BASE_DELAY_S, max_delay_s: float = DEFAULT_MAX_DELAY_S,
                 poll_s: float = 1.0, max_in_flight: int = 20) -> None:
        self.pg = pg
        self.secrets = secrets
        self.clock = clock
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.poll_s = poll_s
        self.max_in_flight = max_in_flight
        self.lease_s = timeout_s + 30.0  # an attempt never outlives its lease: the timeout bounds it
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """Look at the outbox now (a transition was just recorded) rather than at the next poll."""
        self._wake.set()

    async def send_due(self) -> int:
        """Claim the deliveries due now and attempt each once (concurrently); returns how many were attempted."""
        claimed = await self._claim(self.max_in_flight)
        if claimed:
            await asyncio.gather(*(self._attempt(delivery) for delivery in claimed))
        return len(claimed)

    async def run(self) -> None:
        """Send until cancelled, up to `max_in_flight` attempts at a time.

        Each attempt is a task of its own and a free slot is filled as soon as a delivery is due: a receiver
        that takes its time (up to `timeout_s`) holds up only the deliveries queued behind it to the same
        webhook (claim_deliveries keeps each webhook's order), never those to others. The loop wakes for a
        new delivery (`wake`), a finished attempt, or the next poll."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()   # before claiming: a wake-up during the claim is not lost
                free = self.max_in_flight - len(in_flight)
                if free > 0:
                    try:
                        claimed = await self._claim(free)
                    except Exception:  # PostgreSQL briefly unreachable: the outbox keeps everything, try again
                        log.exception("webhook deliveries could not be claimed; retrying in %g s", self.poll_s)
                        claimed = []
                    in_flight.update(asyncio.create_task(self._attempt(delivery), name="webhook-attempt")
                                     for delivery in claimed)
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    done, _ = await asyncio.wait({woken, *in_flight}, timeout=self.poll_s,
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woken.cancel()
                for task in done - {woken}:
                    in_flight.discard(task)
                    if not task.cancelled() and (error := task.exception()) is not None:
                        # the outcome could not be recorded: the lease runs out and the delivery is sent again
                        log.error("webhook attempt could not be recorded; it is retried once its lease expires",
                                  exc_info=error)
        finally:
            for task in in_flight:
                task.cancel()   # a delivery cut mid-attempt keeps its lease and is sent again once it expires
            if in_flight:
                await asyncio.wait(in_flight, timeout=5)

    async def _claim(self, limit: int) -> list[ClaimedDelivery]:
        async with self.pg.acquire() as conn:
            return await alert_store.claim_deliveries(conn, self.clock(), self.lease_s, limit)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False,
                                             headers={"User-Agent": f"Benchlab-Webhooks/{__version__}"})
        return self._client

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery.id),
                   EVENT_HEADER: f"alert.{delivery.event_state}", ATTEMPT_HEADER: str(delivery.attempt)}
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            if delivery.secret_encrypted is not None:
                headers[SIGNATURE_HEADER] = signature(self.secrets.decrypt(delivery.secret_encrypted),
                                                      int(time.time()), body)
            response = await self._http().post(delivery.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = _clean(f"HTTP {status_code}: {response.text[:200]}", delivery.url)
        except Exception as exc:  # every failure to deliver is recorded and retried, whatever its kind
            error = _clean(f"{type(exc).__name__}: {exc}".rstrip(": "), delivery.url)
        duration_ms = (time.perf_counter() - started) * 1000
        await self._record(delivery, status_code, error, duration_ms)

    async def _record(self, delivery: ClaimedDelivery, status_code: int | None, error: str | None,
                      duration_ms: float) -> None:
        now = self.clock()
        next_at: datetime | None = None
        if error is None:
            outcome = "delivered"
        elif delivery.attempt >= self.max_attempts:
            outcome = "failed"
        else:
            outcome = "pending"
            next_at = now + timedelta(seconds=backoff_s(delivery.attempt, self.base_delay_s, self.max_delay_s))
        async with self.pg.acquire() as conn, conn.transaction():
            current = await alert_store.record_attempt(conn, delivery, now, status_code, error, duration_ms, outcome,
                                                       next_at)
        where = shown_url(delivery.url)
        if not current:
            log.warning("webhook delivery %s to %s: attempt %d finished after its lease passed to another sender",
                        delivery.id, where, delivery.attempt)
        elif outcome == "delivered":
            log.info("webhook delivery %s to %s: delivered (attempt %d, HTTP %s, %.0f ms)", delivery.id, where,
                     delivery.attempt, status_code, duration_ms)
        else:
            log.warning("webhook delivery %s to %s: attempt %d of %d failed (%s)%s", delivery.id, where,
                        delivery.attempt, self.max_attempts, error,
                        "; giving up" if outcome == "failed" else f"; next attempt at {next_at:%H:%M:%S}")


def _clean(message: str, url: str) -> str:
    """An error as the delivery log keeps it: short, with the URL reduced to its host."""
    parts = urlsplit(url)
    for secret_part in (url, parts.path, parts.query):
        if secret_part and secret_part != "/":
            message = message.replace(secret_part, shown_url(url) if secret_part == url else "…")
    return message[:_ERROR_LIMIT]
