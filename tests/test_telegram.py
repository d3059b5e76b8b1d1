"""Telegram through python-telegram-bot against a local fake Bot API."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.nlu.model import RasaServer
from bot.services import SERVICES, Services
from tests import factories as f
from tests.conftest import start_client
from tests.fake_providers import PNG, Failure, FakeTelegram, FakeTwilio, markup
from tests.helpers import Client, eventually, post_event

SECRET = "s3cret-token"
CHAT = 777001
PHONE = "+12125550142"
_updates = iter(range(1000, 100000))


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    provider = FakeTelegram()
    await provider.start(provider.app())
    yield provider
    await provider.close()


@pytest.fixture
async def sms() -> AsyncIterator[FakeTwilio]:
    provider = FakeTwilio()
    await provider.start(provider.app())
    yield provider
    await provider.close()


def configured(settings: Settings, tg: FakeTelegram, sms: FakeTwilio, **extra: Any) -> Settings:
    return dataclasses.replace(
        settings,
        sandbox=False,
        twilio_account_sid="AC123",
        twilio_auth_token="secret",
        twilio_messaging_service_sid="MG123",
        twilio_api_url=sms.url,
        telegram_bot_token="123:ABC",
        telegram_webhook_secret=SECRET,
        telegram_api_url=tg.url,
        **extra,
    )


async def _start(settings: Settings) -> Client:
    client = await start_client(create_app(settings))
    services: Services = client.app[SERVICES]
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(brand.model_copy(update={"channels": ["sms", "telegram"]}))
    return client


@pytest.fixture
async def app(
    redis: Redis, settings: Settings, tg: FakeTelegram, sms: FakeTwilio
) -> AsyncIterator[Client]:
    client = await _start(configured(settings, tg, sms))
    yield client
    await client.close()


def message_update(text: str = "", photo: bool = False, chat: int = CHAT) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(_updates),
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Ana"},
    }
    if text:
        message["text"] = text
    if photo:
        message["photo"] = [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": "big", "file_unique_id": "b", "width": 800, "height": 800},
        ]
    return {"update_id": next(_updates), "message": message}


def button_update(data: str, chat: int = CHAT) -> dict[str, Any]:
    return {
        "update_id": next(_updates),
        "callback_query": {
            "id": str(next(_updates)),
            "from": {"id": chat, "is_bot": False, "first_name": "Ana"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "text": "offers",
            },
        },
    }


async def push(client: Client, update: dict[str, Any], secret: str = SECRET) -> int:
    resp = await client.post(
        "/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
    )
    return resp.status


async def linked(client: Client, sms: FakeTwilio) -> str:
    """Create a delivery by SMS, follow the deep link in its first message."""
    await post_event(client, f.delivery_created("d1", phone=PHONE))
    (first,) = await eventually(sms.sent, lambda x: len(x) == 1)
    found = re.search(r"https://t\.me/doorstep_test_bot\?start=([A-Za-z0-9_-]+)", first["Body"])
    assert found, first["Body"]
    return found.group(1)


async def test_webhook_is_registered_with_its_secret(app: Client, tg: FakeTelegram) -> None:
    (hook,) = [r for r in tg.requests if r["method"] == "setWebhook"]
    assert hook["url"].endswith("/webhooks/telegram") and hook["secret_token"] == SECRET


async def test_a_deep_link_moves_the_conversation_to_telegram(
    app: Client, tg: FakeTelegram, sms: FakeTwilio
) -> None:
    services: Services = app.app[SERVICES]
    token = await linked(app, sms)
    assert len(token) <= 64
    assert await push(app, message_update(f"/start {token[:-1]}x")) == 204  # tampered
    assert (await services.store.get_delivery("demo", "d1")).channel == "sms"  # type: ignore[union-attr]
    assert await push(app, message_update(f"/start {token}")) == 204
    delivery = await services.store.get_delivery("demo", "d1")
    assert delivery is not None and delivery.channel == "telegram"
    assert delivery.contact == str(CHAT)
    (hello,) = await eventually(tg.sent, lambda x: len(x) == 1)
    assert int(hello["chat_id"]) == CHAT and "connected" in hello["text"]
    # Proactive messages now go to the linked chat, with the photo as a photo.
    await post_event(app, f.stop_completed("d1"))
    sent = await eventually(tg.sent, lambda x: len(x) == 2)
    assert sent[1]["method"] == "sendPhoto" and "delivered" in sent[1]["caption"]
    assert len(await sms.sent()) == 1


async def test_a_wrong_secret_is_403_and_nothing_is_processed(
    app: Client, tg: FakeTelegram, sms: FakeTwilio
) -> None:
    token = await linked(app, sms)
    assert await push(app, message_update(f"/start {token}"), secret="guess") == 403
    delivery = await app.app[SERVICES].store.get_delivery("demo", "d1")
    assert delivery is not None and delivery.channel == "sms"


async def test_a_repeated_update_is_processed_once_and_photos_are_kept(
    app: Client, tg: FakeTelegram, sms: FakeTwilio
) -> None:
    services: Services = app.app[SERVICES]
    await push(app, message_update(f"/start {await linked(app, sms)}"))
    update = message_update(photo=True)
    update["message"]["caption"] = "box was crushed"
    assert await push(app, update) == 204
    assert await push(app, update) == 204
    import json

    said = [json.loads(e) for e in await services.store.transcript("demo", "d1")]
    (photo,) = [e for e in said if e["dir"] == "in"]
    assert photo["text"] == "box was crushed"
    assert next(r for r in tg.requests if r["method"] == "getFile")["file_id"] == "big"
    path = photo["media"][0].removeprefix(services.settings.public_base_url)
    assert await (await app.get(path)).read() == PNG


async def test_429_is_retried_after_the_given_time(
    app: Client, tg: FakeTelegram, sms: FakeTwilio
) -> None:
    await push(app, message_update(f"/start {await linked(app, sms)}"))
    await eventually(tg.sent, lambda x: len(x) == 1)
    tg.failures = [Failure(429, retry_after=1), Failure(500)]
    started = time.monotonic()
    await post_event(app, f.stop_completed("d1"))
    sent = await eventually(tg.sent, lambda x: len(x) == 4, timeout=8)
    assert time.monotonic() - started >= 1.0
    assert sent[-1]["method"] == "sendPhoto"


async def test_offered_windows_are_buttons_and_a_press_is_a_pick(
    redis: Redis, settings: Settings, tg: FakeTelegram, sms: FakeTwilio, rasa: RasaServer
) -> None:
    client = await _start(configured(settings, tg, sms, nlu_url=rasa.url, nlu_token=rasa.token))
    try:
        await push(client, message_update(f"/start {await linked(client, sms)}"))
        await eventually(tg.sent, lambda x: len(x) == 1)
        await push(client, message_update("I'd like to change the delivery time"))
        offers = await eventually(tg.sent, lambda x: len(x) == 2)
        labels = markup(offers[1])
        assert 1 <= len(labels) <= 3, offers[1]
        await push(client, button_update("choice:1"))
        done = await eventually(tg.sent, lambda x: len(x) == 3)
        assert (
            done[2]["text"].startswith("Done") and labels[0].split(", ")[-1][:4] in done[2]["text"]
        )
        assert any(r["method"] == "answerCallbackQuery" for r in tg.requests)
    finally:
        await client.close()


async def test_polling_mode_reads_updates_without_a_public_url(
    redis: Redis, settings: Settings, tg: FakeTelegram, sms: FakeTwilio
) -> None:
    client = await _start(configured(settings, tg, sms, telegram_mode="polling"))
    try:
        assert any(r["method"] == "deleteWebhook" for r in tg.requests)
        token = await linked(client, sms)
        tg.updates.append(message_update(f"/start {token}"))
        (hello,) = await eventually(tg.sent, lambda x: len(x) == 1, timeout=5)
        assert "connected" in hello["text"]
    finally:
        await client.close()


async def test_a_timeout_is_a_retryable_failure(tg: FakeTelegram) -> None:
    from integrations.base import ChannelSendError, OutboundMessage
    from integrations.telegram_channel import TelegramChannel, TelegramConfig

    channel = TelegramChannel(
        TelegramConfig("123:ABC", "https://x", SECRET, api_url=tg.url, timeout_s=0.3)
    )
    await channel.start()
    tg.failures = [Failure(200, stall_s=1.0)]
    try:
        with pytest.raises(ChannelSendError) as err:
            await channel.send(OutboundMessage("m1", "telegram", str(CHAT), "hi"))
        assert err.value.retryable
    finally:
        await channel.stop()


async def test_an_expired_or_forged_link_opens_nothing(app: Client) -> None:
    services: Services = app.app[SERVICES]
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    delivery = await services.store.get_delivery("demo", "d1")
    links = services.inbound.links
    assert delivery is not None and links is not None
    token = links.token(delivery)
    assert await links.resolve(token) == "demo/d1"
    later = (delivery.created_at + timedelta(days=15)).timestamp()
    assert await links.resolve(token, now=later) is None
    assert await links.resolve(token[:-2] + "AA") is None


async def test_the_tracking_link_is_a_url_button_on_telegram(
    app: Client, tg: FakeTelegram, sms: FakeTwilio
) -> None:
    # A chat that joins by deep link gets the button with its welcome.
    token = await linked(app, sms)
    assert await push(app, message_update(f"/start {token}")) == 204
    (hello,) = await eventually(tg.sent, lambda x: len(x) == 1)
    assert "connected" in hello["text"] and markup(hello) == ["Track your delivery"]
    # A delivery on Telegram from the start: its first message carries the button.
    event = f.delivery_created("d2")
    event["data"]["customer"] |= {"telegram_chat_id": str(CHAT + 1), "channel": "telegram"}
    await post_event(app, event)
    sent = await eventually(tg.sent, lambda x: len(x) == 2)
    assert "/t/" not in sent[1]["text"]  # the link is the button, not in the words
    data = json.loads(sent[1]["reply_markup"])
    (button,) = [b for row in data["inline_keyboard"] for b in row]
    assert button["text"] == "Track your delivery"
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/t/[a-z2-7]{16}", button["url"])
    page = await app.get(button["url"].removeprefix("http://127.0.0.1:8080"))
    assert page.status == 200
