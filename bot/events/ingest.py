"""Applying delivery events: update what we know, then notify the customers concerned.

Each event type has one handler (`on_delivery`, `on_route`), registered in
`EventService.handlers`; adding an event type is one model in `models.py`, one
handler function and one line here.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Literal

from redis.asyncio import Redis

from bot.base.brands import BrandSettings
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.metrics import Metrics
from bot.base.redisconn import Acks
from bot.base.steps import Steps
from bot.base.store import (
    DeliveryRecord,
    RouteRecord,
    Store,
)
from bot.events import on_delivery, on_route
from bot.events.models import (
    DeliveryCreatedEvent,
    Event,
    EventError,
)
from bot.messaging.notify import Notifier
from integrations.base import ChannelRegistry

EVENT_TTL = timedelta(days=7)
# How long an attempt's "in progress" mark holds off a retry. Its release can fail
# (Redis failing over under it), and then a retry is refused (409) until it expires:
# short, so the dispatch system's retry gets through within seconds. An attempt
# still running when it expires overlapping a retry is harmless: both write the same
# idempotent steps (`Steps`).
IN_PROGRESS_TTL_S = 10
# Delete the "in progress" mark only if it is still this attempt's.
RELEASE_MARK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
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
    handlers: dict[str, Callable[[BrandSettings, Event, float, Steps], Awaitable[list[str]]]] = (
        field(default_factory=dict)
    )
    acks: Acks = field(default_factory=Acks)

    def __post_init__(self) -> None:
        self._release = self.redis.register_script(RELEASE_MARK)
        self.handlers.update(
            {
                "delivery.created": partial(on_delivery.delivery_created, self),
                "route.dispatched": partial(on_route.route_dispatched, self),
                "driver.position": partial(on_route.driver_position, self),
                "stop.completed": partial(on_delivery.stop_completed, self),
                "route.eta_changed": partial(on_route.eta_changed, self),
            }
        )

    async def accept(self, brand: BrandSettings, event: Event) -> Accepted:
        """Apply an event once. A repeated id changes nothing; a failure leaves it retryable.

        The handler reads what it needs and queues its writes as ordered, idempotent
        steps (`Steps`: messages, then state), then the event is marked done. The
        "in progress" mark is this attempt's own and is released whatever ends the
        attempt (an error, a cancelled or cut request), so the dispatch system's retry
        is taken at once instead of answered 409 until the mark expires."""
        origin = time.time()
        key = self.keys.event_seen(brand.brand_id, event.id)
        mark = f"wip:{secrets.token_hex(8)}"
        if not await self.redis.set(key, mark, nx=True, ex=IN_PROGRESS_TTL_S):
            state = str(await self.redis.get(key) or "")
            outcome: Outcome = "in_progress" if state.startswith("wip") else "duplicate"
            self.metrics.events.labels(event.type, outcome).inc()
            return Accepted(outcome)
        try:
            steps = Steps(self.redis, self.keys, self.acks)
            ids = await self.handlers[event.type](brand, event, origin, steps)
            steps.finish(key, "done", ex=int(EVENT_TTL.total_seconds()))
            await steps.run()
        except BaseException:
            # Shielded: a cancelled request still releases its mark.
            await asyncio.shield(self._release(keys=[key], args=[mark]))
            raise
        self.metrics.events.labels(event.type, "accepted").inc()
        return Accepted("accepted", tuple(ids))

    # --- what the handlers (on_delivery, on_route) look up --------------------
    def pick_channel(self, brand: BrandSettings, event: DeliveryCreatedEvent) -> tuple[str, str]:
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

    async def deliveries(
        self, brand: BrandSettings, ids: list[str], path: str
    ) -> list[DeliveryRecord]:
        records = await self.store.get_deliveries(brand.brand_id, ids)
        found: list[DeliveryRecord] = []
        for index, (delivery_id, record) in enumerate(zip(ids, records, strict=True)):
            if record is None:
                raise _invalid(path.format(index), f"unknown delivery {delivery_id!r}")
            found.append(record)
        return found

    async def route(self, brand: BrandSettings, route_id: str) -> RouteRecord:
        route = await self.store.get_route(brand.brand_id, route_id)
        if route is None:
            raise _invalid("data.route_id", f"unknown route {route_id!r}")
        return route
