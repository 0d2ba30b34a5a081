"""The GraphiQL page at `GET /graphql`: our own small page around GraphiQL's published build.

Three things strawberry's stock page does not do:
- Keep the browser session alive. The access cookie lives `BENCHLAB_ACCESS_TOKEN_TTL_S` (15 minutes); the page
  renews it through `POST /auth/refresh` shortly before it expires (the server tells the page when), and
  retries a request once after a refresh when it is answered UNAUTHENTICATED (the access cookie was gone).
  A session therefore lasts as long as its refresh token; when that ends the page says so, with a link that
  signs in again and comes back here.
- Work offline. GraphiQL's files come from a CDN unless `BENCHLAB_GRAPHIQL_ASSETS` names a directory where
  they are installed (an npm `node_modules` folder, see README "API notes"); they are then served from
  `/graphql/assets/...`, straight from that installation.
- Say why it cannot load. When the files do not arrive (offline, blocked CDN), the page explains that, that
  the API itself works at `POST /graphql`, and how to get an offline GraphiQL, instead of "Loading...".
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from benchlab.auth.sessions import InvalidAccessToken, verify_access_token
from benchlab.runtime import Runtime

ASSETS_PATH = "/graphql/assets"
NPM_PACKAGES = "graphiql@3.8.3 react@18.2.0 react-dom@18.2.0"


@dataclass(frozen=True)
class Asset:
    path: str        # inside a node_modules folder
    cdn_url: str
    integrity: str   # subresource integrity of the CDN copy (a local copy is trusted as installed)


ASSETS = (
    Asset("react/umd/react.production.min.js", "https://unpkg.com/react@18.2.0/umd/react.production.min.js",
          "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8"),
    Asset("react-dom/umd/react-dom.production.min.js",
          "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js",
          "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"),
    Asset("graphiql/graphiql.min.js", "https://unpkg.com/graphiql@3.8.3/graphiql.min.js",
          "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie"),
)
STYLESHEET = Asset("graphiql/graphiql.min.css", "https://unpkg.com/graphiql@3.8.3/graphiql.min.css",
                   "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM")
SERVED = {asset.path for asset in (*ASSETS, STYLESHEET)}


def render_graphiql(runtime: Runtime, access_token: str | None) -> str:
    local = runtime.settings.graphiql_assets is not None
    config = {"sessionExpiresInS": _session_expires_in(runtime, access_token),
              "signInUrl": "/auth/login?return_to=/graphql"}
    where = "this server's BENCHLAB_GRAPHIQL_ASSETS directory" if local else "unpkg.com"
    scripts = "".join(f"<script {_source(asset, local, 'src')}></script>" for asset in ASSETS)
    return (PAGE.replace("{stylesheet}", _source(STYLESHEET, local, "href"))
            .replace("{config}", json.dumps(config).replace("<", "\\u003c"))
            .replace("{where}", escape(where)).replace("{scripts}", scripts)
            .replace("{base}", escape(runtime.settings.public_url)).replace("{packages}", NPM_PACKAGES))


async def serve_asset(request: Request) -> Response:
    """`GET /graphql/assets/<path>`: one of GraphiQL's files from BENCHLAB_GRAPHIQL_ASSETS (404 otherwise)."""
    root: Path | None = request.app.state.runtime.settings.graphiql_assets
    path = request.path_params["path"]
    if root is None or path not in SERVED or not (root / path).is_file():
        return PlainTextResponse("no such GraphiQL asset here (see BENCHLAB_GRAPHIQL_ASSETS in the README)", 404)
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return FileResponse(root / path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


def _source(asset: Asset, local: bool, attribute: str) -> str:
    if local:
        return f'{attribute}="{ASSETS_PATH}/{asset.path}"'
    return f'{attribute}="{asset.cdn_url}" integrity="{asset.integrity}" crossorigin="anonymous"'


def _session_expires_in(runtime: Runtime, access_token: str | None) -> float | None:
    """Seconds the browser's access cookie has left, or None without a valid one."""
    if not access_token:
        return None
    try:
        claims = verify_access_token(runtime, access_token)
    except InvalidAccessToken:
        return None
    return max(0.0, (claims.expires_at - datetime.now(UTC)).total_seconds())


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>GraphiQL · benchlab</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;height:100%;width:100%;overflow:hidden;font-family:system-ui,sans-serif}
#graphiql{height:100vh}
#benchlab-offline{max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5;overflow:auto;height:90vh}
#benchlab-offline pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}
#benchlab-session{position:fixed;top:0;left:0;right:0;z-index:10;background:#fff3cd;padding:.5rem 1rem;
border-bottom:1px solid #e0c060}
</style>
<link rel="stylesheet" {stylesheet}>
<script type="application/json" id="benchlab-config">{config}</script>
<script>
"use strict";
// Keeps the session alive: renew the access cookie before it expires, and once more on UNAUTHENTICATED.
window.benchlab = (function () {
  const config = JSON.parse(document.getElementById("benchlab-config").textContent);
  let timer = null;
  let refreshing = null;

  function schedule(seconds) {
    clearTimeout(timer);
    if (typeof seconds !== "number") return;
    const lead = Math.min(60, seconds * 0.2);
    timer = setTimeout(refresh, Math.max(1, seconds - lead) * 1000);
  }

  function sessionEnded() {
    const banner = document.getElementById("benchlab-session");
    banner.hidden = false;
  }

  // One refresh at a time; resolves true when the session was renewed.
  function refresh(options) {
    const quiet = options && options.quiet;
    if (!refreshing) {
      refreshing = fetch("/auth/refresh", {method: "POST", credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) { if (!quiet) sessionEnded(); return false; }
          return response.json().then(function (body) { schedule(body.expiresInS); return true; });
        })
        .catch(function () { return false; })
        .finally(function () { refreshing = null; });
    }
    return refreshing;
  }

  function hasOwnCredential(init) {
    const headers = new Headers((init && init.headers) || {});
    return headers.has("authorization");
  }

  function unauthenticated(response) {
    return response.clone().json().then(function (body) {
      return (body.errors || []).some(function (e) { return e.extensions && e.extensions.code === "UNAUTHENTICATED"; });
    }).catch(function () { return false; });
  }

  // fetch() for GraphQL requests: the session's cookies, and one retry after a refresh when they were stale.
  async function graphqlFetch(url, init) {
    const request = Object.assign({}, init, {credentials: "same-origin"});
    const response = await fetch(url, request);
    if (hasOwnCredential(init) || !(await unauthenticated(response))) return response;
    return (await refresh()) ? fetch(url, request) : response;
  }

  // For scripts (and tests): run one operation the way GraphiQL does, returning the response body.
  async function graphql(query, variables) {
    const response = await graphqlFetch(location.pathname, {method: "POST",
      headers: {"content-type": "application/json", accept: "application/json"},
      body: JSON.stringify({query: query, variables: variables || {}})});
    return response.json();
  }

  if (typeof config.sessionExpiresInS === "number") schedule(config.sessionExpiresInS);
  else refresh({quiet: true});  // the access cookie is gone, but a refresh cookie may still be valid
  return {config: config, refresh: refresh, fetch: graphqlFetch, graphql: graphql};
})();

// If GraphiQL's files do not arrive, say so rather than leave "Loading..." forever.
function benchlabShowOffline() {
  if (window.benchlabRendered) return;
  document.getElementById("graphiql").hidden = true;
  document.getElementById("benchlab-offline").hidden = false;
}
setTimeout(benchlabShowOffline, 20000);
</script>
</head>
<body>
<div id="benchlab-session" hidden role="alert">Your session has ended.
<a href="/auth/login?return_to=/graphql">Sign in again</a> to go on (this page's editor content stays in this
browser).</div>
<div id="graphiql">Loading GraphiQL...</div>
<div id="benchlab-offline" hidden role="alert">
<h1>GraphiQL could not load</h1>
<p>This page loads the GraphiQL editor from {where}, and its files did not arrive: this browser is offline,
or that site is blocked.</p>
<p>The GraphQL API itself works without them: send operations as <code>POST /graphql</code> with a JSON body
<code>{"query": "..."}</code>, for example:</p>
<pre>curl -X POST {base}/graphql -H 'content-type: application/json' \\
  -H 'authorization: Bearer blk_...' -d '{"query": "{ viewer { kind } }"}'</pre>
<p>To use GraphiQL without internet access, install its files where the server can read them and point
<code>BENCHLAB_GRAPHIQL_ASSETS</code> at them (the container image comes with them):</p>
<pre>npm install --prefix /opt/graphiql {packages}
BENCHLAB_GRAPHIQL_ASSETS=/opt/graphiql/node_modules benchlab serve</pre>
</div>
{scripts}
<script>
"use strict";
if (window.React && window.ReactDOM && window.GraphiQL) {
  const url = location.origin + location.pathname;
  const fetcher = GraphiQL.createFetcher({url: url, subscriptionUrl: url.replace(/^http/, "ws"),
                                          fetch: window.benchlab.fetch});
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, {
    fetcher: fetcher, defaultEditorToolsVisibility: true, isHeadersEditorEnabled: true,
    shouldPersistHeaders: true, defaultQuery: "{\\n  viewer {\\n    kind\\n    email\\n  }\\n}\\n"}));
  window.benchlabRendered = true;
} else {
  benchlabShowOffline();
}
</script>
</body>
</html>
"""
