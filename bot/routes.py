"""Changing a dispatched route: re-plan it, tell the customers whose ETA moved, tell dispatch.

The route as stored (from `route.dispatched`, kept current by later events) becomes a
routing plan from the driver's last known position and the service's clock; the
routing adapter applies the change; the new order and ETAs are stored; customers
whose window moved by the brand's threshold hear about it through the same path as a
dispatch system's `route.eta_changed`; and a signed `route.updated` webhook goes to
the brand's dispatch system or driver app.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.brands import BrandSettings
from bot.clock import Clock
from bot.events import Window, parse_event
from bot.ingest import EventService
from bot.logs import log
from bot.outbox import NewMessage, Outbox
from bot.store import DeliveryRecord, RouteRecord, RouteStop, Store
from routing_adapter.engine import Change, ChangeResult, RoutingAdapter
from routing_adapter.osrm import OsrmError, OsrmTable
from routing_adapter.plan import Plan, PlanError


class RouteNotFound(LookupError):
    pass


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
                "kind": "delivery",
                "size": size,
            }
            if stop.window is not None:
                entry["window"] = stop.window.model_dump(mode="json")
            stops.append(entry)
        plan = Plan.model_validate(
            {
                "driver": {"location": start.model_dump(), "time": self.clock.now().isoformat()},
                "vehicle": {"capacity": route.capacity},
                "stops": stops,
            }
        )
        if self.osrm is not None:
            try:
                plan = await self.osrm.with_matrix(plan)
            except OsrmError as exc:  # keep serving customers on estimated times
                log.warning("routing.osrm_unavailable", error=str(exc))
        return plan, by_stop

    async def apply_change(
        self, brand: BrandSettings, route_id: str, change: Change
    ) -> ChangeResult:
        route = await self.store.get_route(brand.brand_id, route_id)
        if route is None:
            raise RouteNotFound(route_id)
        plan, by_stop = await self.plan_of(brand, route)
        result = await self.adapter.apply(plan, change)
        etas = {
            stop: eta for stop, eta in result.route.arrivals.items() if isinstance(eta, datetime)
        }
        pending = {s.stop_id: s for s in route.remaining()}
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
        # A removed or unservable stop leaves today's route and is booked again.
        dropped = [pending[s] for s in pending if s not in result.route.sequence]
        route = route.model_copy(update={"stops": [*done, *reordered]})
        await self.store.put_route(route)
        for stop in dropped:
            delivery = by_stop.get(stop.stop_id)
            if delivery is not None:
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
        if reordered:
            event = {
                "id": f"route-change-{secrets.token_hex(8)}",
                "type": "route.eta_changed",
                "data": {
                    "route_id": route_id,
                    "stops": [
                        {"delivery_id": s.delivery_id, "eta": s.planned_eta.isoformat()}
                        for s in reordered
                    ],
                },
            }
            await self.events.accept(brand, parse_event(event))
        await self.publish(brand, route, by_stop, reason=change.type)
        return result

    async def publish(
        self,
        brand: BrandSettings,
        route: RouteRecord,
        by_stop: dict[str, DeliveryRecord],
        reason: str,
    ) -> str | None:
        """Queue a signed `route.updated` webhook, if the brand has a webhook URL."""
        if not brand.webhook_url:
            return None
        body = route_updated(route, by_stop, reason, self.clock.now())
        return await self.outbox.submit(
            NewMessage(
                brand_id=brand.brand_id,
                type="route.updated",
                channel="webhook",
                to=brand.webhook_url,
                text=json.dumps(body),
                supersede_key=f"route.updated:{brand.brand_id}:{route.route_id}",
            )
        )


def route_updated(
    route: RouteRecord, by_stop: dict[str, DeliveryRecord], reason: str, now: datetime
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
            }
        )
    return {
        "id": f"ru-{secrets.token_hex(8)}",
        "type": "route.updated",
        "occurred_at": now.isoformat(),
        "data": {
            "route_id": route.route_id,
            "driver_id": route.driver_id,
            "reason": reason,
            "stops": stops,
        },
    }
