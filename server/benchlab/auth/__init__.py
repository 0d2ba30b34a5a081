"""Sign-in: OpenID Connect login, sessions (access JWT + rotating refresh token), local mode.

Modules, one job each: `routes` mounts `oidc_routes` (login page, redirect, callback) and `session_routes`
(refresh, logout, local link); `providers` + `id_tokens` talk to and verify identity providers; `accounts`
maps verified identities to users; `sessions`, `refresh_tokens` and `cookies` are the session itself;
`origin` guards cookie-authenticated POSTs; `rate_limit` limits per key; `local_mode` is the no-IdP mode.
"""
