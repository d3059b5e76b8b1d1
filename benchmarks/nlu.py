"""Benchmark: parse latency through Doorstep's Rasa client, against the real server.

    python benchmarks/nlu.py [--n 400] [--concurrency 1]

Uses RASA_URL/RASA_TOKEN when set; otherwise starts `rasa run` on the trained model
(`make nlu-model`) and waits for it. Prints p50/p99/max latency in milliseconds and,
for a server it started, the server's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.devrun import free_port  # noqa: E402
from bot.nlu.model import ensure_model, start_server, wait_ready  # noqa: E402
from integrations.rasa import RasaClient  # noqa: E402

MESSAGES = [
    "where's my parcel?",
    "can you come tomorrow after 5 instead",
    "leave it by the side gate",
    "gate code is 4471",
    "I need to return the chair",
    "I won't be home today",
    "cancel it please",
    "deliver to 55 King St instead",
    "the lamp arrived broken",
    "says delivered but it's not here",
    "can I talk to someone",
    "yes",
    "no thanks",
    "hi",
    "thanks!",
    "stop texting me",
    "5 stars, lovely driver",
    "do you sell gift cards?",
    "friday morning is better",
    "pls leave it with my neighbour at no. 14",
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(url: str, token: str | None, n: int, concurrency: int) -> None:
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, token, timeout_s=5)
        for text in MESSAGES:  # warm-up
            await client.parse(text)
        latencies: list[float] = []
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                started = time.perf_counter()
                await client.parse(MESSAGES[i % len(MESSAGES)])
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    print(
        f"nlu parse x{n}, concurrency {concurrency}: p50 {pct(ms, 50):.1f} ms, "
        f"p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms, "
        f"{n / elapsed:.0f} parses/s"
    )


def resident_mb(pid: int) -> float:
    """VmRSS of a process (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    url, token = os.environ.get("RASA_URL"), os.environ.get("RASA_TOKEN")
    server = None
    if not url:
        server = start_server(ensure_model(), free_port())
        print("starting rasa run ...", flush=True)
        wait_ready(server)
        url, token = server.url, server.token
    try:
        for concurrency in args.concurrency:
            asyncio.run(run(url, token, args.n, concurrency))
        if server is not None:
            print(f"rasa server resident memory: {resident_mb(server.process.pid):.0f} MB")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
