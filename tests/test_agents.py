"""The agent desk over HTTP: logins, roles, tenant isolation, claims, silence, alerts."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientSession
from redis.asyncio import Redis

from bot.agents.accounts import Agent
from bot.app import create_app
from bot.base.brands import BrandSettings
from bot.config import Settings
from bot.services import SERVICES, Services
from tests import factories as f
from tests.conftest import start_client
from tests.helpers import Client, eventually, post_event
from tests.test_inbound import phone_texts, reply

# Every test here runs on standalone Redis, on Sentinel and on Cluster.
pytestmark = pytest.mark.all_topologies

PASSWORD = "correct-horse-battery"


async def agent_session(client: Client, brand: str, username: str) -> dict[str, str]:
    """Log in through the form; the headers a console page would send afterwards."""
    resp = await client.post(
        "/console/login",
        data={"brand": brand, "username": username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert resp.status == 302 and resp.headers["Location"] == "/console"
    cookie = resp.cookies["doorstep_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    me = await (await client.get("/console/api/me")).json()
    return {"X-CSRF-Token": me["csrf"]}


async def add_agent(services: Services, brand: str, username: str, role: str = "agent") -> Agent:
    agent = Agent(brand_id=brand, username=username, name=username.title(), role=role)  # type: ignore[arg-type]
    await services.accounts.create(agent, PASSWORD)
    return agent


async def escalated(client: Client) -> None:
    """d1's customer asks for a person (no NLU in this app: every reply escalates)."""
    await post_event(client, f.delivery_created("d1"))
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    assert await reply(client, "can I talk to someone") == 202
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)


async def test_login_rejects_a_wrong_password_and_needs_a_session(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    resp = await client.post(
        "/console/login",
        data={"brand": "demo", "username": "sam", "password": "wrong-password!"},
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/console?error=login"
    assert (await client.get("/console/api/queue")).status == 401


async def test_a_login_posted_from_another_site_is_refused(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    form = {"brand": "demo", "username": "sam", "password": PASSWORD}
    resp = await client.post(
        "/console/login",
        data=form,
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert resp.status == 403 and "doorstep_session" not in resp.cookies
    assert (await resp.json())["error"] == "origin"
    own = f"http://{client.server.host}:{client.server.port}"
    resp = await client.post(
        "/console/login", data=form, headers={"Origin": own}, allow_redirects=False
    )
    assert resp.status == 302 and "doorstep_session" in resp.cookies


async def test_the_queue_shows_the_reason_and_the_customer_is_told_when(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await escalated(client)
    told = (await phone_texts(client))[-1]
    assert "within about 15 minutes" in told
    await agent_session(client, "demo", "sam")
    (row,) = (await (await client.get("/console/api/queue")).json())["queue"]
    assert row["delivery_id"] == "d1" and row["reason"] == "nlu_unavailable"
    assert row["state"] == "waiting" and row["waiting_s"] >= 0


async def test_the_queue_is_searched_and_paged(client: Client, services: Services) -> None:
    await add_agent(services, "demo", "sam")
    names = ["Ana Lopez", "Ben Carter", "Chloe Dubois", "Dev Patel", "Emma Stone"]
    for n, name in enumerate(names, 1):
        phone = f"+1212555014{n}"
        event = f.delivery_created(f"d{n}", phone=phone)
        event["data"]["customer"]["name"] = name
        await post_event(client, event)
        await eventually(lambda p=phone: phone_texts(client, p), lambda x: len(x) == 1)
        assert await reply(client, "can I talk to someone", phone) == 202
        await eventually(lambda p=phone: phone_texts(client, p), lambda x: len(x) == 2)
    headers = await agent_session(client, "demo", "sam")
    resp = await client.post("/console/api/conversations/d2/claim", headers=headers)
    assert resp.status == 200

    async def page(**params: str | int) -> tuple[list[str], int]:
        resp = await client.get("/console/api/queue", params=params)
        assert resp.status == 200
        body = await resp.json()
        return [row["customer"] for row in body["queue"]], body["total"]

    # Waiting oldest first, then held; pages of two.
    assert await page(limit=2) == (["Ana Lopez", "Chloe Dubois"], 5)
    assert await page(limit=2, offset=2) == (["Dev Patel", "Emma Stone"], 5)
    assert await page(limit=2, offset=4) == (["Ben Carter"], 5)
    assert await page(state="held") == (["Ben Carter"], 1)
    assert await page(state="waiting", limit=1, offset=3) == (["Emma Stone"], 4)
    # Search by name, order, or the agent holding it, in any case.
    assert await page(search="PATEL") == (["Dev Patel"], 1)
    assert await page(search="ord-d3") == (["Chloe Dubois"], 1)
    assert await page(search="sam") == (["Ben Carter"], 1)
    assert await page(search="PATEL", state="held") == ([], 0)
    assert await page(search="nobody by that name") == ([], 0)

    resp = await client.get("/console/api/queue", params={"limit": 0, "state": "lost"})
    assert resp.status == 400
    fields = {f["field"] for f in (await resp.json())["fields"]}
    assert fields == {"limit", "state"}


async def test_a_change_without_the_csrf_token_is_refused(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await escalated(client)
    headers = await agent_session(client, "demo", "sam")
    resp = await client.post("/console/api/conversations/d1/claim")
    assert resp.status == 403
    resp = await client.post("/console/api/conversations/d1/claim", headers=headers)
    assert resp.status == 200


async def test_two_claims_one_winner(
    redis: Redis, settings: Settings, client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await add_agent(services, "demo", "kim")
    await escalated(client)
    # Two agents, two browsers (separate cookie jars), claiming at the same moment.
    other = await start_client(create_app(settings, workers=False))
    try:
        sam = await agent_session(client, "demo", "sam")
        kim = await agent_session(other, "demo", "kim")
        a, b = await asyncio.gather(
            client.post("/console/api/conversations/d1/claim", headers=sam),
            other.post("/console/api/conversations/d1/claim", headers=kim),
        )
        assert sorted([a.status, b.status]) == [200, 409]
        loser = b if b.status == 409 else a
        assert "already claimed by" in (await loser.json())["detail"]
    finally:
        await other.close()


async def test_while_held_the_bot_is_silent_then_answers_after_hand_back(
    redis: Redis, settings: Settings, rasa: Any
) -> None:
    app = create_app(dataclasses.replace(settings, nlu_url=rasa.url, nlu_token=rasa.token))
    client = await start_client(app)
    try:
        services: Services = client.app[SERVICES]
        await add_agent(services, "demo", "sam")
        await post_event(client, f.delivery_created("d1"))
        await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
        await reply(client, "can I talk to a real person please")
        await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
        headers = await agent_session(client, "demo", "sam")
        await client.post("/console/api/conversations/d1/claim", headers=headers)
        await reply(client, "where is my parcel?")
        await asyncio.sleep(0.5)
        assert len(await phone_texts(client)) == 2  # silence from the bot
        view = await (await client.get("/console/api/conversations/d1")).json()
        nlu = [e for e in view["transcript"] if e["dir"] == "nlu"]
        assert nlu[-1]["intent"] == "ask_eta"  # still read, for the agent
        resp = await client.post(
            "/console/api/conversations/d1/reply", json={"text": "Hi, it's Sam."}, headers=headers
        )
        assert resp.status == 202
        texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 3)
        assert texts[-1] == "Hi, it's Sam."
        resp = await client.post("/console/api/conversations/d1/hand-back", headers=headers)
        assert resp.status == 200
        texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 4)
        assert "How did we do?" in texts[-1]  # the CSAT question
        await reply(client, "where is my parcel?")
        texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 5)
        assert "booked for" in texts[-1]
    finally:
        await client.close()


async def test_only_the_holder_replies_and_notes_stay_internal(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await escalated(client)
    headers = await agent_session(client, "demo", "sam")
    resp = await client.post(
        "/console/api/conversations/d1/reply", json={"text": "hello"}, headers=headers
    )
    assert resp.status == 409  # not claimed yet
    await client.post("/console/api/conversations/d1/claim", headers=headers)
    resp = await client.post(
        "/console/api/conversations/d1/notes", json={"text": "asked twice"}, headers=headers
    )
    assert resp.status == 201
    resp = await client.post("/console/api/conversations/d1/reply", json={}, headers=headers)
    assert resp.status == 400 and (await resp.json())["fields"][0]["field"] == "text"
    await asyncio.sleep(0.2)
    assert all("asked twice" not in t for t in await phone_texts(client))


async def test_an_agent_of_one_brand_cannot_see_or_touch_another_brands(
    client: Client, services: Services
) -> None:
    await services.brands.save(BrandSettings(brand_id="other", display_name="Other"))
    await add_agent(services, "other", "eve")
    await escalated(client)
    headers = await agent_session(client, "other", "eve")
    assert (await client.get("/console/api/conversations/d1")).status == 404
    resp = await client.post("/console/api/conversations/d1/claim", headers=headers)
    assert resp.status == 404
    assert (await (await client.get("/console/api/queue")).json())["queue"] == []


async def test_roles_and_api_tokens(client: Client, services: Services) -> None:
    await add_agent(services, "demo", "sam")
    await add_agent(services, "demo", "boss", role="admin")
    headers = await agent_session(client, "demo", "sam")
    new = {"username": "lee", "name": "Lee", "password": PASSWORD}
    resp = await client.post("/console/api/agents", json=new, headers=headers)
    assert resp.status == 403
    headers = await agent_session(client, "demo", "boss")
    resp = await client.post(
        "/console/api/agents", json={**new, "password": "short"}, headers=headers
    )
    assert resp.status == 400 and (await resp.json())["fields"][0]["field"] == "password"
    assert (await client.post("/console/api/agents", json=new, headers=headers)).status == 201
    token = (await (await client.post("/console/api/tokens", headers=headers)).json())["token"]
    async with ClientSession() as integration:  # no cookie, no CSRF: a bearer token
        url = client.make_url("/console/api/queue")
        resp = await integration.get(url, headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200
        resp = await integration.get(url, headers={"Authorization": "Bearer dsa_forged"})
        assert resp.status == 401


async def test_an_escalation_waiting_too_long_is_counted_and_announced_once(
    client: Client, services: Services
) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(
        brand.model_copy(
            update={"webhook_url": "http://127.0.0.1:9/hook", "escalation_limit_min": 1}
        )
    )
    await escalated(client)
    assert await services.desk.alert_overdue() == 0
    await services.clock.advance(timedelta(minutes=2))
    assert await services.desk.alert_overdue() == 1
    assert await services.desk.alert_overdue() == 0  # once
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_escalations_overdue{brand="demo"} 1.0' in metrics
    alerts = []
    async for key in services.redis.scan_iter(match=services.keys.message_pattern()):
        message = await services.redis.hgetall(key)
        if message.get("type") == "escalation.overdue":
            alerts.append(json.loads(message["text"]))
    (alert,) = alerts
    assert alert["data"]["delivery_id"] == "d1" and alert["data"]["limit_min"] == 1


async def test_an_agent_uses_the_bots_operations(client: Client, services: Services) -> None:
    from zoneinfo import ZoneInfo

    await add_agent(services, "demo", "sam")
    await escalated(client)
    headers = await agent_session(client, "demo", "sam")
    await client.post("/console/api/conversations/d1/claim", headers=headers)
    ops = "/console/api/conversations/d1/operations"
    tomorrow = (
        services.clock.now().astimezone(ZoneInfo("America/New_York")) + timedelta(days=1)
    ).date()
    resp = await client.post(f"{ops}/windows", json={"day": tomorrow.isoformat()}, headers=headers)
    windows = (await resp.json())["windows"]
    assert len(windows) == 3 and windows[0]["start"].startswith(f"{tomorrow}T08:00")
    resp = await client.post(f"{ops}/reschedule", json={"window": windows[1]}, headers=headers)
    assert resp.status == 200
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 3)
    assert texts[-1].startswith("Done: your delivery is now booked for tomorrow, 10:00")
    delivery = await services.store.get_delivery("demo", "d1")
    assert (
        delivery is not None and delivery.promised_window.start.isoformat() == windows[1]["start"]
    )
    resp = await client.post(f"{ops}/safe_place", json={"place": "in the porch"}, headers=headers)
    assert resp.status == 200
    delivery = await services.store.get_delivery("demo", "d1")
    assert delivery is not None and delivery.safe_place == "in the porch"
    resp = await client.post(
        f"{ops}/return_pickup", json={"item": "Item 0", "window": windows[2]}, headers=headers
    )
    assert resp.status == 200
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 4)
    assert "collect the Item 0 tomorrow" in texts[-1]
    resp = await client.post(f"{ops}/fly", json={}, headers=headers)
    assert resp.status == 404
