"""Applying delivery events: update what we know, then notify the customers concerned.

Each event type has one handler, registered in `EventService.handlers`; adding an
event type is one model in `events.py` plus one handler here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.brands import BrandSettings
from bot.clock import Clock
from bot.events import (
    DeliveryCreatedEvent,
    DriverPositionEvent,
    EtaChangedEvent,
    Event,
    EventError,
    RouteDispatchedEvent,
    StopCompletedEvent,
    Window,
)
from bot.geo import travel_time
from bot.keys import Keys
from bot.metrics import Metrics
from bot.notify import Notice, Notifier, eta_key, minutes_until
from bot.store import (
    DeliveryRecord,
    RouteRecord,
    RouteStop,
    Store,
    address_hash,
    eta_window,
    window_moved,
)
from integrations.base import ChannelRegistry

EVENT_TTL = timedelta(days=7)
Outcome = Literal["accepted", "duplicate", "in_progress"]


@dataclass(frozen=True, slots=True)
class Accepted:
    outcome: Outcome
    message_ids: tuple[str, ...] = ()


def _invalid(field_path: str, message: str) -> EventError:
    return EventError([{"field": field_path, "message": message, "type": "reference"}])


@dataclass
class EventService:
    """Validates references, applies the event to the store and emits notifications."""

    redis: Redis
    keys: Keys
    store: Store
    notifier: Notifier
    channels: ChannelRegistry
    clock: Clock
    metrics: Metrics
    handlers: dict[str, Callable[[BrandSettings, Event, float, Pipeline], Awaitable[list[str]]]] = (
        field(default_factory=dict)
    )

    def __post_init__(self) -> None:
        self.handlers.update(
            {
                "delivery.created": self._delivery_created,  # type: ignore[dict-item]
                "route.dispatched": self._route_dispatched,  # type: ignore[dict-item]
                "driver.position": self._driver_position,  # type: ignore[dict-item]
                "stop.completed": self._stop_completed,  # type: ignore[dict-item]
                "route.eta_changed": self._eta_changed,  # type: ignore[dict-item]
            }
        )

    async def accept(self, brand: BrandSettings, event: Event) -> Accepted:
        """Apply an event once. A repeated id changes nothing; a failure leaves it retryable."""
        origin = time.time()
        key = self.keys.event_seen(brand.brand_id, event.id)
        if not await self.redis.set(key, "wip", nx=True, ex=60):
            state = await self.redis.get(key)
            outcome: Outcome = "in_progress" if state == "wip" else "duplicate"
            self.metrics.events.labels(event.type, outcome).inc()
            return Accepted(outcome)
        try:
            # Reads happen as the handler goes; every write, and the "done" mark, land in
            # one MULTI: an event is applied entirely or not at all.
            async with self.redis.pipeline(transaction=True) as tx:
                ids = await self.handlers[event.type](brand, event, origin, tx)
                tx.set(key, "done", ex=int(EVENT_TTL.total_seconds()))
                await tx.execute()
        except BaseException:
            await self.redis.delete(key)
            raise
        self.metrics.events.labels(event.type, "accepted").inc()
        return Accepted("accepted", tuple(ids))

    # --- helpers -------------------------------------------------------------
    def _pick_channel(self, brand: BrandSettings, event: DeliveryCreatedEvent) -> tuple[str, str]:
        customer = event.data.customer
        candidates = [customer.channel] if customer.channel else list(brand.channels)
        for name in candidates:
            if name is None or name not in brand.channels or name not in self.channels:
                continue
            contact = customer.telegram_chat_id if name == "telegram" else customer.phone
            if contact:
                return name, contact
        raise _invalid(
            "data.customer",
            f"no enabled channel can reach this customer (brand channels: "
            f"{', '.join(brand.channels)}; running: {', '.join(self.channels.names())})",
        )

    async def _deliveries(
        self, brand: BrandSettings, ids: list[str], path: str
    ) -> list[DeliveryRecord]:
        records = await self.store.get_deliveries(brand.brand_id, ids)
        found: list[DeliveryRecord] = []
        for index, (delivery_id, record) in enumerate(zip(ids, records, strict=True)):
            if record is None:
                raise _invalid(path.format(index), f"unknown delivery {delivery_id!r}")
            found.append(record)
        return found

    async def _route(self, brand: BrandSettings, route_id: str) -> RouteRecord:
        route = await self.store.get_route(brand.brand_id, route_id)
        if route is None:
            raise _invalid("data.route_id", f"unknown route {route_id!r}")
        return route

    # --- handlers ------------------------------------------------------------
    async def _delivery_created(
        self, brand: BrandSettings, event: DeliveryCreatedEvent, origin: float, tx: Pipeline
    ) -> list[str]:
        data = event.data
        channel, contact = self._pick_channel(brand, event)
        existing = await self.store.get_delivery(brand.brand_id, data.delivery_id)
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
            created_at=self.clock.now(),
        )
        if existing is None:  # a place the customer asked us to keep for this address
            saved = await self.redis.get(
                self.keys.saved_place(brand.brand_id, address_hash(record))
            )
            if saved is not None:
                record = record.model_copy(update={"safe_place": str(saved)})
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
        self.store.queue_deliveries(tx, [record])
        if existing is not None and existing.promised_window == data.promised_window:
            return []
        notice = Notice("delivery_scheduled", {"window": data.promised_window})
        return self.notifier.queue(tx, brand, [(record, notice)], origin)

    async def _route_dispatched(
        self, brand: BrandSettings, event: RouteDispatchedEvent, origin: float, tx: Pipeline
    ) -> list[str]:
        data = event.data
        deliveries = await self._deliveries(
            brand, [s.delivery_id for s in data.stops], "data.stops.{}.delivery_id"
        )
        route = RouteRecord(
            brand_id=brand.brand_id,
            route_id=data.route_id,
            driver_id=data.driver.id,
            driver_name=data.driver.name,
            vehicle_start=data.vehicle_start,
            capacity=data.capacity,
            dispatched_at=self.clock.now(),
            stops=[RouteStop(**s.model_dump()) for s in data.stops],
        )
        notices: list[tuple[DeliveryRecord, Notice]] = []
        updated: list[DeliveryRecord] = []
        for stop, delivery in zip(data.stops, deliveries, strict=True):
            if delivery.status in ("delivered", "failed", "cancelled"):
                continue
            window = eta_window(stop.planned_eta, brand.eta_window_min)
            delivery = delivery.model_copy(
                update={
                    "status": "dispatched",
                    "route_id": data.route_id,
                    "stop_id": stop.stop_id,
                    "eta": stop.planned_eta,
                    "eta_window": window,
                    "notified_window": window,
                    "nearby_notified": False,
                }
            )
            updated.append(delivery)
            notices.append(
                (
                    delivery,
                    Notice(
                        "out_for_delivery",
                        {"window": window},
                        supersede_key=eta_key(delivery),
                        expires_at=window.end,
                    ),
                )
            )
        self.store.queue_route(tx, route)
        self.store.queue_deliveries(tx, updated)
        return self.notifier.queue(tx, brand, notices, origin)

    async def _nearby(
        self,
        brand: BrandSettings,
        route: RouteRecord,
        next_arrival: datetime | None,
        origin: float,
        tx: Pipeline,
    ) -> list[str]:
        """Tell the customers within `nearby_stops` of the driver, once each."""
        remaining = route.remaining()[: brand.nearby_stops]
        if not remaining:
            return []
        deliveries = await self.store.get_deliveries(
            brand.brand_id, [s.delivery_id for s in remaining]
        )
        now = self.clock.now()
        # Shift planned ETAs by how early/late the driver will reach the next stop.
        shift = (next_arrival - remaining[0].planned_eta) if next_arrival else timedelta(0)
        notices: list[tuple[DeliveryRecord, Notice]] = []
        updated: list[DeliveryRecord] = []
        for position, (stop, delivery) in enumerate(zip(remaining, deliveries, strict=True), 1):
            if delivery is None or delivery.nearby_notified or delivery.status != "dispatched":
                continue
            arrival = stop.planned_eta + shift
            delivery = delivery.model_copy(update={"nearby_notified": True})
            updated.append(delivery)
            notices.append(
                (
                    delivery,
                    Notice(
                        "driver_nearby",
                        {
                            "stops_away": position,
                            "driver": route.driver_name.split()[0],
                            "minutes": minutes_until(arrival, now),
                        },
                        supersede_key=eta_key(delivery),
                        expires_at=arrival + timedelta(minutes=30),
                    ),
                )
            )
        self.store.queue_deliveries(tx, updated)
        return self.notifier.queue(tx, brand, notices, origin)

    async def _driver_position(
        self, brand: BrandSettings, event: DriverPositionEvent, origin: float, tx: Pipeline
    ) -> list[str]:
        data = event.data
        route = await self._route(brand, data.route_id)
        if route.position_at is not None and data.recorded_at <= route.position_at:
            return []  # an older fix than the one we have
        route = route.model_copy(
            update={"position": data.position, "position_at": data.recorded_at}
        )
        self.store.queue_route(tx, route)
        remaining = route.remaining()
        next_arrival = None
        if remaining and remaining[0].location is not None:
            next_arrival = data.recorded_at + travel_time(data.position, remaining[0].location)
        return await self._nearby(brand, route, next_arrival, origin, tx)

    async def _stop_completed(
        self, brand: BrandSettings, event: StopCompletedEvent, origin: float, tx: Pipeline
    ) -> list[str]:
        data = event.data
        (delivery,) = await self._deliveries(brand, [data.delivery_id], "data.delivery_id")
        route_id = data.route_id or delivery.route_id
        route = await self._route(brand, route_id) if route_id else None
        photos = [str(u) for u in data.photo_urls]
        delivery = delivery.model_copy(
            update={
                "status": data.outcome,
                "completed_at": data.completed_at,
                "photo_urls": photos,
                "failure_reason": data.reason,
            }
        )
        self.store.queue_deliveries(tx, [delivery])
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
                            not_before=data.completed_at
                            + timedelta(minutes=brand.survey_delay_min),
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
        ids = self.notifier.queue(tx, brand, notices, origin)
        if route is not None:
            stops = [
                s.model_copy(update={"status": data.outcome})
                if s.delivery_id == data.delivery_id
                else s
                for s in route.stops
            ]
            route = route.model_copy(update={"stops": stops})
            self.store.queue_route(tx, route)
            ids += await self._nearby(brand, route, None, origin, tx)
        return ids

    async def _eta_changed(
        self, brand: BrandSettings, event: EtaChangedEvent, origin: float, tx: Pipeline
    ) -> list[str]:
        data = event.data
        route = await self._route(brand, data.route_id)
        deliveries = await self._deliveries(
            brand, [u.delivery_id for u in data.stops], "data.stops.{}.delivery_id"
        )
        etas = {u.delivery_id: u.eta for u in data.stops}
        route = route.model_copy(
            update={
                "stops": [
                    s.model_copy(update={"planned_eta": etas.get(s.delivery_id, s.planned_eta)})
                    for s in route.stops
                ]
            }
        )
        notices: list[tuple[DeliveryRecord, Notice]] = []
        updated: list[DeliveryRecord] = []
        for update, delivery in zip(data.stops, deliveries, strict=True):
            if delivery.status != "dispatched":
                continue
            window: Window = update.window or eta_window(update.eta, brand.eta_window_min)
            changes: dict[str, object] = {"eta": update.eta, "eta_window": window}
            if window_moved(delivery.notified_window, window, brand.eta_threshold_min):
                changes["notified_window"] = window
                notices.append(
                    (
                        delivery.model_copy(update=changes),
                        Notice(
                            "eta_changed",
                            {"window": window, "old_window": delivery.notified_window},
                            supersede_key=eta_key(delivery),
                            expires_at=window.end,
                        ),
                    )
                )
            updated.append(delivery.model_copy(update=changes))
        self.store.queue_route(tx, route)
        self.store.queue_deliveries(tx, updated)
        return self.notifier.queue(tx, brand, notices, origin)
