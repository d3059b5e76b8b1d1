"""The seeded demo brand, its ten customers and a driver's route, for the sandbox.

The demo fires the same events a dispatch system would send, through the same
`EventService.accept` path as `POST /v1/events`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from bot.agents.accounts import AccountStore, Agent
from bot.agents.canned import CannedRejected, CannedResponses
from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.store import Store
from bot.config import Settings
from bot.events.ingest import Accepted, EventService
from bot.events.models import parse_event
from bot.sandbox.demo_desk import DEMO_CANNED, DEMO_DESK


class DemoServices(Protocol):
    """What the demo uses; the composition root provides it."""

    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock
    brands: BrandStore
    store: Store
    accounts: AccountStore
    events: EventService
    canned: CannedResponses


DEMO_BRAND_ID = "demo"
DEMO_TZ = "America/New_York"
DRIVER = {"id": "drv-7", "name": "Sam Rivera"}
DEPOT = {"lat": 40.6782, "lon": -73.9442}


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    name: str
    phone: str
    locale: str
    street: str
    lat: float
    lon: float
    items: tuple[str, ...]


CUSTOMERS = (
    DemoCustomer(
        "Ana García", "+12125550101", "es", "412 Dean St", 40.6826, -73.9790, ("Oak side table",)
    ),
    DemoCustomer(
        "Ben Carter",
        "+12125550102",
        "en",
        "77 Prospect Pl",
        40.6790,
        -73.9740,
        ("Desk lamp", "Bulbs (4)"),
    ),
    DemoCustomer(
        "Chloé Martin", "+12125550103", "fr", "19 Sterling Pl", 40.6760, -73.9700, ("Linen duvet",)
    ),
    DemoCustomer(
        "Dev Patel", "+12125550104", "en", "230 Park Pl", 40.6750, -73.9650, ("Office chair",)
    ),
    DemoCustomer(
        "Emma Brooks", "+12125550105", "en", "5 St Marks Ave", 40.6770, -73.9600, ("Ceramic vase",)
    ),
    DemoCustomer(
        "Felipe Ruiz", "+12125550106", "es", "88 Bergen St", 40.6800, -73.9550, ("Running shoes",)
    ),
    DemoCustomer(
        "Grace Kim",
        "+12125550107",
        "en",
        "340 Sterling Pl",
        40.6720,
        -73.9580,
        ("Blender", "Spare jug"),
    ),
    DemoCustomer(
        "Hugo Lambert", "+12125550108", "en", "12 Lincoln Pl", 40.6700, -73.9520, ("Bookshelf",)
    ),
    DemoCustomer(
        "Isla Reid", "+12125550109", "en", "61 Eastern Pkwy", 40.6710, -73.9450, ("Rug 5x8",)
    ),
    DemoCustomer(
        "Jon Okafor", "+12125550110", "en", "901 Union St", 40.6690, -73.9400, ("Monitor arm",)
    ),
)


DEMO_AGENT = "agent"
# A second agent, so that assignment and transfers have somewhere to go (same password).
DEMO_AGENT_2 = "agent2"
DEMO_LOGO = (
    "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIH"
    "dpZHRoPSIxMzIiIGhlaWdodD0iMzIiIHZpZXdCb3g9IjAgMCAxMzIgMzIiPjxyZWN0IHdpZHRoPSIzMi"
    "IgaGVpZ2h0PSIzMiIgcng9IjciIGZpbGw9IiNmZmZmZmYiLz48cGF0aCBkPSJNOCAxMmw4LTQgOCA0dj"
    "lsLTggNC04LTR6IiBmaWxsPSIjMGI1ZDRiIi8+PHRleHQgeD0iNDAiIHk9IjIyIiBmb250LWZhbWlseT"
    "0iQXJpYWwsc2Fucy1zZXJpZiIgZm9udC1zaXplPSIxNyIgZm9udC13ZWlnaHQ9IjcwMCIgZmlsbD0iI2"
    "ZmZmZmZiI+UGFyY2VsbHk8L3RleHQ+PC9zdmc+"
)


def demo_brand() -> BrandSettings:
    return BrandSettings(
        brand_id=DEMO_BRAND_ID,
        display_name="Parcelly",
        sender_name="Parcelly",
        channels=["sandbox"],
        locales=["en", "es", "fr"],
        default_locale="en",
        timezone=DEMO_TZ,
        # Off so that a first try at any hour shows messages at once; the sandbox's
        # "Make it quiet now" turns them on to show a deferral.
        quiet_hours=None,
        help_text="Text us about your delivery any time. Call 1-800-555-0199 for urgent help.",
        desk=DEMO_DESK,
        # The tracking page's branding: an uploaded logo (an inline SVG) and a colour.
        logo_url=DEMO_LOGO,
        brand_colour="#0b5d4b",
    )


async def seed(services: DemoServices) -> None:
    """Create the demo brand and its API key if they are not there yet."""
    if await services.brands.get(DEMO_BRAND_ID) is None:
        await services.brands.save(demo_brand())
    await services.brands.add_api_key(DEMO_BRAND_ID, services.settings.demo_api_key)
    if await services.accounts.get(DEMO_BRAND_ID, DEMO_AGENT) is None:
        agent = Agent(brand_id=DEMO_BRAND_ID, username=DEMO_AGENT, name="Dana (demo)", role="admin")
        await services.accounts.create(agent, services.settings.demo_agent_password)
    if await services.accounts.get(DEMO_BRAND_ID, DEMO_AGENT_2) is None:
        agent = Agent(brand_id=DEMO_BRAND_ID, username=DEMO_AGENT_2, name="Lee (demo)")
        await services.accounts.create(agent, services.settings.demo_agent_password)
    if not await services.canned.all(DEMO_BRAND_ID):
        brand = await services.brands.get(DEMO_BRAND_ID)
        assert brand is not None
        for canned in DEMO_CANNED:
            try:
                await services.canned.save(brand, canned)
            except CannedRejected as exc:  # a brand the demo's admin changed: skip it
                log.warning("demo.canned_skipped", shortcut=canned.shortcut, error=str(exc))


def _run_key(services: DemoServices) -> str:
    return f"{services.keys.sandbox()}:demo:run"


async def current_run(services: DemoServices) -> str | None:
    raw = await services.redis.get(_run_key(services))
    return None if raw is None else str(raw)


def delivery_id(run: str, n: int) -> str:
    return f"d-{run}-{n + 1:02d}"


def route_id(run: str) -> str:
    return f"r-{run}"


def _event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"demo-{secrets.token_hex(8)}", "type": kind, "data": data}


async def fire(services: DemoServices, kind: str, data: dict[str, Any]) -> Accepted:
    brand = await services.brands.get(DEMO_BRAND_ID)
    assert brand is not None, "the demo brand is seeded at start-up"
    return await services.events.accept(brand, parse_event(_event(kind, data)))


async def start_run(services: DemoServices) -> str:
    """Ten new deliveries promised for the next delivery slot."""
    run = secrets.token_hex(3)
    await services.redis.set(_run_key(services), run)
    now = services.clock.now().astimezone(ZoneInfo(DEMO_TZ))
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}
    for n, c in enumerate(CUSTOMERS):
        await fire(
            services,
            "delivery.created",
            {
                "delivery_id": delivery_id(run, n),
                "order_id": f"PCL-{run.upper()}-{n + 1:02d}",
                "customer": {
                    "name": c.name,
                    "phone": c.phone,
                    "locale": c.locale,
                    "timezone": DEMO_TZ,
                },
                "address": {
                    "line1": c.street,
                    "city": "Brooklyn, NY",
                    "country": "US",
                    "lat": c.lat,
                    "lon": c.lon,
                },
                "promised_window": window,
                "items": [{"sku": f"SKU-{i}", "name": item} for i, item in enumerate(c.items)],
            },
        )
    return run


def _planned(now: datetime, n: int) -> datetime:
    return now + timedelta(minutes=15 + 12 * n)


async def dispatch(services: DemoServices, run: str) -> Accepted:
    now = services.clock.now()
    return await fire(
        services,
        "route.dispatched",
        {
            "route_id": route_id(run),
            "driver": DRIVER,
            "vehicle_start": DEPOT,
            "capacity": 40,
            "stops": [
                {
                    "stop_id": f"s-{n + 1:02d}",
                    "delivery_id": delivery_id(run, n),
                    "location": {"lat": c.lat, "lon": c.lon},
                    "service_time_s": 180,
                    "planned_eta": _planned(now, n).isoformat(),
                }
                for n, c in enumerate(CUSTOMERS)
            ],
        },
    )


async def move_driver(services: DemoServices, run: str) -> Accepted | None:
    """Put the driver halfway to the next pending stop (customers nearby hear about it)."""
    route = await services.store.get_route(DEMO_BRAND_ID, route_id(run))
    if route is None or not route.remaining():
        return None
    target = route.remaining()[0].location
    origin = route.position or route.vehicle_start
    assert target is not None
    return await fire(
        services,
        "driver.position",
        {
            "route_id": route.route_id,
            "position": {
                "lat": (origin.lat + target.lat) / 2,
                "lon": (origin.lon + target.lon) / 2,
            },
            "recorded_at": services.clock.now().isoformat(),
        },
    )


async def complete(services: DemoServices, run: str, delivery: str, outcome: str) -> Accepted:
    data: dict[str, Any] = {
        "delivery_id": delivery,
        "route_id": route_id(run),
        "outcome": outcome,
        "completed_at": services.clock.now().isoformat(),
    }
    if outcome == "delivered":
        data["photo_urls"] = [f"{services.settings.public_base_url}/sandbox/static/parcel.svg"]
    else:
        data["reason"] = "not_home"
    return await fire(services, "stop.completed", data)


async def delay(services: DemoServices, run: str, minutes: int) -> Accepted | None:
    route = await services.store.get_route(DEMO_BRAND_ID, route_id(run))
    if route is None or not route.remaining():
        return None
    return await fire(
        services,
        "route.eta_changed",
        {
            "route_id": route.route_id,
            "stops": [
                {
                    "delivery_id": s.delivery_id,
                    "eta": (s.planned_eta + timedelta(minutes=minutes)).isoformat(),
                }
                for s in route.remaining()
            ],
        },
    )
