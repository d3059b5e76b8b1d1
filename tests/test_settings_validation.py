"""Brand settings through the admin API: numbers that cannot be used are refused with
their field's name, a webhook URL must be https to a public host, and settings stored
before these checks existed still read (as defaults) instead of breaking the brand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.services import Services
from tests import factories as f
from tests.helpers import Client, post_event
from tests.test_brand_templates import admin

SETTINGS = "/console/api/admin/settings"


async def put_raw(client: Client, headers: dict[str, str], body: str) -> tuple[int, Any]:
    resp = await client.put(
        SETTINGS, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    return resp.status, await resp.json()


NUMBERS = [
    ('{"sms_segment_price": Infinity}', "sms_segment_price"),
    ('{"sms_segment_price": -Infinity}', "sms_segment_price"),
    ('{"low_confidence": NaN}', "low_confidence"),
    ('{"sms_segment_price": 1e400}', "sms_segment_price"),
    ('{"escalation_limit_min": ' + "9" * 400 + "}", "escalation_limit_min"),
    ('{"survey_delay_min": ' + "9" * 400 + "}", "survey_delay_min"),
    ('{"desk": {"agent_capacity": ' + "9" * 400 + "}}", "desk.agent_capacity"),
]
URLS = [
    ("file:///etc/passwd", "https"),
    ("javascript:alert(1)", "https"),
    ("ftp://example.com/hook", "https"),
    ("http://example.com/hook", "https"),
    ("https://user:secret@example.com/hook", "user name or password"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://10.0.0.7/hook", "private"),
    ("https://[fd00::1]/hook", "private"),
    ("https://[::ffff:192.168.1.1]/hook", "private"),
    ("https://", "https"),
]


async def test_unusable_numbers_and_inward_webhooks_are_refused_naming_the_field(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    wrong = []
    for body, field in NUMBERS:
        status, answer = await put_raw(client, headers, body)
        if status != 400 or [p["field"] for p in answer.get("fields", [])] != [field]:
            wrong.append((body[:50], status, answer))
    for url, reason in URLS:
        status, answer = await put_raw(client, headers, json.dumps({"webhook_url": url}))
        problems = answer.get("fields", [])
        if (
            status != 400
            or [p["field"] for p in problems] != ["webhook_url"]
            or not any(reason in p["message"] for p in problems)
        ):
            wrong.append((url, status, answer))
    assert wrong == []
    current = await (await client.get(SETTINGS)).json()
    assert current["sms_segment_price"] == pytest.approx(0.0079)
    assert current["escalation_limit_min"] == 15
    assert current["webhook_url"] is None


async def test_a_public_https_webhook_and_demo_loopback_are_accepted(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    for url in ("https://dispatch.example.com/doorstep", "http://127.0.0.1:9000/hook"):
        resp = await client.put(SETTINGS, json={"webhook_url": url}, headers=headers)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["webhook_url"] == url


async def test_settings_stored_before_the_checks_still_work(
    client: Client, services: Services
) -> None:
    """An `Infinity` price stored as null and a 400-digit limit, written as an older
    version did: the settings and events APIs answer, and the admin can fix them."""
    headers = await admin(client, services)
    key = services.keys.brand("demo")
    stored = json.loads(await services.redis.hget(key, "settings"))
    stored["sms_segment_price"] = None
    stored["escalation_limit_min"] = int("9" * 400)
    await services.redis.hset(key, "settings", json.dumps(stored))
    services.brands.forget("demo")

    resp = await client.get(SETTINGS)
    assert resp.status == 200
    current = await resp.json()
    assert current["sms_segment_price"] == pytest.approx(0.0079)
    assert current["escalation_limit_min"] == 15
    status, _ = await post_event(client, f.delivery_created("d1"))
    assert status == 202
    assert await services.desk.alert_overdue() == 0  # the loop over brands goes on
    resp = await client.put(SETTINGS, json={"escalation_limit_min": 20}, headers=headers)
    assert resp.status == 200
    stored = json.loads(await services.redis.hget(key, "settings"))
    assert stored["escalation_limit_min"] == 20 and stored["sms_segment_price"] == 0.0079
