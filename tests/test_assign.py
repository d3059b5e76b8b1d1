"""Automatic assignment over HTTP: availability, capacity, fewest open first, presence,
transfers, and races between replicas and between agents."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.services import SERVICES, Services
from tests import factories as f
from tests.conftest import start_client
from tests.helpers import Client, eventually, post_event
from tests.test_agents import add_agent, agent_session
from tests.test_inbound import reply


def phone(n: int) -> str:
    return f"+1212555{n:04d}"


async def escalate(client: Client, *numbers: int) -> None:
    """Customers d<n> ask for a person (no NLU in this app: every reply goes to one)."""
    services: Services = client.app[SERVICES]
    for n in numbers:
        await post_event(client, f.delivery_created(f"d{n}", phone=phone(n)))
        assert await reply(client, "can I talk to someone", phone(n)) == 202
        conversation = f"demo/d{n}"
        await eventually(
            lambda c=conversation: services.redis.exists(services.keys.handoff(c)), bool
        )


async def holders(services: Services) -> dict[str, str]:
    """delivery id -> agent, as the hand-offs say (the truth the console shows)."""
    found = {}
    for n in range(1, 40):
        handoff = await services.redis.hgetall(services.keys.handoff(f"demo/d{n}"))
        if handoff.get("state") == "held":
            found[f"d{n}"] = handoff["agent"]
    return found


async def queue(client: Client, **params: str) -> list[dict[str, Any]]:
    resp = await client.get("/console/api/queue", params=params)
    assert resp.status == 200
    return list((await resp.json())["queue"])


async def available(client: Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await client.put("/console/api/desk/me", json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_waiting_conversations_go_to_the_least_busy_agent_under_capacity(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await add_agent(services, "demo", "kim")
    kim = await agent_session(client, "demo", "kim")
    await available(client, kim, available=True, capacity=2)
    sam = await agent_session(client, "demo", "sam")
    me = await available(client, sam, available=True, capacity=1)
    assert me["available"] and me["capacity"] == 1
    await escalate(client, 1, 2, 3, 4)
    # Oldest first: kim (a tie at 0 goes by name), then sam (0 against 1), then kim;
    # the fourth waits: kim holds 2 of 2 and sam 1 of 1.
    given = await eventually(lambda: holders(services), lambda h: len(h) == 3)
    assert given == {"d1": "kim", "d2": "sam", "d3": "kim"}
    await asyncio.sleep(2.5)  # a pass of the background job later, still the same
    assert await holders(services) == given
    (row,) = await queue(client, state="waiting")
    assert row["delivery_id"] == "d4"
    mine = await queue(client, state="mine")  # sam's session is the last one opened
    assert [r["delivery_id"] for r in mine] == ["d2"] and mine[0]["assigned"] == "auto"
    view = await (await client.get("/console/api/conversations/d2")).json()
    assert view["transcript"][-1]["event"] == "assigned"

    # Sam resolves his: the room he got back goes to d4 at once.
    resp = await client.post("/console/api/conversations/d2/hand-back", json={}, headers=sam)
    assert resp.status == 200
    assert (await holders(services)).get("d4") == "sam"
    roster = (await (await client.get("/console/api/desk/agents")).json())["agents"]
    by_name = {a["username"]: a for a in roster}
    assert by_name["kim"]["open"] == 2 and by_name["sam"]["open"] == 1
    assert by_name["agent"]["available"] is False  # the demo's admin never said so


async def test_an_agent_away_or_with_the_console_closed_is_not_given_anything(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    sam = await agent_session(client, "demo", "sam")
    await available(client, sam, available=False)
    await escalate(client, 1)
    await asyncio.sleep(2.5)
    assert await holders(services) == {}
    await available(client, sam, available=True)
    assert await holders(services) == {"d1": "sam"}  # at once, not at the next pass

    # The console stops calling in (a closed laptop): after 90 s nothing more is given.
    await services.clock.advance(timedelta(seconds=120))
    await escalate(client, 2)
    await asyncio.sleep(2.5)
    assert "d2" not in await holders(services)
    assert (await client.post("/console/api/desk/heartbeat", headers=sam)).status == 200
    assert (await eventually(lambda: holders(services), lambda h: "d2" in h))["d2"] == "sam"
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_desk_assignments_total{brand="demo",how="auto"} 2.0' in metrics


async def test_availability_changes_are_checked(client: Client, services: Services) -> None:
    await add_agent(services, "demo", "sam")
    sam = await agent_session(client, "demo", "sam")
    for body, field in (({"capacity": 0}, "capacity"), ({"locale": "de"}, "locale")):
        resp = await client.put("/console/api/desk/me", json=body, headers=sam)
        assert resp.status == 400, body
        assert [f["field"] for f in (await resp.json())["fields"]] == [field]
    resp = await client.put("/console/api/desk/me", json={"mood": "great"}, headers=sam)
    assert resp.status == 400
    me = await available(client, sam, locale="es")
    assert me["profile"] == {"capacity": None, "locale": "es"} and me["capacity"] == 3


async def test_a_conversation_is_transferred_to_a_colleague_or_back_to_the_queue(
    client: Client, services: Services
) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(
        brand.model_copy(update={"desk": brand.desk.model_copy(update={"auto_assign": False})})
    )
    await add_agent(services, "demo", "sam")
    await add_agent(services, "demo", "kim")
    await escalate(client, 1, 2)
    kim = await agent_session(client, "demo", "kim")
    for n in (1, 2):
        assert (await client.post(f"/console/api/conversations/d{n}/claim", headers=kim)).ok
    url = "/console/api/conversations/d1/transfer"
    resp = await client.post(url, json={"to": "nobody"}, headers=kim)
    assert resp.status == 400 and (await resp.json())["fields"][0]["field"] == "to"
    assert (await client.post(url, json={"to": "sam"}, headers=kim)).status == 200
    assert await holders(services) == {"d1": "sam", "d2": "kim"}
    # Kim no longer holds d1: she cannot move it again, nor reply on it.
    assert (await client.post(url, json={"to": None}, headers=kim)).status == 403
    resp = await client.post(
        "/console/api/conversations/d1/reply", json={"text": "hi"}, headers=kim
    )
    assert resp.status == 409

    sam = await agent_session(client, "demo", "sam")
    assert (await client.post(url, json={"to": None}, headers=sam)).status == 200
    (row,) = await queue(client, state="waiting")
    assert row["delivery_id"] == "d1" and row["agent"] is None
    view = await (await client.get("/console/api/conversations/d1")).json()
    assert [e.get("event") for e in view["transcript"][-2:]] == ["transferred", "returned"]

    # End of kim's shift: an admin moves everything she holds back to the queue.
    resp = await client.post("/console/api/desk/agents/kim/transfer", json={}, headers=sam)
    assert resp.status == 403  # not an admin, not his own
    await add_agent(services, "demo", "boss", role="admin")
    admin = await agent_session(client, "demo", "boss")
    resp = await client.post("/console/api/desk/agents/kim/transfer", json={}, headers=admin)
    assert (await resp.json()) == {"moved": 1, "to": None}
    assert await holders(services) == {}
    assert len(await queue(client, state="waiting")) == 2


async def test_two_replicas_assigning_at_once_never_double_book_or_overfill(
    redis: Redis, settings: Settings
) -> None:
    # Two processes against one Redis, their passes run by hand at the same moments.
    a = await start_client(create_app(settings, workers=False))
    b = await start_client(create_app(settings, workers=False))
    try:
        services_a: Services = a.app[SERVICES]
        services_b: Services = b.app[SERVICES]
        for name in ("ann", "bob", "cat"):
            await add_agent(services_a, "demo", name)
            await services_a.assigner.set_available("demo", name, True)
        await escalate(a, *range(1, 13))
        brand = await services_a.brands.get("demo")
        assert brand is not None
        # Meanwhile an agent claims two by hand (a claim may go over capacity: a person
        # chose it), racing the passes.
        await add_agent(services_a, "demo", "dee")
        dee = await agent_session(b, "demo", "dee")
        results = await asyncio.gather(
            services_a.assigner.assign_brand(brand),
            services_b.assigner.assign_brand(brand),
            services_a.assigner.assign_brand(brand),
            services_b.assigner.assign_brand(brand),
            b.post("/console/api/conversations/d1/claim", headers=dee),
            b.post("/console/api/conversations/d2/claim", headers=dee),
        )
        given = [pair for r in results[:4] for pair in r]  # type: ignore[union-attr]
        # Each conversation given at most once, by one of the passes.
        assert len({c for c, _ in given}) == len(given)
        held = await holders(services_a)
        counts: dict[str, int] = {}
        for agent in held.values():
            counts[agent] = counts.get(agent, 0) + 1
        # Three agents of capacity 3 (the brand's default) are full, and no more.
        assert {k: v for k, v in counts.items() if k != "dee"} == {"ann": 3, "bob": 3, "cat": 3}
        claims = [r.status for r in results[4:]]  # type: ignore[union-attr]
        assert counts.get("dee", 0) == claims.count(200)
        assert len(held) == 9 + counts.get("dee", 0)
        # What the desk counts against each agent is exactly what the hand-offs say.
        recorded = await redis.hgetall(services_a.keys.desk_holders("demo"))
        assert {c.partition("/")[2]: u for c, u in recorded.items()} == held
        waiting = await redis.zrange(services_a.keys.agent_queue("demo"), 0, -1)
        assert len(waiting) + len(held) == 12
        assert not {w.partition("/")[2] for w in waiting} & set(held)
    finally:
        await a.close()
        await b.close()


async def test_a_conversation_is_unread_until_the_agent_opens_it(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await agent_session(client, "demo", "sam")
    await escalate(client, 1)
    (row,) = await queue(client)
    assert row["unread"] is True
    assert (await client.get("/console/api/desk/conversations/d1")).status == 200
    (row,) = await queue(client)
    assert row["unread"] is False  # the bot's own messages after it are not news
    assert await reply(client, "hello? anyone?", phone(1)) == 202

    async def customer_lines() -> int:
        entries = await services.store.transcript("demo", "d1")
        return sum(1 for e in entries if '"dir": "in"' in e)

    await eventually(customer_lines, lambda n: n == 2)
    (row,) = await queue(client)
    assert row["unread"] is True
