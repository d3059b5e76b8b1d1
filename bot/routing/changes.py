"""Changing a dispatched route: re-plan it, tell the customers whose ETA moved, tell dispatch.

The route as stored (from `route.dispatched`, kept current by later events) becomes a
routing plan from the driver's last known position and the service's clock; the
routing adapter applies the change; the new order and ETAs are stored; customers
whose window moved by the brand's threshold hear about it through the same path as a
dispatch system's `route.eta_changed`; and a signed `route.updated` webhook goes to
the brand's dispatch system or driver app.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.base.brands import BrandSettings
from bot.base.clock import Clock
from bot.base.logs import log
from bot.base.store import DeliveryRecord, RouteRecord, RouteStop, Store, eta_window
from bot.base.values import GeoPoint, Window
from bot.events.ingest import EventService
from bot.events.models import parse_event
from bot.messaging.outbox import Outbox
from bot.messaging.webhooks import tell_dispatch
from routing_adapter.engine import Change, ChangeResult, InsertStop, RoutingAdapter
from routing_adapter.osrm import OsrmError, OsrmTable
from routing_adapter.plan import Plan, PlanError


class RouteNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Preview:
    """A change worked out on a route but not yet stored."""

    route: RouteRecord
    plan: Plan
    by_stop: dict[str, DeliveryRecord]
    change: Change
    result: ChangeResult

    def fits(self, stop_id: str) -> bool:
        """True when `stop_id` is served on time and no stop is left out or late."""
        r = self.result.route
        return stop_id in r.sequence and r.feasible and not r.unassigned


def _new_stop(change: InsertStop, delivery_id: str | None, eta: datetime) -> RouteStop:
    stop = change.stop
    window = None
    if stop.window is not None:
        assert isinstance(stop.window.start, datetime) and isinstance(stop.window.end, datetime)
        window = Window(start=stop.window.start, end=stop.window.end)
    lat, lon = stop.location.lat, stop.location.lon
    assert lat is not None and lon is not None  # stored routes are on lat/lon
    return RouteStop(
        stop_id=stop.id,
        delivery_id=delivery_id or stop.id,
        location=GeoPoint(lat=lat, lon=lon),
        window=window,
        service_time_s=stop.service_s,
        planned_eta=eta,
        kind=stop.kind,
        size=stop.size,
    )


@dataclass
class RouteService:
    store: Store
    events: EventService
    outbox: Outbox
    adapter: RoutingAdapter
    clock: Clock
    # Road travel times when an OSRM server is configured; great-circle estimates otherwise.
    osrm: OsrmTable | None = None

    async def plan_of(
        self, brand: BrandSettings, route: RouteRecord
    ) -> tuple[Plan, dict[str, DeliveryRecord]]:
        """The remaining route as a routing plan, in the driver's current order."""
        remaining = route.remaining()
        deliveries = await self.store.get_deliveries(
            brand.brand_id, [s.delivery_id for s in remaining]
        )
        by_stop = {s.stop_id: d for s, d in zip(remaining, deliveries, strict=True) if d}
        missing = [s.stop_id for s in remaining if s.location is None]
        if missing:
            raise PlanError(
                [
                    {
                        "field": "route.stops",
                        "message": f"stops without a location: {', '.join(missing)}",
                    }
                ]
            )
        start = route.position or route.vehicle_start
        stops: list[dict[str, Any]] = []
        for stop in remaining:
            assert stop.location is not None
            delivery = by_stop.get(stop.stop_id)
            size = sum(i.size * i.quantity for i in delivery.items) if delivery else 1
            entry: dict[str, Any] = {
                "id": stop.stop_id,
                "location": stop.location.model_dump(),
                "service_s": stop.service_time_s,
                "kind": stop.kind,
                "size": stop.size if stop.size is not None else size,
            }
            if stop.window is not None:
                entry["window"] = stop.window.model_dump(mode="json")
            stops.append(entry)
        plan = Plan.model_validate(
            {
                "driver": {"location": start.model_dump(), "time": self.clock.now().isoformat()},
                "vehicle": {"capacity": route.capacity},
                "stops": stops,
                # Customers behind a late-window stop must not wait for it.
                "wait_cost": 1.0,
            }
        )
        if self.osrm is not None:
            try:
                plan = await self.osrm.with_matrix(plan)
            except OsrmError as exc:  # keep serving customers on estimated times
                log.warning("routing.osrm_unavailable", error=str(exc))
        return plan, by_stop

    async def preview(self, brand: BrandSettings, route_id: str, change: Change) -> Preview:
        """The route as it would be after `change`; nothing is stored or sent."""
        route = await self.store.get_route(brand.brand_id, route_id)
        if route is None:
            raise RouteNotFound(route_id)
        plan, by_stop = await self.plan_of(brand, route)
        result = await self.adapter.apply(plan, change)
        return Preview(route, plan, by_stop, change, result)

    async def apply_change(
        self, brand: BrandSettings, route_id: str, change: Change
    ) -> ChangeResult:
        preview = await self.preview(brand, route_id, change)
        await self.commit(brand, preview)
        return preview.result

    async def commit(
        self,
        brand: BrandSettings,
        preview: Preview,
        told: str | None = None,
        pickup_for: str | None = None,
    ) -> RouteRecord:
        """Store a previewed change, tell the customers whose ETA moved, tell dispatch.

        `told`: a delivery whose customer is being answered directly (the one who asked
        for the change); its new ETA is stored without a separate ETA message.
        `pickup_for`: the delivery an inserted pickup stop belongs to.
        """
        route, change, result = preview.route, preview.change, preview.result
        etas = {
            stop: eta for stop, eta in result.route.arrivals.items() if isinstance(eta, datetime)
        }
        pending = {s.stop_id: s for s in route.remaining()}
        if isinstance(change, InsertStop):
            pending[change.stop.id] = _new_stop(change, pickup_for, etas[change.stop.id])
        done = [s for s in route.stops if s.status != "pending"]
        reordered: list[RouteStop] = []
        for stop_id in result.route.sequence:
            base = pending[stop_id]
            update: dict[str, Any] = {"planned_eta": etas[stop_id]}
            if change.type == "window" and change.stop_id == stop_id:
                start, end = change.window.start, change.window.end
                # The solve above already refused a window in seconds on a dated route.
                assert isinstance(start, datetime) and isinstance(end, datetime)
                update["window"] = Window(start=start, end=end)
            if change.type == "service_time" and change.stop_id == stop_id:
                update["service_time_s"] = change.service_s
            reordered.append(base.model_copy(update=update))
        # A removed or unservable delivery leaves today's route and is booked again.
        dropped = [pending[s] for s in pending if s not in result.route.sequence]
        route = route.model_copy(update={"stops": [*done, *reordered]})
        await self.store.put_route(route)
        by_stop = preview.by_stop
        for stop in dropped:
            delivery = by_stop.get(stop.stop_id)
            if delivery is not None and stop.kind == "delivery":
                await self.store.put_delivery(
                    delivery.model_copy(
                        update={
                            "status": "created",
                            "route_id": None,
                            "stop_id": None,
                            "eta": None,
                            "eta_window": None,
                        }
                    )
                )
        deliveries = [s for s in reordered if s.kind == "delivery"]
        if told is not None:
            # The customer who asked for a new window is promised it in the same write
            # as their new ETA: one record write, nothing to interleave with.
            promised = None
            if change.type == "window":
                promised = next((s.window for s in deliveries if s.delivery_id == told), None)
            await self._store_eta(brand, told, deliveries, promised)
        announced = [s for s in deliveries if s.delivery_id != told]
        if announced:
            event = {
                "id": f"route-change-{secrets.token_hex(8)}",
                "type": "route.eta_changed",
                "data": {
                    "route_id": route.route_id,
                    "stops": [
                        {"delivery_id": s.delivery_id, "eta": s.planned_eta.isoformat()}
                        for s in announced
                    ],
                },
            }
            await self.events.accept(brand, parse_event(event))
        # The driver's payload carries every remaining stop as it now is (a new pickup too).
        await self.publish(brand, route, await self.deliveries_of(brand, route), change.type)
        return route

    async def _store_eta(
        self,
        brand: BrandSettings,
        delivery_id: str,
        stops: list[RouteStop],
        promised: Window | None,
    ) -> None:
        stop = next((s for s in stops if s.delivery_id == delivery_id), None)
        delivery = await self.store.get_delivery(brand.brand_id, delivery_id)
        if stop is None or delivery is None:
            return
        window = eta_window(stop.planned_eta, brand.eta_window_min)
        update: dict[str, Any] = {
            "eta": stop.planned_eta,
            "eta_window": window,
            "notified_window": window,
        }
        if promised is not None:
            update["promised_window"] = promised
        await self.store.put_delivery(delivery.model_copy(update=update))

    async def deliveries_of(
        self, brand: BrandSettings, route: RouteRecord
    ) -> dict[str, DeliveryRecord]:
        remaining = route.remaining()
        found = await self.store.get_deliveries(brand.brand_id, [s.delivery_id for s in remaining])
        return {s.stop_id: d for s, d in zip(remaining, found, strict=True) if d is not None}

    async def publish(
        self,
        brand: BrandSettings,
        route: RouteRecord,
        by_stop: dict[str, DeliveryRecord],
        reason: str,
    ) -> str | None:
        """Queue a signed `route.updated` webhook, if the brand has a webhook URL."""
        return await tell_dispatch(
            self.outbox,
            brand,
            "route.updated",
            route_updated(route, by_stop, reason),
            self.clock.now(),
            supersede_key=f"route.updated:{brand.brand_id}:{route.route_id}",
        )


def route_updated(
    route: RouteRecord, by_stop: dict[str, DeliveryRecord], reason: str
) -> dict[str, Any]:
    """The payload a dispatch system or driver app receives (see README)."""
    stops = []
    for stop in route.remaining():
        delivery = by_stop.get(stop.stop_id)
        stops.append(
            {
                "stop_id": stop.stop_id,
                "delivery_id": stop.delivery_id,
                "eta": stop.planned_eta.isoformat(),
                "window": stop.window.model_dump(mode="json") if stop.window else None,
                "safe_place": delivery.safe_place if delivery else None,
                "instructions": delivery.instructions if delivery else None,
                "access_code": delivery.access_code if delivery else None,
                "kind": stop.kind,
            }
        )
    return {
        "route_id": route.route_id,
        "driver_id": route.driver_id,
        "reason": reason,
        "stops": stops,
    }
