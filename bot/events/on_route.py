"""Route events: a route dispatched, the driver's position, new ETAs; and "driver nearby"."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.base.brands import BrandSettings
from bot.base.geo import travel_time
from bot.base.steps import Steps
from bot.base.store import DeliveryRecord, RouteRecord, RouteStop, eta_window, window_moved
from bot.base.values import Window
from bot.events.models import DriverPositionEvent, EtaChangedEvent, RouteDispatchedEvent
from bot.messaging.notify import Notice, eta_key, minutes_until

if TYPE_CHECKING:
    from bot.events.ingest import EventService


async def route_dispatched(
    svc: EventService,
    brand: BrandSettings,
    event: RouteDispatchedEvent,
    origin: float,
    steps: Steps,
) -> list[str]:
    data = event.data
    deliveries = await svc.deliveries(
        brand, [s.delivery_id for s in data.stops], "data.stops.{}.delivery_id"
    )
    route = RouteRecord(
        brand_id=brand.brand_id,
        route_id=data.route_id,
        driver_id=data.driver.id,
        driver_name=data.driver.name,
        vehicle_start=data.vehicle_start,
        capacity=data.capacity,
        dispatched_at=svc.clock.now(),
        stops=[RouteStop(**s.model_dump()) for s in data.stops],
    )
    notices: list[tuple[DeliveryRecord, Notice]] = []
    updated: list[DeliveryRecord] = []
    for stop, delivery in zip(data.stops, deliveries, strict=True):
        if delivery.status in ("delivered", "failed", "cancelled"):
            continue
        window = eta_window(stop.planned_eta, brand.eta_window_min)
        first = not delivery.tracking_sent  # no scheduled message carried the link
        delivery = delivery.model_copy(
            update={
                "status": "dispatched",
                "route_id": data.route_id,
                "stop_id": stop.stop_id,
                "eta": stop.planned_eta,
                "eta_window": window,
                "notified_window": window,
                "nearby_notified": False,
                "tracking_sent": True,
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
                    tracking_link=first,
                ),
            )
        )
    svc.store.queue_route(steps.state, route)
    svc.store.queue_deliveries(steps.state, updated)
    return svc.notifier.queue(steps.messages, brand, notices, origin, seed=event.id)


async def nearby(
    svc: EventService,
    brand: BrandSettings,
    route: RouteRecord,
    next_arrival: datetime | None,
    origin: float,
    steps: Steps,
    seed: str,
) -> list[str]:
    """Tell the customers within `nearby_stops` of the driver, once each (`seed`: the
    event's id, from which the messages' ids are derived)."""
    remaining = route.remaining()[: brand.nearby_stops]
    if not remaining:
        return []
    deliveries = await svc.store.get_deliveries(brand.brand_id, [s.delivery_id for s in remaining])
    now = svc.clock.now()
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
    svc.store.queue_deliveries(steps.state, updated)
    return svc.notifier.queue(steps.messages, brand, notices, origin, seed=seed)


async def driver_position(
    svc: EventService, brand: BrandSettings, event: DriverPositionEvent, origin: float, steps: Steps
) -> list[str]:
    data = event.data
    route = await svc.route(brand, data.route_id)
    if route.position_at is not None and data.recorded_at <= route.position_at:
        return []  # an older fix than the one we have
    route = route.model_copy(update={"position": data.position, "position_at": data.recorded_at})
    svc.store.queue_route(steps.state, route)
    remaining = route.remaining()
    next_arrival = None
    if remaining and remaining[0].location is not None:
        next_arrival = data.recorded_at + travel_time(data.position, remaining[0].location)
    return await nearby(svc, brand, route, next_arrival, origin, steps, event.id)


async def eta_changed(
    svc: EventService, brand: BrandSettings, event: EtaChangedEvent, origin: float, steps: Steps
) -> list[str]:
    data = event.data
    route = await svc.route(brand, data.route_id)
    deliveries = await svc.deliveries(
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
    svc.store.queue_route(steps.state, route)
    svc.store.queue_deliveries(steps.state, updated)
    return svc.notifier.queue(steps.messages, brand, notices, origin, seed=event.id)
