"""Benchmark (not a test): a hostile brand admin against a running service, while
messages flow.

Doorstep runs as its own process (HTTP API + outbox workers) against a private
redis-server, as in benchmarks/notify.py, with a loop-lag probe inside it (a task
that sleeps 5 ms and records how late it wakes: the longest event-loop stall). This
process keeps delivery events flowing at a steady rate and plays the SMS provider,
and at the same time, as the brand's admin, fires every template bomb from issue 18
(save, preview, canned response, WhatsApp variable), a saved template that is cheap
on the sample delivery and a bomb on real ones, bad settings (Infinity, 400-digit
integers, inward webhook URLs) and malformed JSON bodies.

    python benchmarks/abuse.py [--seconds 20] [--rate 40] [--attackers 4] [--rounds 2]
                               [--no-malformed]

Prints requests refused (4xx), 5xx count, the longest event-loop stall (ms), and the
slowest message (event POST -> provider) and whether any took over 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.notify import (  # noqa: E402
    API_KEY,
    Provider,
    bench_brand,
    delivery_event,
    serve,
    serve_provider,
)
from bot.agents.accounts import AccountStore, Agent  # noqa: E402
from bot.base.keys import Keys  # noqa: E402
from bot.devrun import free_port  # noqa: E402
from tests import load_kit  # noqa: E402

PASSWORD = "bench-admin-password"
CPU_BOMB = "{% for i in range(1000) %}{{ ((range(1000)|list) * 9)|sort|sum }}{% endfor %}"
MACRO_BOMB = (
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
)
BOMBS = [
    "{{ name * 60000000 }}",
    "{{ ([name] * 60000000)|length }}",
    "{{ '{0:>300000000}'.format(name) }}",
    "{{ '%0300000000d' % 1 }}",
    "{{ name.center(300000000) }}",
    "{{ name|indent(300000000, true) }}",
    "{{ 2 ** 99999999 }}",
    "{{ lipsum(12000) }}",
    "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
    "{% set ns = namespace(s=name) %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
    MACRO_BOMB,
    CPU_BOMB,
    "{{ " + "9" * 1900 + " * " + "9" * 1900 + " }}",
]
# Cheap on the sample delivery (order ORD-1042), costly on every real one.
SLEEPER = "{% if order_id == 'ORD-1042' %}Hi {{ name }}.{% else %}" + CPU_BOMB + "{% endif %}"
BAD_SETTINGS = [
    '{"sms_segment_price": Infinity}',
    '{"low_confidence": NaN}',
    '{"escalation_limit_min": ' + "9" * 400 + "}",
    '{"webhook_url": "file:///etc/passwd"}',
    '{"webhook_url": "https://169.254.169.254/latest/meta-data"}',
    '{"webhook_url": "http://10.0.0.1/hook"}',
]
MALFORMED = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"display_name": ' + b"9" * 5000 + b"}",
    b'{"display_name": "\xff\xfe"}',
    b"[1, 2, 3]",
]


MALFORMED_ON = [True]  # --no-malformed: only the template and settings attacks
BACKPRESSURE = [0]  # event POSTs answered 503 (retried after Retry-After)


def serve_probed(port: int, provider_url: str, redis_url: str) -> None:
    """The service, with a loop-lag probe and `/bench/lag` to read (and reset) it."""
    lag = {"max_ms": 0.0}

    async def probe(app: web.Application) -> Any:
        async def run() -> None:
            while True:
                start = time.perf_counter()
                await asyncio.sleep(0.005)
                late = (time.perf_counter() - start - 0.005) * 1000
                lag["max_ms"] = max(lag["max_ms"], late)

        task = asyncio.ensure_future(run())
        yield
        task.cancel()

    async def read(request: web.Request) -> web.Response:
        found = lag["max_ms"]
        if request.query.get("reset"):
            lag["max_ms"] = 0.0
        return web.json_response({"max_ms": found})

    original = web.run_app

    def run_app(app: web.Application, **kwargs: Any) -> None:
        app.cleanup_ctx.append(probe)
        app.router.add_get("/bench/lag", read)
        original(app, **kwargs)

    web.run_app = run_app  # type: ignore[assignment]
    serve(port, provider_url, redis_url)


async def login(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with session.post(
        f"{base}/console/login",
        data={"brand": "bench", "username": "boss", "password": PASSWORD},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302, await resp.text()
    async with session.get(f"{base}/console/api/me") as resp:
        me = await resp.json()
    return {"X-CSRF-Token": me["csrf"]}


def attacks(n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Round `n` of (method, path, request kwargs)."""
    bomb = BOMBS[n % len(BOMBS)]
    slot = "/console/api/admin/templates"
    found: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", f"{slot}/delivery_scheduled", {"json": {"source": bomb}}),
        ("POST", f"{slot}/preview", {"json": {"type": "delivery_scheduled", "source": bomb}}),
        ("PUT", "/console/api/admin/canned/boom", {"json": {"title": "x", "texts": {"en": bomb}}}),
        (
            "PUT",
            "/console/api/admin/settings",
            {
                "json": {
                    "whatsapp_templates": {
                        "delivery_scheduled": {
                            "content_sid": "HX" + "0" * 32,
                            "variables": {"1": bomb[:500]},
                        }
                    }
                }
            },
        ),
    ]
    body = BAD_SETTINGS[n % len(BAD_SETTINGS)]
    found.append(("PUT", "/console/api/admin/settings", {"data": body}))
    if MALFORMED_ON[0]:
        raw = MALFORMED[n % len(MALFORMED)]
        found.append(("PUT", "/console/api/admin/settings", {"data": raw}))
    return found


async def attacker(
    session: aiohttp.ClientSession,
    base: str,
    csrf: dict[str, str],
    start: int,
    stop_at: float,
    statuses: Counter[str],
    errors: list[str],
) -> None:
    n = start
    headers = {**csrf, "Content-Type": "application/json"}
    while time.monotonic() < stop_at:
        for method, path, kwargs in attacks(n):
            async with session.request(method, base + path, headers=headers, **kwargs) as resp:
                text = await resp.text()
                kind = "malformed" if kwargs.get("data") in MALFORMED else "template/settings"
                refused_ok = resp.status == 200 and '"ok": false' in text  # a preview
                statuses[f"{kind} {'refused' if refused_ok else f'{resp.status // 100}xx'}"] += 1
                if resp.status >= 500:
                    errors.append(f"{resp.status} {method} {path} {text[:120]}")
                elif resp.status < 400 and '"ok": false' not in text and '"ok":false' not in text:
                    errors.append(f"accepted! {method} {path} {text[:120]}")
        n += 1


async def flow(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float, tag: str = "flow"
) -> tuple[list[dict[str, Any]], list[float]]:
    """Delivery events at `rate`/s for `seconds` (open loop)."""
    events = [delivery_event(n, tag) for n in range(int(rate * seconds))]
    sent = [0.0] * len(events)
    begin = time.monotonic() + 0.05

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
        sent[i] = time.time()
        while True:  # a 503 (backpressure) is waited out, as a dispatch system would
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with session.post(url, json=events[i], headers=headers) as resp:
                if resp.status == 202:
                    return
                if resp.status != 503:
                    raise RuntimeError(f"event refused: {resp.status} {await resp.text()}")
                BACKPRESSURE[0] += 1
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))

    await asyncio.gather(*(one(i) for i in range(len(events))))
    return events, sent


async def run(args: argparse.Namespace, redis_url: str) -> None:
    await bench_brand(redis_url)
    redis = Redis.from_url(redis_url, decode_responses=True)
    agent = Agent(brand_id="bench", username="boss", name="Boss", role="admin")
    await AccountStore(redis, Keys()).create(agent, PASSWORD)
    await redis.aclose()
    provider = Provider()
    runner, provider_port = await serve_provider(provider.handle)
    port = free_port()
    provider_url = f"http://127.0.0.1:{provider_port}/messages"
    command = [sys.executable, __file__, "--serve", str(port), provider_url, redis_url]
    server = load_kit.start(command, port, "/tmp/bench-abuse-server.log")
    base = server.base
    try:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with (
            aiohttp.ClientSession(cookie_jar=jar) as admin,
            aiohttp.ClientSession() as dispatch,
        ):
            await load_kit.wait_ready(dispatch, server)
            csrf = await login(admin, base)
            async with admin.put(
                f"{base}/console/api/admin/templates/delivery_scheduled",
                json={"source": SLEEPER},
                headers=csrf,
            ) as resp:
                sleeper_saved = resp.status
            await flow(dispatch, f"{base}/v1/events", 10, 1, "warm")  # warm-up
            statuses: Counter[str] = Counter()
            errors: list[str] = []
            phases: dict[str, tuple[float, list[float], int, int]] = {}
            # Alternating, so that a change in the machine's load falls on both alike.
            rounds = [("reference (no attack)", False), ("under attack", True)] * args.rounds
            for number, (name, attacking) in enumerate(rounds):
                async with dispatch.get(f"{base}/bench/lag?reset=1") as resp:
                    await resp.json()
                count0 = provider.count
                provider.arrivals.clear()
                stop_at = time.monotonic() + args.seconds
                flowing = asyncio.ensure_future(
                    flow(dispatch, f"{base}/v1/events", args.rate, args.seconds, f"r{number}")
                )
                await asyncio.gather(
                    *(
                        attacker(admin, base, csrf, i * 3, stop_at, statuses, errors)
                        for i in range(args.attackers if attacking else 0)
                    )
                )
                events, sent = await flowing
                deadline = time.monotonic() + 60
                while provider.count < count0 + len(events) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                async with dispatch.get(f"{base}/bench/lag") as resp:
                    stall = (await resp.json())["max_ms"]
                delays = [
                    provider.arrivals[e["data"]["customer"]["phone"]].pop(0) - t
                    for e, t in sorted(zip(events, sent, strict=True), key=lambda x: x[1])
                    if provider.arrivals.get(e["data"]["customer"]["phone"])
                ]
                before = phases.get(name, (0.0, [], 0, 0))
                phases[name] = (
                    max(before[0], stall),
                    before[1] + delays,
                    before[2] + provider.count - count0,
                    before[3] + len(events),
                )
    finally:
        server.stop(timeout=60)
        await runner.cleanup()
    refused = sum(v for k, v in statuses.items() if " 4xx" in k or "refused" in k)
    fivexx = sum(v for k, v in statuses.items() if " 5xx" in k)
    print(f"abuse benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"  saved the real-data bomb (cheap on the sample): HTTP {sleeper_saved}")
    print(f"  attack requests by kind and status: {dict(sorted(statuses.items()))}")
    print(f"  requests refused: {refused}   5xx: {fivexx}")
    print(f"  delivery events answered 503 (backpressure, retried): {BACKPRESSURE[0]}")
    for name, (stall, delays, arrived, total) in phases.items():
        ordered = sorted(delays) or [0.0]
        print(
            f"  {name:<22} longest loop stall {stall:7.1f} ms   messages {arrived}/{total}, "
            f"p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, slowest {ordered[-1] * 1000:.0f}"
            f" ms, over 1 s: {sum(d > 1 for d in delays)}"
        )
    for line in errors[:10]:
        print("  !", line)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_probed(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=40, help="delivery events per second")
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--no-malformed", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="reference/attack pairs")
    args = parser.parse_args()
    MALFORMED_ON[0] = not args.no_malformed
    with load_kit.private_redis(aof=True) as redis_url:
        asyncio.run(run(args, redis_url))


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "warning")
    main()
