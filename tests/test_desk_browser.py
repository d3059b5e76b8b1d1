"""An agent's day in a real browser: log in, get a conversation assigned, answer with a
canned response, watch the SLA clock, resolve, and see the customer's CSAT score.

With DOORSTEP_SCREENSHOTS=1 the main screens are written to docs/screenshots/desk-*.png
(the README's "Support agents" section shows them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import page, talking_page  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 1024, "height": 768}


async def shot(tab: Any, name: str) -> None:
    if os.environ.get("DOORSTEP_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        await tab.evaluate("document.getElementById('toast').hidden = true")
        await tab.screenshot(path=str(SHOTS / f"desk-{name}.png"))


async def console(phone: Any, viewport: dict[str, int], user: str = "agent") -> Any:
    """A console tab of its own (another browser profile), logged in."""
    context = await phone.context.browser.new_context(viewport=viewport)
    tab = await context.new_page()
    base = phone.url.rsplit("/sandbox", 1)[0]
    await tab.goto(f"{base}/console")
    await tab.fill("input[name=brand]", "demo")
    await tab.fill("input[name=username]", user)
    await tab.fill("input[name=password]", "parcelly-agent")
    await tab.click("#login button[type=submit]")
    return tab


async def customer_writes(phone: Any, row: int, text: str) -> None:
    await phone.locator("#stops tbody tr").nth(row).click()
    await phone.fill("#reply-text", text)
    await phone.press("#reply-text", "Enter")
    await phone.locator("#feed li.in", has_text=text).last.wait_for()


async def test_an_agents_day(talking_page: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    phone = talking_page
    await phone.click("#reset")
    await expect(phone.locator("#stops tbody tr")).to_have_count(10)
    await phone.click("#dispatch")
    await expect(phone.locator("#stops tbody tr").first).to_contain_text("out_for_delivery")
    await phone.click("#move")
    # Three customers ask for a person: Ben first, then Chloé and Dev.
    for row in (1, 2, 3):
        await customer_writes(phone, row, "can I talk to a real person please")
    out = phone.locator("#feed li.out")
    await expect(out.last).to_contain_text("within about 15 minutes")
    await phone.locator("#stops tbody tr").nth(1).click()  # Ben's phone from here on

    desk = await console(phone, DESKTOP)
    rows = desk.locator("#queue tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("Asked for a person")
    await expect(rows.first.locator(".badge")).to_contain_text("Reply")  # the SLA clock
    await shot(desk, "queue")

    # Dana says she is available: the oldest waiting conversation (Ben's) is hers, and
    # the console chimes.
    await desk.check("#available")
    ben = desk.locator("#queue tbody tr", has_text="Ben Carter")
    await expect(ben).to_contain_text("yours")
    await desk.wait_for_function(
        "window.doorstep.rung.some(r => r.title === 'A conversation is yours')"
    )
    await ben.click()
    await expect(desk.locator("#conv-state")).to_have_text("Held by you")
    await expect(desk.locator("#sla")).to_contain_text("First response")
    # The NLU's reading beside the message, in words.
    reading = desk.locator("#transcript li.in .reading").last
    await expect(reading).to_contain_text("Read as: asks for a person")
    # The route as customers and streets, Ben's stop marked, the driver placed.
    this_stop = desk.locator("#route li.this")
    await expect(this_stop).to_contain_text("Ben Carter")
    await expect(this_stop).to_contain_text("77 Prospect Pl")
    await expect(desk.locator("#route li.driver")).to_contain_text("Sam Rivera, last seen")
    await expect(this_stop.locator(".when")).to_have_text(re.compile(r"\d{1,2}:\d\d"))

    # A canned response: "/" in the reply box, a few letters, Enter; then Enter sends.
    await desk.keyboard.press("r")
    await desk.keyboard.type("/hel")
    menu = desk.locator("#canned-menu")
    await expect(menu).to_be_visible()
    await expect(menu.locator("[role=option]").first).to_contain_text("/hello")
    await shot(desk, "canned")
    await desk.keyboard.press("Enter")
    greeting = re.compile(r"^Hi Ben, this is Dana at Parcelly\. I'm looking at order PCL-")
    await expect(desk.locator("#reply-text")).to_have_value(greeting)
    await desk.keyboard.press("Enter")
    await expect(out.last).to_have_text(greeting, timeout=15_000)  # a loaded machine is slow
    await expect(desk.locator("#sla")).to_contain_text("First response: met at")
    await shot(desk, "conversation")

    # Resolved with the keyboard: the customer is asked for a score and gives a 5.
    await desk.keyboard.press("Escape")
    await desk.keyboard.press("e")
    await expect(desk.locator("#conv-state")).to_have_text("The bot is handling this conversation.")
    await phone.locator("#stops tbody tr").nth(1).click()
    question = out.last
    await expect(question).to_contain_text("How did we do?")
    await question.get_by_role("button", name="5").click()
    await expect(out.last).to_have_text("Thanks for your feedback!")

    await desk.click("#show-reports")
    scores = desk.locator("#csat-agents")
    await expect(scores).to_contain_text("Dana (demo)")
    await expect(scores).to_contain_text("5.00")
    await expect(scores).to_contain_text("100%")
    await expect(desk.locator("#csat-recent")).to_contain_text("★★★★★")
    await shot(desk, "reports")

    # Chloé writes again: her row is marked unread until Dana opens it.
    await desk.click("#show-desk")
    await customer_writes(phone, 2, "hello? is anyone there")
    chloe = desk.locator("#queue tbody tr", has_text="Chloé Martin")
    await expect(chloe).to_have_class(re.compile(r"\bunread\b"))
    await chloe.click()
    await expect(chloe).not_to_have_class(re.compile(r"\bunread\b"))

    # A tablet in landscape: queue and conversation, the delivery slides over.
    tablet = await console(phone, TABLET)
    await tablet.locator("#queue tbody tr", has_text="Chloé Martin").click()
    await expect(tablet.locator("#panel")).not_to_be_in_viewport()
    await tablet.click("#show-panel")
    await expect(tablet.locator("#panel")).to_be_in_viewport(ratio=1)  # slid all the way in
    await expect(tablet.locator("#route li.this")).to_contain_text("Chloé Martin")
    await shot(tablet, "tablet")


async def test_before_login_only_the_login_form_shows_and_the_console_speaks_spanish(
    page: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    context = await page.context.browser.new_context(viewport=DESKTOP, locale="es-ES")
    tab = await context.new_page()
    base = page.url.rsplit("/sandbox", 1)[0]
    await tab.goto(f"{base}/console")
    await expect(tab.locator("#login")).to_be_visible()
    await expect(tab.locator("#login button[type=submit]")).to_have_text("Entrar")
    for hidden in ("#app", "#queue", "#topbar"):
        await expect(tab.locator(hidden)).to_be_hidden()
    await tab.fill("input[name=brand]", "demo")
    await tab.fill("input[name=username]", "agent")
    await tab.fill("input[name=password]", "parcelly-agent")
    await tab.click("#login button[type=submit]")
    await expect(tab.locator("#login-box")).to_be_hidden()
    await expect(tab.locator("#queue-title")).to_have_text("Conversaciones")  # the browser's
    await tab.select_option("#ui-locale", "fr")  # the agent's own choice wins, and stays
    await expect(tab.locator("#queue-title")).to_have_text("Conversations")
    await expect(tab.locator("#show-reports")).to_have_text("Rapports")
    await tab.reload()
    await expect(tab.locator("#show-reports")).to_have_text("Rapports")
    await tab.select_option("#ui-locale", "")
    await expect(tab.locator("#show-reports")).to_have_text("Informes")
    await tab.select_option("#ui-locale", "en")
    await expect(tab.locator("#show-reports")).to_have_text("Reports")

    # An admin's desk settings: SLAs, capacity, split shifts, holidays.
    await tab.click("#show-admin")
    await tab.click("#admin-tabs [data-section=desk-settings]")
    await expect(tab.locator("#hours-mon")).to_have_value("07:00-12:30, 13:30-22:00")
    await tab.fill("#hours-sun", "")
    await tab.fill("#desk-first_response_min", "20")
    await tab.click("#desk-save")
    await expect(tab.locator("#desk-saved")).to_have_text("Saved.")
    await tab.reload()
    await tab.click("#admin-tabs [data-section=desk-settings]")
    await expect(tab.locator("#desk-first_response_min")).to_have_value("20")
    await expect(tab.locator("#hours-sun")).to_have_value("")
    await shot(tab, "settings")
    await tab.fill("#hours-mon", "09:00-12:00, 11:00-17:00")
    await tab.click("#desk-save")
    await expect(tab.locator("#desk-problems")).to_contain_text("mon: shifts overlap")
    await tab.click("#admin-tabs [data-section=canned]")
    await tab.locator("#canned-list li", has_text="/window").click()
    await expect(tab.locator("#canned-preview")).to_contain_text("es: Tu entrega está prevista")
    await shot(tab, "canned-editor")


async def test_keyboard_moves_through_the_queue(page: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    await page.click("#reset")
    await expect(page.locator("#stops tbody tr")).to_have_count(10)
    for row in (1, 2):  # no NLU here: every reply goes to a person
        await customer_writes(page, row, "hello")
    desk = await console(page, DESKTOP, user="agent2")
    await expect(desk.locator("#show-admin")).to_be_hidden()  # Lee is not an admin
    rows = desk.locator("#queue tbody tr")
    await expect(rows).to_have_count(2)
    await desk.keyboard.press("j")
    await expect(rows.nth(0)).to_have_attribute("aria-selected", "true")
    await expect(desk.locator("#conv-title")).to_contain_text("Ben Carter")
    await desk.keyboard.press("j")
    await expect(desk.locator("#conv-title")).to_contain_text("Chloé Martin")
    await desk.keyboard.press("k")
    await expect(desk.locator("#conv-title")).to_contain_text("Ben Carter")
    await desk.keyboard.press("c")
    await expect(desk.locator("#conv-state")).to_have_text("Held by you")
    await desk.keyboard.press("?")
    await expect(desk.locator("#shortcuts")).to_be_visible()
    await desk.keyboard.press("Escape")
    await expect(desk.locator("#shortcuts")).to_be_hidden()
    # Transfer it back to the queue from the menu.
    await desk.select_option("#transfer", "-queue-")
    await expect(desk.locator("#conv-state")).to_contain_text("Waiting for a person")
