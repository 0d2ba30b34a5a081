"""The sign-in page: one link per configured identity provider, and a short message for `?error=<code>`.

Every value that reaches the page (provider names and labels, return_to, the error code) is HTML-escaped;
unknown error codes are shown as a generic message rather than echoed, so the page cannot be made to say
whatever a crafted link wants. The page loads nothing and may not be framed (clickjacking). Messages name
commands between backticks, shown as code (`as_html`), never as literal backticks.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from benchlab.config import OidcProvider

ERROR_MESSAGES = {
    "state_mismatch": "The sign-in expired or was started in another browser. Please try again.",
    "id_token_invalid": "The identity provider's answer could not be verified. Please try again.",
    "email_domain_not_allowed": "Your email domain is not allowed to sign in to this server.",
    "email_missing": "The identity provider did not share your email address.",
    "email_not_verified": "Your email address is not verified at the identity provider.",
    "provider_error": "The identity provider refused the sign-in.",
    "provider_unavailable": "The identity provider cannot be reached right now. Please try again later.",
    "access_denied": "Sign-in was cancelled at the identity provider.",
    "unknown_provider": "There is no such identity provider on this server.",
    "user_disabled": "This account is disabled.",
    "rate_limited": "Too many sign-in attempts from your address. Please wait a minute.",
    "link_used": "This sign-in link was already used. Run `benchlab login-link` for a new one.",
    "link_expired": "This sign-in link has expired or was replaced. Run `benchlab login-link` for a new one.",
    "link_invalid": "This sign-in link is not valid.",
    "signed_out": "You are signed out.",
}
GENERIC_ERROR = "Sign-in failed. Please try again."

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def as_html(text: str) -> str:
    """Plain text with `commands` between backticks, escaped, the commands set as <code>."""
    parts = text.split("`")
    return "".join(f"<code>{escape(part)}</code>" if index % 2 else escape(part) for index, part in enumerate(parts))


def render_login_page(providers: tuple[OidcProvider, ...], error: str | None, return_to: str | None) -> str:
    message = ""
    if error:
        text = ERROR_MESSAGES.get(error, GENERIC_ERROR)
        message = f'<p class="error" role="alert">{as_html(text)}</p>'
    if providers:
        query = f"?{urlencode({'return_to': return_to})}" if return_to else ""
        items = "".join(
            f'<li><a href="/auth/login/{escape(quote(p.name, safe=""))}{escape(query)}">'
            f"Sign in with {escape(p.display_name or p.name)}</a></li>" for p in providers)
        body = f"<ul>{items}</ul>"
    else:
        body = "<p>" + as_html("No identity provider is configured (local mode). Open the one-time sign-in link "
                               "that `benchlab serve` printed when it started, or run `benchlab login-link` on "
                               "this machine for a new one.") + "</p>"
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · benchlab</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}"
            ".error{color:#a00}li{margin:.5rem 0}</style></head>"
            f"<body><h1>Sign in to benchlab</h1>{message}{body}</body></html>")
