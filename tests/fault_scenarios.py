"""The fault scenarios, run by `tests/test_faults.py` (which asserts) and by
`benchmarks/faults.py` (which prints what each cost).

Each starts its own private Redis (append-only, fsync always), real `doorstep serve`
processes and the fake Twilio, posts a burst of delivery events, breaks something for
real and waits until every accepted message was sent (or gives up). Times are
`time.monotonic()` in this process; the fake Twilio records when each request came.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from redis.asyncio import Redis
from twilio.request_validator import RequestValidator

from bot.base.keys import Keys
from tests.faultkit import (
    BRAND,
    TOKEN,
    Burst,
    Outcome,
    RedisProcess,
    Service,
    Twilio,
    Watch,
    outcome,
    phone,
    seed_brand,
    until,
)

SEND_WAIT_S = 45.0
# A fault is injected once this many events were accepted (or after FAULT_AFTER_S): on
# a loaded machine the first acceptances can take seconds.
FAULT_AFTER = 30
FAULT_AFTER_S = 30.0


async def under_way(burst: Burst, least: float) -> None:
    """Wait at least `least` s, and until FAULT_AFTER events were accepted."""
    await asyncio.sleep(least)
    await until(lambda: len(burst.accepted) >= FAULT_AFTER, FAULT_AFTER_S)


@dataclass
class Rig:
    redis: RedisProcess
    twilio: Twilio
    services: list[Service]
    session: aiohttp.ClientSession


@contextlib.asynccontextmanager
async def rig(
    *,
    replicas: int = 1,
    twilio: Twilio | None = None,
    redis_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> AsyncIterator[Rig]:
    redis = RedisProcess(None, *redis_args)
    redis.start()
    fake = twilio or Twilio(delay_s=0.02)
    services: list[Service] = []
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    try:
        await seed_brand(redis.url)
        await fake.start()
        services = [Service(redis.url, fake, name=f"r{n}", **(env or {})) for n in range(replicas)]
        for service in services:
            service.start()
        for service in services:
            await service.wait_ready(session)
        yield Rig(redis, fake, services, session)
    finally:
        for service in services:
            service.stop()
        await session.close()
        await fake.close()
        redis.stop()
        shutil.rmtree(redis.folder, ignore_errors=True)


@dataclass
class Run:
    """A scenario's outcome and what the tests look at beyond the counts."""

    outcome: Outcome
    marks: dict[str, float] = field(default_factory=dict)
    readyz: list[tuple[float, int]] = field(default_factory=list)
    # For each message sent more than once: when the provider first accepted it.
    duplicates_first: dict[str, float] = field(default_factory=dict)
    restarts: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


def all_sent(burst: Burst, twilio: Twilio) -> bool:
    counts = twilio.accepted()
    return all(counts[m] for m in burst.accepted)


def first_after(twilio: Twilio, moment: float, burst: Burst | None = None) -> float:
    """Seconds from `moment` to the first message the provider accepted after it; with
    `burst`, from when a message was waiting (`moment`, or the first acceptance after
    it), so that a lull in new events after the fault is not taken for a stuck sender."""
    if burst is None:
        later = [h.at for h in twilio.hits if h.status == 201 and h.at >= moment]
        return min(later) - moment if later else float("inf")
    first = twilio.first_accepted()
    waiting = [m for m in burst.accepted if first.get(m, float("inf")) >= moment]
    if not waiting:
        return 0.0
    ready = max(moment, min(burst.accepted[m] for m in waiting))
    sent = [first[m] for m in waiting if m in first]
    return min(sent) - ready if sent else float("inf")


def backlog_done(burst: Burst, twilio: Twilio, moment: float) -> float:
    """Seconds from `moment` until the last message accepted before it, and not yet
    sent by then, was sent (0 when nothing was waiting)."""
    first = twilio.first_accepted()
    waiting = [first.get(m, float("inf")) for m, at in burst.accepted.items() if at <= moment]
    late = [t for t in waiting if t > moment]
    return max(late) - moment if late else 0.0


def finish(name: str, burst: Burst, twilio: Twilio, recover_s: float, note: str = "") -> Run:
    counts = twilio.accepted()
    first = twilio.first_accepted()
    run = Run(outcome(name, burst, twilio, recover_s, note))
    run.duplicates_first = {m: first[m] for m, n in counts.items() if n > 1}
    return run


async def restarts(service: Service, session: aiohttp.ClientSession) -> float:
    """doorstep_worker_restarts_total summed over the loops (from /metrics)."""
    async with session.get(f"{service.url}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("doorstep_worker_restarts_total{")
    )


# --- the scenarios -------------------------------------------------------------------
async def redis_kill(
    count: int = 500, rate: float = 100.0, down_s: float = 4.0, fsync: str = "always"
) -> Run:
    """kill -9 of Redis 1.5 s into the burst, started again on the same port and folder."""
    args = ("--appendonly", "yes", "--appendfsync", fsync, "--save", "")
    async with rig(redis_args=args) as r:
        service = r.services[0]
        watch = Watch(service, r.session)
        burst = Burst([service.url], "rk")
        posting = asyncio.create_task(burst.run(r.session, count, rate))
        await under_way(burst, 1.5)
        killed = time.monotonic()
        r.redis.kill()
        await asyncio.sleep(down_s)
        r.redis.start()
        back = time.monotonic()
        await posting
        await until(lambda: all_sent(burst, r.twilio), SEND_WAIT_S)
        await until(lambda: watch.samples[-1][1] == 200, 15)
        await watch.stop()
        run = finish(f"Redis kill -9, back after 4 s (fsync {fsync})", burst, r.twilio,
                     first_after(r.twilio, back, burst))  # fmt: skip
        run.marks = {"kill": killed, "back": back}
        run.readyz = watch.samples
        run.extra["statuses"] = dict(burst.statuses)
        run.restarts = await restarts(service, r.session)
        return run


async def provider_storm(status: int, retry_after: int | None = None,
                         seconds: float = 3.0, count: int = 200) -> Run:  # fmt: skip
    """The provider answers `status` to everything for `seconds`, then recovers."""
    async with rig() as r:
        burst = Burst([r.services[0].url], f"st{status}")
        posting = asyncio.create_task(burst.run(r.session, count, 100.0))
        await under_way(burst, 0.5)
        r.twilio.storm(status, seconds, retry_after)
        ends = time.monotonic() + seconds
        await posting
        await until(lambda: all_sent(burst, r.twilio), SEND_WAIT_S)
        label = f"provider {status} storm, {seconds:g} s" + (
            f" (Retry-After {retry_after})" if retry_after else ""
        )
        run = finish(label, burst, r.twilio, first_after(r.twilio, ends, burst))
        run.marks = {"storm_end": ends}
        # For each error answered, how long until the same message was tried again.
        by_message: dict[str, list[tuple[float, int]]] = {}
        for hit in r.twilio.hits:
            by_message.setdefault(hit.message_id, []).append((hit.at, hit.status))
        gaps = [
            after[0] - before[0]
            for tries in by_message.values()
            for before, after in itertools.pairwise(tries)
            if before[1] == status
        ]
        run.extra["retry_gaps"] = gaps
        return run


async def replica_kill(count: int = 400, rate: float = 100.0) -> Run:
    """SIGKILL one of two replicas 1.5 s into the burst; the other must finish."""
    async with rig(replicas=2, twilio=Twilio(delay_s=0.05)) as r:
        burst = Burst([s.url for s in r.services], "rp")
        posting = asyncio.create_task(burst.run(r.session, count, rate))
        await under_way(burst, 1.5)
        killed = time.monotonic()
        r.services[0].kill()
        await posting
        await until(lambda: all_sent(burst, r.twilio), SEND_WAIT_S)
        run = finish("SIGKILL 1 of 2 replicas", burst, r.twilio,
                     backlog_done(burst, r.twilio, killed))  # fmt: skip
        run.marks = {"kill": killed}
        return run


async def sigterm(count: int = 400, rate: float = 100.0) -> Run:
    """SIGTERM 1.5 s into the burst; the process stops gracefully and is started again."""
    async with rig() as r:
        service = r.services[0]
        burst = Burst([service.url], "tm")
        posting = asyncio.create_task(burst.run(r.session, count, rate))
        await under_way(burst, 1.5)
        stopped = time.monotonic()
        service.signal(signal.SIGTERM)
        code = await asyncio.to_thread(service.wait, 40.0)
        exited = time.monotonic()
        service.start()
        await service.wait_ready(r.session)
        started = time.monotonic()
        await posting
        await until(lambda: all_sent(burst, r.twilio), SEND_WAIT_S)
        run = finish("SIGTERM, restarted", burst, r.twilio,
                     backlog_done(burst, r.twilio, started))  # fmt: skip
        run.marks = {"term": stopped, "exited": exited, "started": started}
        run.extra["exit_code"] = code
        return run


async def stall(count: int = 400, rate: float = 100.0, stall_s: float = 6.0) -> Run:
    """SIGSTOP for 6 s (the whole process frozen, as a blocked event loop), SIGCONT."""
    async with rig() as r:
        service = r.services[0]
        burst = Burst([service.url], "sl")
        posting = asyncio.create_task(burst.run(r.session, count, rate))
        await under_way(burst, 1.0)
        service.signal(signal.SIGSTOP)
        frozen = time.monotonic()
        await asyncio.sleep(stall_s)
        service.signal(signal.SIGCONT)
        thawed = time.monotonic()
        await posting
        await until(lambda: all_sent(burst, r.twilio), SEND_WAIT_S)
        run = finish("6 s stall (SIGSTOP/SIGCONT)", burst, r.twilio,
                     first_after(r.twilio, thawed, burst))  # fmt: skip
        run.marks = {"stop": frozen, "cont": thawed}
        run.restarts = await restarts(service, r.session)
        return run


async def slow_provider(count: int = 240, delay_s: float = 3.0, callbacks: bool = False,
                        settle_s: float = 2.0, **env: str) -> Run:  # fmt: skip
    """Every answer takes `delay_s`; 240 messages arrive at once. After the last is
    sent, `settle_s` more for any second copy (a retry of a timed-out send)."""
    async with rig(twilio=Twilio(delay_s=delay_s, callbacks=callbacks), env=env) as r:
        burst = Burst([r.services[0].url], "sp")
        started = time.monotonic()
        await burst.run(r.session, count, 500.0)
        await until(lambda: all_sent(burst, r.twilio), 90.0)
        done = max(r.twilio.first_accepted().values()) - started
        await asyncio.sleep(settle_s)
        label = f"provider answers in {delay_s:g} s" + (
            f" (send timeout {env['DOORSTEP_SEND_TIMEOUT']} s"
            + (", callbacks" if callbacks else "")
            + ")"
            if env
            else ""
        )
        return finish(label, burst, r.twilio, done, note="seconds: all sent")


async def replies_across_redis_kill(customers: int = 40, down_s: float = 3.0) -> Run:
    """Each customer replies once (HELP or free text) while Redis is killed and comes
    back; the test plays Twilio and retries a webhook until it is answered 2xx."""
    async with rig() as r:
        service = r.services[0]
        burst = Burst([service.url], "rr")
        await burst.run(r.session, customers, 200.0)
        await until(lambda: all_sent(burst, r.twilio), SEND_WAIT_S)
        path = "/webhooks/twilio/sms"
        validator = RequestValidator(TOKEN)
        tries: dict[int, int] = {}

        async def reply(n: int) -> None:
            await asyncio.sleep(n / 20)
            text = "HELP" if n % 2 == 0 else "can you leave it with my neighbour"
            params = {"From": phone(n), "To": "+15005550006", "MessageSid": f"SMin{n:05d}",
                      "Body": text}  # fmt: skip
            signature = validator.compute_signature(f"{service.url}{path}", params)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                tries[n] = tries.get(n, 0) + 1
                try:
                    async with r.session.post(
                        f"{service.url}{path}", data=params,
                        headers={"X-Twilio-Signature": signature},
                        timeout=aiohttp.ClientTimeout(total=15),
                    ) as resp:  # fmt: skip
                        if resp.status < 300:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.5)

        replying = asyncio.gather(*(reply(n) for n in range(customers)))
        await asyncio.sleep(0.7)
        r.redis.kill()
        await asyncio.sleep(down_s)
        r.redis.start()
        back = time.monotonic()
        await replying
        redis = Redis.from_url(r.redis.url, decode_responses=True)
        keys = Keys()
        try:
            answers, queued, handled = await _reply_outcomes(redis, keys, r.twilio, customers)
        finally:
            await redis.aclose()
        answered = sum(1 for n in range(customers) if answers.get(n) or n in queued)
        run = Run(
            Outcome("replies across a Redis kill", customers, answered, customers - answered,
                    sum(1 for n in handled if handled[n] > 1), first_after(r.twilio, back),
                    note="replies"),
        )  # fmt: skip
        run.extra = {"answers": answers, "queued": queued, "handled": handled,
                     "webhook_tries": tries}  # fmt: skip
        return run


async def _reply_outcomes(
    redis: Redis, keys: Keys, twilio: Twilio, customers: int
) -> tuple[dict[int, dict[str, int]], set[int], dict[int, int]]:
    """Per customer: the answers' types sent, whether the conversation waits for a
    person, and how many times the reply is in the transcript."""

    async def settle() -> bool:
        kinds = await _answer_kinds(redis, keys, twilio)
        queued = await redis.zrange(keys.agent_queue(BRAND), 0, -1)
        return all(
            (n % 2 == 0 and kinds.get(n, {}).get("help")) or f"{BRAND}/rr-{n}" in queued
            for n in range(customers)
        )

    deadline = time.monotonic() + SEND_WAIT_S
    while not await settle() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls Redis
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)  # a reply handled twice would show by now
    answers = await _answer_kinds(redis, keys, twilio)
    in_queue = set(await redis.zrange(keys.agent_queue(BRAND), 0, -1))
    queued = {n for n in range(customers) if f"{BRAND}/rr-{n}" in in_queue}
    handled: dict[int, int] = {}
    for n in range(customers):
        lines = [
            json.loads(x) for x in await redis.lrange(keys.transcript(BRAND, f"rr-{n}"), 0, -1)
        ]
        handled[n] = sum(1 for x in lines if x.get("provider_id") == f"SMin{n:05d}")
    return answers, queued, handled


async def _answer_kinds(redis: Redis, keys: Keys, twilio: Twilio) -> dict[int, dict[str, int]]:
    """customer n -> {message type: times the provider accepted one}."""
    counts = twilio.accepted()
    found: dict[int, dict[str, int]] = {}
    for message_id, times in counts.items():
        kind, to = await redis.hmget(keys.message(message_id), ["type", "to"])
        if kind is None or to is None:
            continue
        n = int(str(to)[-4:])
        found.setdefault(n, {})
        found[n][str(kind)] = found[n].get(str(kind), 0) + times
    return found
