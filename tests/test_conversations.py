"""The scripted-conversation suite: every story in tests/stories/ against the whole service.

Real Redis, the real Rasa server on the trained model, the sandbox channel: a story's
customer lines go in through the sandbox phone's webhook and its expectations are
checked on what that phone received and on what the service stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from redis.asyncio import Redis

from bot.app import create_app
from bot.base.store import address_hash
from bot.config import Settings
from bot.nlu.model import RasaServer
from bot.services import SERVICES, Services
from tests import factories as f
from tests.conftest import start_client
from tests.helpers import Client, eventually, post_event

STORIES_DIR = Path(__file__).parent / "stories"
ZONE = ZoneInfo("America/New_York")
START = datetime(2026, 12, 1, 10, 0, tzinfo=ZONE)  # a Tuesday, 10:00 local
CUSTOMER = "d2"


def phone(delivery_id: str) -> str:
    return f"+1212555010{delivery_id[1:]}"


def _stories() -> list[Any]:
    out = []
    for path in sorted(STORIES_DIR.glob("*.yml")):
        for story in yaml.safe_load(path.read_text()):
            out.append(pytest.param(story, id=f"{path.stem}: {story['name']}"))
    return out


@pytest.fixture
async def bot(redis: Redis, settings: Settings, rasa: RasaServer) -> AsyncIterator[Client]:
    app = create_app(dataclasses.replace(settings, nlu_url=rasa.url, nlu_token=rasa.token))
    client = await start_client(app)
    yield client
    await client.close()


async def texts(client: Client, delivery_id: str = CUSTOMER) -> list[dict[str, Any]]:
    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    return [e for e in await sandbox.feed(phone(delivery_id)) if e["dir"] == "out"]


def plain(text: str) -> str:
    """Lower case with Babel's thin and narrow no-break spaces as plain spaces."""
    return text.lower().replace("\u2009", " ").replace("\u202f", " ").replace("\xa0", " ")


def _local(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return (START + timedelta(days=days)).replace(hour=hour, minute=minute)


async def _created(client: Client, story: dict[str, Any], ids: list[str]) -> None:
    for d in ids:
        event = f.delivery_created(
            d,
            phone=phone(d),
            locale=story.get("locale", "en") if d == CUSTOMER else "en",
            window=(_local(12), _local(16)),
        )
        event["data"]["items"] = [
            {"sku": f"S{i}", "name": name, "size": 1}
            for i, name in enumerate(story.get("items", ["Chair"]))
        ]
        status, body = await post_event(client, event)
        assert status == 202, body


def _route(ids: list[str], first_eta: datetime) -> dict[str, Any]:
    """Stops further from the depot one after another: the order a planner would pick."""
    event = f.route_dispatched(ids, first_eta=first_eta)
    for n, stop in enumerate(event["data"]["stops"]):
        stop["location"] = {"lat": 40.68 + n * 0.004, "lon": -73.95 - n * 0.004}
    return event


def _tight_route(services: Services) -> dict[str, Any]:
    """Stops 3 and 4 are ~30 km away with evening windows: d2 cannot go after 20:00."""
    event = _route(["d1", "d2", "d3", "d4"], services.clock.now())
    far = {"lat": 40.98, "lon": -73.97}
    for stop, (start, end) in zip(
        event["data"]["stops"][2:], ((20, 20.5), (20.5, 21)), strict=True
    ):
        stop["location"] = far
        stop["window"] = {
            "start": _local(int(start), int(start % 1 * 60)).isoformat(),
            "end": _local(int(end) if end < 21 else 21, int(end % 1 * 60)).isoformat(),
        }
        stop["planned_eta"] = _local(int(start), int(start % 1 * 60)).isoformat()
    return event


async def setup_story(client: Client, story: dict[str, Any]) -> None:
    services = client.app[SERVICES]
    start = START
    if "at" in story:  # another local time that Tuesday, "HH:MM"
        hour, minute = map(int, story["at"].split(":"))
        start = START.replace(hour=hour, minute=minute)
    await services.clock.advance(start - services.clock.now())
    # The scheduler re-reads the shared offset every 50 ms: let a read that started
    # before the move land before any time is taken from the clock.
    await asyncio.sleep(0.15)
    await services.clock.refresh()
    assert abs((services.clock.now() - start).total_seconds()) < 5
    kind = story.get("setup", "created")
    ids = ["d1", "d2", "d3", "d4"] if kind == "dispatched" else [CUSTOMER]
    await _created(client, story, ids)
    expected = 1
    if kind == "dispatched":
        event = (
            _tight_route(services)
            if story.get("tight")
            else _route(ids, services.clock.now() + timedelta(minutes=30))
        )
        status, body = await post_event(client, event)
        assert status == 202, body
        expected = 2
    if kind == "delivered":
        event = f.stop_completed(CUSTOMER, completed_at=services.clock.now().isoformat())
        status, body = await post_event(client, event)
        assert status == 202, body
        expected = 2
    await eventually(lambda: texts(client), lambda x: len(x) >= expected, timeout=5)


async def send(client: Client, text: str, photo: bool) -> None:
    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    body: dict[str, Any] = {"text": text}
    if photo:
        body["media_urls"] = ["https://photos.example.com/customer/damage.jpg"]
    resp = await client.post(
        f"/sandbox/api/phones/{phone(CUSTOMER)}/messages",
        json=body,
        headers={"X-Sandbox-Token": sandbox.token},
    )
    assert resp.status == 202, await resp.text()


def _hhmm(window: Any) -> str:
    start = window.start.astimezone(ZONE).strftime("%H:%M")
    return f"{start}-{window.end.astimezone(ZONE).strftime('%H:%M')}"


async def check_effects(client: Client, step: dict[str, Any], told_before: dict[str, int]) -> None:
    services: Services = client.app[SERVICES]
    delivery = await services.store.get_delivery("demo", CUSTOMER)
    assert delivery is not None
    for field, value in (step.get("delivery") or {}).items():
        assert getattr(delivery, field) == value, f"delivery.{field}"
    if "window" in step:
        assert _hhmm(delivery.promised_window) == step["window"]
    if "route" in step or "pickup" in step:
        route = await services.store.get_route("demo", "r1")
        assert route is not None
        remaining = route.remaining()
        if "route" in step:
            assert [s.delivery_id for s in remaining if s.kind == "delivery"] == step["route"]
        if step.get("pickup"):
            assert any(s.kind == "pickup" and s.delivery_id == CUSTOMER for s in remaining)
    for other in step.get("told", []):
        got = await eventually(
            lambda o=other: texts(client, o), lambda x, o=other: len(x) > told_before[o]
        )
        assert "update" in got[-1]["text"], got[-1]["text"]
    key = services.keys.handoff(f"demo/{CUSTOMER}")
    if "escalated" in step:
        assert await services.redis.hget(key, "reason") == step["escalated"]
    if "case" in step:
        case = await services.redis.hgetall(services.keys.case("demo", CUSTOMER))
        assert case["kind"] == step["case"]["kind"]
        assert len(json.loads(case["customer_photos"])) == step["case"]["photos"]
        assert json.loads(case["delivery_photos"]), "the driver's photo is in the case"
    if "remembered" in step:
        saved = await services.redis.get(services.keys.saved_place("demo", address_hash(delivery)))
        assert saved == step["remembered"]


async def next_delivery(client: Client, step: dict[str, Any]) -> None:
    """Another order to the same address (d5): what the service knows of it at once."""
    status, body = await post_event(client, f.delivery_created("d5", phone=phone("d5")))
    assert status == 202, body
    delivery = await client.app[SERVICES].store.get_delivery("demo", "d5")
    assert delivery is not None
    for field, value in step["delivery"].items():
        assert getattr(delivery, field) == value, f"next delivery: {field}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("story", _stories())
async def test_story(bot: Client, story: dict[str, Any]) -> None:
    await setup_story(bot, story)
    for n, step in enumerate(story["steps"], 1):
        if step.get("next_delivery"):
            await next_delivery(bot, step)
            continue
        before = len(await texts(bot))
        told_before = {d: len(await texts(bot, d)) for d in ("d1", "d3", "d4")}
        await send(bot, step["customer"], bool(step.get("photo")))
        expected = step.get("bot", [])
        if expected:
            got = await eventually(
                lambda: texts(bot), lambda x, b=before, e=expected: len(x) >= b + len(e), timeout=15
            )
        await asyncio.sleep(0.4)  # nothing more than expected may follow
        got = (await texts(bot))[before:]
        said = [m["text"] for m in got]
        where = f"step {n} ({step['customer']!r}): got {said}"
        assert len(got) == len(expected), where
        for message, parts in zip(said, expected, strict=True):
            for part in [parts] if isinstance(parts, str) else parts:
                assert part.lower() in plain(message), where
        if "buttons" in step:
            assert len(got[-1]["choices"]) == step["buttons"], where
        await check_effects(bot, step, told_before)
