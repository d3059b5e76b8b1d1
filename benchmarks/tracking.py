"""Benchmark: open tracking pages following a route live (server-sent events).

One Doorstep process (HTTP + workers) against a private redis-server; this process
opens N pages' event streams over several routes' deliveries (one page per
delivery, as customers have them), then posts new ETAs for one route at a time.
Measured: from just before each `route.eta_changed` POST to each of that route's
pages receiving its new view; that the other routes' pages are sent nothing; the
Redis connections the service holds with the pages open (one subscription per
process; views are read through the bounded pool, not a connection per page); the
page's size.

    python benchmarks/tracking.py [--routes 25] [--stops 20] [--changes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.notify import (  # noqa: E402
    Provider,
    bench_brand,
    delivery_event,
    post_event,
    route_event,
    serve,
    serve_provider,
)
from bot.devrun import free_port  # noqa: E402
from tests import load_kit  # noqa: E402
from tests.load_kit import pct  # noqa: E402

LINK = re.compile(r"/t/[a-z2-7]{16}")


async def follow(session: aiohttp.ClientSession, url: str, seen: list[float]) -> None:
    """Read one page's stream; note when each `view` event arrives."""
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        event = ""
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "view":
                seen.append(time.time())


async def connections(redis_url: str) -> int:
    redis = Redis.from_url(redis_url, decode_responses=True)
    clients = await redis.client_list()
    await redis.aclose()
    return len(clients) - 1  # not this one


async def run(args: argparse.Namespace, redis_url: str) -> None:
    await bench_brand(redis_url)
    provider = Provider()
    runner, provider_port = await serve_provider(provider.handle)
    port = free_port()
    provider_url = f"http://127.0.0.1:{provider_port}/messages"
    notify = str(ROOT / "benchmarks" / "notify.py")
    command = [sys.executable, notify, "--serve", str(port), provider_url, redis_url]
    server = load_kit.start(command, port, "/tmp/bench-tracking-server.log")
    base = server.base
    connector = aiohttp.TCPConnector(limit=args.routes * args.stops + 50)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await load_kit.wait_ready(session, server)
            first = datetime.now(UTC) + timedelta(hours=2)
            routes = [[f"trk-{r}-{n}" for n in range(args.stops)] for r in range(args.routes)]
            for r, ids in enumerate(routes):
                for d in ids:
                    event = delivery_event(0, "trk")
                    event["id"] = f"c-{d}"
                    event["data"] |= {"delivery_id": d, "order_id": d}
                    await post_event(session, f"{base}/v1/events", event)
                await post_event(session, f"{base}/v1/events", route_event("trk", r, ids))
            paths: dict[str, str] = {}
            for d in [d for ids in routes for d in ids]:
                async with session.get(
                    f"{base}/v1/deliveries/{d}", headers={"Authorization": "Bearer bench-key"}
                ) as resp:
                    texts = [m["text"] for m in (await resp.json())["messages"]]
                found = LINK.search(" ".join(texts))
                assert found, texts
                paths[d] = found.group(0)
            async with session.get(f"{base}{paths[routes[0][0]]}") as resp:
                html = await resp.read()
            before = await connections(redis_url)
            # One page open per delivery, as customers have them.
            seen: dict[str, list[float]] = {d: [] for d in paths}
            tasks = []
            for d, path in paths.items():  # customers open their pages over a few seconds
                tasks.append(asyncio.create_task(follow(session, f"{base}{path}/events", seen[d])))
                await asyncio.sleep(args.open_every)
            while any(not s for s in seen.values()):
                await asyncio.sleep(0.05)
            held = await connections(redis_url)
            latencies: list[float] = []
            woken_elsewhere = 0
            for change in range(args.changes):
                r = change % args.routes
                ids = routes[r]
                counts = {d: len(s) for d, s in seen.items()}
                # Every stop of one route ten minutes later: its pages' ETAs change.
                later = timedelta(minutes=10 * (change // args.routes + 1))
                etas = [
                    {
                        "delivery_id": d,
                        "eta": (first + timedelta(minutes=10 * i) + later).isoformat(),
                    }
                    for i, d in enumerate(ids)
                ]
                event = {
                    "id": f"trk-change-{change}",
                    "type": "route.eta_changed",
                    "data": {"route_id": f"trk-route-{r}", "stops": etas},
                }
                sent = time.time()
                await post_event(session, f"{base}/v1/events", event)
                deadline = time.monotonic() + 30
                while any(len(seen[d]) <= counts[d] for d in ids):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"a page of route {r} never saw change {change}")
                    await asyncio.sleep(0.002)
                latencies += [seen[d][counts[d]] - sent for d in ids]
                await asyncio.sleep(args.every)
                woken_elsewhere += sum(
                    len(s) - counts[d] for d, s in seen.items() if d not in set(ids)
                )
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        pages = len(paths)
        print(
            f"tracking benchmark: {pages} open pages ({args.routes} routes of {args.stops}), "
            f"{args.changes} route changes; page HTML {len(html) / 1024:.1f} KB",
            flush=True,
        )
        print(
            f"ETA change -> every page's new view: p50 {pct(latencies, 50) * 1000:.1f} ms, "
            f"p99 {pct(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
            f"({len(latencies)} updates)",
            flush=True,
        )
        print(f"views sent to pages of other routes: {woken_elsewhere}")
        print(f"Redis connections of the service: {before} before the pages, {held} with them open")
    finally:
        server.stop(timeout=20)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--routes", type=int, default=25)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--open-every", type=float, default=0.01, help="seconds between pages")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between moves")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    with load_kit.private_redis(aof=True) as redis_url:
        asyncio.run(run(args, redis_url))


if __name__ == "__main__":
    main()
