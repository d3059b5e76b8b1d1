"""The sandbox page in a real browser (headless Debian Chromium driven by Playwright)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.devrun import free_port
from bot.nlu.model import RasaServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@contextlib.asynccontextmanager
async def sandbox_page(settings: Settings) -> AsyncIterator[Any]:
    """The sandbox page of a service on a known port (so photo URLs resolve)."""
    if not HAVE_CHROMIUM:
        if os.environ.get("DOORSTEP_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required for the browser tests (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = TestServer(create_app(dataclasses.replace(settings, public_base_url=base)), port=port)
    await server.start_server()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            tab = await browser.new_page()
            await tab.goto(f"{base}/sandbox")
            yield tab
            await browser.close()
    finally:
        await server.close()


@pytest.fixture
async def page(redis: Redis, settings: Settings) -> AsyncIterator[Any]:
    async with sandbox_page(settings) as tab:
        yield tab


@pytest.fixture
async def talking_page(redis: Redis, settings: Settings, rasa: RasaServer) -> AsyncIterator[Any]:
    """The sandbox with the real NLU server: the bot answers what is typed."""
    async with sandbox_page(
        dataclasses.replace(settings, nlu_url=rasa.url, nlu_token=rasa.token)
    ) as tab:
        yield tab


async def test_dispatch_delivery_and_reply_in_the_sandbox(page: Any) -> None:
    from playwright.async_api import expect

    await page.click("#reset")
    await expect(page.locator("#stops tbody tr")).to_have_count(10)
    # The first customer's phone is selected; she is Spanish-speaking.
    await expect(page.locator("#phone-name")).to_have_text("Ana García")
    await expect(page.locator("#feed li.out")).to_have_count(1)

    started = time.monotonic()
    await page.click("#dispatch")
    await expect(page.locator("#feed li.out").nth(1)).to_contain_text(
        "ha salido a reparto", timeout=1000
    )
    assert time.monotonic() - started < 1.5

    await page.locator("#stops tbody tr").first.get_by_role("button", name="Delivered").click()
    photo = page.locator("#feed li.out img")
    await expect(photo).to_have_count(1)
    await expect(photo).to_have_attribute("src", re.compile(r"/sandbox/static/parcel\.svg$"))
    # Loaded (a busy machine may still be fetching it when it appears), and not broken.
    loaded = (
        "img => img.complete ? img.naturalWidth"
        " : new Promise(r => img.onload = () => r(img.naturalWidth))"
    )
    assert await photo.evaluate(loaded) > 0
    await expect(page.locator("#stops tbody tr").first).to_contain_text("delivered")

    await page.fill("#reply-text", "STOP")
    await page.press("#reply-text", "Enter")
    await expect(page.locator("#feed li.in")).to_contain_text("STOP")
    await expect(page.locator("#feed li.out").last).to_contain_text("No recibirás más mensajes")


async def test_quiet_hours_show_a_deferred_message(page: Any) -> None:
    from playwright.async_api import expect

    await page.click("#reset")
    await expect(page.locator("#stops tbody tr")).to_have_count(10)
    await page.click("#time-controls summary")
    await page.click("#quiet-now")
    await page.click("#dispatch")
    await expect(page.locator("#stops tbody tr").first).to_contain_text(
        "out_for_delivery: deferred until"
    )
    await page.click("#clock-12h")
    # The panel polls every 2 s; the outdated message is marked, not sent late.
    await expect(page.locator("#stops tbody tr").last).to_contain_text(
        "out_for_delivery: superseded", timeout=10_000
    )


async def test_a_customer_types_a_return_and_a_damage_report(talking_page: Any) -> None:
    from playwright.async_api import expect

    page = talking_page
    await page.click("#reset")
    await expect(page.locator("#stops tbody tr")).to_have_count(10)
    await page.click("#dispatch")
    await page.locator("#stops tbody tr").nth(1).click()  # Ben Carter: a lamp and bulbs
    await expect(page.locator("#phone-name")).to_have_text("Ben Carter")
    out = page.locator("#feed li.out")
    await expect(out).to_have_count(2)

    await page.fill("#reply-text", "I need to return something")
    await page.press("#reply-text", "Enter")
    await expect(out.nth(2)).to_contain_text("Which item")
    await out.nth(2).get_by_role("button", name="Desk lamp").click()
    await expect(out.nth(3)).to_contain_text("We can collect it", timeout=10_000)
    offers = out.nth(3).locator(".choices button")
    await expect(offers).not_to_have_count(0)
    first = await offers.first.text_content()
    await offers.first.click()
    await expect(out.nth(4)).to_contain_text("collect the Desk lamp", timeout=10_000)
    assert first and first.split(",")[-1].strip()[:4] in await out.nth(4).text_content()

    await page.fill("#reply-text", "the box was crushed and the bulbs are broken")
    await page.press("#reply-text", "Enter")
    await expect(out.nth(5)).to_contain_text("send a photo")
    await page.fill("#reply-text", "here you go")
    await page.click("#reply-photo")
    sent = page.locator("#feed li.in").last
    await expect(sent.locator("img")).to_have_count(1)
    await expect(out.nth(6)).to_contain_text("Thanks for the photo")


async def test_an_agent_takes_over_replies_and_hands_back(talking_page: Any, redis: Redis) -> None:
    from playwright.async_api import expect

    from bot.agents.accounts import AccountStore, Agent
    from bot.base.brands import BrandSettings, BrandStore
    from bot.base.keys import Keys

    phone = talking_page
    await phone.click("#reset")
    await expect(phone.locator("#stops tbody tr")).to_have_count(10)
    await phone.locator("#stops tbody tr").nth(1).click()  # Ben Carter, English
    out = phone.locator("#feed li.out")
    await expect(out).to_have_count(1)
    await phone.fill("#reply-text", "can I talk to a real person please")
    await phone.press("#reply-text", "Enter")
    await expect(out.nth(1)).to_contain_text("within about 15 minutes")

    browser = phone.context.browser
    console = await (await browser.new_context()).new_page()
    base = phone.url.rsplit("/sandbox", 1)[0]
    await console.goto(f"{base}/console")
    await console.fill("input[name=brand]", "demo")
    await console.fill("input[name=username]", "agent")
    await console.fill("input[name=password]", "parcelly-agent")
    await console.click("#login button[type=submit]")
    row = console.locator("#queue tbody tr", has_text="Ben Carter")
    await expect(row).to_contain_text("Asked for a person")
    await console.fill("#queue-search", "nobody by that name")
    await expect(console.locator("#queue tbody tr")).to_have_count(0)
    await expect(console.locator("#queue-count")).to_have_text("Nothing matches.")
    await console.fill("#queue-search", "carter")
    await expect(console.locator("#queue tbody tr")).to_have_count(1)
    await expect(console.locator("#queue-count")).to_have_text("1–1 of 1")
    await expect(console.locator("#queue-next")).to_be_disabled()
    delivery_id = await row.get_attribute("data-delivery")
    await row.click()
    await expect(console.locator("#conv-state")).to_contain_text("Waiting for a person")
    await console.click("#claim")
    await expect(console.locator("#conv-state")).to_contain_text("Held by you")
    await console.fill("#reply-text", "Hi Ben, Dana here. Your lamp is on the van.")
    await console.press("#reply-text", "Enter")
    await expect(out.nth(2)).to_have_text("Hi Ben, Dana here. Your lamp is on the van.")
    await expect(console.locator("#transcript")).to_contain_text("Dana here")

    await console.click("#hand-back")
    await expect(console.locator("#conv-state")).to_contain_text("The bot is handling")
    await expect(out.nth(3)).to_contain_text("How did we do?")  # the CSAT question
    await phone.fill("#reply-text", "where is my parcel?")
    await phone.press("#reply-text", "Enter")
    await expect(out.nth(4)).to_contain_text("booked for")

    # An agent of another brand gets nothing for that delivery, even by URL.
    keys = Keys()  # the default prefix, as the app under test uses
    await BrandStore(redis, keys).save(BrandSettings(brand_id="rival", display_name="Rival"))
    rival = Agent(brand_id="rival", username="eve", name="Eve")
    await AccountStore(redis, keys).create(rival, "rival-password-1")
    other = await (await browser.new_context()).new_page()
    await other.goto(f"{base}/console")
    await other.fill("input[name=brand]", "rival")
    await other.fill("input[name=username]", "eve")
    await other.fill("input[name=password]", "rival-password-1")
    await other.click("#login button[type=submit]")
    await expect(other.locator("#who")).to_contain_text("Eve")
    await other.goto(f"{base}/console#d={delivery_id}")
    await other.reload()
    await expect(other.locator("#conv-error")).to_have_text("No such conversation for your brand.")
    await expect(other.locator("#queue tbody tr")).to_have_count(0)
    await expect(other.locator("#queue-count")).to_have_text("Nobody is waiting.")


async def test_a_brand_edits_a_template_and_the_next_message_uses_it(page: Any) -> None:
    from playwright.async_api import expect

    base = page.url.rsplit("/sandbox", 1)[0]
    browser = page.context.browser
    console = await (await browser.new_context()).new_page()
    await console.goto(f"{base}/console")
    await console.fill("input[name=username]", "agent")
    await console.fill("input[name=brand]", "demo")
    await console.fill("input[name=password]", "parcelly-agent")
    await console.click("#login button[type=submit]")
    await console.click("#show-admin")
    await expect(console.locator("#tpl-type")).to_have_value("delivery_scheduled")
    await expect(console.locator("#tpl-sms")).to_contain_text("segment")
    await console.fill("#tpl-source", "Parcelly: {{ name }}, see you {{ window|day }}! 📦")
    await expect(console.locator("#tpl-text")).to_contain_text("Parcelly: Alex, see you")
    await expect(console.locator("#tpl-sms")).to_contain_text("UCS-2")
    await expect(console.locator("#tpl-sms")).to_contain_text("1 segment,")
    await console.fill("#tpl-source", "Parcelly: {{ name }}, see you {{ window|day }}! {{ oops }}")
    await expect(console.locator("#tpl-problems")).to_contain_text("unknown variable 'oops'")
    await console.fill("#tpl-source", "Parcelly: {{ name }}, see you {{ window|day }}!")
    await expect(console.locator("#tpl-sms")).to_contain_text("GSM-7")
    await console.click("#tpl-save")
    await expect(console.locator("#tpl-saved")).to_have_text("Saved: version 1 is live.")

    await page.click("#reset")
    await expect(page.locator("#stops tbody tr")).to_have_count(10)
    await page.locator("#stops tbody tr").nth(1).click()
    await expect(page.locator("#feed li.out").first).to_contain_text("Parcelly: Ben, see you")
