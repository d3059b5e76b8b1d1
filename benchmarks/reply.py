"""Benchmark: a customer's reply in -> the bot's answer handed to the provider.

Doorstep runs as one process against a private redis-server and the real Rasa
server on the trained model; this process plays the SMS provider both ways: it
posts each customer's reply to Doorstep's inbound webhook and receives the answer
on the provider's send endpoint. Each of `--conversations` customers sends a reply,
waits for the answer, and sends the next, so that many conversations are in flight
at once. Latency is from just before the reply's POST to the answer arriving.

    python benchmarks/reply.py [--conversations 50] [--rounds 20] [--think 2]

Two scenarios: customers who read the answer and type the next reply (`--think`
seconds on average, the budget's "50 concurrent conversations"), and saturation
(every customer replies the instant the answer arrives), which measures capacity:
there one Rasa process (about 12 ms of CPU per parse) is the bottleneck.

The replies cycle through what customers commonly send (a question about the ETA,
a greeting, a safe place, the answer to the question that follows, thanks): each is
parsed by Rasa, decided, rendered and sent through the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import notify  # noqa: E402
from benchmarks.notify import (  # noqa: E402
    HttpProviderChannel,
    bench_brand,
    delivery_event,
    post_event,
    serve_provider,
)
from bot.devrun import free_port  # noqa: E402
from bot.nlu.model import model_path, start_server, wait_ready  # noqa: E402
from integrations.base import InboundMessage, InboundSink, StatusSink  # noqa: E402
from tests import load_kit  # noqa: E402
from tests.load_kit import pct  # noqa: E402

_ids = itertools.count()
REPLIES = (
    "where is my parcel?",
    "hi there",
    "please leave it behind the side gate",
    "no thanks",
    "thanks!",
)


class BenchChannel(HttpProviderChannel):
    """Sends to the fake provider; takes replies on /bench/inbound (a trusted benchmark hook)."""

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        async def receive(request: web.Request) -> web.Response:
            body = await request.json()
            await inbound(
                InboundMessage(
                    channel=self.name,
                    sender=body["from"],
                    text=body["text"],
                    provider_id=body["id"],
                    received_at=datetime.now(UTC),
                )
            )
            return web.Response(status=204)

        return [web.post("/bench/inbound", receive)]


def serve(port: int, provider_url: str, redis_url: str, nlu_url: str, nlu_token: str) -> None:
    """The Doorstep process (a child of the benchmark), with the NLU and the inbound hook."""
    env = {
        "RASA_URL": nlu_url,
        "RASA_TOKEN": nlu_token,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    }
    notify.serve(port, provider_url, redis_url, channel=BenchChannel, env=env)


class Provider:
    """The fake provider: wakes the conversation waiting for an answer to that phone."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.count = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.count += 1
        waiter = self.waiting.pop(body["to"], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())
        return web.json_response({"sid": f"SM{self.count:08d}"}, status=201)


async def conversation(
    session: aiohttp.ClientSession,
    base: str,
    provider: Provider,
    phone: str,
    rounds: int,
    think: float = 0.0,
) -> list[float]:
    """One customer: reply, wait for the answer, read and type (`think` s on average)."""
    latencies = []
    rng = random.Random(phone)
    for r in range(rounds):
        if think:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
        answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        provider.waiting[phone] = answered
        started = time.perf_counter()
        body = {"from": phone, "text": REPLIES[r % len(REPLIES)], "id": f"SM{next(_ids)}"}
        async with session.post(f"{base}/bench/inbound", json=body) as resp:
            if resp.status != 204:
                raise RuntimeError(f"reply refused: {resp.status}")
        latencies.append(await asyncio.wait_for(answered, 30) - started)
    return latencies


async def run(args: argparse.Namespace, redis_url: str, nlu_url: str, nlu_token: str) -> None:
    await bench_brand(redis_url)
    provider = Provider()
    runner, provider_port = await serve_provider(provider.handle)

    port = free_port()
    provider_url = f"http://127.0.0.1:{provider_port}/messages"
    command = [sys.executable, __file__, "--serve", str(port), provider_url, redis_url]
    server = load_kit.start([*command, nlu_url, nlu_token], port, "/tmp/bench-reply-server.log")
    base = server.base
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.conversations + 10)
        ) as session:
            await load_kit.wait_ready(session, server)
            events = [delivery_event(n, "reply") for n in range(args.conversations)]
            for e in events:
                await post_event(session, f"{base}/v1/events", e)
            while provider.count < len(events):  # the "scheduled" messages
                await asyncio.sleep(0.01)
            phones = [e["data"]["customer"]["phone"] for e in events]
            # Warm-up round (not measured): first parse, first render per template.
            await asyncio.gather(*(conversation(session, base, provider, p, 1) for p in phones))
            print(
                f"reply benchmark: {os.cpu_count()} cores, one Doorstep process, one Rasa "
                f"process, {args.conversations} concurrent conversations x {args.rounds} replies",
                flush=True,
            )
            for name, think in (
                (f"customers typing ({args.think:.0f} s between replies)", args.think),
                ("saturation (no pause between replies)", 0.0),
            ):
                started = time.perf_counter()
                results = await asyncio.gather(
                    *(conversation(session, base, provider, p, args.rounds, think) for p in phones)
                )
                elapsed = time.perf_counter() - started
                lat = [x for r in results for x in r]
                print(
                    f"{name:<42} {len(lat)} replies, {len(lat) / elapsed:5.0f}/s  "
                    f"p50 {pct(lat, 50) * 1000:6.1f} ms  p99 {pct(lat, 99) * 1000:6.1f} ms  "
                    f"max {max(lat) * 1000:6.1f} ms",
                    flush=True,
                )
    finally:
        server.stop(timeout=60)
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between replies")
    parser.add_argument("--serve", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        port, provider, redis_url, nlu_url, token = args.serve
        serve(int(port), provider, redis_url, nlu_url, token)
        return
    rasa = start_server(model_path(), log_path=Path("/tmp/bench-rasa.log"))
    try:
        wait_ready(rasa, timeout_s=240)
        with load_kit.private_redis(aof=True) as redis_url:
            asyncio.run(run(args, redis_url, rasa.url, rasa.token))
    finally:
        rasa.stop()


if __name__ == "__main__":
    main()
