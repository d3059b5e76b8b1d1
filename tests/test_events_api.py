"""POST /v1/events: authentication, signatures, validation, idempotency, OpenAPI."""

from __future__ import annotations

import json
import time

import pytest
from redis.asyncio import Redis

from bot.services import Services
from tests import factories as f
from tests.helpers import DEMO_KEY, Client, dumps, eventually, post_event, signed_headers

# Every test here runs on standalone Redis, on Sentinel and on Cluster.
pytestmark = pytest.mark.all_topologies


async def keys_count(redis: Redis, pattern: str) -> int:
    return len([k async for k in redis.scan_iter(match=pattern)])


async def test_valid_delivery_is_stored_and_customer_told(client: Client) -> None:
    status, body = await post_event(client, f.delivery_created("d1"))
    assert status == 202
    assert body["status"] == "accepted" and len(body["messages"]) == 1
    resp = await client.get("/v1/deliveries/d1", headers=DEMO_KEY)
    delivery = await resp.json()
    assert delivery["customer"]["phone"] == "+12125550142"
    assert delivery["channel"] == "sandbox"
    message = await eventually(
        lambda: _message(client, body["messages"][0]), lambda m: m["status"] == "delivered"
    )
    assert message["type"] == "delivery_scheduled"
    assert "ORD-d1" in message["text"]


async def _message(client: Client, message_id: str) -> dict[str, object]:
    resp = await client.get(f"/v1/messages/{message_id}", headers=DEMO_KEY)
    assert resp.status == 200
    result: dict[str, object] = await resp.json()
    return result


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (f.without(f.delivery_created(), "data", "customer", "timezone"), "data.customer.timezone"),
        (
            f.replace(f.delivery_created(), "Mars/Olympus", "data", "customer", "timezone"),
            "data.customer.timezone",
        ),
        (
            f.replace(f.delivery_created(), "12345", "data", "customer", "phone"),
            "data.customer.phone",
        ),
        (
            f.replace(f.delivery_created(), "xx_YY_zz", "data", "customer", "locale"),
            "data.customer.locale",
        ),
        (
            f.replace(
                f.delivery_created(),
                {"start": "2026-11-25T18:00:00Z", "end": "2026-11-25T17:00:00Z"},
                "data",
                "promised_window",
            ),
            "data.promised_window",
        ),
        (f.replace(f.delivery_created(), 91, "data", "address", "lat"), "data.address.lat"),
        (f.replace(f.delivery_created(), "parcel.teleported", "type"), "type"),
        (f.replace(f.delivery_created(), "surprise", "data", "colour"), "data.colour"),
        (f.without(f.delivery_created(), "id"), "id"),
        (f.replace(f.stop_completed("d1", "failed"), None, "data", "reason"), "data"),
        (f.route_dispatched(["d1", "d1"]), "data"),
    ],
    ids=[
        "missing-zone",
        "unknown-zone",
        "bad-phone",
        "bad-locale",
        "window-reversed",
        "latitude-out-of-range",
        "unknown-type",
        "unknown-field",
        "missing-id",
        "failed-without-reason",
        "duplicate-stop",
    ],
)
async def test_invalid_event_names_the_field_and_stores_nothing(
    client: Client, redis: Redis, event: dict[str, object], field: str
) -> None:
    before = await keys_count(redis, "ds:dlv:*")
    status, body = await post_event(client, event)
    assert status == 400, body
    assert body["error"] == "invalid_event"
    assert field in [e["field"] for e in body["fields"]], body["fields"]
    assert await keys_count(redis, "ds:dlv:*") == before
    assert await keys_count(redis, "ds:msg:*") == 0


async def test_body_that_is_not_json_is_rejected(client: Client) -> None:
    resp = await client.post("/v1/events", data=b"{not json", headers=DEMO_KEY)
    assert resp.status == 400
    body = await resp.json()
    assert body["fields"][0]["type"] == "json_invalid"


async def test_route_referencing_unknown_delivery_is_rejected_whole(
    client: Client, redis: Redis
) -> None:
    await post_event(client, f.delivery_created("d1"))
    status, body = await post_event(client, f.route_dispatched(["d1", "ghost"]))
    assert status == 400
    assert body["fields"] == [
        {
            "field": "data.stops.1.delivery_id",
            "message": "unknown delivery 'ghost'",
            "type": "reference",
        }
    ]
    assert await keys_count(redis, "ds:route:*") == 0
    resp = await client.get("/v1/deliveries/d1", headers=DEMO_KEY)
    assert (await resp.json())["status"] == "created"


async def test_repeated_event_id_is_acknowledged_and_changes_nothing(
    client: Client, redis: Redis
) -> None:
    event = f.delivery_created("d1")
    status, _ = await post_event(client, event)
    assert status == 202
    changed = f.replace(event, "Someone Else", "data", "customer", "name")
    status, second = await post_event(client, changed)
    assert status == 200
    assert second == {"id": event["id"], "status": "duplicate", "messages": []}
    resp = await client.get("/v1/deliveries/d1", headers=DEMO_KEY)
    delivery = await resp.json()
    assert delivery["customer"]["name"] == "Ana Lopez"
    assert len(delivery["messages"]) == 1


async def test_missing_and_unknown_api_keys_are_401(client: Client) -> None:
    resp = await client.post("/v1/events", json=f.delivery_created())
    assert resp.status == 401
    resp = await client.post(
        "/v1/events", json=f.delivery_created(), headers={"Authorization": "Bearer nope"}
    )
    assert resp.status == 401
    assert (await resp.json())["detail"] == "unknown API key"


async def test_signed_event_is_accepted(client: Client, services: Services) -> None:
    secret = await services.brands.set_signing_secret("demo")
    body = dumps(f.delivery_created("d1"))
    resp = await client.post("/v1/events", data=body, headers=signed_headers(secret, body))
    assert resp.status == 202


async def test_bad_signature_is_403_and_stores_nothing(
    client: Client, services: Services, redis: Redis
) -> None:
    secret = await services.brands.set_signing_secret("demo")
    body = dumps(f.delivery_created("d1"))
    headers = signed_headers(secret, body)
    tampered = body.replace(b"Ana Lopez", b"Eve Lopez")
    resp = await client.post("/v1/events", data=tampered, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"] == "bad_signature"
    assert await keys_count(redis, "ds:dlv:*") == 0


async def test_stale_timestamp_is_403_even_with_a_valid_signature(
    client: Client, services: Services
) -> None:
    secret = await services.brands.set_signing_secret("demo")
    body = dumps(f.delivery_created("d1"))
    headers = signed_headers(secret, body, timestamp=int(time.time()) - 301)
    resp = await client.post("/v1/events", data=body, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"] == "stale_timestamp"


async def test_brand_requiring_signatures_refuses_unsigned_events(
    client: Client, services: Services
) -> None:
    brand = await services.brands.get("demo")
    assert brand is not None
    await services.brands.save(brand.model_copy(update={"require_signature": True}))
    status, body = await post_event(client, f.delivery_created("d1"))
    assert status == 403
    assert "requires" in body["detail"]


async def test_oversized_body_is_413(client: Client) -> None:
    event = f.delivery_created()
    event["data"]["customer"]["name"] = "x" * 300_000
    resp = await client.post("/v1/events", data=json.dumps(event), headers=DEMO_KEY)
    assert resp.status == 413
    assert (await resp.json())["error"] == "too_large"


async def test_unreachable_customer_is_a_field_error(client: Client) -> None:
    event = f.without(f.delivery_created(), "data", "customer", "phone")
    event["data"]["customer"]["telegram_chat_id"] = "123456"
    status, body = await post_event(client, event)
    assert status == 400
    assert body["fields"][0]["field"] == "data.customer"
    assert "no enabled channel" in body["fields"][0]["message"]


async def test_other_brands_cannot_read_a_brands_messages(
    client: Client, services: Services
) -> None:
    from bot.base.brands import BrandSettings

    await services.brands.save(
        BrandSettings(brand_id="other", display_name="Other", channels=["sandbox"])
    )
    other_key = await services.brands.add_api_key("other")
    _, body = await post_event(client, f.delivery_created("d1"))
    resp = await client.get(
        f"/v1/messages/{body['messages'][0]}", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert resp.status == 404
    resp = await client.get("/v1/deliveries/d1", headers={"Authorization": f"Bearer {other_key}"})
    assert resp.status == 404


async def test_openapi_document_describes_every_event_type(client: Client) -> None:
    resp = await client.get("/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert "/v1/events" in doc["paths"]
    mapping = doc["components"]["schemas"]["Event"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "delivery.created",
        "route.dispatched",
        "driver.position",
        "stop.completed",
        "route.eta_changed",
    }
    for ref in mapping.values():
        assert ref.split("/")[-1] in doc["components"]["schemas"]
