"""Template resource bombs, through the admin API: refused on save with the limit they
break, previewed without stalling the service, and a saved template that breaks a
limit on real data falls back to the default (the message still goes)."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.services import Services
from tests import factories as f
from tests.helpers import Client, eventually, post_event
from tests.test_brand_templates import SLOT, admin, save
from tests.test_inbound import phone_texts

# Each costs seconds of CPU or hundreds of MB in a plain sandbox; each is refused
# (before it runs) with the limit it would break.
MACRO_BOMB = (
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
)
# Every value within the size limits, each step costly: stopped by the CPU budget.
CPU_BOMB = "{% for i in range(1000) %}{{ ((range(1000)|list) * 9)|sort|sum }}{% endfor %}"
BOMBS = [
    ("{{ name * 60000000 }}", "repetition would make 240000000 characters"),
    ("{{ ([name] * 60000000)|length }}", "repetition would make 60000000"),
    ("{{ '{0:>300000000}'.format(name) }}", "width or precision 300000000"),
    ("{{ '{0:>{1}}'.format(name, 300000000) }}", "taken from an argument"),
    ("{{ '%0300000000d' % 1 }}", "width or precision 0300000000"),
    ("{{ '%0300000000d'|format(1) }}", "width or precision 0300000000"),
    ("{{ name.center(300000000) }}", "center width 300000000"),
    ("{{ name|center(300000000) }}", "width 300000000"),
    ("{{ (name|attr('rjust'))(300000000) }}", "rjust width 300000000"),
    ("{{ name.ljust(300000000) }}", "ljust width 300000000"),
    ("{{ order_id.zfill(300000000) }}", "zfill width 300000000"),
    ("{{ ('\t' * 50).expandtabs(100000) }}", "expandtabs width 100000"),
    ("{{ name|indent(300000000, true) }}", "width 300000000"),
    ("{{ now.strftime('%0300000000d') }}", "strftime"),
    ("{{ 2 ** 99999999 }}", "integer over 100 digits"),
    ("{{ (10 ** 90) * (10 ** 90) }}", "integer over 100 digits"),
    ("{{ lipsum(12000) }}", "lipsum over 5 paragraphs"),
    ("{% for i in range(10**6) %}x{% endfor %}", "range of 1000000 items"),
    (
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "loop iterations in all",
    ),
    (
        "{% set ns = namespace(s=name) %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "~ would make",
    ),
    (MACRO_BOMB, "too costly"),
    (CPU_BOMB, "too costly: more than 50 ms of CPU"),
    ("{{ " + "9" * 5000 + " }}", "longer than 4000 characters"),
    ("{{ " + "9" * 1900 + " * " + "9" * 1900 + " }}", "integer over 100 digits"),
    ("{{ ('a' * 1000)|replace('a', 'a' * 1000) }}", "replace would make"),
]


async def test_every_template_bomb_is_refused_on_save_with_its_reason(
    client: Client, services: Services
) -> None:
    """One service for all of them (each would stall a plain sandbox for seconds)."""
    headers = await admin(client, services)
    wrong = []
    for source, reason in BOMBS:
        resp = await save(client, headers, source)
        body = await resp.json()
        if resp.status != 400 or not any(reason in p["message"] for p in body["fields"]):
            wrong.append((source[:60], resp.status, body))
    assert wrong == []
    got = await (await client.get(f"{SLOT}/delivery_scheduled?channel=*&locale=en")).json()
    assert got["source"] is None and got["versions"] == []  # nothing went live


async def test_a_whatsapp_variable_bomb_is_refused_naming_the_variable(
    client: Client, services: Services
) -> None:
    headers = await admin(client, services)
    template = {"content_sid": "HX" + "0" * 32, "variables": {"1": "{{ name * 60000000 }}"}}
    resp = await client.put(
        "/console/api/admin/settings",
        json={"whatsapp_templates": {"delivery_scheduled": template}},
        headers=headers,
    )
    assert resp.status == 400
    (problem,) = (await resp.json())["fields"]
    assert problem["field"] == "whatsapp_templates.delivery_scheduled.variables.1"
    assert "repetition" in problem["message"]


async def test_a_canned_response_bomb_is_refused(client: Client, services: Services) -> None:
    headers = await admin(client, services)
    resp = await client.put(
        "/console/api/admin/canned/boom",
        json={"title": "Boom", "texts": {"en": "{{ '{0:>300000000}'.format(agent) }}"}},
        headers=headers,
    )
    assert resp.status == 400
    (problem,) = (await resp.json())["fields"]
    assert problem["field"] == "texts.en" and "300000000" in problem["message"]


async def test_previewing_a_cpu_bomb_answers_and_the_service_keeps_serving(
    client: Client, services: Services
) -> None:
    """Three locales of a template that would run for hours: each stops at its CPU
    budget in a worker thread, while the event loop goes on answering requests."""
    headers = await admin(client, services)
    preview = asyncio.ensure_future(
        client.post(
            "/console/api/admin/canned/preview",
            json={"texts": {"en": CPU_BOMB, "es": CPU_BOMB, "fr": CPU_BOMB}},
            headers=headers,
        )
    )
    served_meanwhile = 0
    while not preview.done():
        resp = await client.get("/healthz")
        assert resp.status == 200
        served_meanwhile += not preview.done()
    body: dict[str, Any] = await (await preview).json()
    assert body["ok"] is False
    assert {p["field"] for p in body["problems"]} == {"texts.en", "texts.es", "texts.fr"}
    assert all("ms of CPU" in p["message"] for p in body["problems"]), body
    assert served_meanwhile >= 3


async def test_a_saved_template_over_a_limit_on_real_data_falls_back_to_the_default(
    client: Client, services: Services
) -> None:
    """It passed on the sample delivery; on this customer's it would build a 400 MB
    string: the default template goes instead, and the message is not lost."""
    headers = await admin(client, services)
    source = (
        "{% if order_id == 'ORD-1042' %}Hi {{ name }}, {{ brand }} here."
        "{% else %}{{ name * 100000000 }}{% endif %}"
    )
    assert (await save(client, headers, source)).status == 201
    await post_event(client, f.delivery_created("d1"))
    (text,) = await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    assert text.startswith("Hi Ana, your Parcelly order ORD-d1 is scheduled for")
