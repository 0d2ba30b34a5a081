"""Webhook signatures: `Benchlab-Signature: t=<unix seconds>,v1=<hex>`, the hex HMAC-SHA256 of `<t>.<body>` under
the webhook's secret (Stripe's scheme). The timestamp is signed with the body, so a captured request cannot be
replayed later with a fresh time: receivers reject signatures older than a few minutes. Written out here
because it is twenty lines of the standard library (`hmac`), which a receiver can copy (docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Benchlab-Signature"
DELIVERY_HEADER = "Benchlab-Delivery"
EVENT_HEADER = "Benchlab-Event"
ATTEMPT_HEADER = "Benchlab-Attempt"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Benchlab-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """Whether `header` signs `body` with `secret`, at most `tolerance_s` seconds ago (the receiver's check)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
