"""The sandbox page's API: the demo route, quiet hours, time travel, all token-protected."""

from __future__ import annotations

from typing import Any

from bot.services import Services
from tests.helpers import Client, eventually


async def call(
    client: Client,
    services: Services,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
) -> Any:
    assert services.sandbox is not None
    resp = await client.request(
        method,
        path,
        json=body,
        headers={"X-Sandbox-Token": services.sandbox.token if token is None else token},
    )
    return resp.status, await resp.json()


async def test_page_embeds_its_token_and_root_redirects(client: Client, services: Services) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/sandbox"
    page = await (await client.get("/sandbox")).text()
    assert services.sandbox is not None
    assert f'data-token="{services.sandbox.token}"' in page


async def test_demo_api_refuses_a_wrong_token(client: Client, services: Services) -> None:
    status, _ = await call(client, services, "POST", "/sandbox/api/demo/reset", token="x")
    assert status == 403


async def test_demo_day_dispatch_and_delivery_with_photo(
    client: Client, services: Services
) -> None:
    status, body = await call(client, services, "POST", "/sandbox/api/demo/reset")
    assert status == 200
    status, body = await call(client, services, "POST", "/sandbox/api/demo/dispatch")
    assert status == 200 and len(body["messages"]) == 10
    assert services.sandbox is not None
    feed = await eventually(
        lambda: services.sandbox.feed("+12125550101"),  # type: ignore[union-attr]
        lambda x: len(x) == 2,
    )
    assert "ha salido a reparto" in feed[1]["text"]
    _, state = await call(client, services, "GET", "/sandbox/api/demo")
    first = state["stops"][0]
    status, _ = await call(
        client,
        services,
        "POST",
        "/sandbox/api/demo/complete",
        {"delivery_id": first["delivery_id"], "outcome": "delivered"},
    )
    assert status == 200
    feed = await eventually(
        lambda: services.sandbox.feed("+12125550101"),  # type: ignore[union-attr]
        lambda x: len(x) == 3,
    )
    assert feed[2]["media"][0].endswith("/sandbox/static/parcel.svg")
    photo = await client.get("/sandbox/static/parcel.svg")
    assert photo.status == 200


async def test_quiet_now_defers_and_time_travel_releases(
    client: Client, services: Services
) -> None:
    await call(client, services, "POST", "/sandbox/api/demo/reset")
    status, _ = await call(
        client, services, "POST", "/sandbox/api/demo/quiet", {"around_now": True}
    )
    assert status == 200
    await call(client, services, "POST", "/sandbox/api/demo/dispatch")
    _, state = await call(client, services, "GET", "/sandbox/api/demo")
    out = [m for m in state["stops"][0]["messages"] if m["type"] == "out_for_delivery"]
    assert out[0]["status"] == "deferred"
    status, _ = await call(client, services, "POST", "/sandbox/api/demo/clock", {"minutes": 181})
    assert status == 200

    async def stop_messages() -> list[dict[str, Any]]:
        _, state = await call(client, services, "GET", "/sandbox/api/demo")
        return list(state["stops"][-1]["messages"])

    # The last stop's window is still ahead after three hours: it is delivered, not dropped.
    msgs = await eventually(
        stop_messages,
        lambda ms: any(m["type"] == "out_for_delivery" and m["status"] != "deferred" for m in ms),
    )
    assert {m["status"] for m in msgs if m["type"] == "out_for_delivery"} <= {
        "delivered",
        "superseded",
    }


async def test_quiet_hours_input_is_validated(client: Client, services: Services) -> None:
    status, body = await call(
        client, services, "POST", "/sandbox/api/demo/quiet", {"start": "25:00", "end": "08:00"}
    )
    assert status == 400 and body["fields"][0]["field"] == "start"
