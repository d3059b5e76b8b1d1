"""Quiet hours: deferred to their end in the customer's zone, never dropped, never late."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.base.brands import HoursRange
from bot.messaging.quiet import release_time
from bot.services import Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, eventually, post_event

NY = ZoneInfo("America/New_York")
NIGHT = HoursRange(start=time(21), end=time(8))


@pytest.mark.parametrize(
    ("local", "expected_local"),
    [
        (datetime(2026, 11, 24, 22, 30), datetime(2026, 11, 25, 8, 0)),
        (datetime(2026, 11, 24, 3, 0), datetime(2026, 11, 24, 8, 0)),
        (datetime(2026, 11, 24, 21, 0), datetime(2026, 11, 25, 8, 0)),
        (datetime(2026, 11, 24, 8, 0), datetime(2026, 11, 24, 8, 0)),
        (datetime(2026, 11, 24, 12, 0), datetime(2026, 11, 24, 12, 0)),
    ],
    ids=["evening", "small-hours", "at-start", "at-end", "daytime"],
)
def test_release_time_in_local_time(local: datetime, expected_local: datetime) -> None:
    due = local.replace(tzinfo=NY).astimezone(UTC)
    assert release_time(due, "America/New_York", NIGHT) == expected_local.replace(
        tzinfo=NY
    ).astimezone(UTC)


def test_quiet_period_across_the_autumn_clock_change_ends_at_local_eight() -> None:
    # US clocks go back at 02:00 on 2026-11-01: the night is 12 hours long, not 11.
    due = datetime(2026, 10, 31, 23, 0, tzinfo=NY)
    released = release_time(due, "America/New_York", NIGHT)
    assert released == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert released.astimezone(NY).hour == 8


def test_daytime_quiet_period_that_does_not_wrap() -> None:
    lunch = HoursRange(start=time(12), end=time(13, 30))
    due = datetime(2026, 11, 24, 12, 15, tzinfo=NY)
    assert release_time(due, "America/New_York", lunch) == datetime(2026, 11, 24, 13, 30, tzinfo=NY)


def test_no_quiet_hours_means_now() -> None:
    due = datetime(2026, 11, 24, 23, 0, tzinfo=NY)
    assert release_time(due, "America/New_York", None) == due


async def _quiet_now(services: Services) -> datetime:
    """Make the demo brand quiet from a minute ago for two hours; return the end (UTC)."""
    local = services.clock.now().astimezone(NY)
    start = (local - timedelta(minutes=1)).replace(second=0, microsecond=0)
    end = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(
        brand.model_copy(update={"quiet_hours": HoursRange(start=start.time(), end=end.time())})
    )
    return end.astimezone(UTC)


async def _feed(client: Client, phone: str) -> list[dict[str, object]]:
    from bot.services import SERVICES

    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    return await sandbox.feed(phone)


async def test_message_due_in_quiet_hours_waits_until_they_end(
    client: Client, services: Services
) -> None:
    quiet_end = await _quiet_now(services)
    _, body = await post_event(client, f.delivery_created("d1"))
    message = await services.outbox.get(body["messages"][0])
    assert message is not None
    assert message["status"] == "deferred"
    assert float(message["due_at"]) == pytest.approx(quiet_end.timestamp(), abs=1)
    await services.outbox.move_due()
    assert await _feed(client, "+12125550142") == []

    await services.clock.advance(timedelta(hours=2, minutes=1))
    feed = await eventually(lambda: _feed(client, "+12125550142"), lambda x: len(x) == 1)
    assert "ORD-d1" in str(feed[0]["text"])
    resp = await client.get(f"/v1/messages/{body['messages'][0]}", headers=DEMO_KEY)
    assert (await resp.json())["status"] == "delivered"


async def test_outdated_eta_message_is_not_sent_late(client: Client, services: Services) -> None:
    await post_event(client, f.delivery_created("d1"))
    await eventually(lambda: _feed(client, "+12125550142"), lambda x: len(x) == 1)
    await _quiet_now(services)
    first_eta = datetime.now(UTC) + timedelta(minutes=40)
    _, dispatched = await post_event(client, f.route_dispatched(["d1"], first_eta=first_eta))
    _, changed = await post_event(
        client, f.eta_changed("r1", {"d1": first_eta + timedelta(minutes=45)})
    )
    assert len(changed["messages"]) == 1

    await services.clock.advance(timedelta(hours=2, minutes=1))
    old = await eventually(
        lambda: services.outbox.get(dispatched["messages"][0]),
        lambda m: m is not None and m["status"] == "superseded",
    )
    assert old is not None
    new = await services.outbox.get(changed["messages"][0])
    assert new is not None
    # The new ETA window ended before quiet hours did: it is outdated too, so nothing is sent.
    assert new["status"] == "superseded" and new["error"] == "outdated"
    feed = await _feed(client, "+12125550142")
    assert [e["text"] for e in feed if "out for delivery" in str(e["text"])] == []


async def test_newer_eta_replaces_a_deferred_one(client: Client, services: Services) -> None:
    await post_event(client, f.delivery_created("d1"))
    await eventually(lambda: _feed(client, "+12125550142"), lambda x: len(x) == 1)
    await _quiet_now(services)
    eta = datetime.now(UTC) + timedelta(hours=5)
    _, dispatched = await post_event(client, f.route_dispatched(["d1"], first_eta=eta))
    _, changed = await post_event(client, f.eta_changed("r1", {"d1": eta + timedelta(minutes=30)}))

    await services.clock.advance(timedelta(hours=2, minutes=1))
    feed = await eventually(lambda: _feed(client, "+12125550142"), lambda x: len(x) == 2)
    assert "now expected" in str(feed[1]["text"])
    old = await services.outbox.get(dispatched["messages"][0])
    assert old is not None and old["status"] == "superseded"
    assert old["error"] == f"superseded by {changed['messages'][0]}"
