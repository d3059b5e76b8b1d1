"""Small waits and HTTP helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.events.auth import sign

T = TypeVar("T")
DEMO_KEY = {"Authorization": "Bearer demo-key"}
Client = TestClient[web.Request, web.Application]


async def eventually(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 3.0
) -> T:
    """Poll `probe` until `ok(value)`; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not ok(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.02)
        value = await probe()
    return value


async def post_event(
    client: Client, event: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/v1/events", json=event, headers=headers or DEMO_KEY)
    return resp.status, await resp.json()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        **DEMO_KEY,
        "Content-Type": "application/json",
        "X-Doorstep-Timestamp": str(ts),
        "X-Doorstep-Signature": sign(secret, ts, body),
    }


def dumps(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def redis_env(settings: Settings) -> dict[str, str]:
    """The environment that points a child process at the test's Redis topology."""
    return {
        "REDIS_URL": settings.redis_url,
        "REDIS_SENTINELS": ",".join(f"{h}:{p}" for h, p in settings.redis_sentinels),
        "REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
        "DOORSTEP_OUTBOX_SHARDS": str(settings.outbox_shards),
    }
