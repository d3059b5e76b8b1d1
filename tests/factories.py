"""Builders of valid events; each test changes only what it is about."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_ids = itertools.count(1)

PHONES = {"en": "+12125550142", "es": "+34612345678", "fr": "+33612345678"}


def event_id() -> str:
    return f"evt-{next(_ids)}"


def delivery_created(
    delivery_id: str = "d1",
    *,
    locale: str = "en",
    phone: str | None = None,
    timezone: str = "America/New_York",
    window: tuple[datetime, datetime] | None = None,
    items: int = 1,
) -> dict[str, Any]:
    if window is None:
        # Tomorrow 12:00-16:00 where the customer lives: always ahead, whatever the date.
        zone = ZoneInfo(timezone)
        day = datetime.now(zone).date() + timedelta(days=1)
        window = (
            datetime.combine(day, time(12), zone),
            datetime.combine(day, time(16), zone),
        )
    start, end = window
    return {
        "id": event_id(),
        "type": "delivery.created",
        "data": {
            "delivery_id": delivery_id,
            "order_id": f"ORD-{delivery_id}",
            "customer": {
                "name": "Ana Lopez",
                "phone": phone or PHONES[locale],
                "locale": locale,
                "timezone": timezone,
            },
            "address": {"line1": "55 King St", "city": "Brooklyn", "lat": 40.68, "lon": -73.97},
            "promised_window": {"start": start.isoformat(), "end": end.isoformat()},
            "items": [{"sku": f"S{i}", "name": f"Item {i}"} for i in range(items)],
        },
    }


def route_dispatched(
    deliveries: list[str],
    *,
    route_id: str = "r1",
    first_eta: datetime | None = None,
    gap_min: int = 12,
) -> dict[str, Any]:
    first = first_eta or datetime.now(UTC) + timedelta(minutes=30)
    return {
        "id": event_id(),
        "type": "route.dispatched",
        "data": {
            "route_id": route_id,
            "driver": {"id": "drv1", "name": "Sam Rivera"},
            "vehicle_start": {"lat": 40.67, "lon": -73.94},
            "stops": [
                {
                    "stop_id": f"s{n}",
                    "delivery_id": d,
                    "location": {"lat": 40.68 + n * 0.002, "lon": -73.97 + n * 0.002},
                    "service_time_s": 120,
                    "planned_eta": (first + timedelta(minutes=gap_min * n)).isoformat(),
                }
                for n, d in enumerate(deliveries)
            ],
        },
    }


def eta_changed(route_id: str, etas: dict[str, datetime]) -> dict[str, Any]:
    return {
        "id": event_id(),
        "type": "route.eta_changed",
        "data": {
            "route_id": route_id,
            "stops": [{"delivery_id": d, "eta": eta.isoformat()} for d, eta in etas.items()],
        },
    }


def stop_completed(delivery_id: str, outcome: str = "delivered", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "delivery_id": delivery_id,
        "outcome": outcome,
        "completed_at": datetime.now(UTC).isoformat(),
    }
    if outcome == "delivered":
        data["photo_urls"] = ["https://photos.example.com/pod/1.jpg"]
    else:
        data["reason"] = "not_home"
    data.update(extra)
    return {"id": event_id(), "type": "stop.completed", "data": data}


def driver_position(route_id: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "id": event_id(),
        "type": "driver.position",
        "data": {
            "route_id": route_id,
            "position": {"lat": lat, "lon": lon},
            "recorded_at": datetime.now(UTC).isoformat(),
        },
    }


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    """A copy of the event with one nested field removed."""
    out = copy.deepcopy(event)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def replace(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    out = copy.deepcopy(event)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out
