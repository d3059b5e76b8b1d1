"""Health, readiness, metrics, masked logs and a graceful shutdown."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from bot.app import create_app
from bot.base.logs import mask_phone, mask_processor
from bot.config import ConfigError, Settings
from bot.messaging.outbox import NewMessage
from bot.services import SERVICES
from tests import factories as f
from tests.conftest import start_client
from tests.helpers import Client, eventually, post_event
from tests.scripted_channel import ScriptedChannel, registry_with


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"]["redis"] == "ok"


async def test_not_ready_when_redis_is_gone(redis: Redis, settings: Settings) -> None:
    client = await start_client(create_app(settings))
    try:
        services = client.app[SERVICES]
        original = services.redis
        services.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["checks"]["redis"].startswith("unreachable")
        await services.redis.aclose()
        services.redis = original
    finally:
        await client.close()


async def test_metrics_count_messages_by_type_channel_and_status(client: Client) -> None:
    await post_event(client, f.delivery_created("d1"))

    async def scrape() -> str:
        return await (await client.get("/metrics")).text()

    text = await eventually(
        scrape,
        lambda t: (
            'doorstep_messages_total{channel="sandbox",'
            'status="delivered",type="delivery_scheduled"} 1.0' in t
        ),
    )
    assert 'doorstep_events_total{outcome="accepted",type="delivery.created"} 1.0' in text
    assert "doorstep_notify_latency_seconds_count 1.0" in text
    assert "doorstep_outbox_depth" in text


def test_logs_mask_phone_numbers_and_codes() -> None:
    event = {
        "event": "x",
        "to": "+12125550142",
        "access_code": "4471",
        "note": "call me on +44 7700 900123 please",
        "timestamp": "2026-11-24T10:00:00Z",
    }
    masked = mask_processor(None, "info", dict(event))
    assert masked["to"] == "+1********42"
    assert "2125550" not in json.dumps(masked)
    assert masked["access_code"] == "***"
    assert "7700 900" not in masked["note"]
    assert masked["timestamp"] == event["timestamp"]
    assert mask_phone("whatsapp:+12125550142").endswith("42")


def test_settings_name_the_bad_variable() -> None:
    with pytest.raises(ConfigError, match="DOORSTEP_WORKERS"):
        Settings.from_env({"DOORSTEP_WORKERS": "many"})
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({"TWILIO_ACCOUNT_SID": "AC1"})
    twilio = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+15005550006"}
    assert Settings.from_env(twilio).sandbox is False
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings.from_env(
            {"TELEGRAM_BOT_TOKEN": "1:A", "PUBLIC_BASE_URL": "https://doorstep.example.com"}
        )
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:A"}).telegram_mode == "polling"


async def test_shutdown_finishes_the_message_being_sent(redis: Redis, settings: Settings) -> None:
    provider = ScriptedChannel(block=asyncio.Event())
    client = await start_client(create_app(settings, channels=registry_with(provider)))
    services = client.app[SERVICES]
    message_id = await services.outbox.submit(
        NewMessage(
            brand_id="demo", type="eta_changed", channel="scripted", to="+12125550142", text="hi"
        )
    )
    await eventually(
        lambda: services.outbox.get(message_id),
        lambda m: m is not None and m["status"] == "sending",
    )
    closing = asyncio.create_task(client.close())
    await asyncio.sleep(0.2)
    assert not closing.done()  # waiting for the in-flight send
    assert provider.block is not None
    provider.block.set()
    await closing
    assert await redis.hget(services.keys.message(message_id), "status") == "sent"
