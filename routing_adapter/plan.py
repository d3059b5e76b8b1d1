"""The route plan: a driver's remaining work, as JSON (documented in README.md here).

A plan is validated into `Problem`, the solver's integer form: node 0 is the
driver's position now, nodes 1..n the stops in the plan's order, node n+1 the end
(a depot, or nowhere for an open route); every time is whole seconds from the
plan's origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from routing_adapter.travel import SpeedProfile, travel_matrix

StopId = Annotated[str, Field(min_length=1, max_length=128)]
Time = AwareDatetime | int


class PlanError(ValueError):
    """A plan that cannot be solved as given; `fields` names each problem."""

    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields

    def __reduce__(self) -> tuple[type[PlanError], tuple[list[dict[str, str]]]]:
        # Raised in a solver process and re-raised here: rebuild from the fields.
        return (self.__class__, (self.fields,))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Model):
    """A place: lat/lon, or an index into the plan's `matrix`."""

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    index: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_form(self) -> Location:
        has_point = self.lat is not None and self.lon is not None
        if has_point == (self.index is not None):
            raise ValueError("give either lat and lon, or index")
        return self


class TimeWindow(_Model):
    start: Time
    end: Time

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if type(self.start) is not type(self.end):
            raise ValueError("start and end must both be datetimes or both seconds")
        if self.start >= self.end:  # type: ignore[operator]
            raise ValueError("window start must be before its end")
        return self


class PlanStop(_Model):
    id: StopId
    location: Location
    window: TimeWindow | None = None
    service_s: int = Field(default=120, ge=0, le=24 * 3600)
    kind: Literal["delivery", "pickup"] = "delivery"
    size: int = Field(default=1, ge=0)


class Break(_Model):
    """The driver must take `duration_s` off, starting inside `window`."""

    window: TimeWindow
    duration_s: int = Field(gt=0, le=12 * 3600)


class Driver(_Model):
    location: Location
    time: Time
    # The stop being served right now: it stays first, whatever else changes.
    serving: StopId | None = None
    remaining_service_s: int = Field(default=0, ge=0)


class Vehicle(_Model):
    capacity: int | None = Field(default=None, ge=0)
    load: int | None = Field(default=None, ge=0, description="default: sum of delivery sizes")
    end: Location | None = None


class Plan(_Model):
    driver: Driver
    stops: list[PlanStop] = Field(max_length=1000)
    vehicle: Vehicle = Vehicle()
    breaks: list[Break] = Field(default_factory=list, max_length=4)
    # Seconds between locations, as from OSRM's table API; `index` locations refer to it.
    matrix: list[list[int]] | None = None
    speed_kmh: float = Field(default=30.0, gt=0, le=130)
    detour: float = Field(default=1.3, ge=1, le=3)
    # Cost of a second of the driver's day (first departure to the end), relative to a
    # second of driving. 0 minimises driving alone (the TSPTW objective); a live route
    # wants some, or a stop whose window opens late is served early in the order and
    # everyone behind it waits.
    wait_cost: float = Field(default=0.0, ge=0, le=10)

    @model_validator(mode="after")
    def _unique(self) -> Plan:
        ids = [s.id for s in self.stops]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"stop ids must be unique: {', '.join(dupes)}")
        return self


@dataclass(frozen=True, slots=True)
class BreakSpec:
    earliest: int
    latest: int
    duration: int


@dataclass(frozen=True, slots=True)
class Problem:
    """The solver's view: integers only, node 0 = driver, n+1 = end."""

    ids: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    windows: tuple[tuple[int, int], ...]
    service: tuple[int, ...]
    demand: tuple[int, ...]
    capacity: int | None
    initial_load: int
    breaks: tuple[BreakSpec, ...]
    serving: int | None
    horizon: int
    origin: datetime | None = None
    sticky: tuple[tuple[int, int], ...] = field(default=())
    wait_cost: float = 0.0

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def end(self) -> int:
        return self.n + 1

    def stop_index(self, stop_id: str) -> int:
        return self.ids.index(stop_id) + 1

    def to_time(self, seconds: int) -> datetime | int:
        return seconds if self.origin is None else self.origin + timedelta(seconds=seconds)


def parse_plan(raw: bytes | str | dict[str, object]) -> Plan:
    """Validate plan JSON; raise `PlanError` naming each faulty field."""
    try:
        if isinstance(raw, dict):
            return Plan.model_validate(raw)
        return Plan.model_validate_json(raw)
    except ValidationError as exc:
        raise PlanError(
            [
                {
                    "field": ".".join(str(p) for p in e["loc"]) or "(plan)",
                    "message": str(e["msg"]).removeprefix("Value error, "),
                }
                for e in exc.errors(include_url=False)
            ]
        ) from None


def _seconds(value: Time, origin: datetime | None, where: str, round_up: bool = False) -> int:
    """Whole seconds from the origin; window starts round up and ends down, so that a
    whole-second schedule never starts a visit before its window opens."""
    if isinstance(value, datetime):
        if origin is None:
            raise PlanError([{"field": where, "message": "a datetime, but driver.time is seconds"}])
        offset = (value - origin).total_seconds()
        return math.ceil(offset) if round_up else math.floor(offset)
    if origin is not None:
        raise PlanError([{"field": where, "message": "seconds, but driver.time is a datetime"}])
    return value


def _check_matrix(plan: Plan, locations: list[tuple[str, Location]]) -> None:
    matrix = plan.matrix
    errors: list[dict[str, str]] = []
    if matrix is not None:
        size = len(matrix)
        for r, row in enumerate(matrix):
            if len(row) != size:
                errors.append(
                    {
                        "field": f"matrix.{r}",
                        "message": f"has {len(row)} entries; the matrix is {size} x {size}",
                    }
                )
            if any(v < 0 for v in row):
                errors.append(
                    {"field": f"matrix.{r}", "message": "travel times cannot be negative"}
                )
        for where, loc in locations:
            if loc.index is not None and loc.index >= size:
                errors.append(
                    {
                        "field": where,
                        "message": f"index {loc.index} is outside the {size}-row matrix",
                    }
                )
            if loc.index is None:
                errors.append({"field": where, "message": "with a matrix, use index locations"})
    else:
        for where, loc in locations:
            if loc.index is not None:
                errors.append({"field": where, "message": "index locations need a matrix"})
    if errors:
        raise PlanError(errors)


def build_problem(
    plan: Plan, profile: SpeedProfile | None = None, sequence: list[str] | None = None
) -> Problem:
    """Turn a validated plan into integers, with travel times from the matrix or lat/lon."""
    locations: list[tuple[str, Location]] = [("driver.location", plan.driver.location)]
    locations += [(f"stops.{i}.location", s.location) for i, s in enumerate(plan.stops)]
    end = plan.vehicle.end
    if end is not None:
        locations.append(("vehicle.end", end))
    _check_matrix(plan, locations)
    origin = plan.driver.time if isinstance(plan.driver.time, datetime) else None
    t0 = plan.driver.time if isinstance(plan.driver.time, int) else 0
    n = len(plan.stops)
    ids = tuple(s.id for s in plan.stops)
    if plan.driver.serving is not None and plan.driver.serving not in ids:
        raise PlanError(
            [{"field": "driver.serving", "message": f"unknown stop id {plan.driver.serving!r}"}]
        )

    points = [loc for _, loc in locations]
    if plan.matrix is not None:
        idx = [loc.index for loc in points]
        rows = [[plan.matrix[a][b] for b in idx] for a in idx]  # type: ignore[index]
        if end is None:  # open route: finishing anywhere costs nothing
            for row in rows:
                row.append(0)
            rows.append([0] * (n + 2))
        matrix = tuple(tuple(row) for row in rows)
    else:
        speed = profile or SpeedProfile(base_kmh=plan.speed_kmh, detour=plan.detour)
        hour = origin.hour if origin is not None else None
        coords = tuple((loc.lat, loc.lon) for loc in points)
        matrix = travel_matrix(coords, speed, hour, open_end=end is None)

    windows: list[tuple[int, int]] = [(t0, t0)]
    horizon_guess = t0 + 7 * 86400
    for i, stop in enumerate(plan.stops):
        if stop.window is None:
            windows.append((t0, horizon_guess))
            continue
        a = _seconds(stop.window.start, origin, f"stops.{i}.window.start", round_up=True)
        b = _seconds(stop.window.end, origin, f"stops.{i}.window.end")
        windows.append((max(a, t0), b - 1))  # [start, end): service must begin before the end
    windows.append((t0, horizon_guess))
    service = [plan.driver.remaining_service_s if plan.driver.serving is None else 0]
    service += [s.service_s for s in plan.stops] + [0]
    if plan.driver.serving is not None:
        k = ids.index(plan.driver.serving)
        service[k + 1] = plan.driver.remaining_service_s
    demand = [0] + [(s.size if s.kind == "pickup" else -s.size) for s in plan.stops] + [0]
    load = plan.vehicle.load
    if load is None:
        load = sum(s.size for s in plan.stops if s.kind == "delivery")
    if plan.vehicle.capacity is not None and load > plan.vehicle.capacity:
        raise PlanError(
            [
                {
                    "field": "vehicle.load",
                    "message": f"load {load} exceeds capacity {plan.vehicle.capacity}",
                }
            ]
        )
    breaks = tuple(
        BreakSpec(
            _seconds(b.window.start, origin, f"breaks.{i}.window.start", round_up=True),
            _seconds(b.window.end, origin, f"breaks.{i}.window.end"),
            b.duration_s,
        )
        for i, b in enumerate(plan.breaks)
    )
    order = sequence if sequence is not None else list(ids)
    node_of = {s: i + 1 for i, s in enumerate(ids)}
    unknown = [s for s in order if s not in node_of]
    if unknown:
        raise PlanError([{"field": "sequence", "message": f"unknown stop ids: {unknown}"}])
    nodes = [node_of[s] for s in order]
    sticky = tuple(zip([0, *nodes], nodes, strict=False))
    latest = max([w[1] for w in windows[1:-1]] + [t0 + 86400])
    return Problem(
        ids=ids,
        matrix=matrix,
        windows=tuple(windows),
        service=tuple(service),
        demand=tuple(demand),
        capacity=plan.vehicle.capacity,
        initial_load=load,
        breaks=breaks,
        serving=(ids.index(plan.driver.serving) + 1 if plan.driver.serving else None),
        horizon=latest + 86400,
        origin=origin,
        sticky=sticky,
        wait_cost=plan.wait_cost,
    )


def window_seconds(p: Problem, start: Time, end: Time, where: str = "window") -> tuple[int, int]:
    """A `[start, end)` window in the problem's seconds, as `build_problem` turns a
    stop's window (start rounded up, the last second before the end, not before now)."""
    a = _seconds(start, p.origin, f"{where}.start", round_up=True)
    b = _seconds(end, p.origin, f"{where}.end")
    return (max(a, p.windows[0][0]), b - 1)


def stop_position(plan: Plan, stop_id: str) -> int:
    for i, stop in enumerate(plan.stops):
        if stop.id == stop_id:
            return i
    raise PlanError([{"field": "change.stop_id", "message": f"unknown stop id {stop_id!r}"}])


def with_stops(plan: Plan, stops: list[PlanStop]) -> Plan:
    """The plan with other stops: every stop is already valid and the ids are checked by
    the caller, so no re-validation of the whole plan (a millisecond at 100 stops)."""
    return plan.model_copy(update={"stops": stops})
