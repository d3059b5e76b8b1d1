"""Benchmark: Doorstep against a bare reference doing the same job, in one run.

Notifications: a delivery event in -> its message at the (fake) Twilio Messages API.
Doorstep (`doorstep serve`, one process, its real Twilio channel) and the bare
reference (benchmarks/perf_reference.py: aiohttp + uvloop, one XADD per event, a
consumer POSTing to Twilio) each run against a redis-server of their own and the same
fake Twilio API (tests/fake_providers.py, in a process of its own), under open-loop
load at stepped fixed rates: event i is posted at t0 + i/rate whatever the server's
pace. The two take turns at each rate (never both at once). Per step: the achieved
rate, p50/p99 latency (event POSTed -> fake Twilio received the message), CPU per
message of the service's process and of its redis-server (/proc), Redis commands per
message (INFO commandstats deltas), and Doorstep / reference ratios.

Replies (`--replies`, needs the trained Rasa model): benchmarks/perf_replies.py.

    python benchmarks/perf.py [--rates 100,200,400,600,800,1000] [--seconds 4]
                              [--replies [--reply-rates 10,25,50]] [--no-notify]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devrun import free_port  # noqa: E402
from tests.load_kit import (  # noqa: E402
    Child,
    TimedTwilio,
    cpu_seconds,
    delivery_event,
    doorstep_env,
    pct,
    phone,
    private_redis,
    seed_brand,
    start,
    start_doorstep,
    wait_ready,
)

API_KEY = "bench-key"
BUDGET_P99_MS = 100.0


# --- the fake Twilio, in a process of its own ------------------------------------
def serve_twilio(port: int) -> None:
    fake = TimedTwilio(keep_requests=False)
    web.run_app(
        fake.app(), host="127.0.0.1", port=port, print=None, access_log=None,
        loop=uvloop.new_event_loop(),
    )  # fmt: skip


# --- processes -------------------------------------------------------------------
@dataclass
class Service:
    """One system under test: its process (HTTP base URL, pid) and its redis-server."""

    name: str
    child: Child
    redis: Redis
    redis_pid: int = 0

    @property
    def base(self) -> str:
        return self.child.base

    @property
    def pid(self) -> int:
        return self.child.pid

    async def commands(self) -> dict[str, int]:
        stats = await self.redis.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


# --- load ------------------------------------------------------------------------
async def open_loop(
    session: aiohttp.ClientSession, url: str, bodies: list[bytes], rate: float
) -> tuple[list[float], int]:
    """POST body i at t0 + i/rate (open loop); each POST's send time, and the refusals."""
    sent = [0.0] * len(bodies)
    refused = 0
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    async def one(i: int) -> None:
        nonlocal refused
        sent[i] = time.time()
        try:
            async with session.post(url, data=bodies[i], headers=headers) as resp:
                await resp.read()
                refused += resp.status >= 300
        except aiohttp.ClientError:
            refused += 1

    tasks = []
    start = time.monotonic() + 0.02
    for i in range(len(bodies)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return sent, refused


@dataclass
class Step:
    service: str
    rate: float
    messages: int
    arrived: int
    achieved: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # the service's process, per message
    redis_cpu_ms: float
    commands: float  # Redis commands per message

    @property
    def ok(self) -> bool:
        return self.arrived == self.messages and self.p99_ms < BUDGET_P99_MS


async def notify_step(
    session: aiohttp.ClientSession, twilio: str, svc: Service, rate: float, seconds: float,
    first: int,
) -> Step:  # fmt: skip
    count = round(rate * seconds)
    tag = f"{svc.name}{rate:.0f}x{first}"
    bodies = [
        json.dumps(delivery_event(f"{tag}-{n}", phone(n))).encode()
        for n in range(first, first + count)
    ]
    async with session.get(f"{twilio}/_arrivals") as resp:
        await resp.read()
    cpu0, rcpu0, cmd0 = cpu_seconds(svc.pid), cpu_seconds(svc.redis_pid), await svc.commands()
    sent, _refused = await open_loop(session, f"{svc.base}/v1/events", bodies, rate)
    arrivals: list[tuple[str, float]] = []
    deadline = time.monotonic() + 15
    while len(arrivals) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        async with session.get(f"{twilio}/_arrivals") as resp:
            arrivals += [(a[0], a[1]) for a in await resp.json()]
    cpu = cpu_seconds(svc.pid) - cpu0
    rcpu = cpu_seconds(svc.redis_pid) - rcpu0
    cmd1 = await svc.commands()
    delta = {k: v - cmd0.get(k, 0) for k, v in cmd1.items() if v > cmd0.get(k, 0)}
    delta["info"] -= 1
    commands = sum(delta.values())
    if os.environ.get("PERF_COMMANDS"):
        per = ", ".join(
            f"{k} {v / count:.2f}" for k, v in sorted(delta.items(), key=lambda x: -x[1])
        )
        print(f"  {svc.name} commands per message: {per}")
    sent_at = {phone(first + i): t for i, t in enumerate(sent)}
    lat = [t - sent_at[to] for to, t in arrivals if to in sent_at]
    last = max((t for _to, t in arrivals), default=time.time())
    n = max(len(lat), 1)
    return Step(
        svc.name, rate, count, len(lat), len(lat) / max(last - min(sent), 1e-9),
        pct(lat, 50) * 1000, pct(lat, 99) * 1000, cpu * 1000 / n, rcpu * 1000 / n, commands / n,
    )  # fmt: skip


def print_step(step: Step) -> None:
    flag = "" if step.ok else ("  LOST" if step.arrived < step.messages else "  >budget")
    print(
        f"  {step.service:<9} {step.rate:>6.0f}/s  got {step.achieved:>6.0f}/s "
        f"({step.arrived}/{step.messages})  p50 {step.p50_ms:7.1f} ms  p99 {step.p99_ms:7.1f} ms"
        f"  CPU {step.cpu_ms:5.2f} ms/msg (redis {step.redis_cpu_ms:4.2f})"
        f"  {step.commands:5.1f} cmds/msg{flag}",
        flush=True,
    )


def summary(steps: list[Step]) -> None:
    print("\nnotifications, Doorstep / reference at each rate:")
    by_rate: dict[float, dict[str, Step]] = {}
    for s in steps:
        by_rate.setdefault(s.rate, {})[s.service] = s
    for rate, pair in sorted(by_rate.items()):
        d, r = pair.get("doorstep"), pair.get("reference")
        if d is None or r is None:
            continue
        print(
            f"  {rate:>6.0f}/s  achieved {d.achieved / r.achieved:4.2f}x  "
            f"p99 {d.p99_ms / r.p99_ms:5.1f}x  CPU/msg {d.cpu_ms / max(r.cpu_ms, 1e-9):4.1f}x  "
            f"cmds/msg {d.commands:.1f} vs {r.commands:.1f}"
        )
    best = {
        name: max((s.rate for s in steps if s.service == name and s.ok), default=0.0)
        for name in ("doorstep", "reference")
    }
    ratio = best["doorstep"] / best["reference"] if best["reference"] else float("nan")
    print(
        f"  highest rate within p99 < {BUDGET_P99_MS:.0f} ms, nothing lost: Doorstep "
        f"{best['doorstep']:.0f}/s, reference {best['reference']:.0f}/s ({ratio:.2f}x; target 0.8x)"
    )


async def run_notify(args: argparse.Namespace, ds: Service, ref: Service, twilio: str) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session:
        for svc in (ds, ref):
            await wait_ready(session, svc.child, timeout=60)
            svc.redis_pid = int((await svc.redis.info("server"))["process_id"])
        for svc in (ds, ref):  # warm-up, not measured
            await notify_step(session, twilio, svc, 100, 2, 150_000)
        load = os.getloadavg()
        print(
            f"notifications: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
            f"{load[2]:.2f}; open loop, {args.seconds:.0f} s per step",
            flush=True,
        )
        steps = []
        n = 0
        for rate in rates:
            for svc in (ref, ds):
                step = await notify_step(session, twilio, svc, rate, args.seconds, n)
                n = (n + step.messages) % 140_000
                print_step(step)
                steps.append(step)
                await asyncio.sleep(1)
        summary(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200,400,600,800,1000")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--replies", action="store_true", help="also the replies benchmark")
    parser.add_argument("--no-notify", action="store_true")
    parser.add_argument("--reply-rates", default="10,25,50")
    parser.add_argument("--fake-twilio", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_twilio:
        serve_twilio(args.fake_twilio)
        return
    py = sys.executable
    logs = f"/tmp/perf-{os.getpid()}"
    with ExitStack() as stack:
        ds_redis = stack.enter_context(private_redis())
        ref_redis = stack.enter_context(private_redis())
        tw_port, ds_port, ref_port = free_port(), free_port(), free_port()
        twilio = f"http://127.0.0.1:{tw_port}"
        tw_child = start([py, __file__, "--fake-twilio", str(tw_port)], tw_port, f"{logs}-tw.log")
        stack.callback(tw_child.stop)
        time.sleep(0.5)
        loop = uvloop.new_event_loop()
        ds_client = Redis.from_url(ds_redis, decode_responses=True)
        loop.run_until_complete(
            seed_brand(ds_client, "bench", API_KEY, display_name="Bench", channels=["sms"])
        )
        extra: dict[str, str] = {}
        rasa = None
        if args.replies:
            from bot.nlu.model import model_path, start_server
            from bot.nlu.model import wait_ready as rasa_ready

            model = model_path()
            if not model.exists():  # another checkout's model: the newest in the cache
                model = max(model.parent.glob("doorstep-*.tar.gz"), key=lambda p: p.stat().st_mtime)
                print(f"(no model for this checkout's nlu/; using {model.name})", flush=True)
            rasa = start_server(model, log_path=Path("/tmp/perf-rasa.log"))
            stack.callback(rasa.stop)
            rasa_ready(rasa, timeout_s=float(os.environ.get("PERF_RASA_WAIT_S", "900")))
            extra = {"RASA_URL": rasa.url, "RASA_TOKEN": rasa.token}
        env = {
            **doorstep_env({"REDIS_URL": ds_redis}, twilio),
            "TWILIO_FROM": "+15005550006",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "info"),
            **extra,
        }
        profile = os.environ.get("PERF_PROFILE", "").split()
        ds_child = start_doorstep(env, f"{logs}-doorstep.log", port=ds_port, python_args=profile)
        stack.callback(ds_child.stop)
        script = str(ROOT / "benchmarks/perf_reference.py")
        ref_child = start(
            [py, script, str(ref_port), ref_redis, twilio], ref_port, f"{logs}-reference.log"
        )
        stack.callback(ref_child.stop)
        ds = Service("doorstep", ds_child, ds_client)
        ref = Service("reference", ref_child, Redis.from_url(ref_redis, decode_responses=True))
        if not args.no_notify:
            loop.run_until_complete(run_notify(args, ds, ref, twilio))
        if rasa is not None:
            from benchmarks import perf_replies

            loop.run_until_complete(
                perf_replies.run(args, ds, twilio, rasa.url, rasa.token, rasa.process.pid)
            )


if __name__ == "__main__":
    main()
