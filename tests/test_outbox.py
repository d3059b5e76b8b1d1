"""The outbox: retries with backoff, Retry-After, dead letters, reclaim, no double sends."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.messaging.outbox import NewMessage
from bot.services import SERVICES, Services
from integrations.base import RetryAfter, StatusUpdate
from tests.conftest import start_client
from tests.helpers import eventually, redis_env
from tests.scripted_channel import ScriptedChannel, refused, registry_with, server_error

# Every test here runs on standalone Redis, on Sentinel and on Cluster.
pytestmark = pytest.mark.all_topologies

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def provider() -> ScriptedChannel:
    return ScriptedChannel()


@pytest.fixture
async def app_client(
    redis: Redis, settings: Settings, provider: ScriptedChannel
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client = await start_client(create_app(settings, channels=registry_with(provider)))
    yield client
    await client.close()


@pytest.fixture
def svc(app_client: TestClient[web.Request, web.Application]) -> Services:
    return app_client.app[SERVICES]


def message(to: str = "+12125550142", **kw: object) -> NewMessage:
    fields: dict[str, object] = {
        "brand_id": "demo",
        "type": "out_for_delivery",
        "channel": "scripted",
        "to": to,
        "text": "hello",
    }
    fields.update(kw)
    return NewMessage(**fields)  # type: ignore[arg-type]


async def status_of(svc: Services, message_id: str) -> dict[str, object]:
    record = await svc.outbox.get(message_id)
    assert record is not None
    return record


async def test_transient_errors_are_retried_until_sent(
    svc: Services, provider: ScriptedChannel
) -> None:
    provider.script = [server_error(), server_error()]
    message_id = await svc.outbox.submit(message())
    record = await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "sent")
    assert record["attempts"] == 3
    assert len(provider.sent) == 1 and len(provider.attempts) == 3
    assert record["provider_id"]


async def test_backoff_grows_between_attempts(svc: Services) -> None:
    policy = svc.outbox.policy
    delays = [policy.backoff(n) for n in (1, 2, 3, 4)]
    ceilings = [min(policy.backoff_cap, policy.backoff_base * 2 ** (n - 1)) for n in (1, 2, 3, 4)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


async def test_retry_after_is_honoured(svc: Services, provider: ScriptedChannel) -> None:
    provider.script = [RetryAfter(5)]
    before = time.time()
    message_id = await svc.outbox.submit(message())
    record = await eventually(
        lambda: status_of(svc, message_id), lambda r: r["status"] == "retrying"
    )
    assert float(str(record["due_at"])) >= before + 5
    assert record["error_code"] == "429"
    await asyncio.sleep(0.3)
    assert provider.sent == []  # still waiting, although the backoff alone is 0.05 s
    await svc.clock.advance(timedelta(seconds=6))
    await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "sent")


def shard_of(svc: Services) -> int:
    """The outbox shard of the test messages' recipient."""
    return svc.keys.shard_of("scripted", "+12125550142")


async def test_permanent_error_goes_to_dead_letters_at_once(
    svc: Services, provider: ScriptedChannel, redis: Redis
) -> None:
    provider.script = [refused()]
    message_id = await svc.outbox.submit(message())
    record = await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "failed")
    assert record["attempts"] == 1 and record["error_code"] == "21211"
    dead = await redis.xrange(svc.keys.dead_letters(shard_of(svc)))
    assert [d[1]["id"] for d in dead] == [message_id]


async def test_exhausted_retries_go_to_dead_letters(
    svc: Services, provider: ScriptedChannel, redis: Redis
) -> None:
    attempts = svc.outbox.policy.max_attempts
    provider.script = [server_error() for _ in range(attempts)]
    message_id = await svc.outbox.submit(message())
    record = await eventually(
        lambda: status_of(svc, message_id), lambda r: r["status"] == "failed", timeout=10
    )
    assert record["attempts"] == attempts
    assert str(record["error"]).startswith(f"gave up after {attempts} attempts")
    assert len(await redis.xrange(svc.keys.dead_letters(shard_of(svc)))) == 1
    assert provider.sent == []


async def test_replayed_stream_entry_does_not_send_twice(
    svc: Services, provider: ScriptedChannel, redis: Redis
) -> None:
    message_id = await svc.outbox.submit(message())
    await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "sent")
    await redis.xadd(
        svc.keys.outbox(shard_of(svc)), {"id": message_id}
    )  # e.g. a reclaimed duplicate
    await eventually(lambda: redis.xlen(svc.keys.outbox(shard_of(svc))), lambda n: n == 0)
    assert len(provider.sent) == 1


async def test_messages_to_one_recipient_keep_their_order(
    svc: Services, provider: ScriptedChannel
) -> None:
    ids = await svc.outbox.submit_many([(message(text=f"m{n}"), None) for n in range(20)])
    await eventually(lambda: status_of(svc, ids[-1]), lambda r: r["status"] == "sent")
    assert [m.text for m in provider.sent] == [f"m{n}" for n in range(20)]


async def test_opted_out_recipient_gets_nothing(
    svc: Services, provider: ScriptedChannel, redis: Redis
) -> None:
    await redis.set(svc.keys.optout("demo", "scripted", "+12125550142"), 1)
    message_id = await svc.outbox.submit(message())
    record = await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "failed")
    assert record["error"] == "recipient opted out"
    assert provider.attempts == []


async def test_provider_status_callbacks_never_go_backwards(
    svc: Services, provider: ScriptedChannel
) -> None:
    message_id = await svc.outbox.submit(message())
    record = await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "sent")
    pid = str(record["provider_id"])
    assert await svc.outbox.on_status(StatusUpdate("scripted", pid, "delivered"))
    assert await svc.outbox.on_status(StatusUpdate("scripted", pid, "sent"))
    assert (await status_of(svc, message_id))["status"] == "delivered"
    assert not await svc.outbox.on_status(StatusUpdate("scripted", "unknown", "delivered"))


async def test_undelivered_report_marks_the_message_failed_with_the_code(
    svc: Services,
) -> None:
    message_id = await svc.outbox.submit(message())
    record = await eventually(lambda: status_of(svc, message_id), lambda r: r["status"] == "sent")
    # The provider-id index is written just after the send is recorded (another slot).
    update = StatusUpdate("scripted", str(record["provider_id"]), "undelivered", "30003")
    await eventually(lambda: svc.outbox.on_status(update), bool)
    record = await status_of(svc, message_id)
    assert record["status"] == "failed" and record["error_code"] == "30003"


async def test_message_held_by_a_killed_worker_is_reclaimed_and_sent_once(
    redis: Redis, settings: Settings, provider: ScriptedChannel
) -> None:
    fast = dataclasses.replace(settings, outbox_reclaim_idle=0.5)
    client = await start_client(create_app(fast, channels=registry_with(provider), workers=False))
    svc = client.app[SERVICES]
    try:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.stuck_sender",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                **redis_env(fast),
                "DOORSTEP_OUTBOX_RECLAIM_IDLE": "0.5",  # as the rescuer: one setting everywhere
            },
        )
        assert worker.stdout is not None
        assert (await worker.stdout.readline()).strip() == b"ready"
        message_id = await svc.outbox.submit(message())
        await eventually(
            lambda: status_of(svc, message_id), lambda r: r["status"] == "sending", timeout=5
        )
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

        assert await svc.outbox.reclaim("rescuer") == 0  # not idle long enough yet
        await asyncio.sleep(0.6)
        assert await svc.outbox.reclaim("rescuer") == 1
        record = await status_of(svc, message_id)
        assert record["status"] == "sent" and record["attempts"] == 2
        assert len(provider.sent) == 1
        assert await svc.outbox.reclaim("rescuer") == 0
    finally:
        await client.close()
