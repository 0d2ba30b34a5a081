"""Where to send a browser after sign-in: only back into this server, never to another site.

`return_to` comes from a URL anyone can craft, so an open redirect here would turn our login page into a
phishing tool. Only a path on this origin is accepted: it starts with exactly one "/", holds printable
ASCII only (browsers drop tabs and newlines, so "/\\t/evil.com" would become "//evil.com"), no backslash
(browsers read "/\\evil.com" as "//evil.com"), and parses with neither scheme nor host. Anything else means
the default page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_RETURN_TO = "/graphql"
MAX_LENGTH = 2000


def safe_return_to(value: str | None, default: str = DEFAULT_RETURN_TO) -> str:
    if not value or len(value) > MAX_LENGTH:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(not 0x21 <= ord(char) <= 0x7E for char in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
