"""The tracking page over HTTP: its link, its privacy rules, live updates, and page actions
going through the conversation engine (real Redis, the whole service on a socket)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.services import Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, eventually, post_event

LINK = re.compile(r"https?://[^\s/]+(/t/[A-Za-z0-9_-]{16})\b")


async def delivery(client: Client, delivery_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/deliveries/{delivery_id}", headers=DEMO_KEY)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def link_of(client: Client, delivery_id: str, message_type: str = "delivery_scheduled") -> str:
    """The tracking page's path, from the text of the delivery's message."""
    body = await delivery(client, delivery_id)
    texts = [m["text"] for m in body["messages"] if m["type"] == message_type]
    assert texts, body["messages"]
    found = LINK.search(texts[0])
    assert found, texts[0]
    return found.group(1)


async def brand_update(services: Services, **changes: Any) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(brand.model_copy(update=changes))


async def state(client: Client, path: str, **query: str) -> dict[str, Any]:
    resp = await client.get(f"{path}/state", params=query)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_the_first_message_carries_a_short_link_that_opens_the_page(client: Client) -> None:
    await post_event(client, f.delivery_created("d1"))
    path = await link_of(client, "d1")
    body = await delivery(client, "d1")
    sms = body["messages"][0]
    assert sms["text"].endswith(f"Track it: http://127.0.0.1:8080{path}")
    resp = await client.get(path)
    assert resp.status == 200
    html = await resp.text()
    assert "Parcelly" in html and "Scheduled" in html
    assert resp.headers["Cache-Control"] == "no-store, private"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Robots-Tag"].startswith("noindex")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    # The page, its script and style: well under 100 KB before any map.
    sizes = [len(await resp.read())]
    for asset in ("/t/static/tracking.js", "/t/static/tracking.css"):
        r = await client.get(asset)
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store, private"
        sizes.append(len(await r.read()))
    assert sum(sizes) < 100_000, sizes
