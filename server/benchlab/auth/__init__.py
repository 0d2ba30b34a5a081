"""Who is calling and what they may do: sign-in, sessions, API keys, roles, the audit trail.

Modules, one job each. Sign-in: `routes` mounts `oidc_routes` (login page, redirect, callback) and
`session_routes` (refresh, logout, local link), with `web` their shared pieces, `login_page` the page,
`signin_cookie` the cookie of a sign-in in flight and `redirects` the safe return path; `providers` +
`id_tokens` talk to and verify identity providers; `accounts` maps verified identities to users;
`local_mode` is the no-IdP mode. Sessions: `sessions`, `refresh_tokens` and `cookies`. Callers:
`authenticator` resolves a request's credential to an `identity` (`api_keys` verifies keys) and applies
`changes` of access; `roles` orders project roles and says who may grant what; `audit` records who did what;
`origin` guards cookie-authenticated POSTs; `rate_limit` limits per key; `services` holds the per-process
pieces. The SQL they need lives in `benchlab.stores` (users, memberships, api_keys, refresh_tokens,
login_links, audit_log).
"""
