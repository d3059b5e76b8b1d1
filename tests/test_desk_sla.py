"""SLAs of real conversations: the queue's clock, breaches counted once in /metrics and
sent to the brand's webhook, paused outside business hours, settled on resolution."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.base.desk_settings import WEEKDAYS, BusinessHours
from bot.services import Services
from tests.helpers import Client
from tests.test_agents import add_agent, agent_session
from tests.test_assign import escalate, queue


async def desk(services: Services, **changes: object) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    update = {"auto_assign": False, **changes}
    await services.brands.save(
        brand.model_copy(
            update={
                "desk": brand.desk.model_copy(update=update),
                "webhook_url": "http://127.0.0.1:9/hook",
            }
        )
    )


async def webhooks(services: Services, kind: str) -> list[dict[str, object]]:
    found = []
    async for key in services.redis.scan_iter(match=services.keys.message("*")):
        message = await services.redis.hgetall(key)
        if message.get("type") == kind:
            found.append(json.loads(message["text"]))
    return found


async def test_a_missed_first_response_is_shown_counted_once_and_told(
    client: Client, services: Services
) -> None:
    await desk(services, business_hours=None, first_response_min=5, resolution_min=30)
    await add_agent(services, "demo", "sam")
    sam = await agent_session(client, "demo", "sam")
    await escalate(client, 1)
    (row,) = await queue(client)
    assert row["sla"]["first_response"]["remaining_s"] in range(295, 301)
    assert row["sla"]["breached"] == [] and not row["sla"]["paused"]

    await services.clock.advance(timedelta(minutes=6))
    (row,) = await queue(client)
    assert row["sla"]["breached"] == ["first_response"]
    assert row["sla"]["first_response"]["remaining_s"] in range(-61, -55)
    assert await services.sla_watch.check() == 1
    assert await services.sla_watch.check() == 0  # once, however many passes
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_sla_breaches_total{brand="demo",target="first_response"} 1.0' in metrics
    (told,) = await webhooks(services, "sla.breached")
    assert told["data"]["target"] == "first_response"  # type: ignore[index]
    assert told["data"]["delivery_id"] == "d1"  # type: ignore[index]

    # Answered late, resolved later still: the resolution breach is counted on resolving
    # (no pass saw it), and the outcome is in the reports.
    await client.post("/console/api/conversations/d1/claim", headers=sam)
    await client.post("/console/api/conversations/d1/reply", json={"text": "hi"}, headers=sam)
    await services.clock.advance(timedelta(minutes=30))
    resp = await client.post(
        "/console/api/conversations/d1/hand-back", json={"csat": False}, headers=sam
    )
    assert (await resp.json())["sla"]["breached"] == ["first_response", "resolution"]
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_sla_breaches_total{brand="demo",target="resolution"} 1.0' in metrics
    assert 'doorstep_sla_breaches_total{brand="demo",target="first_response"} 1.0' in metrics
    report = await (await client.get("/console/api/desk/reports")).json()
    assert report["sla"]["resolved"] == 1 and report["sla"]["resolution_met"] == 0


async def test_the_clock_stops_outside_business_hours(client: Client, services: Services) -> None:
    today = services.clock.now().astimezone(ZoneInfo("America/New_York")).date()
    other = WEEKDAYS[(today.weekday() + 2) % 7]  # open only on the day after tomorrow
    hours = BusinessHours.model_validate({"weekly": {other: [{"start": "09:00", "end": "17:00"}]}})
    await desk(services, business_hours=hours, first_response_min=5)
    await add_agent(services, "demo", "sam")
    await agent_session(client, "demo", "sam")
    await escalate(client, 1)
    await services.clock.advance(timedelta(hours=3))
    (row,) = await queue(client)
    assert row["sla"]["paused"] and row["sla"]["breached"] == []
    assert row["sla"]["first_response"]["remaining_s"] == 300
    resumes = row["sla"]["resumes_at"]
    assert resumes.startswith(str(today + timedelta(days=2)))
    assert await services.sla_watch.check() == 0


async def test_a_breach_noticed_as_the_conversation_is_resolved_does_not_bring_it_back(
    client: Client, services: Services
) -> None:
    await desk(services, business_hours=None, first_response_min=1)
    await add_agent(services, "demo", "sam")
    sam = await agent_session(client, "demo", "sam")
    await escalate(client, 1)
    await client.post("/console/api/conversations/d1/claim", headers=sam)
    await client.post("/console/api/conversations/d1/hand-back", json={}, headers=sam)
    # A pass that read the hand-off just before it went marks it just after.
    assert not await services.desk.mark("demo/d1", "breached_first_response", 1.0)
    assert not await services.redis.exists(services.keys.handoff("demo/d1"))
    assert await queue(client) == []
