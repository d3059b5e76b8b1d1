"""Delivery events: a delivery created or updated, a stop completed (delivered or failed)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.base.brands import BrandSettings
from bot.base.steps import Steps
from bot.base.store import DeliveryRecord, address_hash, get_many
from bot.events.models import DeliveryCreatedEvent, StopCompletedEvent
from bot.events.on_route import nearby
from bot.messaging.notify import Notice, eta_key

if TYPE_CHECKING:
    from bot.events.ingest import EventService


async def delivery_created(
    svc: EventService,
    brand: BrandSettings,
    event: DeliveryCreatedEvent,
    origin: float,
    steps: Steps,
) -> list[str]:
    data = event.data
    channel, contact = svc.pick_channel(brand, event)
    record = DeliveryRecord(
        brand_id=brand.brand_id,
        delivery_id=data.delivery_id,
        order_id=data.order_id,
        customer=data.customer,
        address=data.address,
        promised_window=data.promised_window,
        items=data.items,
        channel=channel,
        contact=contact,
        locale=brand.locale_for(data.customer),
        created_at=svc.clock.now(),
    )
    # One round trip for what the event reads: the delivery as we know it, and a place
    # the customer asked us to keep for this address (used for a new delivery).
    raw, saved = await get_many(
        svc.redis,
        [
            svc.keys.delivery(brand.brand_id, data.delivery_id),
            svc.keys.saved_place(brand.brand_id, address_hash(record)),
        ],
    )
    existing = None if raw is None else DeliveryRecord.model_validate_json(raw)
    if existing is None and saved is not None:
        record = record.model_copy(update={"safe_place": saved})
    if existing is not None:  # an update of the order: keep what has happened since
        record = existing.model_copy(
            update={
                k: getattr(record, k)
                for k in (
                    "order_id",
                    "customer",
                    "address",
                    "promised_window",
                    "items",
                    "channel",
                    "contact",
                    "locale",
                )
            }
        )
    if existing is not None and existing.promised_window == data.promised_window:
        svc.store.queue_deliveries(steps.state, [record])
        return []
    # The scheduled message is the delivery's first: it carries the tracking link.
    record = record.model_copy(update={"tracking_sent": True})
    svc.store.queue_deliveries(steps.state, [record])
    notice = Notice("delivery_scheduled", {"window": data.promised_window}, tracking_link=True)
    return svc.notifier.queue(steps.messages, brand, [(record, notice)], origin, seed=event.id)


async def stop_completed(
    svc: EventService, brand: BrandSettings, event: StopCompletedEvent, origin: float, steps: Steps
) -> list[str]:
    data = event.data
    (delivery,) = await svc.deliveries(brand, [data.delivery_id], "data.delivery_id")
    route_id = data.route_id or delivery.route_id
    route = await svc.route(brand, route_id) if route_id else None
    photos = [str(u) for u in data.photo_urls]
    delivery = delivery.model_copy(
        update={
            "status": data.outcome,
            "completed_at": data.completed_at,
            "photo_urls": photos,
            "failure_reason": data.reason,
        }
    )
    svc.store.queue_deliveries(steps.state, [delivery])
    notices: list[tuple[DeliveryRecord, Notice]] = []
    if data.outcome == "delivered":
        notices.append(
            (
                delivery,
                Notice(
                    "delivered",
                    {
                        "delivered_at": data.completed_at,
                        "safe_place": delivery.safe_place or "",
                        "has_photo": bool(photos),
                    },
                    media_urls=tuple(photos),
                    supersede_key=eta_key(delivery),
                ),
            )
        )
        if brand.survey_enabled:
            notices.append(
                (
                    delivery,
                    Notice(
                        "rating_request",
                        {},
                        not_before=data.completed_at + timedelta(minutes=brand.survey_delay_min),
                    ),
                )
            )
    else:
        notices.append(
            (
                delivery,
                Notice(
                    "delivery_failed",
                    {"reason": data.reason},
                    supersede_key=eta_key(delivery),
                ),
            )
        )
    ids = svc.notifier.queue(steps.messages, brand, notices, origin, seed=event.id)
    if route is not None:
        stops = [
            s.model_copy(update={"status": data.outcome})
            if s.delivery_id == data.delivery_id
            else s
            for s in route.stops
        ]
        route = route.model_copy(update={"stops": stops})
        svc.store.queue_route(steps.state, route)
        ids += await nearby(svc, brand, route, None, origin, steps, event.id)
    return ids
