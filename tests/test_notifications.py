"""From dispatch-system events to what each customer's phone shows (sandbox channel)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.services import SERVICES, Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, eventually, post_event

PHONES = {"d-en": "+12125550142", "d-es": "+34612345678", "d-fr": "+33612345678"}


async def feed(client: Client, phone: str) -> list[dict[str, Any]]:
    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    return await sandbox.feed(phone)


async def texts(client: Client, phone: str) -> list[str]:
    return [str(e["text"]) for e in await feed(client, phone)]


async def _three_customers(client: Client) -> None:
    for d, locale in (("d-en", "en"), ("d-es", "es"), ("d-fr", "fr")):
        status, _ = await post_event(client, f.delivery_created(d, locale=locale))
        assert status == 202
    for phone in PHONES.values():
        await eventually(lambda p=phone: feed(client, p), lambda x: len(x) == 1)


async def test_dispatch_reaches_each_phone_within_a_second_in_its_language(
    client: Client,
) -> None:
    await _three_customers(client)
    # A winter day ahead (a past window is never announced; winter keeps every zone's
    # offset fixed): 14:10 New York, 20:10 Madrid, 21:10 Paris.
    eta = datetime(datetime.now(UTC).year + 1, 1, 15, 19, 10, tzinfo=UTC)
    started = time.monotonic()
    await post_event(client, f.route_dispatched(list(PHONES), first_eta=eta, gap_min=60))
    en = await eventually(lambda: texts(client, PHONES["d-en"]), lambda x: len(x) == 2, 1.0)
    assert time.monotonic() - started < 1.0
    assert "out for delivery" in en[1]
    assert "1:40 – 2:40" in en[1].replace("\u2009", " ")
    es = await eventually(lambda: texts(client, PHONES["d-es"]), lambda x: len(x) == 2, 1.0)
    assert "ha salido a reparto" in es[1] and "14:40–15:40" in es[1]
    fr = await eventually(lambda: texts(client, PHONES["d-fr"]), lambda x: len(x) == 2, 1.0)
    assert "en cours de livraison" in fr[1] and "15:40 – 16:40" in fr[1].replace("\u2009", " ")


async def test_eta_change_is_told_only_past_the_threshold(client: Client) -> None:
    await _three_customers(client)
    eta = datetime.now(UTC) + timedelta(hours=1)
    await post_event(client, f.route_dispatched(["d-en"], first_eta=eta))
    await eventually(lambda: texts(client, PHONES["d-en"]), lambda x: len(x) == 2)

    _, small = await post_event(client, f.eta_changed("r1", {"d-en": eta + timedelta(minutes=10)}))
    assert small["messages"] == []
    _, big = await post_event(client, f.eta_changed("r1", {"d-en": eta + timedelta(minutes=30)}))
    assert len(big["messages"]) == 1
    en = await eventually(lambda: texts(client, PHONES["d-en"]), lambda x: len(x) == 3)
    assert "now expected" in en[2] and "before:" in en[2]
    # Compared with what the customer was last told, not with the last event: 10 + 10 min.
    _, drift = await post_event(client, f.eta_changed("r1", {"d-en": eta + timedelta(minutes=40)}))
    assert drift["messages"] == []


async def test_driver_nearby_tells_the_next_two_customers_once(client: Client) -> None:
    await _three_customers(client)
    await post_event(client, f.route_dispatched(list(PHONES)))
    _, first = await post_event(client, f.driver_position("r1", 40.675, -73.965))
    assert len(first["messages"]) == 2
    _, again = await post_event(client, f.driver_position("r1", 40.676, -73.966))
    assert again["messages"] == []
    en = await eventually(lambda: texts(client, PHONES["d-en"]), lambda x: len(x) == 3)
    assert en[2].startswith("Sam is 1 stop away, about")
    es = await eventually(lambda: texts(client, PHONES["d-es"]), lambda x: len(x) == 3)
    assert es[2].startswith("Sam está a 2 paradas")
    assert len(await texts(client, PHONES["d-fr"])) == 2


async def test_completing_a_stop_moves_the_next_customer_into_nearby(client: Client) -> None:
    await _three_customers(client)
    await post_event(client, f.route_dispatched(list(PHONES)))
    await post_event(client, f.driver_position("r1", 40.675, -73.965))
    _, done = await post_event(client, f.stop_completed("d-en"))
    kinds = [m["type"] for m in [await _msg(client, i) for i in done["messages"]]]
    assert kinds == ["delivered", "rating_request", "driver_nearby"]
    fr = await eventually(lambda: texts(client, PHONES["d-fr"]), lambda x: len(x) == 3)
    assert "est à 2 arrêts" in fr[2]


async def _msg(client: Client, message_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/messages/{message_id}", headers=DEMO_KEY)
    result: dict[str, Any] = await resp.json()
    return result


async def test_delivered_shows_the_photo_and_asks_for_a_rating_later(
    client: Client, services: Services
) -> None:
    await _three_customers(client)
    await post_event(client, f.route_dispatched(["d-en"]))
    _, done = await post_event(client, f.stop_completed("d-en"))
    entries = await eventually(lambda: feed(client, PHONES["d-en"]), lambda x: len(x) == 3)
    assert entries[2]["media"] == ["https://photos.example.com/pod/1.jpg"]
    assert entries[2]["text"].startswith("Your Parcelly order was delivered at")
    rating = await _msg(client, done["messages"][1])
    assert rating["type"] == "rating_request" and rating["status"] == "deferred"
    assert rating["due_at"] - time.time() > 29 * 60
    await services.clock.advance(timedelta(minutes=31))
    entries = await eventually(lambda: feed(client, PHONES["d-en"]), lambda x: len(x) == 4)
    assert "score from 1" in entries[3]["text"]


async def test_failed_delivery_says_why_and_what_to_do(client: Client) -> None:
    await _three_customers(client)
    await post_event(client, f.route_dispatched(["d-es"]))
    await post_event(client, f.stop_completed("d-es", "failed"))
    es = await eventually(lambda: texts(client, PHONES["d-es"]), lambda x: len(x) == 3)
    assert "no había nadie en casa" in es[2]
    assert "Responde con el día y la hora" in es[2]


async def test_late_eta_update_after_delivery_sends_nothing(client: Client) -> None:
    await _three_customers(client)
    eta = datetime.now(UTC) + timedelta(hours=1)
    await post_event(client, f.route_dispatched(["d-en"], first_eta=eta))
    await post_event(client, f.stop_completed("d-en"))
    _, late = await post_event(client, f.eta_changed("r1", {"d-en": eta + timedelta(hours=1)}))
    assert late["messages"] == []
