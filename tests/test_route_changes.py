"""Routing over HTTP, and changes to a dispatched route reaching customers and dispatch."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.services import SERVICES, Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, eventually, post_event
from tests.test_routing import grid_plan


async def test_optimize_endpoint_returns_the_route(client: Client) -> None:
    resp = await client.post(
        "/v1/routing/optimize", headers=DEMO_KEY, json={"plan": grid_plan(n=8), "time_limit": 0.3}
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["feasible"] is True and len(body["sequence"]) == 8


async def test_optimize_endpoint_names_bad_fields(client: Client) -> None:
    plan = grid_plan(n=3)
    plan["stops"][0]["window"] = {"start": 50, "end": 10}
    plan["matrix"][1][2] = -4
    resp = await client.post("/v1/routing/optimize", headers=DEMO_KEY, json={"plan": plan})
    assert resp.status == 400
    fields = [e["field"] for e in (await resp.json())["fields"]]
    assert fields == ["plan.stops.0.window"]
    plan["stops"][0]["window"] = {"start": 10, "end": 50}
    resp = await client.post("/v1/routing/optimize", headers=DEMO_KEY, json={"plan": plan})
    assert [e["field"] for e in (await resp.json())["fields"]] == ["plan.matrix.1"]
    resp = await client.post("/v1/routing/optimize", json={"plan": plan})
    assert resp.status == 401


async def test_windows_and_apply_endpoints(client: Client) -> None:
    plan = grid_plan(n=6, width=4 * 3600)
    resp = await client.post(
        "/v1/routing/windows",
        headers=DEMO_KEY,
        json={"plan": plan, "stop_id": "s2", "day_start": 0, "day_end": 8 * 3600},
    )
    assert resp.status == 200
    offers = (await resp.json())["windows"]
    assert 1 <= len(offers) <= 3 and offers[0]["end"] - offers[0]["start"] == 7200
    resp = await client.post(
        "/v1/routing/apply",
        headers=DEMO_KEY,
        json={"plan": plan, "change": {"type": "remove", "stop_id": "zz"}},
    )
    assert resp.status == 400
    assert (await resp.json())["fields"][0]["field"] == "change.stop_id"
    resp = await client.post(
        "/v1/routing/apply",
        headers=DEMO_KEY,
        json={"plan": plan, "change": {"type": "remove", "stop_id": "s2"}},
    )
    assert resp.status == 200
    assert "s2" not in (await resp.json())["sequence"]


class Receiver:
    """The brand's dispatch system: records signed webhooks, can fail first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver(fail_first=1)
    app = web.Application()
    app.router.add_post("/hooks/doorstep", rec.handle)
    server = TestServer(app)
    await server.start_server()
    yield rec, str(server.make_url("/hooks/doorstep"))
    await server.close()


async def _dispatched_route(client: Client, services: Services, hook_url: str) -> str:
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(brand.model_copy(update={"webhook_url": hook_url}))
    secret = await services.brands.set_signing_secret("demo")
    ids = ["d-en", "d-es", "d-fr"]
    for d, locale in zip(ids, ("en", "es", "fr"), strict=True):
        await post_event(client, f.delivery_created(d, locale=locale))
    # The dispatch system planned an hour between stops; they are minutes apart.
    first = datetime.now(UTC) + timedelta(minutes=30)
    await post_event(client, f.route_dispatched(ids, first_eta=first, gap_min=60))
    return secret


async def test_removing_a_stop_tells_customers_and_dispatch(
    client: Client, services: Services, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    secret = await _dispatched_route(client, services, url)
    resp = await client.post(
        "/v1/routes/r1/changes",
        headers=DEMO_KEY,
        json={"change": {"type": "remove", "stop_id": "s0"}},
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert sorted(body["sequence"]) == ["s1", "s2"]
    # `moved` compares with our own schedule of the old order; the customers are told
    # relative to what they were last told (the dispatch system's hour-apart ETAs).
    assert {m["stop"] for m in body["moved"]} <= {"s1", "s2"}

    removed = await services.store.get_delivery("demo", "d-en")
    assert removed is not None and removed.status == "created" and removed.route_id is None
    route = await services.store.get_route("demo", "r1")
    assert route is not None and [s.stop_id for s in route.remaining()] == body["sequence"]

    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    es = await eventually(lambda: sandbox.feed("+34612345678"), lambda x: len(x) == 3)
    assert "Novedad de Parcelly" in es[2]["text"]
    fr = await eventually(lambda: sandbox.feed("+33612345678"), lambda x: len(x) == 3)
    assert "Mise à jour Parcelly" in fr[2]["text"]
    en = await sandbox.feed("+12125550142")
    assert len(en) == 2  # the removed customer is not told a new ETA

    await eventually(lambda: _count(rec), lambda n: n == 1, timeout=10)
    headers, raw = rec.received[0]
    expected = (
        "v1="
        + hmac.new(
            secret.encode(), headers["X-Doorstep-Timestamp"].encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
    )
    assert headers["X-Doorstep-Signature"] == expected
    event = json.loads(raw)
    assert event["type"] == "route.updated"
    assert [s["stop_id"] for s in event["data"]["stops"]] == body["sequence"]
    assert rec.fail_first == 0  # the first attempt got a 503 and was retried


async def _count(rec: Receiver) -> int:
    return len(rec.received)


async def test_new_window_on_a_stored_route(
    client: Client, services: Services, receiver: tuple[Receiver, str]
) -> None:
    _, url = receiver
    await _dispatched_route(client, services, url)
    start = datetime.now(UTC) + timedelta(hours=5)
    change: dict[str, Any] = {
        "type": "window",
        "stop_id": "s0",
        "window": {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()},
    }
    resp = await client.post("/v1/routes/r1/changes", headers=DEMO_KEY, json={"change": change})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["sequence"][-1] == "s0"
    eta = datetime.fromisoformat(body["arrivals"]["s0"])
    assert start <= eta < start + timedelta(hours=2)
    delivery = await services.store.get_delivery("demo", "d-en")
    assert delivery is not None and delivery.eta is not None
    assert abs((delivery.eta - eta).total_seconds()) < 1


async def test_change_to_an_unknown_route_or_stop(
    client: Client, services: Services, receiver: tuple[Receiver, str]
) -> None:
    _, url = receiver
    await _dispatched_route(client, services, url)
    resp = await client.post(
        "/v1/routes/nope/changes",
        headers=DEMO_KEY,
        json={"change": {"type": "remove", "stop_id": "s0"}},
    )
    assert resp.status == 404
    resp = await client.post(
        "/v1/routes/r1/changes",
        headers=DEMO_KEY,
        json={"change": {"type": "remove", "stop_id": "ghost"}},
    )
    assert resp.status == 400
    assert (await resp.json())["fields"][0]["field"] == "change.stop_id"
