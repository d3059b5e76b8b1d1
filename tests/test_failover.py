"""A Redis master killed (SIGKILL) mid-burst under two real `doorstep serve` processes.

Per topology (Sentinel: the sentinels promote the replica, `+switch-master`; Cluster:
the killed master's replica takes over by itself, `cluster-node-timeout` 1.5 s, with
`CLUSTER FAILOVER TAKEOVER` only if it has not after 8 s) while events and customers'
HELP replies are being posted: every event the API took (202) gets its message, no
reply is answered twice, a message is sent twice only inside the at-least-once window
the README documents (a send the provider took while its record could not be made
durable: just before the kill and until the new master takes writes), and accepting
and sending resume within 10 s. Each test starts its own servers (it kills one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests import failover_kit as kit
from tests import load_kit
from tests.redis_servers import Cluster, SentinelSet, cluster, sentinel_set

# ~1 min each on an idle machine; a loaded one (load 20 on 2 cores) needs far more.
pytestmark = pytest.mark.timeout(420)

SEEDED = range(30)  # deliveries whose customers reply HELP during the burst
BURST = range(1000, 1200)  # events posted during the burst (one message each)
RATE = 40.0  # requests per second, open loop
KILL_AFTER_S = 1.5
WINDOW_AFTER_PROMOTION_S = 2.0


@pytest.fixture(params=["sentinel", "cluster"])
def own_servers(request: pytest.FixtureRequest) -> Iterator[Cluster | SentinelSet]:
    """Redis servers of the test's own (it kills a master): Sentinel or Cluster."""
    with sentinel_set() if request.param == "sentinel" else cluster() as found:
        yield found


async def run_through_failover(
    servers: Cluster | SentinelSet, folder: Path
) -> tuple[kit.Outcome, list[dict[str, object]], int, list[int]]:
    async with (
        kit.deployment(kit.topology_env("", servers), folder) as found,
        aiohttp.ClientSession() as session,
    ):
        killed: list[int] = []
        promoted: list[float] = []
        seed = await kit.burst(session, found, SEEDED, range(0), rate=200)
        assert all(e.taken_at for e in seed.events)
        await kit.wait_sent(found.twilio, {load_kit.phone(n) for n in SEEDED}, timeout=20)

        async def kill() -> tuple[int, float]:
            await asyncio.sleep(KILL_AFTER_S)
            kill_at = time.monotonic()
            if isinstance(servers, SentinelSet):
                port, took = await kit.kill_sentinel_master(servers)
                print(f"+switch-master {took:.1f} s after the kill")
            else:
                port, took, how, old = await kit.kill_cluster_master(servers)
                print(f"replica of :{old} master {took:.1f} s after the kill ({how})")
                killed.append(old)
            promoted.append(time.monotonic())
            return port, kill_at

        load, (new_port, kill_at) = await asyncio.gather(
            kit.burst(session, found, BURST, SEEDED, RATE), kill()
        )
        # The window: from just before the kill (a record the dying master never passed
        # on) until shortly after the promotion (a record made on the new master).
        healed_at = promoted[0] + WINDOW_AFTER_PROMOTION_S
        taken = {load_kit.phone(int(e.key[2:])) for e in load.events if e.taken_at}
        await kit.wait_sent(found.twilio, taken, timeout=120)  # a loaded machine is slow
        # Let a message whose record the failover lost be reclaimed and sent again.
        await asyncio.sleep(5)
        result = kit.outcome(
            found.twilio, load, {load_kit.phone(n): 2 for n in SEEDED}, kill_at, healed_at
        )
        ready = await found.readyz(session)
        if result.lost:
            print("LOST", await kit.lost_records(session, found, load))
    refused = [(r.key, r.failures[-3:]) for r in (*load.events, *load.replies) if not r.taken_at]
    assert not refused, f"never taken: {refused[:5]}"
    return result, ready, new_port, killed


async def test_failover_mid_burst_loses_nothing(
    own_servers: Cluster | SentinelSet, tmp_path: Path
) -> None:
    result, ready, new_port, killed = await run_through_failover(own_servers, tmp_path)
    print(result)
    assert result.accepted == len(BURST)
    assert result.lost == 0
    assert result.double_handled_replies == 0
    assert result.unanswered_replies == 0
    assert result.duplicates_outside_window == 0
    assert result.accept_gap_s < 10
    assert result.send_gap_s < 10
    for body in ready:
        assert body["ready"] is True, body
        topology = body["checks"]["redis_topology"]  # type: ignore[index]
        if isinstance(own_servers, SentinelSet):  # the promoted replica
            assert topology == {"topology": "sentinel", "writes_to": f"127.0.0.1:{new_port}"}
        else:  # every master, the promoted replica in place of the killed one
            writes_to = str(topology["writes_to"]).split(",")
            assert f"127.0.0.1:{new_port}" in writes_to
            assert f"127.0.0.1:{killed[0]}" not in writes_to
            assert len(writes_to) == 3
