"""Drive real Doorstep processes through a Redis failover and count what happened.

Shared by `tests/test_failover.py` (asserts) and `benchmarks/scale.py` (prints): two
(or more) `doorstep serve` subprocesses on one Redis topology, a fake Twilio API in
this process recording every send (with the time and our message id from the status
callback), a paced burst of `delivery.created` events and of customers' HELP replies
posted round-robin to the replicas. A client whose request fails retries it as a
dispatch system or Twilio would (same event id, same MessageSid) until it is taken.
`kill_master` kills (SIGKILL) a master mid-burst and waits for its replica to be
promoted. `Outcome` counts lost messages, messages sent twice, replies answered twice
and how long accepting and sending stopped. The pieces any load needs (the events, the
fake Twilio, starting `doorstep serve`) are `tests/load_kit.py`'s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
from twilio.request_validator import RequestValidator

from bot.base.redisconn import close, connect
from bot.config import Settings
from tests import load_kit
from tests.load_kit import Child, TimedTwilio, phone
from tests.redis_servers import Cluster, SentinelSet, cli

BRAND = "fo"
API_KEY = "failover-key"
TOKEN = load_kit.TWILIO_TOKEN


def message_id(sent: dict[str, Any]) -> str:
    """Our message id, from the status callback URL Twilio is handed (`?m=`)."""
    return parse_qs(urlparse(str(sent.get("StatusCallback", ""))).query)["m"][0]


def topology_env(kind: str, servers: Cluster | SentinelSet | str) -> dict[str, str]:
    if isinstance(servers, Cluster):  # every node, as a deployment should list them
        nodes = ",".join(f"127.0.0.1:{s.port}" for s in servers.servers)
        return {"REDIS_URL": f"redis+cluster://{nodes}", "REDIS_CLUSTER": "true"}
    if isinstance(servers, SentinelSet):
        addresses = ",".join(f"{h}:{p}" for h, p in servers.addresses)
        return {"REDIS_SENTINELS": addresses, "REDIS_SENTINEL_MASTER": "doorstep"}
    return {"REDIS_URL": servers}


@dataclass
class Deployment:
    """The replicas, the fake provider and the environment they share."""

    env: dict[str, str]
    twilio: TimedTwilio
    replicas: list[Child] = field(default_factory=list)

    async def readyz(
        self, session: aiohttp.ClientSession, within_s: float = 30
    ) -> list[dict[str, Any]]:
        """Each replica's /readyz, once all are ready (or the last answers after
        `within_s`: loops restarted after a failover back off for a few seconds)."""
        deadline = time.monotonic() + within_s
        while True:
            found = []
            for replica in self.replicas:
                async with session.get(f"{replica.base}/readyz") as resp:
                    found.append(await resp.json())
            if all(body["ready"] for body in found) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)


async def seed_brand(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    redis = connect(settings.redis, max_connections=4)
    try:
        await load_kit.seed_brand(
            redis, BRAND, API_KEY, display_name="Failover", keys=settings.keys
        )
    finally:
        await close(redis)


@asynccontextmanager
async def deployment(
    redis_env: dict[str, str], folder: Path, replicas: int = 2, shards: int = 8
) -> AsyncIterator[Deployment]:
    twilio = TimedTwilio()
    await twilio.start(twilio.app())
    env = {
        **load_kit.doorstep_env(redis_env, twilio.url),
        "DOORSTEP_OUTBOX_SHARDS": str(shards),
        "DOORSTEP_WORKERS": str(shards),
        "DOORSTEP_OUTBOX_RECLAIM_IDLE": "3",
        "DOORSTEP_OUTBOX_BACKOFF_BASE": "0.2",
        "DOORSTEP_OUTBOX_BACKOFF_CAP": "1",
        "DOORSTEP_OUTBOX_MAX_ATTEMPTS": "30",
        # Backpressure would refuse events while a loaded machine sends slowly: here
        # what is measured is the failover.
        "DOORSTEP_BACKPRESSURE_DEPTH": "1000000",
        "DOORSTEP_BACKPRESSURE_LAG": "100000",
        # A starved test process answers late as the fake Twilio; a send that timed out
        # is sent again (it would be reconciled by Twilio's status callback, which the
        # fake does not make): not what this measures.
        "DOORSTEP_SEND_TIMEOUT": "60",
        "TWILIO_MESSAGING_SERVICE_SID": "MG123",
        "LOG_LEVEL": "warning",
    }
    await seed_brand(env)
    found = Deployment(env, twilio)
    try:
        for n in range(replicas):
            log = folder / f"replica{n}.log"
            found.replicas.append(load_kit.start_doorstep(env, log))
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 180  # all of them start at once
            for replica in found.replicas:
                timeout = max(0.0, deadline - time.monotonic())
                await load_kit.wait_ready(session, replica, timeout=timeout)
        yield found
    finally:
        for replica in found.replicas:
            replica.terminate()
        for replica in found.replicas:
            await asyncio.to_thread(replica.stop, timeout=30)
        await twilio.close()


def delivery_event(n: int) -> dict[str, Any]:
    """Delivery d-{n} (event e-{n}, order o-{n}) to customer n."""
    return load_kit.delivery_event(f"d-{n}", phone(n), event_id=f"e-{n}", order_id=f"o-{n}")


@dataclass
class Request:
    """One event or reply: when it was first tried, when it was taken, how many tries."""

    key: str
    first_try: float = 0.0
    taken_at: float | None = None
    failures: list[str] = field(default_factory=list)


@dataclass
class Load:
    events: list[Request] = field(default_factory=list)
    replies: list[Request] = field(default_factory=list)


async def post_until_taken(
    session: aiohttp.ClientSession, request: Request, send: Any, give_up_s: float = 120
) -> None:
    """Retry (as a dispatch system or Twilio would) until the request is taken."""
    request.first_try = time.monotonic()
    deadline = request.first_try + give_up_s
    while time.monotonic() < deadline:
        try:
            answer = await send()
            if answer is None:
                request.taken_at = time.monotonic()
                return
            request.failures.append(answer)
        except (aiohttp.ClientError, TimeoutError) as exc:
            request.failures.append(type(exc).__name__)
        await asyncio.sleep(0.1)


async def post_event(
    session: aiohttp.ClientSession, base: str, event: dict[str, Any]
) -> str | None:
    """None when the event was taken, else what the API answered."""
    async with session.post(
        f"{base}/v1/events",
        json=event,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as resp:
        return None if resp.status in (200, 202) else f"{resp.status} {await resp.text()}"


async def post_reply(session: aiohttp.ClientSession, base: str, n: int) -> str | None:
    params = {"From": phone(n), "To": "+15005550006", "Body": "HELP", "MessageSid": f"SMin{n}"}
    path = "/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(f"{base}{path}", params)
    async with session.post(
        f"{base}{path}",
        data=params,
        headers={"X-Twilio-Signature": signature},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as resp:
        return None if resp.status == 200 else f"{resp.status} {await resp.text()}"


async def burst(
    session: aiohttp.ClientSession,
    found: Deployment,
    events: range,
    replies: range,
    rate: float,
) -> Load:
    """Post `events` (one message each) and HELP `replies` (to earlier deliveries)
    open-loop at `rate` per second, round-robin over the replicas."""
    load = Load()
    work: list[tuple[str, int]] = [("event", n) for n in events]
    step = max(1, len(work) // max(1, len(replies)))
    for i, n in enumerate(replies):
        work.insert(min(len(work), (i + 1) * step + i), ("reply", n))
    start = time.monotonic() + 0.05
    bases = [r.base for r in found.replicas]

    async def one(i: int, kind: str, n: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        base = bases[i % len(bases)]
        if kind == "event":
            request = Request(f"e-{n}")
            load.events.append(request)
            await post_until_taken(
                session, request, lambda: post_event(session, base, delivery_event(n))
            )
        else:
            request = Request(f"SMin{n}")
            load.replies.append(request)
            await post_until_taken(session, request, lambda: post_reply(session, base, n))

    await asyncio.gather(*(one(i, kind, n) for i, (kind, n) in enumerate(work)))
    return load


async def wait_sent(twilio: TimedTwilio, phones: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if phones <= {str(r.get("To")) for r in await twilio.sent()}:
            return
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Outcome:
    accepted: int
    lost: int
    duplicated: int
    double_handled_replies: int
    unanswered_replies: int
    accept_gap_s: float
    send_gap_s: float
    duplicates_outside_window: int
    msg_per_s: float


async def lost_records(
    session: aiohttp.ClientSession, found: Deployment, load: Load, limit: int = 5
) -> list[Any]:
    """What the API says of (a few) accepted deliveries whose message never went out."""
    sent = {str(r.get("To")) for r in await found.twilio.sent()}
    lost = [e for e in load.events if e.taken_at and phone(int(e.key[2:])) not in sent]
    found_records = []
    for e in lost[:limit]:
        url = f"{found.replicas[0].base}/v1/deliveries/d-{e.key[2:]}"
        async with session.get(url, headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
            found_records.append((e.key, e.failures, resp.status, await resp.text()))
    return found_records


def longest_gap(times: list[float], begin: float, end: float) -> float:
    inside = sorted({begin, end, *(t for t in times if begin <= t <= end)})
    return max(b - a for a, b in itertools.pairwise(inside))


def outcome(
    twilio: TimedTwilio,
    load: Load,
    reply_phones: dict[str, int],
    kill_at: float | None = None,
    healed_at: float | None = None,
) -> Outcome:
    """Count per message id and per phone what the provider was asked to send.

    `reply_phones` maps a phone that replied HELP to how many distinct messages it
    must get (its delivery's message and the help answer). A duplicate is a message id
    sent twice; it is inside the documented at-least-once window when its first send
    was between shortly before the kill (a write acknowledged but not replicated) and
    `healed_at` (the new master took writes, plus the reclaim idle time)."""
    sent = [r for r in twilio.requests if "Body" in r]
    by_id: dict[str, list[float]] = {}
    by_phone: dict[str, set[str]] = {}
    for r in sent:
        by_id.setdefault(message_id(r), []).append(float(r["at"]))
        by_phone.setdefault(str(r["To"]), set()).add(message_id(r))
    accepted = [e for e in load.events if e.taken_at is not None]
    lost = sum(1 for e in accepted if phone(int(e.key[2:])) not in by_phone)
    duplicated = sum(len(t) - 1 for t in by_id.values())
    outside = 0
    for times in by_id.values():
        if len(times) > 1:
            first = min(times)
            inside = (
                kill_at is not None
                and healed_at is not None
                and kill_at - 1.0 <= first <= healed_at
            )
            outside += 0 if inside else len(times) - 1
    double = sum(1 for p, want in reply_phones.items() if len(by_phone.get(p, ())) > want)
    unanswered = sum(1 for p, want in reply_phones.items() if len(by_phone.get(p, ())) < want)
    # The longest stretch, while the burst was being posted, with nothing taken (or
    # nothing sent): at 100 requests/s it is ~10 ms without a failover.
    begin = min(e.first_try for e in load.events)
    end = max(e.first_try for e in load.events)
    taken = [t for e in (*load.events, *load.replies) if (t := e.taken_at) is not None]
    accept_gap = longest_gap(taken, begin, end)
    send_gap = longest_gap([float(r["at"]) for r in sent], begin, end)
    times = sorted(float(r["at"]) for r in sent)
    starts = [e.first_try for e in load.events]
    rate = len(times) / (times[-1] - min(starts)) if times and starts else 0.0
    return Outcome(
        accepted=len(accepted),
        lost=lost,
        duplicated=duplicated,
        double_handled_replies=double,
        unanswered_replies=unanswered,
        accept_gap_s=accept_gap,
        send_gap_s=send_gap,
        duplicates_outside_window=outside,
        msg_per_s=rate,
    )


async def kill_sentinel_master(servers: SentinelSet) -> tuple[int, float]:
    """SIGKILL the master; wait for the sentinels' +switch-master. (new port, seconds)"""
    from redis.asyncio import Redis

    sentinel = Redis(port=servers.sentinels[0].port, decode_responses=True)
    pubsub = sentinel.pubsub()
    await pubsub.subscribe("+switch-master")
    old = servers.master
    killed = time.monotonic()
    await asyncio.to_thread(old.kill)
    try:
        deadline = killed + 30
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                # "<master-name> <old-ip> <old-port> <new-ip> <new-port>"
                new_port = int(str(message["data"]).split()[4])
                servers.master, servers.replica = servers.replica, old
                return new_port, time.monotonic() - killed
        raise RuntimeError("no +switch-master within 30 s")
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await sentinel.aclose()


async def kill_cluster_master(
    servers: Cluster, takeover_after: float = 8.0
) -> tuple[int, float, str, int]:
    """SIGKILL a master; wait until its replica is master and the cluster is ok.
    If the replica has not taken over after `takeover_after` s, CLUSTER FAILOVER
    TAKEOVER on it. (new master's port, seconds, "automatic" or "takeover", old port)"""
    victim = servers.masters()[0]
    node_id = cli(victim.port, "cluster", "myid").strip()
    # "<id> 127.0.0.1:<port>@<bus> slave <master-id> ..." per replica of the victim
    line = cli(victim.port, "cluster", "replicas", node_id).split("\n")[0]
    port = int(line.split()[1].split("@")[0].rsplit(":", 1)[1])
    replica = next(s for s in servers.servers if s.port == port)
    killed = time.monotonic()
    await asyncio.to_thread(victim.kill)
    how = "automatic"
    while True:
        info = await asyncio.to_thread(cli, replica.port, "info", "replication")
        state = await asyncio.to_thread(cli, replica.port, "cluster", "info")
        if "role:master" in info and "cluster_state:ok" in state:
            return replica.port, time.monotonic() - killed, how, victim.port
        if how == "automatic" and time.monotonic() - killed > takeover_after:
            await asyncio.to_thread(cli, replica.port, "cluster", "failover", "takeover")
            how = "takeover"
        if time.monotonic() - killed > 30:
            raise RuntimeError(f"no replica took over from {node_id} within 30 s")
        await asyncio.sleep(0.05)
