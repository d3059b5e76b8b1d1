"""Benchmark: two Doorstep replicas on each Redis topology, with and without a failover.

Each scenario starts its own Redis (standalone, Sentinel: master, replica, 3 sentinels;
Cluster: 3 masters, 3 replicas) from `redis-server`, two `doorstep serve` processes
(one for the reference) sending through the real twilio library to a fake Twilio API
in this process, and posts a burst of `delivery.created` events (one message each)
and customers' HELP replies round-robin to the replicas, retrying what is refused as
a dispatch system or Twilio would. With `failover`, a master is killed (SIGKILL)
mid-burst and its replica promoted (Sentinel: `+switch-master`; Cluster: the replica
takes over by itself). The harness is `tests/failover_kit.py`, shared with
`tests/test_failover.py`.

    python benchmarks/scale.py [--events 300] [--rate 40]

Prints per scenario: events taken, messages lost, sent twice, replies answered twice,
the longest stretch with nothing taken / nothing sent (recovery seconds) and
messages/s, and messages/s as a ratio of one replica on one Redis (run in the same
process tree, one after the other).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import failover_kit as kit  # noqa: E402
from tests import load_kit  # noqa: E402
from tests.redis_servers import Cluster, SentinelSet, cluster, sentinel_set, start_server  # noqa: E402

SEEDED = range(30)


@contextmanager
def topology(kind: str, folder: Path) -> Iterator[Cluster | SentinelSet | str]:
    if kind == "cluster":
        with cluster() as found:
            yield found
    elif kind == "sentinel":
        with sentinel_set() as found:
            yield found
    else:
        server = start_server(folder / "redis", "--appendonly", "yes", "--save", "")
        try:
            yield server.url
        finally:
            server.stop()


async def scenario(
    kind: str, replicas: int, failover: bool, events: int, rate: float, folder: Path
) -> kit.Outcome:
    with ExitStack() as stack:
        servers = stack.enter_context(topology(kind, folder))
        async with (
            kit.deployment(kit.topology_env(kind, servers), folder, replicas=replicas) as found,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session,
        ):
            await kit.burst(session, found, SEEDED, range(0), rate=200)
            await kit.wait_sent(found.twilio, {load_kit.phone(n) for n in SEEDED}, timeout=60)
            found.twilio.requests.clear()  # measure the burst only
            burst = range(1000, 1000 + events)
            kill_at: float | None = None

            async def kill() -> None:
                nonlocal kill_at
                await asyncio.sleep(events / rate / 3)
                kill_at = time.monotonic()
                if isinstance(servers, SentinelSet):
                    await kit.kill_sentinel_master(servers)
                elif isinstance(servers, Cluster):
                    await kit.kill_cluster_master(servers)

            killing = asyncio.create_task(kill()) if failover else None
            load = await kit.burst(session, found, burst, SEEDED, rate)
            if killing is not None:
                await killing
            healed_at = time.monotonic()
            taken = {load_kit.phone(int(e.key[2:])) for e in load.events if e.taken_at}
            await kit.wait_sent(found.twilio, taken, timeout=90)
            if failover:
                await asyncio.sleep(5)  # a message whose record was lost is resent
            return kit.outcome(
                found.twilio, load, {load_kit.phone(n): 1 for n in SEEDED}, kill_at, healed_at
            )


async def run(args: argparse.Namespace) -> None:
    plan = [
        ("standalone", 1, False),
        ("standalone", 2, False),
        ("sentinel", 2, False),
        ("sentinel", 2, True),
        ("cluster", 2, False),
        ("cluster", 2, True),
    ]
    load = os.getloadavg()
    print(
        f"scale benchmark: {os.cpu_count()} cores, load {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f}; {args.events} events + {len(SEEDED)} replies at {args.rate:.0f}/s",
        flush=True,
    )
    print(
        f"{'topology':<11}{'replicas':>9}{'failover':>9}{'taken':>7}{'lost':>6}{'dup':>5}"
        f"{'dup-replies':>12}{'no-accept s':>12}{'no-send s':>10}{'msg/s':>8}{'ratio':>7}",
        flush=True,
    )
    reference = None
    for kind, replicas, failover in plan:
        with tempfile.TemporaryDirectory(prefix="doorstep-scale-") as folder:
            result = await scenario(kind, replicas, failover, args.events, args.rate, Path(folder))
        reference = reference or result.msg_per_s
        print(
            f"{kind:<11}{replicas:>9}{'yes' if failover else 'no':>9}{result.accepted:>7}"
            f"{result.lost:>6}{result.duplicated:>5}{result.double_handled_replies:>12}"
            f"{result.accept_gap_s:>12.2f}{result.send_gap_s:>10.2f}{result.msg_per_s:>8.0f}"
            f"{result.msg_per_s / reference:>7.2f}",
            flush=True,
        )
    print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=40.0, help="requests/s, open loop")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
