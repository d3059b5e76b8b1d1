"""Benchmark: the agent desk with a busy queue.

One Doorstep app (HTTP only, no background workers) on a private redis-server, the
demo brand with its split-shift business hours. `--waiting` customers ask for a
person (through the sandbox channel, the real inbound path); then:

- the queue page an agent's console loads (200 rows, each with its SLA clock in
  business hours and its unread marker), p50 / p99 over `--reads` requests;
- one assignment pass over the whole queue with `--agents` available agents
  (one Lua script per conversation), and the time per conversation given;
- one SLA breach pass over every open conversation.

    python benchmarks/desk.py [--waiting 300] [--agents 20] [--reads 50]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.agents.accounts import Agent  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.devrun import private_redis  # noqa: E402
from bot.services import SERVICES, Services  # noqa: E402
from tests import factories as f  # noqa: E402

PASSWORD = "benchmark-password"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def run(redis_url: str, waiting: int, agents: int, reads: int) -> None:
    settings = Settings(redis_url=redis_url, demo=True, sandbox=True, log_json=True)
    client: TestClient = TestClient(TestServer(create_app(settings, workers=False)))  # type: ignore[type-arg]
    await client.start_server()
    try:
        services: Services = client.app[SERVICES]
        sandbox = services.sandbox
        assert sandbox is not None
        started = time.perf_counter()
        for n in range(waiting):
            phone = f"+1212556{n:04d}"
            await client.post(
                "/v1/events",
                json=f.delivery_created(f"b{n}", phone=phone),
                headers={"Authorization": "Bearer demo-key"},
            )
            await client.post(
                f"/sandbox/api/phones/{phone}/messages",
                json={"text": "can I talk to someone"},
                headers={"X-Sandbox-Token": sandbox.token},
            )
        queued = await services.redis.zcard(services.keys.agent_queue("demo"))
        print(f"{queued} waiting in {time.perf_counter() - started:.1f} s")

        boss = Agent(brand_id="demo", username="boss", name="Boss", role="admin")
        await services.accounts.create(boss, PASSWORD)
        form = {"brand": "demo", "username": "boss", "password": PASSWORD}
        await client.post("/console/login", data=form, allow_redirects=False)
        timings = []
        for _ in range(reads):
            t0 = time.perf_counter()
            resp = await client.get("/console/api/queue?limit=200")
            assert resp.status == 200
            rows = (await resp.json())["queue"]
            timings.append((time.perf_counter() - t0) * 1000)
        assert rows and rows[0]["sla"] is not None
        print(
            f"queue page of {len(rows)} rows with SLA clocks: "
            f"p50 {statistics.median(timings):.1f} ms, p99 {pct(timings, 0.99):.1f} ms"
        )

        for n in range(agents):
            await services.accounts.create(
                Agent(brand_id="demo", username=f"a{n:02d}", name=f"Agent {n}"), PASSWORD
            )
            await services.assigner.set_available("demo", f"a{n:02d}", True)
        brand = await services.brands.get("demo")
        assert brand is not None
        t0 = time.perf_counter()
        given = await services.assigner.assign_brand(brand)
        elapsed = time.perf_counter() - t0
        print(
            f"assignment pass: {len(given)} given to {agents} agents (capacity "
            f"{brand.desk.agent_capacity}) in {elapsed * 1000:.0f} ms, "
            f"{elapsed * 1000 / max(len(given), 1):.2f} ms each"
        )
        t0 = time.perf_counter()
        breaches = await services.sla_watch.check_brand(brand)
        print(
            f"SLA pass over {queued} open conversations: {(time.perf_counter() - t0) * 1000:.0f} ms"
            f" ({breaches} breaches)"
        )
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=300)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed")
    with private_redis(binary) as url:
        asyncio.run(run(url, args.waiting, args.agents, args.reads))


if __name__ == "__main__":
    main()
