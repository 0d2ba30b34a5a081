"""A small GraphQL client for Benchlab's API: queries and mutations over HTTP (httpx), subscriptions over
graphql-transport-ws (websockets), with the credential as `Authorization: Bearer …` (and in
`connection_init` for subscriptions).

Every failure becomes one `ServerError` (a BenchlabError: the CLI prints `benchlab: error: …` and exits 2)
that says what to do: no server at the URL, a refused credential (UNAUTHENTICATED, with the server's reason),
a role too small (FORBIDDEN), invalid input (BAD_USER_INPUT, each of `extensions.problems` on its own line,
like a local spec error). `code` keeps the API's `extensions.code` for callers that branch on it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from benchlab import __version__
from benchlab.errors import BenchlabError

GRAPHQL_PATH = "/graphql"
PROTOCOL = "graphql-transport-ws"
REFUSED_CLOSE_CODE = 4403  # the server's close code for a refused credential (README "Roles and API keys")


class ServerError(BenchlabError):
    """The server could not be reached or refused the operation; `code` is the API's error code, if any."""

    def __init__(self, message: str, code: str | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.problems = list(problems)


class SubscriptionLost(ServerError):
    """The subscription's connection ended before the operation completed (a restart, a network outage)."""


def base_url(url: str) -> str:
    """`scheme://host[:port][/prefix]` of a server given with or without `/graphql`; BenchlabError if not http(s)."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BenchlabError(f"server URL: expected http(s)://host[:port], got {url!r}")
    return text[: -len(GRAPHQL_PATH)] if text.endswith(GRAPHQL_PATH) else text


class GraphQLClient:
    """One server and credential; `async with` closes the HTTP connection pool."""

    def __init__(self, url: str, credential: str | None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url(url)
        self.endpoint = self.base_url + GRAPHQL_PATH
        self._credential = credential
        self._timeout = timeout
        headers = {"User-Agent": f"benchlab-cli/{__version__}"}
        if credential:
            headers["Authorization"] = f"Bearer {credential}"
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout)

    async def __aenter__(self) -> GraphQLClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a query or mutation; ServerError for any error the response carries."""
        try:
            response = await self._http.post(self.endpoint,
                                             json={"query": document, "variables": dict(variables or {})})
        except httpx.ConnectError as exc:
            raise self.unreachable(exc) from None
        except httpx.TimeoutException:
            raise ServerError(f"{self.base_url} did not answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot talk to {self.base_url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("errors"):
            raise self.error_of(body["errors"][0])
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise ServerError(f"{self.endpoint} answered HTTP {response.status_code} without a GraphQL result; is "
                              "it a Benchlab server?")
        return body["data"]

    async def subscribe(self, document: str, variables: Mapping[str, Any] | None = None,
                        ) -> AsyncIterator[dict[str, Any]]:
        """The `data` of each message of a subscription, until the server completes it.

        SubscriptionLost when the connection ends first (the caller may fall back to polling); ServerError
        when the server refuses the credential (close code 4403, with its reason) or the operation.
        """
        from websockets import ConnectionClosed, InvalidHandshake, InvalidURI
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        url = "ws" + self.endpoint[len("http"):]
        payload = {"authorization": f"Bearer {self._credential}"} if self._credential else {}
        try:
            async with connect(url, subprotocols=[Subprotocol(PROTOCOL)], open_timeout=self._timeout,
                               user_agent_header=f"benchlab-cli/{__version__}", max_size=2**24) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
                ack = json.loads(await asyncio.wait_for(ws.recv(), self._timeout))
                if ack.get("type") != "connection_ack":
                    raise ServerError(f"{self.base_url}: unexpected answer to connection_init: {ack.get('type')!r}")
                await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                          "payload": {"query": document, "variables": dict(variables or {})}}))
                async for raw in ws:
                    message = json.loads(raw)
                    kind = message.get("type")
                    if kind == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    elif kind == "next":
                        result = message.get("payload") or {}
                        if result.get("errors"):
                            raise self.error_of(result["errors"][0])
                        yield result.get("data") or {}
                    elif kind == "error":
                        errors = message.get("payload") or [{"message": "the subscription was refused"}]
                        raise self.error_of(errors[0])
                    elif kind == "complete":
                        return
        except ConnectionClosed as closed:
            code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
            if code == REFUSED_CLOSE_CODE:
                raise ServerError(f"{self.base_url} refused the credential: {reason}", "UNAUTHENTICATED") from None
            raise SubscriptionLost(f"the subscription to {self.base_url} ended early"
                                   + (f" ({code} {reason})" if code else "")) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            if isinstance(exc, ConnectionRefusedError):
                raise self.unreachable(exc) from None
            raise SubscriptionLost(f"cannot follow the run over {url}: {exc or type(exc).__name__}") from None

    def unreachable(self, exc: Exception) -> ServerError:
        text = str(exc).split("]")[-1].strip()
        reason = "connection refused" if not text or "All connection attempts failed" in text else text
        return ServerError(f"no server at {self.base_url} ({reason}): start `benchlab serve` there, or check "
                           "--server / BENCHLAB_SERVER_URL")

    def error_of(self, error: Mapping[str, Any]) -> ServerError:
        """One GraphQL error as the CLI reports it."""
        message = str(error.get("message") or "error")
        extensions = error.get("extensions") or {}
        code = extensions.get("code") if isinstance(extensions, Mapping) else None
        problems = [str(p) for p in (extensions.get("problems") or [])] if isinstance(extensions, Mapping) else []
        text = message
        if problems:
            first = message.splitlines()[0]
            heading = first if first not in problems else (
                "invalid input: 1 problem" if len(problems) == 1 else f"invalid input: {len(problems)} problems")
            text = "\n".join([heading, *(f"  {problem}" for problem in problems)])
        if code == "UNAUTHENTICATED":
            text = f"{self.base_url} refused the credential: {text}"
        elif code == "FORBIDDEN":
            text = f"not allowed on {self.base_url}: {text}"
        elif code == "RATE_LIMITED":
            text = f"{self.base_url} is rate limiting this credential: {text}"
        elif code == "INTERNAL":
            text = f"{self.base_url} failed: {text}"
        return ServerError(text, str(code) if code else None, problems)
