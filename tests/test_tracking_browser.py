"""The tracking page in a real browser (Debian Chromium via Playwright) on a phone-sized
screen, beside the sandbox that drives the demo day. With DOORSTEP_SCREENSHOTS=1 each
state is saved to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from bot.agents.accounts import Agent
from bot.app import create_app
from bot.config import Settings
from bot.devrun import free_port
from bot.services import SERVICES, Services
from tests.helpers import eventually
from tests.test_browser import CHROMIUM, HAVE_CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}


@dataclass
class Harness:
    base: str
    services: Services
    sandbox: Any
    browser: Any

    async def phone(self, url: str) -> Any:
        """A phone-sized tab on `url` (its own cookies, as another device would have)."""
        context = await self.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        tab = await context.new_page()
        await tab.goto(url)
        return tab

    async def link(self, row: int) -> str:
        """The tracking link in the first message on the phone of the sandbox's `row`."""
        from playwright.async_api import expect

        await self.sandbox.locator("#stops tbody tr").nth(row).click()
        anchor = self.sandbox.locator("#feed li.out a[href*='/t/']").first
        await expect(anchor).to_be_visible()
        return str(await anchor.get_attribute("href"))

    async def brand(self, **changes: Any) -> None:
        brand = await self.services.brands.get("demo")
        assert brand is not None
        await self.services.brands.save(brand.model_copy(update=changes))
        self.services.brands.forget("demo")


async def shot(tab: Any, name: str) -> None:
    """The page as the customer sees it, for the README (pngquant makes it small, if here)."""
    if os.environ.get("DOORSTEP_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"tracking-{name}.png"
        await tab.screenshot(path=str(path), full_page=True)
        if shutil.which("pngquant"):
            args = ["--force", "--ext", ".png", "64", str(path)]
            process = await asyncio.create_subprocess_exec("pngquant", *args)
            assert await process.wait() == 0


@contextlib.asynccontextmanager
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    if not HAVE_CHROMIUM:
        if os.environ.get("DOORSTEP_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required for the browser tests (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(dataclasses.replace(settings, public_base_url=base))
    server = TestServer(app, port=port)
    await server.start_server()
    # The same hour of the customers' day in every run (10:00 in New York, where the
    # demo's customers live), so that the day still has windows to offer.
    zone = ZoneInfo("America/New_York")
    now = datetime.now(zone)
    ten = datetime.combine(now.date() + timedelta(days=1), time(10), zone)
    await app[SERVICES].clock.advance(timedelta(minutes=int((ten - now).total_seconds() // 60)))
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            sandbox = await browser.new_page()
            await sandbox.goto(f"{base}/sandbox")
            await sandbox.click("#reset")
            from playwright.async_api import expect

            await expect(sandbox.locator("#stops tbody tr")).to_have_count(10)
            yield Harness(base, app[SERVICES], sandbox, browser)
            await browser.close()
    finally:
        await server.close()


@pytest.fixture
async def demo(redis: Redis, settings: Settings) -> AsyncIterator[Harness]:
    async with harness(settings) as h:
        yield h


def street_tile() -> bytes:
    """A 256 px map tile drawn here: blocks between white streets (a PNG, by hand)."""
    size, rows = 256, []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            street = x % 64 < 6 or y % 64 < 6
            park = 70 <= x < 122 and 134 <= y < 186
            row += bytes(
                (255, 255, 255) if street else (200, 226, 190) if park else (236, 232, 223)
            )
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def tiles() -> AsyncIterator[str]:
    """A tile server of our own (every tile the same drawn streets): no outside service."""
    app = web.Application()
    png = street_tile()

    async def tile(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    app.router.add_get("/{z}/{x}/{y}.png", tile)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/")).rstrip("/") + "/{z}/{x}/{y}.png"
    await server.close()


@pytest.fixture
async def demo_with_map(redis: Redis, settings: Settings, tiles: str) -> AsyncIterator[Harness]:
    async with harness(dataclasses.replace(settings, tile_url=tiles)) as h:
        yield h


async def messages(h: Harness, delivery_id: str) -> list[dict[str, Any]]:
    return await h.services.outbox.for_delivery("demo", delivery_id)


async def test_the_first_sms_link_opens_the_page_and_it_follows_the_route_live(
    demo: Harness,
) -> None:
    from playwright.async_api import expect

    url = await demo.link(2)  # Chloé Martin, who reads French
    assert url.startswith(f"{demo.base}/t/") and len(url.rsplit("/", 1)[1]) == 16
    page = await demo.phone(url)
    await expect(page.locator("#status-line")).to_have_text("Programmée")
    await expect(page.locator("#eta-line")).to_contain_text("Arrivée")
    await expect(page.locator("header img.logo")).to_have_attribute("alt", "Parcelly")
    await shot(page, "scheduled-fr")
    await page.evaluate("window.__sameDocument = true")

    await demo.sandbox.click("#dispatch")
    await expect(page.locator("#status-line")).to_have_text("En route")
    await expect(page.locator("#stops-line")).to_have_text("2 arrêts avant le vôtre")
    await expect(page.locator("#driver-line")).to_contain_text("Sam")
    await expect(page.locator("#schematic circle.stop")).to_have_count(2)
    before = await page.locator("#eta-line").inner_text()

    await demo.sandbox.click("#move")  # the driver moves on: no map yet without tiles
    await (
        demo.sandbox.locator("#stops tbody tr")
        .first.get_by_role("button", name="Delivered")
        .click()
    )
    await expect(page.locator("#stops-line")).to_have_text("1 arrêt avant le vôtre")
    await expect(page.locator("#schematic circle.stop")).to_have_count(1)

    await demo.sandbox.click("#delay")  # +30 minutes
    await expect(page.locator("#eta-line")).not_to_have_text(before)
    assert await page.evaluate("window.__sameDocument === true")  # never reloaded
    await shot(page, "on-its-way-fr")


async def test_picking_a_window_reschedules_through_the_route_and_tells_the_others(
    demo: Harness,
) -> None:
    from playwright.async_api import expect

    await demo.brand(eta_threshold_min=1)  # every customer whose ETA moves is told
    url = await demo.link(3)  # Dev Patel, English
    await demo.sandbox.click("#dispatch")
    page = await demo.phone(url)
    await expect(page.locator("#status-line")).to_have_text("On its way")
    await page.click("#act-reschedule summary")
    await page.click("#reschedule-show")
    offers = page.locator("#reschedule-offers button")
    await expect(offers.first).to_be_visible(timeout=15_000)
    label = await offers.last.inner_text()
    await offers.last.click()
    await expect(page.locator("#toast")).to_have_text(
        "Done. We've confirmed it in your messages too.", timeout=15_000
    )
    await expect(page.locator("#chat-log li.in").last).to_have_text(
        f"(on the tracking page) chose {label}"
    )
    # Once, wherever it lands: the dispatch message may reach the phone after it.
    await expect(
        page.locator("#chat-log li.out").filter(has_text="Done: your delivery is now booked for")
    ).to_have_count(1, timeout=15_000)
    # The same confirmation reached the customer's phone in the sandbox (the others'
    # "your ETA moved" go out in the same moment, in any order).
    booked = demo.sandbox.locator("#feed li.out").filter(has_text="now booked for")
    await expect(booked).to_have_count(1)
    run = await demo.services.redis.get(f"{demo.services.keys.sandbox()}:demo:run")
    others = [f"d-{run}-{n:02d}" for n in range(1, 11) if n != 4]
    told = await eventually(lambda: _told(demo, others), lambda found: bool(found), timeout=10)
    assert told  # the route was re-planned and the customers who moved were told
    await shot(page, "rescheduled-en")


async def _told(h: Harness, deliveries: list[str]) -> list[str]:
    return [d for d in deliveries if any(m["type"] == "eta_changed" for m in await messages(h, d))]


async def test_a_safe_place_set_on_the_page_reaches_the_driver(demo: Harness) -> None:
    from playwright.async_api import expect

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hooks", hook)
    server = TestServer(receiver)
    await server.start_server()
    try:
        await demo.brand(webhook_url=str(server.make_url("/hooks")))
        await demo.services.brands.set_signing_secret("demo")
        url = await demo.link(1)  # Ben Carter
        await demo.sandbox.click("#dispatch")
        page = await demo.phone(url)
        await page.click("#act-safe_place summary")
        await page.fill("#safe-place", "behind the blue side gate")
        await page.press("#safe-place", "Enter")
        # Through the inbox, the engine, the route and the outbox: a busy machine is slow.
        await expect(page.locator("#details-place")).to_have_text(
            "behind the blue side gate", timeout=15_000
        )
        # The confirmation, once; the dispatch message may reach the phone after it
        # (the two are sent apart), so not necessarily the last.
        await expect(
            page.locator("#chat-log li.out").filter(has_text="remember this")
        ).to_have_count(1, timeout=15_000)
        updated = await eventually(
            lambda: _payloads(received), lambda found: bool(found), timeout=20
        )
        stops = [s for s in updated[-1]["data"]["stops"] if s["safe_place"]]
        assert [s["safe_place"] for s in stops] == ["behind the blue side gate"]
        await shot(page, "safe-place-en")
    finally:
        await server.close()


async def _payloads(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in received if e["type"] == "route.updated"]


async def test_the_map_shows_the_driver_then_after_delivery_the_photo_and_no_map(
    demo_with_map: Harness,
) -> None:
    from playwright.async_api import expect

    demo = demo_with_map
    url = await demo.link(0)  # Ana García, Spanish, the first stop
    await demo.sandbox.click("#dispatch")
    await demo.sandbox.click("#move")
    page = await demo.phone(url)
    await expect(page.locator("#stops-line")).to_have_text("Eres la próxima parada")
    await expect(page.locator("#map.leaflet-container")).to_be_visible()
    await expect(page.locator("#map .leaflet-tile-loaded").first).to_be_attached(timeout=10_000)
    # The driver's position comes with the next live update after the move (a busy
    # machine takes seconds to deliver it).
    await expect(page.locator("#map path.map-driver")).to_have_count(1, timeout=15_000)
    await expect(page.locator("#map path.map-you")).to_have_count(1)
    await shot(page, "map-es")

    await (
        demo.sandbox.locator("#stops tbody tr")
        .first.get_by_role("button", name="Delivered")
        .click()
    )
    await expect(page.locator("#status-line")).to_have_text("Entregada")
    photo = page.locator("#photo")
    await expect(photo).to_be_visible()
    await expect(photo).to_have_attribute("src", f"{demo.base}/sandbox/static/parcel.svg")
    await page.wait_for_function("document.getElementById('photo').naturalWidth > 0")
    await expect(page.locator("#map")).to_be_hidden()
    await expect(page.locator("#progress")).to_be_hidden()
    await expect(page.locator(".leaflet-container")).to_have_count(0)
    await expect(page.locator("#act-rate")).to_be_visible()
    await shot(page, "delivered-es")


async def test_an_altered_revoked_or_expired_link_shows_a_clear_page(demo: Harness) -> None:
    from playwright.async_api import expect

    url = await demo.link(4)  # Emma Brooks
    altered = url[:-1] + ("a" if url[-1] != "a" else "b")
    page = await demo.phone(altered)
    await expect(page.locator("h1")).to_have_text("This link isn't valid")
    assert "Emma" not in await page.content()
    await shot(page, "invalid")

    agent = Agent(brand_id="demo", username="ops", name="Ops", role="admin")
    await demo.services.accounts.create(agent, "a-long-password-1")
    token = await demo.services.accounts.new_token(agent)
    run = await demo.services.redis.get(f"{demo.services.keys.sandbox()}:demo:run")
    resp = await page.request.post(
        f"{demo.base}/console/api/conversations/d-{run}-05/tracking/revoke",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.ok
    renewed = (await resp.json())["tracking_url"]
    await page.goto(url)
    await expect(page.locator("h1")).to_have_text("This tracking link was withdrawn")
    await page.goto(renewed)
    await expect(page.locator("#status-line")).to_have_text("Scheduled")

    await demo.brand(tracking_link_days=0)
    await demo.sandbox.click("#dispatch")
    await (
        demo.sandbox.locator("#stops tbody tr")
        .nth(4)
        .get_by_role("button", name="Delivered")
        .click()
    )
    # The open page hears of it and shows why there is nothing more to see.
    await expect(page.locator("h1")).to_have_text("This tracking link has expired")
    assert "parcel.svg" not in await page.content()


async def test_the_second_factor_is_asked_before_anything_personal(demo: Harness) -> None:
    from playwright.async_api import expect

    await demo.brand(tracking_factor="order")
    url = await demo.link(1)  # Ben Carter
    page = await demo.phone(url)
    await expect(page.locator("#verify")).to_be_visible()
    await expect(page.locator("#status-line")).to_have_text("Scheduled")
    for hidden in ("#details", "#chat", "#act-reschedule", "#act-safe_place"):
        await expect(page.locator(hidden)).to_be_hidden()
    assert "Ben" not in await page.content() and "Prospect" not in await page.content()
    await shot(page, "verify-en")
    await page.fill("#verify-answer", "PCL-NOPE-99")
    await page.click("#verify button")
    await expect(page.locator("#verify-error")).to_have_text(
        "That doesn't match. Please try again."
    )
    run = str(await demo.services.redis.get(f"{demo.services.keys.sandbox()}:demo:run"))
    await page.fill("#verify-answer", f"pcl-{run} 02")
    await page.click("#verify button")
    await expect(page.locator("#details-who")).to_contain_text("Ben Carter, 77 Prospect Pl")
    await expect(page.locator("#act-safe_place")).to_be_visible()
    await page.reload()  # the proof is kept (HttpOnly cookie on this page's path)
    await expect(page.locator("#details-who")).to_contain_text("Ben Carter")
