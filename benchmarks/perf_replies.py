"""The replies half of benchmarks/perf.py: customers' SMS replies through Twilio's webhook.

Setup: `ROUTES` routes of `STOPS` dispatched stops, out this morning in the customers'
time zone (one chosen so that it is about 9:00 there now). Each reply is a signed
Twilio inbound webhook (form POST, `X-Twilio-Signature`) from a customer who has not
written yet, posted open loop at stepped rates; latency is from the POST to the
bot's answer reaching the fake Twilio API, and the webhook's own response time is
measured too (Twilio gives up at 15 s and retries). The realistic mix: a quarter of
the replies are reschedules that need a route change ("can you come after 3pm?": the
stop moves from this morning to the afternoon, the route is re-planned and the change
committed), the rest ask where the parcel is, greet or thank. Then the same without
reschedules, against the reference: the Rasa server alone (POST /model/parse, four
in flight, as the client sends), whose rate is what replies could reach at best.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from twilio.request_validator import RequestValidator

from tests.load_kit import TWILIO_TOKEN, cpu_seconds, delivery_event, pct, phone, wait_ready

if TYPE_CHECKING:
    from benchmarks.perf import Service

ROUTES = 100
STOPS = 12
OUR_NUMBER = "+15005550006"
OTHER = ("where is my parcel?", "hi there", "thanks!")
RESCHEDULE = "can you come after 3pm?"
_sids = itertools.count(1)


def morning_zone() -> str:
    """An Etc/GMT zone where it is about 9:00 now (Etc/GMT-5 is UTC+5)."""
    offset = (9 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


def reply_phone(route: int, stop: int) -> str:
    return phone(100_000 + route * 100 + stop)


async def setup(session: aiohttp.ClientSession, ds: Service) -> None:
    """Every delivery, then the routes (posted through Doorstep's events API)."""
    from benchmarks.perf import API_KEY

    zone = morning_zone()
    now = datetime.now(UTC)
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async def post(event: dict[str, Any]) -> None:
        async with session.post(f"{ds.base}/v1/events", json=event, headers=headers) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"setup event refused: {resp.status} {await resp.text()}")

    for r in range(ROUTES):
        ids = [f"rp-{r}-{s}" for s in range(STOPS)]
        await asyncio.gather(
            *(
                post(
                    delivery_event(
                        ids[s],
                        reply_phone(r, s),
                        event_id=f"rp-c-{r}-{s}",
                        timezone=zone,
                        address={
                            "line1": f"{s} Main St",
                            "lat": 40.68 + s * 0.002,
                            "lon": -73.97 + s * 0.002,
                        },
                        window=(now, now + timedelta(hours=5)),
                    )
                )
                for s in range(STOPS)
            )
        )
        first = now + timedelta(minutes=30)
        await post(
            {
                "id": f"rp-r-{r}",
                "type": "route.dispatched",
                "data": {
                    "route_id": f"rp-route-{r}",
                    "driver": {"id": f"drv{r}", "name": "Sam Lee"},
                    "vehicle_start": {"lat": 40.67, "lon": -73.94},
                    "stops": [
                        {
                            "stop_id": f"s{s}",
                            "delivery_id": ids[s],
                            "location": {"lat": 40.68 + s * 0.002, "lon": -73.97 + s * 0.002},
                            "service_time_s": 120,
                            "planned_eta": (first + timedelta(minutes=8 * s)).isoformat(),
                        }
                        for s in range(STOPS)
                    ],
                },
            }
        )


async def post_reply(
    session: aiohttp.ClientSession, ds: Service, validator: RequestValidator, frm: str, text: str
) -> float:
    """One signed inbound SMS webhook; how long Doorstep took to answer it (s)."""
    path = "/webhooks/twilio/sms"
    params = {"From": frm, "To": OUR_NUMBER, "Body": text, "MessageSid": f"SMin{next(_sids):030d}"}
    signature = validator.compute_signature(f"{ds.base}{path}", params)
    started = time.perf_counter()
    async with session.post(
        f"{ds.base}{path}", data=params, headers={"X-Twilio-Signature": signature}
    ) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"webhook answered {resp.status}")
    return time.perf_counter() - started


async def reply_step(
    session: aiohttp.ClientSession, ds: Service, twilio: str, rate: float, seconds: float,
    senders: list[tuple[str, str]], rasa_pid: int,
) -> dict[str, Any]:  # fmt: skip
    """Post `senders` (phone, text) open loop at `rate`; latencies and CPU."""
    validator = RequestValidator(TWILIO_TOKEN)
    count = min(len(senders), round(rate * seconds))
    chosen = senders[:count]
    del senders[:count]
    async with session.get(f"{twilio}/_arrivals") as resp:
        await resp.read()
    cpu0, rasa0 = cpu_seconds(ds.pid), cpu_seconds(rasa_pid)
    sent: dict[str, float] = {}
    webhook: list[float] = []

    async def one(frm: str, text: str) -> None:
        sent[frm] = time.time()
        webhook.append(await post_reply(session, ds, validator, frm, text))

    tasks = []
    start = time.monotonic() + 0.02
    for i, (frm, text) in enumerate(chosen):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(frm, text)))
    await asyncio.gather(*tasks)
    answered: dict[str, tuple[float, str]] = {}
    deadline = time.monotonic() + 30
    while len(answered) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        async with session.get(f"{twilio}/_arrivals") as resp:
            for to, at, body in await resp.json():
                if to in sent and to not in answered and at >= sent[to]:
                    answered[to] = (at, body)
    cpu, rasa_cpu = cpu_seconds(ds.pid) - cpu0, cpu_seconds(rasa_pid) - rasa0
    lat = [answered[p][0] - sent[p] for p in sent if p in answered]
    moved = sum(1 for frm, text in chosen if text == RESCHEDULE and frm in answered
                and "3" in answered[frm][1])  # fmt: skip
    samples = {text: answered[frm][1] for frm, text in chosen if frm in answered}
    print("    answers: " + " | ".join(f"{t!r} -> {b!r}" for t, b in samples.items()), flush=True)
    last = max((a for a, _b in answered.values()), default=time.time())
    n = max(len(lat), 1)
    return {
        "rate": rate,
        "replies": count,
        "answered": len(lat),
        "achieved": len(lat) / max(last - min(sent.values()), 1e-9),
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "webhook_p99_ms": pct(webhook, 99) * 1000,
        "cpu_ms": cpu * 1000 / n,
        "rasa_cpu_ms": rasa_cpu * 1000 / n,
        "reschedules": sum(1 for _f, t in chosen if t == RESCHEDULE),
        "moved": moved,
    }


def print_reply_step(name: str, s: dict[str, Any]) -> None:
    print(
        f"  {name:<10} {s['rate']:>5.0f}/s  got {s['achieved']:>5.1f}/s "
        f"({s['answered']}/{s['replies']}, reschedules {s['moved']}/{s['reschedules']} "
        f"confirmed)  p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  webhook p99 "
        f"{s['webhook_p99_ms']:6.1f} ms  CPU {s['cpu_ms']:5.1f} ms/reply "
        f"(Rasa {s['rasa_cpu_ms']:5.1f})",
        flush=True,
    )


async def rasa_only(
    session: aiohttp.ClientSession, url: str, token: str, pid: int, n: int = 300
) -> tuple[float, float]:
    """The reference: parses/s of the Rasa server alone (4 in flight), CPU ms per parse."""
    texts = [*OTHER, RESCHEDULE]
    queue = list(range(n))
    cpu0 = cpu_seconds(pid)

    async def worker() -> None:
        while queue:
            i = queue.pop()
            async with session.post(
                f"{url}/model/parse", json={"text": texts[i % len(texts)]}, params={"token": token}
            ) as resp:
                await resp.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    elapsed = time.perf_counter() - started
    return n / elapsed, (cpu_seconds(pid) - cpu0) * 1000 / n


async def run(
    args: argparse.Namespace, ds: Service, twilio: str, rasa_url: str, rasa_token: str,
    rasa_pid: int,
) -> None:  # fmt: skip
    import os

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=500)) as session:
        await wait_ready(session, ds.child, timeout=300)
        await setup(session, ds)
        await asyncio.sleep(3)  # the setup's own messages go out
        # Reschedulers: one stop per route at a time (stop k of every route at step k);
        # the others from stops no one reschedules.
        movers = [
            (reply_phone(r, s), RESCHEDULE) for s in range(0, STOPS, 3) for r in range(ROUTES)
        ]
        others = [
            (reply_phone(r, s), OTHER[(r + s) % len(OTHER)])
            for s in range(STOPS) if s % 3 for r in range(ROUTES)
        ]  # fmt: skip
        # Warm-up: first parses, first renders, first solve.
        await reply_step(session, ds, twilio, 5, 2, [movers.pop(), *others[:9]], rasa_pid)
        del others[:9]
        load = os.getloadavg()
        print(
            f"\nreplies (Twilio webhook -> answer at the fake Twilio), load average "
            f"{load[0]:.2f}; a quarter reschedule onto a changed route:",
            flush=True,
        )
        mixed = []
        for rate in [float(r) for r in args.reply_rates.split(",")]:
            count = round(rate * args.seconds)
            quarter = count // 4
            # One reschedule among every four replies.
            moving, staying = iter(movers[:quarter]), iter(others[: count - quarter])
            batch = [next(moving) if i % 4 == 0 and i < 4 * quarter else next(staying)
                     for i in range(count)]  # fmt: skip
            del movers[:quarter], others[: count - quarter]
            step = await reply_step(session, ds, twilio, rate, args.seconds, batch, rasa_pid)
            print_reply_step("mixed", step)
            mixed.append(step)
        parses, parse_cpu = await rasa_only(session, rasa_url, rasa_token, rasa_pid)
        print(
            f"  reference  Rasa alone: {parses:5.1f} parses/s, {parse_cpu:5.1f} ms CPU per parse",
            flush=True,
        )
        best = 0.0
        for fraction in (0.5, 0.8, 1.0):
            step = await reply_step(
                session, ds, twilio, parses * fraction, args.seconds, others, rasa_pid
            )
            print_reply_step("no moves", step)
            if step["answered"] == step["replies"]:
                best = max(best, step["achieved"])
        print(
            f"  replies without route changes: {best:.1f}/s vs Rasa alone {parses:.1f}/s "
            f"({best / parses:.2f}x; target 0.8x)",
            flush=True,
        )
        print(json.dumps({"mixed": mixed}), file=open("/tmp/perf-replies.json", "w"))
