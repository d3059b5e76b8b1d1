"""Benchmark: open tracking pages following a route live (server-sent events).

One Doorstep process (HTTP + workers) against a private redis-server; this process
opens N pages' event streams over one route's deliveries, then posts driver
positions. Measured: from just before each `driver.position` POST to each open page
receiving its new view; how many Redis connections the service holds with the pages
open (one subscription per process, not one per page); the page's size.

    python benchmarks/tracking.py [--pages 500] [--stops 20] [--moves 20]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.notify import (  # noqa: E402
    Provider,
    bench_brand,
    delivery_event,
    pct,
    post_event,
    route_event,
    serve,
    serve_provider,
)
from bot.devrun import free_port, local_redis  # noqa: E402

LINK = re.compile(r"/t/[A-Za-z0-9_-]{16}")


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
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "notify.py"), "--serve", str(port),
         f"http://127.0.0.1:{provider_port}/messages", redis_url],
        stdout=open("/tmp/bench-tracking-server.log", "w"),
    )  # fmt: skip
    connector = aiohttp.TCPConnector(limit=args.pages + 50)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(200):
                try:
                    async with session.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            ids = [f"trk-{n}" for n in range(args.stops)]
            for n in range(args.stops):
                await post_event(session, f"{base}/v1/events", delivery_event(n, "trk"))
            await post_event(session, f"{base}/v1/events", route_event("trk", 0, ids))
            paths = []
            for d in ids:
                async with session.get(
                    f"{base}/v1/deliveries/{d}", headers={"Authorization": "Bearer bench-key"}
                ) as resp:
                    texts = [m["text"] for m in (await resp.json())["messages"]]
                found = LINK.search(" ".join(texts))
                assert found, texts
                paths.append(found.group(0))
            async with session.get(f"{base}{paths[0]}") as resp:
                html = await resp.read()
            before = await connections(redis_url)
            seen: list[list[float]] = [[] for _ in range(args.pages)]
            streams = [f"{base}{paths[i % len(paths)]}/events" for i in range(args.pages)]
            tasks = [
                asyncio.create_task(follow(session, url, seen[i])) for i, url in enumerate(streams)
            ]
            while sum(1 for s in seen if s) < args.pages:
                await asyncio.sleep(0.05)
            held = await connections(redis_url)
            latencies: list[float] = []
            for move in range(args.moves):
                counts = [len(s) for s in seen]
                sent = time.time()
                event = {
                    "id": f"trk-move-{move}",
                    "type": "driver.position",
                    "data": {
                        "route_id": "trk-route-0",
                        "position": {"lat": 40.7 + move * 0.0005, "lon": -73.9},
                        "recorded_at": datetime.now(UTC).isoformat(),
                    },
                }
                await post_event(session, f"{base}/v1/events", event)
                deadline = time.monotonic() + 30
                while any(len(s) <= c for s, c in zip(seen, counts, strict=True)):
                    if time.monotonic() > deadline:
                        raise RuntimeError("some pages never heard of the move")
                    await asyncio.sleep(0.005)
                latencies += [s[c] - sent for s, c in zip(seen, counts, strict=True)]
                await asyncio.sleep(args.every)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        print(
            f"tracking benchmark: {args.pages} open pages over {args.stops} stops, "
            f"{args.moves} driver moves; page HTML {len(html) / 1024:.1f} KB",
            flush=True,
        )
        print(
            f"move -> every page's new view: p50 {pct(latencies, 50) * 1000:.1f} ms, "
            f"p99 {pct(latencies, 99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
            f"({len(latencies)} updates)",
            flush=True,
        )
        print(f"Redis connections of the service: {before} before the pages, {held} with them open")
    finally:
        server.terminate()
        server.wait(timeout=20)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between moves")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    with local_redis("redis://127.0.0.1:6399/0") as redis_url:
        asyncio.run(run(args, redis_url))


if __name__ == "__main__":
    main()
