"""The delivery-events API's payloads: what a dispatch system may send us.

Every event is `{id, type, occurred_at, data}`; `type` selects the schema of
`data`. These models are the single source for validation (field-level 400s)
and for the published OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from bot.base.values import Address, Customer, GeoPoint, Identifier, Item, Model, Window


class DeliveryCreated(Model):
    delivery_id: Identifier
    order_id: str = Field(min_length=1, max_length=64)
    customer: Customer
    address: Address
    promised_window: Window
    items: list[Item] = Field(default_factory=list, max_length=200)


class Stop(Model):
    stop_id: Identifier
    delivery_id: Identifier
    location: GeoPoint | None = None
    window: Window | None = None
    service_time_s: int = Field(default=120, ge=0, le=24 * 3600)
    planned_eta: AwareDatetime


class Driver(Model):
    id: Identifier
    name: str = Field(min_length=1, max_length=120)
    phone: str | None = None


class RouteDispatched(Model):
    route_id: Identifier
    driver: Driver
    vehicle_start: GeoPoint
    capacity: int | None = Field(default=None, ge=0)
    stops: list[Stop] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> RouteDispatched:
        stop_ids = [s.stop_id for s in self.stops]
        if len(set(stop_ids)) != len(stop_ids):
            raise ValueError("stop_id values must be unique within a route")
        delivery_ids = [s.delivery_id for s in self.stops]
        if len(set(delivery_ids)) != len(delivery_ids):
            raise ValueError("a delivery may appear only once in a route")
        return self


class DriverPosition(Model):
    route_id: Identifier
    position: GeoPoint
    recorded_at: AwareDatetime


class StopCompleted(Model):
    delivery_id: Identifier
    route_id: Identifier | None = None
    outcome: Literal["delivered", "failed"]
    completed_at: AwareDatetime
    photo_urls: list[HttpUrl] = Field(default_factory=list, max_length=10)
    reason: (
        Literal["not_home", "no_access", "refused", "damaged", "address_not_found", "other"] | None
    ) = None
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason(self) -> StopCompleted:
        if self.outcome == "failed" and self.reason is None:
            raise ValueError("a failed stop needs a reason")
        return self


class EtaUpdate(Model):
    delivery_id: Identifier
    eta: AwareDatetime
    window: Window | None = None


class EtaChanged(Model):
    route_id: Identifier
    stops: list[EtaUpdate] = Field(min_length=1, max_length=500)


class _Envelope(Model):
    id: Identifier = Field(
        description="unique per brand; a repeated id is acknowledged, not re-applied"
    )
    occurred_at: AwareDatetime | None = None


class DeliveryCreatedEvent(_Envelope):
    type: Literal["delivery.created"]
    data: DeliveryCreated


class RouteDispatchedEvent(_Envelope):
    type: Literal["route.dispatched"]
    data: RouteDispatched


class DriverPositionEvent(_Envelope):
    type: Literal["driver.position"]
    data: DriverPosition


class StopCompletedEvent(_Envelope):
    type: Literal["stop.completed"]
    data: StopCompleted


class EtaChangedEvent(_Envelope):
    type: Literal["route.eta_changed"]
    data: EtaChanged


Event = Annotated[
    DeliveryCreatedEvent
    | RouteDispatchedEvent
    | DriverPositionEvent
    | StopCompletedEvent
    | EtaChangedEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES = (
    "delivery.created",
    "route.dispatched",
    "driver.position",
    "stop.completed",
    "route.eta_changed",
)


class EventError(ValueError):
    """A payload that is not a valid event; `fields` lists each problem by path."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields

    def __reduce__(self) -> tuple[type[EventError], tuple[list[dict[str, str]]]]:
        return (self.__class__, (self.fields,))


def _path(loc: tuple[int | str, ...]) -> str:
    # The discriminated union puts the event type in the path ("data" is what a caller wrote).
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in EVENT_TYPES)]
    return ".".join(parts) or "(body)"


def parse_event(raw: bytes | str | dict[str, Any]) -> Event:
    """Validate one event; raise `EventError` with one entry per faulty field."""
    try:
        if isinstance(raw, dict):
            return EVENT_ADAPTER.validate_python(raw)
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        fields = []
        for err in exc.errors(include_url=False):
            message = str(err["msg"]).removeprefix("Value error, ")
            field = "type" if err["type"].startswith("union_tag") else _path(err["loc"])
            fields.append({"field": field, "message": message, "type": err["type"]})
        raise EventError(fields) from None
