"""CSAT: the question after an agent resolves, the answer read as this conversation's
score (per agent, per reason), and the WhatsApp template outside the 24-hour window."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.nlu.model import RasaServer
from bot.replies.conversation.choices import score
from bot.services import SERVICES, Services
from tests import factories as f
from tests.conftest import start_client
from tests.fake_providers import FakeTwilio
from tests.helpers import Client, eventually, post_event
from tests.test_agents import add_agent, agent_session
from tests.test_inbound import phone_texts, reply
from tests.test_twilio import PHONE, app, fake, inbound, sms

__all__ = ["app", "fake"]  # fixtures of the Twilio tests, used here


@pytest.fixture
async def talking(redis: Redis, settings: Settings, rasa: RasaServer) -> AsyncIterator[Client]:
    """The service with the real NLU server, so the bot reads what customers write."""
    client = await start_client(
        create_app(dataclasses.replace(settings, nlu_url=rasa.url, nlu_token=rasa.token))
    )
    yield client
    await client.close()


async def held_by_sam(client: Client, delivery_id: str = "d1", **event: Any) -> dict[str, str]:
    services: Services = client.app[SERVICES]
    await add_agent(services, "demo", "sam")
    await post_event(client, f.delivery_created(delivery_id, **event))
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    await reply(client, "can I talk to a real person please")
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    headers = await agent_session(client, "demo", "sam")
    resp = await client.post(f"/console/api/conversations/{delivery_id}/claim", headers=headers)
    assert resp.status == 200
    return headers


async def feed(client: Client) -> list[dict[str, Any]]:
    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    return [e for e in await sandbox.feed("+12125550142") if e["dir"] == "out"]


async def test_resolving_asks_for_a_score_and_the_answer_is_this_conversations_csat(
    talking: Client,
) -> None:
    client = talking
    services: Services = client.app[SERVICES]
    headers = await held_by_sam(client)
    resp = await client.post("/console/api/conversations/d1/hand-back", json={}, headers=headers)
    assert resp.status == 200 and (await resp.json())["csat_message"]
    asked = (await eventually(lambda: feed(client), lambda x: len(x) == 3))[-1]
    assert asked["text"] == (
        "Thanks for talking to Sam at Parcelly. How did we do? "
        "Reply with a score from 1 (poor) to 5 (great)."
    )
    assert asked["choices"] == ["1", "2", "3", "4", "5"]  # buttons on the sandbox phone

    # Something else first: answered as usual, and the question stays open.
    await reply(client, "where is my parcel?")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 4)
    assert "booked for" in texts[-1]
    await reply(client, "5, Sam was great")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 5)
    assert texts[-1] == "Thanks for your feedback!"
    delivery = await services.store.get_delivery("demo", "d1")
    assert delivery is not None and delivery.rating is None  # not a delivery rating

    report = await (await client.get("/console/api/desk/reports")).json()
    (agent,) = report["csat"]["agents"]
    assert agent == {
        "agent": "sam",
        "name": "Sam",
        "responses": 1,
        "average": 5.0,
        "satisfied": 100,
        "distribution": [0, 0, 0, 0, 1],
    }
    (reason,) = report["csat"]["reasons"]
    assert reason["reason"] == "talk_to_human" and reason["responses"] == 1
    assert report["csat"]["recent"][0]["delivery_id"] == "d1"
    assert report["sla"]["resolved"] == 1 and report["sla"]["first_response_met"] == 100
    view = await (await client.get("/console/api/conversations/d1")).json()
    (event,) = [e for e in view["transcript"] if e.get("event") == "csat"]
    assert event["score"] == 5 and event["agent"] == "sam"
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_csat_responses_total{brand="demo",score="5"} 1.0' in metrics

    # Once only: another "5" is not a second score.
    await reply(client, "5")
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 6)
    again = await (await client.get("/console/api/desk/reports")).json()
    assert again["csat"]["agents"][0]["responses"] == 1


async def test_a_low_score_is_kept_and_answered_with_an_apology(talking: Client) -> None:
    client = talking
    headers = await held_by_sam(client)
    await client.post("/console/api/conversations/d1/hand-back", json={}, headers=headers)
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 3)
    await reply(client, "1")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 4)
    assert texts[-1].startswith("Thank you for telling us. We're sorry")
    report = await (await client.get("/console/api/desk/reports")).json()
    assert report["csat"]["agents"][0]["distribution"] == [1, 0, 0, 0, 0]
    assert report["csat"]["agents"][0]["satisfied"] == 0


async def test_no_question_when_the_brand_turns_csat_off_or_the_agent_says_not_to(
    client: Client, services: Services
) -> None:
    headers = await held_by_sam(client)
    resp = await client.post(
        "/console/api/conversations/d1/hand-back", json={"csat": False}, headers=headers
    )
    assert (await resp.json())["csat_message"] is None
    brand = await services.brands.get("demo")
    assert brand is not None
    desk = brand.desk.model_copy(update={"csat_enabled": False})
    await services.brands.save(brand.model_copy(update={"desk": desk}))
    await reply(client, "can I talk to someone")  # no NLU here: straight to a person
    await eventually(lambda: services.redis.exists(services.keys.handoff("demo/d1")), bool)
    await client.post("/console/api/conversations/d1/claim", headers=headers)
    resp = await client.post("/console/api/conversations/d1/hand-back", json={}, headers=headers)
    assert (await resp.json())["csat_message"] is None
    assert not any("How did we do" in t for t in await phone_texts(client))


async def test_outside_the_whatsapp_window_the_question_goes_as_the_brands_template(
    app: Client,
    fake: FakeTwilio,
) -> None:
    services: Services = app.app[SERVICES]
    await add_agent(services, "demo", "sam")
    boss = await add_agent(services, "demo", "boss", role="admin")
    admin = await agent_session(app, "demo", boss.username)
    sid = "HX" + "fedcba9876543210" * 2
    template = {"content_sid": sid, "variables": {"1": "{{ agent }}", "2": "{{ brand }}"}}
    resp = await app.put(
        "/console/api/admin/settings",
        json={"whatsapp_templates": {"csat_request": template}},
        headers=admin,
    )
    assert resp.status == 200, await resp.text()
    bad = {"content_sid": sid, "variables": {"1": "{{ driver }}"}}
    resp = await app.put(
        "/console/api/admin/settings",
        json={"whatsapp_templates": {"csat_request": bad}},
        headers=admin,
    )
    assert resp.status == 400  # csat_request has `agent`, not `driver`

    event = f.delivery_created("d1", phone=PHONE)
    event["data"]["customer"]["channel"] = "whatsapp"
    await post_event(app, event)
    whatsapp = {**sms("can I talk to someone", sid="SM9"), "From": f"whatsapp:{PHONE}"}
    assert await inbound(app, whatsapp, kind="whatsapp") == 200
    await eventually(lambda: services.redis.exists(services.keys.handoff("demo/d1")), bool)
    sam = await agent_session(app, "demo", "sam")
    await app.post("/console/api/conversations/d1/claim", headers=sam)
    # A day passes before the agent resolves it: the customer's window has closed
    # (the key's own one-day expiry, brought forward).
    await services.redis.delete(services.keys.customer_wrote("demo", "whatsapp", PHONE))
    resp = await app.post("/console/api/conversations/d1/hand-back", json={}, headers=sam)
    message_id = (await resp.json())["csat_message"]
    sent = await eventually(fake.sent, lambda x: any(r.get("ContentSid") == sid for r in x))
    question = next(r for r in sent if r.get("ContentSid") == sid)
    assert json.loads(question["ContentVariables"]) == {"1": "Sam", "2": "Parcelly"}
    message = await services.redis.hgetall(services.keys.message(message_id))
    assert message["type"] == "csat_request" and message["sent_as"] == "template"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        ("4/5", 4),
        ("3 out of 5, ok", 3),
        ("five", 5),
        ("cinco", 5),
        ("quatre", 4),
        ("⭐⭐⭐⭐", 4),
        ("I'd say 4", 4),
        ("2 - slow", 2),
        ("where is my parcel?", None),
        ("9", None),
        ("at 10:30 please", None),
        ("", None),
    ],
)
def test_what_reads_as_a_score(text: str, expected: int | None) -> None:
    assert score(text) == expected
