"""Benchmark: delivery event in -> notification handed to a (local, fake) provider.

Doorstep runs as one process (HTTP API + outbox workers) against a private
redis-server; this process posts events over HTTP and plays the SMS provider, so
the two do not share a CPU core's event loop. Latency is from just before the
event's POST to the provider receiving the message (wall clock, same machine).

    python benchmarks/notify.py [--events 4000] [--concurrency 64]

Prints messages/s and latency percentiles per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devrun import free_port  # noqa: E402
from integrations.base import (  # noqa: E402
    ChannelRegistry,
    ChannelSendError,
    InboundSink,
    OutboundMessage,
    SendResult,
    StatusSink,
)
from tests import load_kit  # noqa: E402
from tests.load_kit import pct  # noqa: E402

API_KEY = "bench-key"


class HttpProviderChannel:
    """A channel posting to the fake provider, as an SMS provider's client would."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return "bench"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def stop(self) -> None:
        if self._session:
            await self._session.close()

    async def send(self, message: OutboundMessage) -> SendResult:
        assert self._session is not None
        async with self._session.post(
            self._url, json={"to": message.to, "body": message.text, "id": message.message_id}
        ) as resp:
            if resp.status >= 500:
                raise ChannelSendError(f"provider {resp.status}", retryable=True)
            body = await resp.json()
        return SendResult(provider_id=body["sid"])

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        return []


def serve(
    port: int,
    provider_url: str,
    redis_url: str,
    channel: type[HttpProviderChannel] = HttpProviderChannel,
    env: dict[str, str] | None = None,
) -> None:
    """The Doorstep process (run as a child of the benchmark), sending to the provider."""
    from bot.app import create_app
    from bot.base.logs import configure_logging
    from bot.config import Settings

    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "PORT": str(port),
            "DOORSTEP_SANDBOX": "false",
            "DOORSTEP_DEMO": "false",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "info"),
            **(env or {}),
        }
    )
    configure_logging(settings.log_level, settings.log_json)

    def channels(_settings: Any, _redis: Any, _keys: Any) -> ChannelRegistry:
        registry = ChannelRegistry()
        registry.register(channel(provider_url))
        return registry

    from bot.cli import new_event_loop

    web.run_app(
        create_app(settings, channels=channels),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        loop=new_event_loop(),
    )


def delivery_event(n: int, tag: str) -> dict[str, Any]:
    """Delivery `{tag}-{n}` (event `{tag}-c-{n}`) to +1 212 555 and `n % 10000`."""
    phone = load_kit.phone(n, areas=(212,))
    return load_kit.delivery_event(f"{tag}-{n}", phone, event_id=f"{tag}-c-{n}")


def route_event(tag: str, route: int, ids: list[str]) -> dict[str, Any]:
    first = datetime.now(UTC) + timedelta(hours=2)
    return {
        "id": f"{tag}-r-{route}",
        "type": "route.dispatched",
        "data": {
            "route_id": f"{tag}-route-{route}",
            "driver": {"id": "d", "name": "Sam Lee"},
            "vehicle_start": {"lat": 40.7, "lon": -73.9},
            "stops": [
                {
                    "stop_id": f"s{i}",
                    "delivery_id": d,
                    "planned_eta": (first + timedelta(minutes=10 * i)).isoformat(),
                }
                for i, d in enumerate(ids)
            ],
        },
    }


class Provider:
    """The fake SMS provider: records when each message arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.count = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.count += 1
        self.arrivals.setdefault(body["to"], []).append(time.time())
        return web.json_response({"sid": f"SM{self.count:08d}"}, status=201)


async def post_event(session: aiohttp.ClientSession, url: str, event: dict[str, Any]) -> None:
    async with session.post(
        url, json=event, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as resp:
        if resp.status != 202:
            raise RuntimeError(f"event refused: {resp.status} {await resp.text()}")


async def post_all(
    session: aiohttp.ClientSession, url: str, events: list[dict[str, Any]], concurrency: int
) -> list[float]:
    """POST events with `concurrency` in flight; return each event's send time."""
    sent_at = [0.0] * len(events)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(events)):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            sent_at[i] = time.time()
            await post_event(session, url, events[i])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent_at


async def post_paced(
    session: aiohttp.ClientSession, url: str, events: list[dict[str, Any]], rate: float
) -> list[float]:
    """Open-loop load: event i is posted at t0 + i / rate whatever the server's pace."""
    sent_at = [0.0] * len(events)
    start = time.monotonic() + 0.05

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        sent_at[i] = time.time()
        await post_event(session, url, events[i])

    await asyncio.gather(*(one(i) for i in range(len(events))))
    return sent_at


async def wait_for(provider: Provider, total: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while provider.count < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {provider.count}/{total} messages arrived")
        await asyncio.sleep(0.01)


def report(
    name: str, latencies: list[float], first_sent: float, last_arrival: float, messages: int
) -> dict[str, float]:
    rate = messages / (last_arrival - first_sent)
    result = {
        "messages": messages,
        "msg_per_s": rate,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
    }
    print(
        f"{name:<34} {messages:>6} msgs  {rate:>7.0f} msg/s  p50 {result['p50_ms']:6.1f} ms"
        f"  p99 {result['p99_ms']:6.1f} ms  max {result['max_ms']:6.1f} ms",
        flush=True,
    )
    return result


async def bench_brand(redis_url: str) -> None:
    """A clean database with the benchmark brand (no quiet hours) and its API key."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    await load_kit.seed_brand(redis, "bench", API_KEY, display_name="Bench", channels=["bench"])
    await redis.aclose()


async def serve_provider(handler: Any) -> tuple[web.AppRunner, int]:
    """The fake provider's HTTP server (POST /messages) on a free port."""
    provider_app = web.Application()
    provider_app.router.add_post("/messages", handler)
    runner = web.AppRunner(provider_app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def run(args: argparse.Namespace, redis_url: str) -> None:
    await bench_brand(redis_url)
    provider = Provider()
    runner, provider_port = await serve_provider(provider.handle)

    port = free_port()
    profiler = os.environ.get("PROFILE_WITH")  # e.g. "py-spy record -o /tmp/p.txt -f raw --"
    provider_url = f"http://127.0.0.1:{provider_port}/messages"
    prefix = profiler.split() if profiler else []
    command = [*prefix, sys.executable, __file__, "--serve", str(port), provider_url, redis_url]
    server = load_kit.start(command, port, "/tmp/bench-server.log")
    url = f"{server.base}/v1/events"
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.concurrency)
        ) as session:
            await load_kit.wait_ready(session, server)
            print(
                f"notify benchmark: {os.cpu_count()} cores, one Doorstep process, "
                f"{args.concurrency} concurrent clients",
                flush=True,
            )
            # Warm-up (not measured).
            await post_all(
                session, url, [delivery_event(n, "warm") for n in range(300)], args.concurrency
            )
            await wait_for(provider, 300)

            # Scenario 1: one event -> one message.
            provider.arrivals.clear()
            base = provider.count
            events = [delivery_event(n, "one") for n in range(args.events)]
            sent = await post_all(session, url, events, args.concurrency)
            await wait_for(provider, base + args.events)
            lat = [
                provider.arrivals[e["data"]["customer"]["phone"]].pop(0) - t
                for e, t in sorted(zip(events, sent, strict=True), key=lambda x: x[1])
            ]
            arrivals = [t + x for t, x in zip(sorted(sent), lat, strict=True)]
            report("delivery.created -> 1 message", lat, min(sent), max(arrivals), args.events)

            # Scenario 2: latency at the budget's rate (open loop, 500 events/s, 1 message each).
            await asyncio.sleep(1)
            provider.arrivals.clear()
            base = provider.count
            paced = [delivery_event(n, "paced") for n in range(round(args.rate * args.seconds))]
            sent_p = await post_paced(session, url, paced, args.rate)
            await wait_for(provider, base + len(paced))
            lat = [
                provider.arrivals[e["data"]["customer"]["phone"]].pop(0) - t
                for e, t in sorted(zip(paced, sent_p, strict=True), key=lambda x: x[1])
            ]
            arrivals = [t + x for t, x in zip(sorted(sent_p), lat, strict=True)]
            report(
                f"paced {args.rate:.0f} events/s, 1 msg each",
                lat,
                min(sent_p),
                max(arrivals),
                len(paced),
            )

            # Scenario 3: route.dispatched, 20 stops -> 20 messages per event.
            stops = 20
            routes = args.events // stops
            ids = [[f"one-{r * stops + i}" for i in range(stops)] for r in range(routes)]
            provider.arrivals.clear()
            base = provider.count
            revents = [route_event("rt", r, ids[r]) for r in range(routes)]
            sent = await post_all(session, url, revents, min(args.concurrency, routes))
            await wait_for(provider, base + routes * stops)
            phone_of = {e["data"]["delivery_id"]: e["data"]["customer"]["phone"] for e in events}
            lat = []
            arrivals = []
            for r, t in enumerate(sent):
                for d in ids[r]:
                    arrived = provider.arrivals[phone_of[d]].pop(0)
                    arrivals.append(arrived)
                    lat.append(arrived - t)
            report(
                f"route.dispatched x{stops} stops", lat, min(sent), max(arrivals), routes * stops
            )
    finally:
        server.stop(signal.SIGINT if profiler else signal.SIGTERM, timeout=60)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0, help="paced scenario, events/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="paced scenario length")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "PROVIDER_URL", "REDIS_URL"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    with load_kit.private_redis(aof=True) as redis_url:
        asyncio.run(run(args, redis_url))


if __name__ == "__main__":
    main()
