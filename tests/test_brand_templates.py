"""Brands' settings and templates through the admin API: validation, preview, versions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.base.brands import BrandSettings
from bot.base.values import Window
from bot.messaging.render import Renderer
from bot.services import Services
from integrations.sms import sms_info
from tests import factories as f
from tests.helpers import Client, eventually, post_event
from tests.test_agents import add_agent, agent_session
from tests.test_inbound import phone_texts

# Every test here runs on standalone Redis, on Sentinel and on Cluster.
pytestmark = pytest.mark.all_topologies

SLOT = "/console/api/admin/templates"


async def admin(client: Client, services: Services, brand: str = "demo") -> dict[str, str]:
    await add_agent(services, brand, "boss", role="admin")
    return await agent_session(client, brand, "boss")


async def save(client: Client, headers: dict[str, str], source: str, **slot: Any) -> Any:
    body = {"channel": "*", "locale": "en", "source": source, **slot}
    return await client.put(f"{SLOT}/delivery_scheduled", json=body, headers=headers)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ name.__class__.__mro__ }}", "SecurityError"),
        ("{% for i in range(10**9) %}x{% endfor %}", "range of 1000000000 items"),
        ("{{ 'x' * 5000 }}", "characters (at most 1600)"),
        ("Hi {{ customer_ssn }}", "unknown variable 'customer_ssn'"),
        ("Hi {{ name }}\n{% if %}", "line 2"),
        ("   ", "empty message"),
    ],
)
async def test_a_bad_template_is_rejected_and_the_old_one_stays(
    client: Client, services: Services, source: str, problem: str
) -> None:
    headers = await admin(client, services)
    assert (await save(client, headers, "Hello {{ name }}, {{ brand }} here.")).status == 201
    resp = await save(client, headers, source)
    assert resp.status == 400
    body = await resp.json()
    assert any(problem in p["message"] for p in body["fields"]), body
    got = await (await client.get(f"{SLOT}/delivery_scheduled?channel=*&locale=en")).json()
    assert got["source"] == "Hello {{ name }}, {{ brand }} here."


async def test_the_next_message_uses_the_saved_template(client: Client, services: Services) -> None:
    headers = await admin(client, services)
    source = "{{ name }}, your {{ brand }} order arrives {{ window|day }}, {{ window|window }}."
    assert (await save(client, headers, source)).status == 201
    await post_event(client, f.delivery_created("d1"))
    (text,) = await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    assert text.startswith("Ana, your Parcelly order arrives")


async def test_saves_at_the_same_moment_get_distinct_versions(services: Services) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    saves = [
        services.brand_templates.save(
            brand, "delivery_scheduled", "*", "en", f"Take {n}: {{{{ name }}}}", "boss"
        )
        for n in range(8)
    ]
    numbers = await asyncio.gather(*saves)
    assert sorted(numbers) == list(range(1, 9))
    history = await services.brand_templates.versions("demo", "delivery_scheduled", "*", "en")
    assert [v["version"] for v in history] == list(range(1, 9))
    assert {v["source"] for v in history} == {f"Take {n}: {{{{ name }}}}" for n in range(8)}


async def test_versions_and_rollback(client: Client, services: Services) -> None:
    headers = await admin(client, services)
    for n in (1, 2):
        assert (await save(client, headers, f"Version {n} for {{{{ name }}}}")).status == 201
    resp = await client.post(
        f"{SLOT}/delivery_scheduled/rollback",
        json={"channel": "*", "locale": "en", "version": 1},
        headers=headers,
    )
    assert resp.status == 201 and (await resp.json())["version"] == 3
    got = await (await client.get(f"{SLOT}/delivery_scheduled?channel=*&locale=en")).json()
    assert got["source"] == "Version 1 for {{ name }}"
    assert [v["version"] for v in got["versions"]] == [1, 2, 3]
    assert got["versions"][0]["by"] == "boss"


async def test_preview_counts_segments_and_cost(client: Client, services: Services) -> None:
    headers = await admin(client, services)
    resp = await client.post(
        f"{SLOT}/preview",
        json={"type": "delivery_scheduled", "locale": "en", "source": "Hi {{ name }} 📦"},
        headers=headers,
    )
    body = await resp.json()
    assert body["text"] == "Hi Alex 📦"
    assert body["sms"]["encoding"] == "UCS-2" and body["sms"]["segments"] == 1
    assert body["sms"]["cost_per_1000"] == pytest.approx(7.9)
    bad = await client.post(
        f"{SLOT}/preview",
        json={"type": "delivery_scheduled", "locale": "en", "source": "{{ nope }}"},
        headers=headers,
    )
    assert (await bad.json())["ok"] is False


async def test_settings_are_validated_and_a_bad_value_changes_nothing(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    resp = await client.put(
        "/console/api/admin/settings",
        json={"eta_threshold_min": 0, "display_name": "New name"},
        headers=headers,
    )
    assert resp.status == 400
    assert (await resp.json())["fields"][0]["field"] == "eta_threshold_min"
    current = await (await client.get("/console/api/admin/settings")).json()
    assert current["display_name"] == "Parcelly" and current["eta_threshold_min"] == 15
    resp = await client.put(
        "/console/api/admin/settings", json={"timezone": "Mars/Olympus_Mons"}, headers=headers
    )
    assert resp.status == 400
    (problem,) = (await resp.json())["fields"]
    assert problem["field"] == "timezone" and "Mars/Olympus_Mons" in problem["message"]
    resp = await client.put(
        "/console/api/admin/settings", json={"eta_threshold_min": 20}, headers=headers
    )
    assert resp.status == 200 and (await resp.json())["eta_threshold_min"] == 20


async def test_whatsapp_templates_are_checked_like_templates(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    sid = "HX" + "0123456789abcdef" * 2

    async def put(templates: dict[str, object]) -> tuple[int, list[str]]:
        resp = await client.put(
            "/console/api/admin/settings",
            json={"whatsapp_templates": templates},
            headers=headers,
        )
        body = await resp.json()
        return resp.status, [p["field"] for p in body.get("fields", [])]

    bad_sid = {"delivery_scheduled": {"content_sid": "MG123", "variables": {}}}
    assert (await put(bad_sid))[0] == 400
    unknown_variable = {"delivery_scheduled": {"content_sid": sid, "variables": {"1": "{{ pin }}"}}}
    assert await put(unknown_variable) == (
        400,
        ["whatsapp_templates.delivery_scheduled.variables.1"],
    )
    unknown_type = {"parcel_party": {"content_sid": sid, "variables": {"1": "{{ name }}"}}}
    assert await put(unknown_type) == (400, ["whatsapp_templates.parcel_party"])
    bad_number = {"delivery_scheduled": {"content_sid": sid, "variables": {"one": "{{ name }}"}}}
    assert (await put(bad_number))[0] == 400
    current = await (await client.get("/console/api/admin/settings")).json()
    assert current["whatsapp_templates"] == {}
    good = {
        "delivery_scheduled": {
            "content_sid": sid,
            "variables": {"1": "{{ name }}", "2": "{{ window | window }}"},
        }
    }
    assert await put(good) == (200, [])
    current = await (await client.get("/console/api/admin/settings")).json()
    assert current["whatsapp_templates"]["delivery_scheduled"]["content_sid"] == sid


async def test_admin_api_is_per_brand_and_admin_only(client: Client, services: Services) -> None:
    await services.brands.save(BrandSettings(brand_id="other", display_name="Other Co"))
    await add_agent(services, "demo", "sam")
    headers = await agent_session(client, "demo", "sam")
    assert (await save(client, headers, "Hi")).status == 403
    headers = await admin(client, services, brand="other")
    assert (await save(client, headers, "Other's words for {{ name }}")).status == 201
    settings = await (await client.get("/console/api/admin/settings")).json()
    assert settings["brand_id"] == "other"
    # The demo brand's customers still get Doorstep's default words.
    await post_event(client, f.delivery_created("d1"))
    (text,) = await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    assert "Other's words" not in text and text.startswith("Hi Ana, your Parcelly order")


def test_the_fallback_chain() -> None:
    renderer = Renderer()
    now = datetime(2026, 11, 24, 15, tzinfo=UTC)
    context = {
        "brand": "Acme", "name": "Ana", "order_id": "O1", "tz": "UTC", "now": now,
        "window": Window(start=now, end=now + timedelta(hours=2)), "help_text": "",
        "telegram_link": None, "tracking_url": None,
    }  # fmt: skip
    overrides = {
        "delivery_scheduled|*|fr": "FR brand: {{ name }}",
        "delivery_scheduled|*|en": "EN brand: {{ name }}",
        "delivery_scheduled|sms|en": "EN brand SMS: {{ name }}",
    }

    def text(locale: str, channel: str = "telegram", brand: dict[str, str] | None = None) -> str:
        chosen = overrides if brand is None else brand
        return renderer.render(
            "delivery_scheduled", channel, locale, context, overrides=chosen, fallback_locale="en"
        ).text

    assert text("fr") == "FR brand: Ana"  # brand, recipient's locale
    assert text("es") == "EN brand: Ana"  # brand, brand's default locale
    assert text("en", channel="sms") == "EN brand SMS: Ana"  # channel-specific first
    assert text("es", brand={}).startswith("Hola Ana")  # default, recipient's locale
    assert text("de", brand={}).startswith("Hi Ana")  # default, English


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # an extension character counts two
        ("{" * 81, "GSM-7", 2),
        ("é" * 70, "GSM-7", 1),  # é is in the basic GSM-7 table
        ("ő" * 70, "UCS-2", 1),
        ("ő" * 71, "UCS-2", 2),
        ("ő" * 134, "UCS-2", 2),
        ("ő" * 135, "UCS-2", 3),
        ("Your parcel is here 📦", "UCS-2", 1),  # an emoji forces UCS-2
        ("a" * 69 + "📦", "UCS-2", 2),  # ...and counts two UTF-16 units
    ],
)
def test_segment_counts(text: str, encoding: str, segments: int) -> None:
    info = sms_info(text)
    assert (info.encoding, info.segments) == (encoding, segments)
