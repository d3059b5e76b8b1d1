"""Canned responses: written by admins, checked in the templates' sandbox, rendered in
the customer's language and zone, and sent as the agent's reply."""

from __future__ import annotations

from typing import Any

import pytest

from bot.base.brands import BrandSettings
from bot.services import Services
from tests import factories as f
from tests.helpers import Client, eventually, post_event
from tests.test_agents import add_agent, agent_session
from tests.test_inbound import phone_texts, reply

ADMIN_URL = "/console/api/admin/canned"
WHEN = {
    "en": "{{ name }}, it comes {{ window|day }}, {{ window|window }}. {{ agent }}",
    "es": "{{ name }}, llega {{ window|day }}, {{ window|window }}. {{ agent }}",
}


async def admin(client: Client, services: Services) -> dict[str, str]:
    await add_agent(services, "demo", "boss", role="admin")
    return await agent_session(client, "demo", "boss")


async def save(client: Client, headers: dict[str, str], shortcut: str, **body: Any) -> Any:
    return await client.put(f"{ADMIN_URL}/{shortcut}", json=body, headers=headers)


async def test_the_demo_brand_has_canned_responses_in_its_three_languages(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    listed = (await (await client.get("/console/api/canned", headers=headers)).json())["canned"]
    shortcuts = [c["shortcut"] for c in listed]
    assert {"hello", "window", "eta", "sorry", "bye"} <= set(shortcuts)
    assert all(set(c["texts"]) == {"en", "es", "fr"} for c in listed)


async def test_a_canned_response_renders_in_the_customers_language_and_zone(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    assert (await save(client, headers, "when", title="When", texts=WHEN)).status == 201
    await post_event(client, f.delivery_created("d1", locale="es"))
    await post_event(client, f.delivery_created("d2", locale="fr"))
    await post_event(client, f.delivery_created("d3", timezone="Europe/London"))
    url = "/console/api/conversations/{}/canned/when"
    spanish = await (await client.post(url.format("d1"), headers=headers)).json()
    # Spanish words and a 24-hour clock, in New York time: 12:00-16:00 there.
    assert spanish["text"] == "Ana, llega mañana, 12:00–16:00. Boss"
    # No French text: the brand's default (English), formatted as English.
    french = await (await client.post(url.format("d2"), headers=headers)).json()
    assert french["text"].startswith("Ana, it comes tomorrow, 12:00") and "PM" in french["text"]
    london = await (await client.post(url.format("d3"), headers=headers)).json()
    assert "12:00" in london["text"] and "4:00" in london["text"]  # their own zone

    resp = await client.post("/console/api/conversations/d1/canned/nope", headers=headers)
    assert resp.status == 404
    resp = await client.post("/console/api/conversations/zz/canned/when", headers=headers)
    assert resp.status == 404


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ name.__class__.__mro__ }}", "SecurityError"),
        ("{% for i in range(10**9) %}x{% endfor %}", "range of 1000000000 items"),
        ("{{ 'x' * 5000 }}", "characters (at most 1600)"),
        ("Your password is {{ password }}", "unknown variable 'password'"),
        ("Hi {{ name }}\n{% if %}", "line 2"),
    ],
)
async def test_a_canned_response_is_held_to_the_template_sandbox(
    client: Client, services: Services, text: str, problem: str
) -> None:
    headers = await admin(client, services)
    resp = await save(client, headers, "bad", title="Bad", texts={"en": text})
    assert resp.status == 400
    fields = (await resp.json())["fields"]
    assert any(problem in p["message"] and p["field"] == "texts.en" for p in fields), fields
    preview = await client.post(
        f"{ADMIN_URL}/preview", json={"texts": {"en": text}}, headers=headers
    )
    body = await preview.json()
    assert body["ok"] is False and any(problem in p["message"] for p in body["problems"])
    listed = (await (await client.get("/console/api/canned")).json())["canned"]
    assert "bad" not in [c["shortcut"] for c in listed]


async def test_what_a_canned_response_must_have(client: Client, services: Services) -> None:
    headers = await admin(client, services)
    resp = await save(client, headers, "nope", title="No English", texts={"es": "Hola"})
    assert resp.status == 400 and "default language" in (await resp.json())["fields"][0]["message"]
    resp = await save(client, headers, "de", title="German", texts={"en": "Hi", "de": "Hallo"})
    assert (await resp.json())["fields"] == [
        {"field": "texts.de", "message": "'de' is not one of the brand's locales"}
    ]
    resp = await save(client, headers, "Bad Shortcut!", title="x", texts={"en": "Hi"})
    assert resp.status == 400 and (await resp.json())["fields"][0]["field"] == "shortcut"
    preview = await client.post(f"{ADMIN_URL}/preview", json={"texts": WHEN}, headers=headers)
    assert (await preview.json())["texts"]["es"].startswith("Alex, llega")
    # Only admins write them; agents read and use them.
    await add_agent(services, "demo", "sam")
    sam = await agent_session(client, "demo", "sam")
    assert (await save(client, sam, "when", title="When", texts=WHEN)).status == 403
    assert (await client.delete(f"{ADMIN_URL}/hello", headers=sam)).status == 403
    assert (await client.get("/console/api/canned")).status == 200


async def test_an_agent_answers_with_a_canned_response(client: Client, services: Services) -> None:
    headers = await admin(client, services)
    await post_event(client, f.delivery_created("d1"))
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    assert await reply(client, "can I talk to someone") == 202
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    await client.post("/console/api/conversations/d1/claim", headers=headers)
    rendered = await client.post("/console/api/conversations/d1/canned/hello", headers=headers)
    text = (await rendered.json())["text"]
    assert text == "Hi Ana, this is Boss at Parcelly. I'm looking at order ORD-d1 now."
    resp = await client.post(
        "/console/api/conversations/d1/reply", json={"text": text}, headers=headers
    )
    assert resp.status == 202
    assert (await eventually(lambda: phone_texts(client), lambda x: len(x) == 3))[-1] == text
    assert (await client.delete(f"{ADMIN_URL}/hello", headers=headers)).status == 200
    assert (await client.delete(f"{ADMIN_URL}/hello", headers=headers)).status == 404


async def test_another_brand_neither_sees_nor_uses_them(client: Client, services: Services) -> None:
    await services.brands.save(BrandSettings(brand_id="other", display_name="Other"))
    await add_agent(services, "other", "eve")
    await post_event(client, f.delivery_created("d1"))
    eve = await agent_session(client, "other", "eve")
    assert (await (await client.get("/console/api/canned")).json())["canned"] == []
    resp = await client.post("/console/api/conversations/d1/canned/hello", headers=eve)
    assert resp.status == 404
