"""The delivery-events API and message status, authenticated per brand."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from bot.base.brands import BrandStore
from bot.base.clock import Clock
from bot.base.httperrors import ApiError
from bot.base.metrics import Metrics
from bot.base.store import Store
from bot.config import Settings
from bot.events.auth import authenticate, verify_signature
from bot.events.ingest import EventService
from bot.events.models import EventError, parse_event
from bot.messaging.outbox import Outbox
from integrations.wire import BodyError, parse_object


class EventsApiServices(Protocol):
    """What the events API's handlers use; the composition root provides it."""

    settings: Settings
    brands: BrandStore
    clock: Clock
    metrics: Metrics
    events: EventService
    store: Store
    outbox: Outbox


SERVICES = web.AppKey[EventsApiServices]("events_api")
BACKPRESSURE_RETRY_S = 5
routes = web.RouteTableDef()


@routes.post("/v1/events")
async def post_event(request: web.Request) -> web.Response:
    """Validate, deduplicate and apply one event; 202 once it is stored."""
    services = request.app[SERVICES]
    brand = await authenticate(request, services.brands)
    settings = services.settings
    if services.outbox.overloaded(settings.backpressure_depth, settings.backpressure_lag_s):
        # Slow the dispatch system down rather than pile up what cannot go out in time.
        services.metrics.backpressure.inc()
        raise ApiError(
            503,
            "overloaded",
            "too many messages are waiting to be sent; retry after the given seconds",
            headers={"Retry-After": str(BACKPRESSURE_RETRY_S)},
        )
    body = await request.read()
    await verify_signature(request, body, brand, services.brands, services.clock.timestamp())
    try:
        event = parse_event(parse_object(body))
        accepted = await services.events.accept(brand, event)
    except BodyError as exc:
        services.metrics.events.labels("unknown", "invalid").inc()
        # As pydantic names it (the API's first clients match on `json_invalid`).
        problem = [{"field": "(body)", "message": exc.detail, "type": "json_invalid"}]
        raise ApiError(400, "invalid_event", exc.detail, problem) from None
    except EventError as exc:
        services.metrics.events.labels("unknown", "invalid").inc()
        raise ApiError(400, "invalid_event", "the event is not valid", exc.fields) from None
    if accepted.outcome == "in_progress":
        raise ApiError(409, "in_progress", "an event with this id is being applied; retry")
    return web.json_response(
        {"id": event.id, "status": accepted.outcome, "messages": list(accepted.message_ids)},
        status=202 if accepted.outcome == "accepted" else 200,
    )


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A message as the API shows it: no internal bookkeeping fields."""
    keep = (
        "id",
        "type",
        "channel",
        "to",
        "text",
        "media",
        "choices",
        "status",
        "attempts",
        "created_at",
        "due_at",
        "sent_at",
        "delivered_at",
        "provider_id",
        "error",
        "error_code",
        "segments",
        "encoding",
        "sent_as",
        "template_id",
        "delivery_id",
    )
    out = {k: record[k] for k in keep if record.get(k) not in (None, "")}
    for k in ("created_at", "due_at", "sent_at", "delivered_at"):
        if k in out:
            out[k] = float(out[k])
    return out


@routes.get("/v1/messages/{message_id}")
async def get_message(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    brand = await authenticate(request, services.brands)
    record = await services.outbox.get(request.match_info["message_id"])
    if record is None or record["brand_id"] != brand.brand_id:
        raise ApiError(404, "not_found", "no such message")
    return web.json_response(_public(record))


@routes.get("/v1/deliveries/{delivery_id}")
async def get_delivery(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    brand = await authenticate(request, services.brands)
    delivery_id = request.match_info["delivery_id"]
    record = await services.store.get_delivery(brand.brand_id, delivery_id)
    if record is None:
        raise ApiError(404, "not_found", "no such delivery")
    messages = await services.outbox.for_delivery(brand.brand_id, delivery_id)
    body = record.model_dump(mode="json")
    body["messages"] = [_public(m) for m in messages]
    body["tracking_events"] = await services.store.tracking_events(brand.brand_id, delivery_id)
    return web.json_response(body)
