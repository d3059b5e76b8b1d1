"""Benchmark: a burst of password guesses, and what it does to everyone else.

One Doorstep app (HTTP only) on a private redis-server. `--guesses` wrong logins are
sent at once, each for another account (so the per-account throttle does not stop
them before argon2), while `/healthz` is asked every 20 ms. Prints the guesses'
wall time, /healthz p50 / max during the burst and /healthz alone (the reference in
the same process at the same time), and the logins refused by the address throttle.

    python benchmarks/logins.py [--guesses 40]
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

from bot.app import create_app  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.devrun import private_redis  # noqa: E402


async def _probe(client: TestClient, until: asyncio.Event) -> list[float]:  # type: ignore[type-arg]
    seen = []
    while not until.is_set():
        started = time.perf_counter()
        await (await client.get("/healthz")).read()
        seen.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
    return seen


async def run(redis_url: str, guesses: int) -> None:
    settings = Settings(redis_url=redis_url, demo=True, sandbox=True, workers=1, log_json=True)
    client: TestClient = TestClient(TestServer(create_app(settings, workers=False)))  # type: ignore[type-arg]
    await client.start_server()
    try:
        done = asyncio.Event()
        alone = asyncio.create_task(_probe(client, done))
        await asyncio.sleep(1.0)
        done.set()
        reference = await alone
        done = asyncio.Event()
        probe = asyncio.create_task(_probe(client, done))
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                client.post(
                    "/console/login",
                    data={"brand": "demo", "username": f"user{n}", "password": "wrong-guess!"},
                    allow_redirects=False,
                )
                for n in range(guesses)
            )
        )
        burst_s = time.perf_counter() - started
        done.set()
        during = await probe
        refused = sum(1 for a in answers if a.status == 429)
        print(f"{guesses} parallel wrong logins: {burst_s:.2f} s, {refused} refused (429)")
        print(
            f"/healthz during the burst: p50 {statistics.median(during):.1f} ms, "
            f"max {max(during):.1f} ms over {len(during)} probes"
        )
        print(
            f"/healthz alone (reference): p50 {statistics.median(reference):.1f} ms, "
            f"max {max(reference):.1f} ms"
        )
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--guesses", type=int, default=40)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is needed")
    with private_redis(binary) as url:
        asyncio.run(run(url, args.guesses))


if __name__ == "__main__":
    main()
