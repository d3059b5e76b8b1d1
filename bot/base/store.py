"""Deliveries and routes as the service knows them, persisted in Redis as JSON."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.base.keys import Keys
from bot.base.live import execute, queue_tracking
from bot.base.values import Address, Customer, GeoPoint, Item, Window

DeliveryStatus = Literal["created", "dispatched", "delivered", "failed", "cancelled"]


class ReturnRequest(BaseModel):
    """An item the customer wants collected, and when."""

    item: str
    window: Window
    route_id: str | None = None
    stop_id: str | None = None


class DeliveryRecord(BaseModel):
    """A delivery: the order, its customer, and what we last told them."""

    model_config = ConfigDict(extra="ignore")

    brand_id: str
    delivery_id: str
    order_id: str
    customer: Customer
    address: Address
    promised_window: Window
    items: list[Item] = Field(default_factory=list)
    channel: str
    contact: str = Field(description="the address on `channel`: a phone, a chat id")
    locale: str
    status: DeliveryStatus = "created"
    route_id: str | None = None
    stop_id: str | None = None
    eta: AwareDatetime | None = None
    eta_window: Window | None = None
    notified_window: Window | None = None
    nearby_notified: bool = False
    safe_place: str | None = None
    instructions: str | None = None
    # Shown only in the driver payload (route.updated) and masked in logs.
    access_code: str | None = None
    rating: int | None = None
    return_requests: list[ReturnRequest] = Field(default_factory=list)
    completed_at: AwareDatetime | None = None
    photo_urls: list[str] = Field(default_factory=list)
    failure_reason: str | None = None
    created_at: AwareDatetime
    # The tracking page: its link changes when revoked (a new generation), and the
    # first message that carried it was sent (later ones need not repeat it).
    tracking_generation: int = 0
    tracking_sent: bool = False


class RouteStop(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stop_id: str
    delivery_id: str
    location: GeoPoint | None = None
    window: Window | None = None
    service_time_s: int = 120
    planned_eta: AwareDatetime
    kind: Literal["delivery", "pickup"] = "delivery"
    size: int | None = None
    status: Literal["pending", "delivered", "failed"] = "pending"


class RouteRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    brand_id: str
    route_id: str
    driver_id: str
    driver_name: str
    vehicle_start: GeoPoint
    capacity: int | None = None
    stops: list[RouteStop]
    position: GeoPoint | None = None
    position_at: AwareDatetime | None = None
    dispatched_at: AwareDatetime

    def remaining(self) -> list[RouteStop]:
        return [s for s in self.stops if s.status == "pending"]


class Store:
    """Typed reads and writes of deliveries and routes. Records expire after retention."""

    def __init__(self, redis: Redis, keys: Keys, retention: timedelta) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = int(retention.total_seconds())

    @property
    def ttl_s(self) -> int:
        """How long records live (the retention period), in seconds."""
        return self._ttl

    async def get_delivery(self, brand_id: str, delivery_id: str) -> DeliveryRecord | None:
        raw = await self._redis.get(self._keys.delivery(brand_id, delivery_id))
        return None if raw is None else DeliveryRecord.model_validate_json(raw)

    async def get_deliveries(self, brand_id: str, ids: list[str]) -> list[DeliveryRecord | None]:
        if not ids:
            return []
        raws = await get_many(self._redis, [self._keys.delivery(brand_id, i) for i in ids])
        return [None if r is None else DeliveryRecord.model_validate_json(r) for r in raws]

    async def put_delivery(self, record: DeliveryRecord) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue_deliveries(pipe, [record])
            await execute(pipe, self._redis, self._keys)

    def queue_deliveries(self, pipe: Pipeline, records: list[DeliveryRecord]) -> None:
        """Add the writes of `records` to the caller's (non-transactional) pipeline.

        The record, then the brand's address index, then the address's list of brands:
        three slots, each write idempotent, so a step that fails is simply repeated."""
        for brand_id in {r.brand_id for r in records}:
            queue_tracking(
                pipe,
                self._keys,
                brand_id,
                (r.delivery_id for r in records if r.brand_id == brand_id),
            )
        for record in records:
            pipe.set(
                self._keys.delivery(record.brand_id, record.delivery_id),
                record.model_dump_json(),
                ex=self._ttl,
            )
            pipe.set(
                self._keys.address(record.brand_id, record.channel, record.contact),
                record.delivery_id,
                ex=self._ttl,
            )
            brands = self._keys.address_brands(record.channel, record.contact)
            pipe.zadd(brands, {record.brand_id: record.created_at.timestamp()}, nx=True)
            pipe.expire(brands, self._ttl)

    async def delivery_at(
        self, channel: str, contact: str, recipient: str = ""
    ) -> tuple[str, str] | None:
        """(brand, delivery) a customer's message belongs to: the newest delivery of the
        brand that owns the sender it was sent to; with a sender no brand claims (one
        number for the whole deployment), the brand that delivered to this address first
        among those with a live delivery there, so a brand sending an event with another
        brand's customer's number never takes over that customer's replies."""
        if recipient:
            owner = await self._redis.get(self._keys.sender_brand(channel, recipient))
            if owner is not None:
                found = await self._redis.get(self._keys.address(str(owner), channel, contact))
                return None if found is None else (str(owner), str(found))
        brands = await self._redis.zrange(self._keys.address_brands(channel, contact), 0, -1)
        if not brands:
            return None
        ids = await get_many(
            self._redis, [self._keys.address(str(b), channel, contact) for b in brands]
        )
        for brand_id, delivery_id in zip(brands, ids, strict=True):
            if delivery_id is not None:
                return str(brand_id), str(delivery_id)
        return None

    async def get_route(self, brand_id: str, route_id: str) -> RouteRecord | None:
        raw = await self._redis.get(self._keys.route(brand_id, route_id))
        return None if raw is None else RouteRecord.model_validate_json(raw)

    async def put_route(self, record: RouteRecord) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue_route(pipe, record)
            await execute(pipe, self._redis, self._keys)

    def queue_route(self, pipe: Pipeline, record: RouteRecord) -> None:
        # Every stop's page shows the driver and the stops before it.
        queue_tracking(pipe, self._keys, record.brand_id, (s.delivery_id for s in record.stops))
        pipe.set(
            self._keys.route(record.brand_id, record.route_id),
            record.model_dump_json(),
            ex=self._ttl,
        )

    async def append_transcript(self, brand_id: str, delivery_id: str, entry_json: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            queue_transcript(pipe, self._keys, brand_id, delivery_id, entry_json, self._ttl)
            await execute(pipe, self._redis, self._keys)

    async def record_tracking(
        self, brand_id: str, delivery_id: str, action: str, at: float
    ) -> None:
        """Note what the customer did on the tracking page (the newest 200 are kept)."""
        key = self._keys.tracking_log(brand_id, delivery_id)
        async with self._redis.pipeline(transaction=True) as tx:
            tx.rpush(key, json.dumps({"action": action, "at": at}))
            tx.ltrim(key, -200, -1)
            tx.expire(key, self._ttl)
            await tx.execute()

    async def tracking_events(self, brand_id: str, delivery_id: str) -> list[dict[str, object]]:
        """What the customer did on the tracking page, oldest first: [{action, at}]."""
        raws = await self._redis.lrange(self._keys.tracking_log(brand_id, delivery_id), 0, -1)
        return [json.loads(r) for r in raws]

    async def transcript(self, brand_id: str, delivery_id: str) -> list[str]:
        return [
            str(x)
            for x in await self._redis.lrange(self._keys.transcript(brand_id, delivery_id), 0, -1)
        ]


async def get_many(redis: Redis, keys: list[str]) -> list[str | None]:
    """GET of several keys in one round trip (per node): unlike MGET, the keys may be in
    different hash slots (each delivery is in its own, on Redis Cluster)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
        return [None if v is None else str(v) for v in await pipe.execute()]


TRANSCRIPT_LENGTH = 500


def queue_transcript(
    pipe: Pipeline, keys: Keys, brand_id: str, delivery_id: str, entry_json: str, ttl_s: int
) -> None:
    """Append a transcript entry inside the caller's pipeline; the newest 500 are kept."""
    key = keys.transcript(brand_id, delivery_id)
    queue_tracking(pipe, keys, brand_id, (delivery_id,))
    pipe.rpush(key, entry_json)
    pipe.ltrim(key, -TRANSCRIPT_LENGTH, -1)
    pipe.expire(key, ttl_s)


def address_hash(delivery: DeliveryRecord) -> str:
    """Saved places are per address, across deliveries (and never keyed by the raw text)."""
    a = delivery.address
    raw = "|".join(str(x or "").strip().lower() for x in (a.line1, a.line2, a.postcode, a.city))
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def eta_window(eta: datetime, width_min: int) -> Window:
    """The window shown to a customer around a point ETA, on 5-minute boundaries."""
    half = timedelta(minutes=width_min / 2)
    start = eta - half
    start = start - timedelta(
        minutes=start.minute % 5, seconds=start.second, microseconds=start.microsecond
    )
    return Window(start=start, end=start + timedelta(minutes=width_min))


def window_moved(old: Window | None, new: Window, threshold_min: int) -> bool:
    """True when either edge of the window moved by at least the threshold."""
    if old is None:
        return True
    threshold = timedelta(minutes=threshold_min)
    return abs(new.start - old.start) >= threshold or abs(new.end - old.end) >= threshold
