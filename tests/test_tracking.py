"""The tracking page over HTTP: its link, its privacy rules, live updates, and page actions
going through the conversation engine (real Redis, the whole service on a socket)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.agents.accounts import Agent
from bot.services import Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, eventually, post_event

LINK = re.compile(r"https?://[^\s/]+(/t/[a-z2-7]{16})(?![A-Za-z0-9_-])")


async def delivery(client: Client, delivery_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/deliveries/{delivery_id}", headers=DEMO_KEY)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def link_of(
    client: Client, delivery_id: str, message_type: str = "delivery_scheduled"
) -> str:
    """The tracking page's path, from the text of the delivery's message."""
    body = await delivery(client, delivery_id)
    texts = [m["text"] for m in body["messages"] if m["type"] == message_type]
    assert texts, body["messages"]
    found = LINK.search(texts[0])
    assert found, texts[0]
    return found.group(1)


async def agent_token(services: Services) -> dict[str, str]:
    agent = Agent(brand_id="demo", username="ops", name="Ops", role="admin")
    await services.accounts.create(agent, "a-long-password-1")
    return {"Authorization": f"Bearer {await services.accounts.new_token(agent)}"}


async def brand_update(services: Services, **changes: Any) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(brand.model_copy(update=changes))


async def state(client: Client, path: str, **query: str) -> dict[str, Any]:
    resp = await client.get(f"{path}/state", params=query)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_the_first_message_carries_a_short_link_that_opens_the_page(client: Client) -> None:
    await post_event(client, f.delivery_created("d1"))
    path = await link_of(client, "d1")
    body = await delivery(client, "d1")
    sms = body["messages"][0]
    assert sms["text"].endswith(f"Track it or reply here: http://127.0.0.1:8080{path}")
    resp = await client.get(path)
    assert resp.status == 200
    html = await resp.text()
    assert "Parcelly" in html and "Scheduled" in html
    assert resp.headers["Cache-Control"] == "no-store, private"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Robots-Tag"].startswith("noindex")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    # The page, its script and style: well under 100 KB before any map.
    sizes = [len(await resp.read())]
    for asset in ("/t/static/tracking.js", "/t/static/tracking.css"):
        r = await client.get(asset)
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store, private"
        sizes.append(len(await r.read()))
    assert sum(sizes) < 100_000, sizes


async def test_out_for_delivery_carries_the_link_only_when_no_scheduled_message_did(
    client: Client, services: Services
) -> None:
    await post_event(client, f.delivery_created("d1"))
    await post_event(client, f.delivery_created("d2"))
    # d2's record from before the page existed: no message has carried its link yet.
    old = await services.store.get_delivery("demo", "d2")
    assert old is not None
    await services.store.put_delivery(old.model_copy(update={"tracking_sent": False}))
    await post_event(client, f.route_dispatched(["d1", "d2"]))
    d1 = await delivery(client, "d1")
    (out1,) = [m for m in d1["messages"] if m["type"] == "out_for_delivery"]
    assert "/t/" not in out1["text"]
    path = await link_of(client, "d2", "out_for_delivery")
    assert (await client.get(path)).status == 200


async def test_an_altered_revoked_or_expired_link_gets_a_clear_page_and_no_data(
    client: Client, services: Services
) -> None:
    await post_event(client, f.delivery_created("d1"))
    path = await link_of(client, "d1")
    token = path.removeprefix("/t/")
    altered = "/t/" + ("a" if token[0] != "a" else "b") + token[1:]  # well formed, not issued
    for bad in (altered, "/t/short", "/t/" + "x" * 40):
        resp = await client.get(bad)
        assert resp.status == 404
        html = await resp.text()
        assert 'data-problem="unknown"' in html and "This link isn&#39;t valid" in html
        assert "Ana" not in html and "King St" not in html
        assert resp.headers["Cache-Control"] == "no-store, private"
        assert (await client.get(f"{bad}/state")).status == 404
        assert (await client.get(f"{bad}/events")).status == 404

    # Revoked by the brand (an agent in the console): the old link says so; a new one works.
    token_header = await agent_token(services)
    resp = await client.post("/console/api/conversations/d1/tracking/revoke", headers=token_header)
    assert resp.status == 200
    new_url = (await resp.json())["tracking_url"]
    resp = await client.get(path)
    assert resp.status == 410
    assert "withdrawn" in await resp.text()
    assert (await client.get(f"{path}/state")).status == 410
    new_path = LINK.search(new_url).group(1)  # type: ignore[union-attr]
    assert new_path != path and (await client.get(new_path)).status == 200
    resp = await client.get("/console/api/conversations/d1", headers=token_header)
    assert (await resp.json())["tracking_url"] == new_url

    # Expired: the brand keeps links for 0 days after completion.
    await brand_update(services, tracking_link_days=0)
    await post_event(client, f.stop_completed("d1"))
    resp = await client.get(new_path)
    assert resp.status == 410
    html = await resp.text()
    assert "expired" in html and "photos.example.com" not in html


async def test_personal_details_wait_for_the_second_factor_which_is_throttled(
    client: Client, services: Services
) -> None:
    await brand_update(services, tracking_factor="order")
    await post_event(client, f.delivery_created("d1"))
    path = await link_of(client, "d1")
    html = await (await client.get(path)).text()
    assert "Ana" not in html and "King St" not in html and "ORD-d1" not in html
    before = await state(client, path)
    assert before["verified"] is False and before["asks_for"] == "order"
    assert before["details"] is None and before["conversation"] == []
    assert before["eta_line"]  # the status and the window are not personal
    assert not any(before["can"].values())
    resp = await client.post(f"{path}/act/safe_place", json={"place": "porch"})
    assert resp.status == 403
    assert (await resp.json())["error"] == "verify_first"
    for _ in range(5):
        resp = await client.post(f"{path}/verify", json={"answer": "ORD-999"})
        assert resp.status == 403
    # Locked for 15 minutes: even the right answer is refused now.
    resp = await client.post(f"{path}/verify", json={"answer": "ord-d1"})
    assert resp.status == 429
    await services.redis.delete(services.keys.tracking_failures(path.removeprefix("/t/")))
    resp = await client.post(f"{path}/verify", json={"answer": " ord d1 "})
    assert resp.status == 200
    assert (
        "HttpOnly" in resp.headers["Set-Cookie"] and "SameSite=Strict" in resp.headers["Set-Cookie"]
    )
    assert f"Path={path}" in resp.headers["Set-Cookie"]
    after = await state(client, path)  # the client keeps the cookie
    assert after["verified"] is True
    assert after["details"]["name"] == "Ana Lopez" and "55 King St" in after["details"]["address"]
    # A forged proof is no proof.
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({"doorstep_track": "9999999999.forged"})
    assert (await state(client, path))["verified"] is False


async def test_postcode_factor_and_languages(client: Client, services: Services) -> None:
    await brand_update(services, tracking_factor="postcode")
    event = f.delivery_created("d1", locale="fr")
    event["data"]["address"]["postcode"] = "SW1A 1AA"
    await post_event(client, event)
    path = await link_of(client, "d1")
    fr = await state(client, path)
    assert fr["asks_for"] == "postcode" and fr["status_line"] == "Programmée"
    assert fr["eta_line"].startswith("Arrivée")
    es = await state(client, path, lang="es")
    assert es["status_line"] == "Programada" and es["eta_line"].startswith("Llega")
    html = await (await client.get(path, params={"lang": "es"})).text()
    assert 'lang="es"' in html and "Cambiar la hora" in html
    assert (await client.post(f"{path}/verify", json={"answer": "sw1a1aa"})).status == 200


class Dispatch:
    """The brand's dispatch system: records the signed webhooks it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        return web.Response(status=204)


@pytest.fixture
async def dispatch(services: Services) -> AsyncIterator[Dispatch]:
    rec = Dispatch()
    app = web.Application()
    app.router.add_post("/hooks", rec.handle)
    server = TestServer(app)
    await server.start_server()
    await brand_update(services, webhook_url=str(server.make_url("/hooks")))
    await services.brands.set_signing_secret("demo")
    yield rec
    await server.close()


async def next_view(resp: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next `view` event of a server-sent event stream."""
    event = None
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), timeout)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "view":
            view: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return view


async def test_the_page_follows_the_route_live_and_a_safe_place_reaches_the_driver(
    client: Client, services: Services, dispatch: Dispatch
) -> None:
    await brand_update(services, tracking_map_stops=2)  # the map from 1 stop before
    for d in ("d1", "d2", "d3"):
        await post_event(client, f.delivery_created(d))
    path = await link_of(client, "d3")
    assert (await client.get(path)).status == 200
    assert (await client.get(path)).status == 200  # a reload within a minute: one view
    stream = await client.get(f"{path}/events")
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert stream.headers["Cache-Control"] == "no-store, private"
    first = await next_view(stream)
    assert first["status"] == "created" and first["progress"] is None

    await post_event(client, f.route_dispatched(["d1", "d2", "d3"], gap_min=15))
    live = await next_view(stream)
    assert live["status"] == "dispatched" and live["status_line"] == "On its way"
    assert (
        live["progress"]["before"] == 2 and live["progress"]["stops_line"] == "2 stops before yours"
    )
    assert live["progress"]["driver_line"] == "Your driver today is Sam"
    assert live["progress"]["map"] is None  # 2 stops before: not yet
    await post_event(client, f.stop_completed("d1"))
    moved = await next_view(stream)
    while moved["progress"]["before"] != 1:
        moved = await next_view(stream)
    await post_event(client, f.driver_position("r1", 40.6815, -73.9675))
    near = await next_view(stream)
    # A view of the stop's completion may still be on its way (the ETAs moved after it).
    while near["progress"]["map"] is None or near["progress"]["map"]["driver"] is None:
        near = await next_view(stream)
    assert near["progress"]["map"]["driver"] == [40.6815, -73.9675]
    assert near["progress"]["map"]["destination"] == [40.68, -73.97]

    resp = await client.post(f"{path}/act/safe_place", json={"place": "behind the side gate"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["details"]["safe_place"] == "behind the side gate"
    # The driver's payload, the conversation's transcript and the customer's channel.
    updated = await eventually(
        lambda: asyncio.sleep(0, [e for e in dispatch.received if e["type"] == "route.updated"]),
        lambda found: bool(found),
    )
    stops = {s["delivery_id"]: s for s in updated[-1]["data"]["stops"]}
    assert stops["d3"]["safe_place"] == "behind the side gate"
    transcript = [json.loads(e) for e in await services.store.transcript("demo", "d3")]
    assert any(
        e["dir"] == "in" and e["text"] == "(on the tracking page) safe place: behind the side gate"
        for e in transcript
    )
    sent = await eventually(
        lambda: delivery(client, "d3"),
        lambda b: any(m["type"] == "safe_place_saved" for m in b["messages"]),
    )
    assert [e["action"] for e in sent["tracking_events"]] == ["page_viewed", "safe_place"]
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_tracking_events_total{action="safe_place"} 1.0' in metrics
    assert 'doorstep_tracking_events_total{action="page_viewed"} 1.0' in metrics

    await post_event(client, f.stop_completed("d3"))
    done = await next_view(stream)
    while done["status"] != "delivered":
        done = await next_view(stream)
    assert done["progress"] is None  # no map, no driver position once the stop is done
    assert done["delivered"]["photo"] == "https://photos.example.com/pod/1.jpg"
    assert done["delivered"]["safe_place"] == "behind the side gate"
    assert "40.68" not in json.dumps(done)
    stream.close()


async def test_every_page_action_is_the_conversations_own_operation(
    client: Client, services: Services
) -> None:
    await post_event(client, f.delivery_created("d1", items=2))
    path = await link_of(client, "d1")
    await client.get(path)

    # Instructions with an access code: stored, the code kept out of the transcript.
    resp = await client.post(
        f"{path}/act/instructions", json={"note": "ring twice", "access_code": "4321#"}
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["details"] == {
        "name": "Ana Lopez", "address": "55 King St, Brooklyn", "safe_place": None,
        "instructions": "ring twice", "has_access_code": True,
    }  # fmt: skip
    stored = await services.store.get_delivery("demo", "d1")
    assert stored is not None and stored.access_code == "4321#"
    transcript = await services.store.transcript("demo", "d1")
    assert not any("4321" in e for e in transcript)
    bad = await client.post(f"{path}/act/instructions", json={"note": "x", "access_code": "<b>"})
    assert bad.status == 400 and (await bad.json())["fields"][0]["field"] == "access_code"

    # Not home: the same offer of choices a typed "nobody's home" gets.
    assert (await client.post(f"{path}/act/not_home", json={})).status == 200
    # Another day: the brand's slots, then one booked (rebooked, dispatch told).
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    offers = (await (await client.get(f"{path}/windows", params={"day": day})).json())["windows"]
    assert len(offers) == 3 and all(o["label"] for o in offers)
    chosen = {"start": offers[1]["start"], "end": offers[1]["end"]}
    assert (await client.post(f"{path}/act/reschedule", json={"window": chosen})).status == 200
    rebooked = await services.store.get_delivery("demo", "d1")
    assert rebooked is not None
    assert rebooked.promised_window.start == datetime.fromisoformat(chosen["start"])
    past = {"start": "2020-01-01T10:00:00+00:00", "end": "2020-01-01T12:00:00+00:00"}
    assert (await client.post(f"{path}/act/reschedule", json={"window": past})).status == 409
    # Not yet delivered: no rating, no return.
    assert (await client.post(f"{path}/act/rate", json={"rating": 5})).status == 409

    await post_event(client, f.stop_completed("d1"))
    assert (await client.post(f"{path}/act/rate", json={"rating": 9})).status == 400
    assert (await client.post(f"{path}/act/rate", json={"rating": 4})).status == 200
    rated = await services.store.get_delivery("demo", "d1")
    assert rated is not None and rated.rating == 4
    assert (await client.post(f"{path}/act/not_home", json={})).status == 409
    slots = await client.get(f"{path}/windows", params={"purpose": "return", "day": day})
    pickup = (await slots.json())["windows"][0]
    window = {"start": pickup["start"], "end": pickup["end"]}
    resp = await client.post(f"{path}/act/return", json={"item": "Item 1", "window": window})
    assert resp.status == 200
    returned = await services.store.get_delivery("demo", "d1")
    assert returned is not None and [r.item for r in returned.return_requests] == ["Item 1"]

    lines = [json.loads(e) for e in await services.store.transcript("demo", "d1")]
    said = [e["text"] for e in lines if e["dir"] == "in"]
    assert said[0] == "(on the tracking page) instructions: ring twice"
    assert said[1] == "(on the tracking page) I won't be home"
    assert said[2].startswith("(on the tracking page) chose ")
    assert "(on the tracking page) rated it 4 out of 5" in said
    assert said[-1].startswith("(on the tracking page) return Item 1, ")
    types = await eventually(
        lambda: delivery(client, "d1"),
        lambda b: {"instructions_saved", "not_home_options", "reschedule_confirmed",
                   "rating_thanks", "return_confirmed"} <= {m["type"] for m in b["messages"]},
    )  # fmt: skip
    assert [e["action"] for e in types["tracking_events"]] == [
        "page_viewed", "instructions", "not_home", "reschedule", "rate", "return",
    ]  # fmt: skip

    # Written words are a reply like any other: with no NLU here, a person takes it,
    # and while a person has it the page's taps do nothing but wait for them.
    resp = await client.post(f"{path}/act/write", json={"text": "is the chair heavy?"})
    assert resp.status == 200
    after = await resp.json()
    assert after["held"] is True and after["can"]["write"] and not after["can"]["rate"]
    assert after["conversation"][-2]["text"] == "is the chair heavy?"
    assert await services.handoff.active("demo/d1")
    assert (await client.post(f"{path}/act/rate", json={"rating": 1})).status == 409


async def test_after_a_failure_the_page_says_why_and_what_to_do(client: Client) -> None:
    await post_event(client, f.delivery_created("d1", locale="es"))
    await post_event(client, f.route_dispatched(["d1"]))
    path = await link_of(client, "d1")
    await post_event(client, f.stop_completed("d1", outcome="failed", reason="no_access"))
    view = await state(client, path)
    assert view["status_line"] == "No entregada" and view["progress"] is None
    assert "no pudo acceder al edificio" in view["failed"]["line"]
    assert view["failed"]["advice"].startswith("Elige otro día")
    assert view["can"]["reschedule"] and view["can"]["safe_place"] and not view["can"]["rate"]


async def test_the_brand_sets_the_pages_look_and_rules_validated(
    client: Client, services: Services
) -> None:
    headers = await agent_token(services)
    url = "/console/api/admin/settings"
    for field, value in (
        ("brand_colour", "red"),
        ("logo_url", "http://cdn.example.com/logo.png"),
        ("logo_url", "javascript:alert(1)"),
        ("tracking_factor", "birthday"),
        ("tracking_link_days", 365),
    ):
        resp = await client.put(url, json={field: value}, headers=headers)
        assert resp.status == 400, (field, value)
        assert [e["field"] for e in (await resp.json())["fields"]] == [field]
    good = {
        "brand_colour": "#FFD400",
        "logo_url": "https://cdn.example.com/logo.png",
        "tracking_factor": "postcode",
        "tracking_link_days": 3,
    }
    resp = await client.put(url, json=good, headers=headers)
    assert resp.status == 200
    await post_event(client, f.delivery_created("d1"))
    html = await (await client.get(await link_of(client, "d1"))).text()
    assert '<img class="logo" src="https://cdn.example.com/logo.png" alt="Parcelly">' in html
    # A light colour gets dark text on it (contrast), set in the nonce'd style.
    assert "--brand: #FFD400; --on-brand: #000000;" in html
