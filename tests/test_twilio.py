"""Twilio SMS/MMS/WhatsApp through the real twilio library against a local fake API."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.base.brands import WhatsAppTemplate
from bot.config import Settings
from bot.services import SERVICES, Services
from integrations.base import ChannelSendError, OutboundMessage
from integrations.twilio_channel import TwilioChannel, TwilioConfig, to_e164
from tests import factories as f
from tests.conftest import start_client
from tests.fake_providers import PNG, Failure, FakeTwilio
from tests.helpers import Client, eventually, post_event

PHONE = "+12125550142"
TOKEN = "secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    provider = FakeTwilio()
    await provider.start(provider.app())
    yield provider
    await provider.close()


@pytest.fixture
async def app(redis: Redis, settings: Settings, fake: FakeTwilio) -> AsyncIterator[Client]:
    configured = dataclasses.replace(
        settings,
        sandbox=False,
        twilio_account_sid="AC123",
        twilio_auth_token=TOKEN,
        twilio_messaging_service_sid="MG123",
        twilio_whatsapp_from="+14155550000",
        twilio_api_url=fake.url,
        outbox_backoff_base=0.05,
    )
    client = await start_client(create_app(configured))
    services: Services = client.app[SERVICES]
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(brand.model_copy(update={"channels": ["sms", "whatsapp"]}))
    yield client
    await client.close()


def signed(client: Client, path: str, params: dict[str, str]) -> dict[str, str]:
    url = f"{client.app[SERVICES].settings.public_base_url}{path}"
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)}


async def inbound(
    client: Client, params: dict[str, str], valid: bool = True, kind: str = "sms"
) -> int:
    path = f"/webhooks/twilio/{kind}"
    headers = signed(client, path, params) if valid else {"X-Twilio-Signature": "forged"}
    resp = await client.post(path, data=params, headers=headers)
    return resp.status


def sms(body: str, sid: str = "SM1", **extra: str) -> dict[str, str]:
    return {"From": PHONE, "To": "+15005550006", "Body": body, "MessageSid": sid, **extra}


async def transcript(services: Services) -> list[dict[str, Any]]:
    return [json.loads(e) for e in await services.store.transcript("demo", "d1")]


async def test_an_sms_goes_out_through_the_messages_api(app: Client, fake: FakeTwilio) -> None:
    status, body = await post_event(app, f.delivery_created("d1", phone=PHONE))
    assert status == 202
    (sent,) = await eventually(fake.sent, lambda x: len(x) == 1)
    assert sent["To"] == PHONE and sent["MessagingServiceSid"] == "MG123"
    # The callback carries our id: a send whose answer is lost is still recorded.
    assert sent["StatusCallback"].endswith(f"/webhooks/twilio/sms/status?m={body['messages'][0]}")
    assert sent["auth"].startswith("Basic ")
    resp = await app.get("/v1/deliveries/d1", headers={"Authorization": "Bearer demo-key"})
    (message,) = (await resp.json())["messages"]
    assert message["status"] == "sent" and message["provider_id"].startswith("SM")
    # CLDR's thin spaces and en dash were made GSM-7: one part, not three.
    assert message["encoding"] == "GSM-7" and int(message["segments"]) == 1
    assert "12:00" in sent["Body"] and "\u2009" not in sent["Body"]


async def test_whatsapp_uses_the_same_code_with_whatsapp_addresses(
    app: Client, fake: FakeTwilio
) -> None:
    event = f.delivery_created("d1", phone=PHONE)
    event["data"]["customer"]["channel"] = "whatsapp"
    await post_event(app, event)
    (sent,) = await eventually(fake.sent, lambda x: len(x) == 1)
    assert sent["To"] == f"whatsapp:{PHONE}"


async def test_whatsapp_outside_the_24_hour_window_sends_the_brands_template(
    app: Client, fake: FakeTwilio
) -> None:
    services: Services = app.app[SERVICES]
    brand = await services.brands.get("demo")
    assert brand is not None
    sid = "HX" + "0123456789abcdef" * 2
    template = WhatsAppTemplate(
        content_sid=sid, variables={"1": "{{ name }}", "2": "{{ window | window }}"}
    )
    templates = {"delivery_scheduled": template, "reply_received": template}
    await services.brands.save(brand.model_copy(update={"whatsapp_templates": templates}))
    event = f.delivery_created("d1", phone=PHONE)
    event["data"]["customer"]["channel"] = "whatsapp"
    await post_event(app, event)
    # The customer has never written: WhatsApp takes only the approved template.
    (first,) = await eventually(fake.sent, lambda x: len(x) == 1)
    assert first["ContentSid"] == sid and "Body" not in first
    values = json.loads(first["ContentVariables"])
    assert values["1"] == "Ana" and "12:00" in values["2"]
    resp = await app.get("/v1/deliveries/d1", headers={"Authorization": "Bearer demo-key"})
    (message,) = (await resp.json())["messages"]
    assert message["sent_as"] == "template" and message["status"] == "sent"

    # They write back: for a day, messages go as free text, even those with a template.
    whatsapp = {**sms("is it still today?", sid="SM7"), "From": f"whatsapp:{PHONE}"}
    assert await inbound(app, whatsapp, kind="whatsapp") == 200
    sent = await eventually(fake.sent, lambda x: len(x) == 2)
    assert "ContentSid" not in sent[1] and sent[1]["Body"]


async def test_429_with_retry_after_and_500_are_retried(app: Client, fake: FakeTwilio) -> None:
    fake.failures = [Failure(429, retry_after=1), Failure(500)]
    started = asyncio.get_running_loop().time()
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    await eventually(fake.sent, lambda x: len(x) == 3, timeout=8)
    assert asyncio.get_running_loop().time() - started >= 1.0  # Retry-After was honoured
    resp = await app.get("/v1/deliveries/d1", headers={"Authorization": "Bearer demo-key"})
    (message,) = (await resp.json())["messages"]
    assert message["status"] == "sent" and message["attempts"] == 3


async def test_a_timeout_is_a_retryable_failure(fake: FakeTwilio) -> None:
    channel = TwilioChannel(
        "sms",
        TwilioConfig("AC123", TOKEN, "http://x", "MG1", api_url=fake.url, timeout_s=0.2),
    )
    await channel.start()
    fake.failures = [Failure(201, stall_s=1.0)]
    try:
        with pytest.raises(ChannelSendError) as err:
            await channel.send(OutboundMessage("m1", "sms", PHONE, "hi"))
        assert err.value.retryable
    finally:
        await channel.stop()


async def test_an_invalid_signature_is_403_and_nothing_is_processed(app: Client) -> None:
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    assert await inbound(app, sms("where is it"), valid=False) == 403
    await asyncio.sleep(0.1)
    assert [e for e in await transcript(app.app[SERVICES]) if e["dir"] == "in"] == []


async def test_a_reply_is_taken_once_and_stop_is_honoured(app: Client, fake: FakeTwilio) -> None:
    services: Services = app.app[SERVICES]
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    await eventually(fake.sent, lambda x: len(x) == 1)
    assert await inbound(app, sms("STOP", sid="SM9")) == 200
    assert await inbound(app, sms("STOP", sid="SM9")) == 200  # Twilio retried the webhook
    said = [e for e in await transcript(services) if e["dir"] == "in"]
    assert [e["text"] for e in said] == ["STOP"]
    # The webhook answers once the reply is in its inbox; STOP is handled just after.
    optout = services.keys.optout("demo", "sms", PHONE)
    assert await eventually(lambda: services.redis.exists(optout), bool, timeout=10)
    confirmations = await eventually(fake.sent, lambda x: len(x) == 2, timeout=10)
    assert "won't get any more messages" in confirmations[-1]["Body"]


async def test_an_mms_photo_is_fetched_and_kept(app: Client, fake: FakeTwilio) -> None:
    services: Services = app.app[SERVICES]
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    params = sms("the box is crushed", sid="MM1", NumMedia="1")
    params |= {"MediaUrl0": f"{fake.url}/media/p1", "MediaContentType0": "image/png"}
    assert await inbound(app, params) == 200
    (said,) = [e for e in await transcript(services) if e["dir"] == "in"]
    (url,) = said["media"]
    path = url.removeprefix(services.settings.public_base_url)
    photo = await app.get(path)
    assert photo.status == 200 and await photo.read() == PNG
    assert (await app.get(path.split("?")[0] + "?sig=forged")).status == 403


async def test_status_callbacks_update_the_message(app: Client, fake: FakeTwilio) -> None:
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    await eventually(fake.sent, lambda x: len(x) == 1)
    resp = await app.get("/v1/deliveries/d1", headers={"Authorization": "Bearer demo-key"})
    provider_id = (await resp.json())["messages"][0]["provider_id"]
    path = "/webhooks/twilio/sms/status"
    report = {"MessageSid": provider_id, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    forged = await app.post(path, data=report, headers={"X-Twilio-Signature": "x"})
    assert forged.status == 403
    ok = await app.post(path, data=report, headers=signed(app, path, report))
    assert ok.status == 204
    resp = await app.get("/v1/deliveries/d1", headers={"Authorization": "Bearer demo-key"})
    (message,) = (await resp.json())["messages"]
    assert message["status"] == "failed" and message["error_code"] == "30003"


def test_numbers_are_normalised_to_e164() -> None:
    assert to_e164("(212) 555-0142") == "+12125550142"
    assert to_e164("06 12 34 56 78", "FR") == "+33612345678"
    assert to_e164("12") is None


async def test_the_delivery_photo_goes_as_an_mms(app: Client, fake: FakeTwilio) -> None:
    await post_event(app, f.delivery_created("d1", phone=PHONE))
    await eventually(fake.sent, lambda x: len(x) == 1)
    await post_event(app, f.stop_completed("d1"))
    sent = await eventually(fake.sent, lambda x: len(x) == 2)
    assert sent[1]["MediaUrl"] == "https://photos.example.com/pod/1.jpg"


async def test_two_brands_delivering_to_one_customer_each_get_only_their_replies(
    app: Client, fake: FakeTwilio
) -> None:
    """Issue 18: a brand that sends an event with another brand's customer's number
    must not capture that customer's replies. Each brand sends from its own number,
    and a reply reaches the brand whose number it was sent to."""
    from bot.base.brands import BrandSettings

    services: Services = app.app[SERVICES]
    demo = await services.brands.get("demo")
    assert demo is not None
    await services.brands.save(demo.model_copy(update={"senders": {"sms": "+15005550006"}}))
    acme = BrandSettings(
        brand_id="acme",
        display_name="Acme",
        channels=["sms"],
        senders={"sms": "+15005550007"},
        quiet_hours=None,  # its message goes now, whatever the hour in New York
    )
    await services.brands.save(acme)
    acme_key = {"Authorization": f"Bearer {await services.brands.add_api_key('acme')}"}
    # A brand cannot claim a number another brand sends from.
    with pytest.raises(ValueError, match="belongs to another brand"):
        await services.brands.save(acme.model_copy(update={"senders": {"sms": "+15005550006"}}))

    assert (await post_event(app, f.delivery_created("d1", phone=PHONE)))[0] == 202
    # Later, and so the newest delivery to this number: the other brand's.
    assert (await post_event(app, f.delivery_created("a1", phone=PHONE), acme_key))[0] == 202
    sent = await eventually(fake.sent, lambda x: len(x) == 2, timeout=10)
    assert sorted(m.get("From", "") for m in sent) == ["+15005550006", "+15005550007"]

    assert await inbound(app, sms("is it still coming today?", sid="SM21")) == 200
    assert await inbound(app, sms("leave it at the door", sid="SM22", To="+15005550007")) == 200

    async def said(brand: str, delivery: str) -> list[str]:
        raw = await services.store.transcript(brand, delivery)
        return [e["text"] for e in map(json.loads, raw) if e["dir"] == "in"]

    assert await said("demo", "d1") == ["is it still coming today?"]
    assert await said("acme", "a1") == ["leave it at the door"]
