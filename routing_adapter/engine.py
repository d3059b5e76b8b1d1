"""The adapter boundary: optimise a plan, apply a change, offer windows that fit.

`RoutingAdapter` is what the service talks to; `OrToolsEngine` is the in-process
default, running every solve in a process pool so the event loop never stalls.
The module-level functions are the same operations, synchronous, for the CLI and
for the pool's workers.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from routing_adapter.construct import best_insertion, route_cost, simulate
from routing_adapter.plan import (
    Plan,
    PlanError,
    PlanStop,
    Problem,
    StopId,
    Time,
    TimeWindow,
    build_problem,
)
from routing_adapter.solver import Solution, solve, why_unserved

DEFAULT_TIME_LIMIT = 1.0


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewWindow(_Change):
    type: Literal["window"]
    stop_id: StopId
    window: TimeWindow


class RemoveStop(_Change):
    type: Literal["remove"]
    stop_id: StopId


class InsertStop(_Change):
    type: Literal["insert"]
    stop: PlanStop


class ServiceTime(_Change):
    type: Literal["service_time"]
    stop_id: StopId
    service_s: int = Field(ge=0, le=24 * 3600)


Change = Annotated[NewWindow | RemoveStop | InsertStop | ServiceTime, Field(discriminator="type")]
CHANGE_ADAPTER: TypeAdapter[Change] = TypeAdapter(Change)


def parse_change(raw: Any) -> Change:
    try:
        return CHANGE_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise PlanError(
            [
                {
                    "field": "change." + ".".join(str(p) for p in e["loc"]),
                    "message": str(e["msg"]).removeprefix("Value error, "),
                }
                for e in exc.errors(include_url=False)
            ]
        ) from None


def _json_time(value: datetime | int | None) -> Any:
    """Plans speak ISO datetimes or integer seconds; results answer in the same kind."""
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True, slots=True)
class RouteResult:
    sequence: list[str]
    arrivals: dict[str, datetime | int]
    feasible: bool
    violations: list[dict[str, str]]
    unassigned: list[str]
    travel_time: int
    solve_ms: int
    breaks: list[dict[str, Any]] = field(default_factory=list)
    end_time: datetime | int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "arrivals": {k: _json_time(v) for k, v in self.arrivals.items()},
            "feasible": self.feasible,
            "violations": self.violations,
            "unassigned": self.unassigned,
            "travel_time": self.travel_time,
            "solve_ms": self.solve_ms,
            "breaks": [{**b, "start": _json_time(b["start"])} for b in self.breaks],
            "end_time": _json_time(self.end_time),
        }


@dataclass(frozen=True, slots=True)
class ChangeResult:
    route: RouteResult
    # Stops whose arrival moved by at least the threshold: (id, before, after).
    moved: list[tuple[str, datetime | int, datetime | int]]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.route.to_json(),
            "moved": [
                {"stop": s, "before": _json_time(a), "after": _json_time(b)}
                for s, a, b in self.moved
            ],
        }


@dataclass(frozen=True, slots=True)
class WindowOffer:
    start: datetime | int
    end: datetime | int
    added_travel: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": _json_time(self.start),
            "end": _json_time(self.end),
            "added_travel": self.added_travel,
        }


def _result(p: Problem, sol: Solution) -> RouteResult:
    return RouteResult(
        sequence=[p.ids[v - 1] for v in sol.route],
        arrivals={p.ids[v - 1]: p.to_time(a) for v, a in zip(sol.route, sol.arrivals, strict=True)},
        feasible=not sol.unassigned,
        violations=[{"stop": p.ids[v - 1], "reason": why_unserved(p, v)} for v in sol.unassigned],
        unassigned=[p.ids[v - 1] for v in sol.unassigned],
        travel_time=sol.travel,
        solve_ms=sol.solve_ms,
        breaks=[{"start": p.to_time(s), "duration_s": d} for s, d in sol.breaks],
        end_time=p.to_time(sol.end_time),
    )


def optimize(
    plan: Plan, time_limit: float = DEFAULT_TIME_LIMIT, sequence: list[str] | None = None
) -> RouteResult:
    """Re-optimise, warm-started from `sequence` (default: the plan's stop order)."""
    p = build_problem(plan, sequence=sequence)
    order = sequence if sequence is not None else list(p.ids)
    return _result(p, solve(p, time_limit, current=[p.stop_index(s) for s in order]))


def _stop_position(plan: Plan, stop_id: str) -> int:
    for i, stop in enumerate(plan.stops):
        if stop.id == stop_id:
            return i
    raise PlanError([{"field": "change.stop_id", "message": f"unknown stop id {stop_id!r}"}])


def changed_plan(plan: Plan, change: Change) -> Plan:
    """The plan with one change made (a pure function; the plan is not modified)."""
    stops = list(plan.stops)
    if isinstance(change, InsertStop):
        if any(s.id == change.stop.id for s in stops):
            raise PlanError(
                [
                    {
                        "field": "change.stop.id",
                        "message": f"stop id {change.stop.id!r} already exists",
                    }
                ]
            )
        stops.append(change.stop)
    else:
        i = _stop_position(plan, change.stop_id)
        if isinstance(change, RemoveStop):
            if plan.driver.serving == change.stop_id:
                raise PlanError(
                    [{"field": "change.stop_id", "message": "the driver is serving this stop now"}]
                )
            del stops[i]
        elif isinstance(change, NewWindow):
            stops[i] = stops[i].model_copy(update={"window": change.window})
        else:
            stops[i] = stops[i].model_copy(update={"service_s": change.service_s})
    return Plan.model_validate({**plan.model_dump(), "stops": [s.model_dump() for s in stops]})


def apply(
    plan: Plan, change: Change, time_limit: float = DEFAULT_TIME_LIMIT, threshold_s: int = 15 * 60
) -> ChangeResult:
    """Re-plan after a change; report the stops whose arrival moved by >= threshold."""
    before_problem = build_problem(plan)
    before = simulate(before_problem, list(range(1, before_problem.n + 1)))
    eta_before = {before_problem.ids[i]: before.arrivals[i] for i in range(before_problem.n)}
    new_plan = changed_plan(plan, change)
    result = optimize(new_plan, time_limit, [s.id for s in new_plan.stops])
    if isinstance(change, RemoveStop) and _someone_later(result, eta_before, before_problem):
        # A customer must never wait longer because someone else dropped out: the
        # current order without the stop is the answer when the re-plan is not.
        result = _kept_order(new_plan, result)
    moved = []
    for stop, after in result.arrivals.items():
        if stop in eta_before:
            old = before_problem.to_time(eta_before[stop])
            if abs(_seconds_between(old, after)) >= threshold_s:
                moved.append((stop, old, after))
    return ChangeResult(result, moved)


def _someone_later(result: RouteResult, eta_before: dict[str, int], before: Problem) -> bool:
    return any(
        stop in eta_before and _seconds_between(before.to_time(eta_before[stop]), after) > 0
        for stop, after in result.arrivals.items()
    )


def _kept_order(plan: Plan, optimized: RouteResult) -> RouteResult:
    """The plan's stops in their current order, if that schedule is on time."""
    p = build_problem(plan)
    route = list(range(1, p.n + 1))
    schedule = simulate(p, route)
    if plan.breaks or schedule.late or schedule.over_capacity:
        return optimized
    sol = Solution(
        tuple(route),
        (),
        schedule.arrivals,
        (),
        schedule.travel,
        schedule.end_time,
        optimized.solve_ms,
    )
    return _result(p, sol)


def _seconds_between(a: datetime | int, b: datetime | int) -> float:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (b - a).total_seconds()
    assert isinstance(a, int) and isinstance(b, int)
    return b - a


def day_slots(day_start: Time, day_end: Time, slot_s: int) -> list[tuple[Time, Time]]:
    """The day cut into back-to-back slots of `slot_s` seconds (the last whole one ends by
    `day_end`)."""
    out: list[tuple[Time, Time]] = []
    if isinstance(day_start, datetime) and isinstance(day_end, datetime):
        t = day_start
        while t + timedelta(seconds=slot_s) <= day_end:
            out.append((t, t + timedelta(seconds=slot_s)))
            t += timedelta(seconds=slot_s)
    elif isinstance(day_start, int) and isinstance(day_end, int):
        out = [(t, t + slot_s) for t in range(day_start, day_end - slot_s + 1, slot_s)]
    else:
        raise PlanError([{"field": "day", "message": "start and end must be of one kind"}])
    return out


def window_fits(
    plan: Plan,
    target: PlanStop,
    slot: tuple[Time, Time],
    base_order: list[str],
    base_travel: int,
    time_limit: float,
) -> int | None:
    """Added travel if `target` fits in `slot` without breaking any other window, else None.

    A cheap insertion into the current order first; if that fails, a short re-solve
    that may reorder the other stops.
    """
    stop = target.model_copy(update={"window": TimeWindow(start=slot[0], end=slot[1])})
    trial = Plan.model_validate(
        {**plan.model_dump(), "stops": [*[s.model_dump() for s in plan.stops], stop.model_dump()]}
    )
    p = build_problem(trial)
    order = [p.stop_index(s) for s in base_order]
    found = best_insertion(p, order, p.n)
    if found is not None:
        return found[0]
    sol = solve(p, time_limit, current=order)
    return None if sol.unassigned else max(sol.travel - base_travel, 0)


def feasible_windows(
    plan: Plan,
    target: str | PlanStop,
    day_start: Time,
    day_end: Time,
    slot_s: int = 7200,
    max_offers: int = 3,
    time_limit: float = 0.3,
) -> list[WindowOffer]:
    """Up to `max_offers` slots of the day where the stop fits, least added driving first."""
    if isinstance(target, str):
        i = _stop_position(plan, target)
        stop = plan.stops[i]
        base = Plan.model_validate(
            {**plan.model_dump(), "stops": [s.model_dump() for s in plan.stops if s.id != target]}
        )
    else:
        stop, base = target, plan
    # Added driving is measured against the best route without the stop.
    p = build_problem(base)
    best = solve(p, time_limit, current=list(range(1, p.n + 1)))
    base_order = [p.ids[v - 1] for v in best.route]
    base_travel = route_cost(p, list(best.route))
    offers = []
    now = plan.driver.time
    for slot in day_slots(day_start, day_end, slot_s):
        if slot[0] < now:  # type: ignore[operator]  # both datetimes or both seconds
            continue  # a slot already under way is not something to offer
        added = window_fits(base, stop, slot, base_order, base_travel, time_limit)
        if added is not None:
            offers.append(WindowOffer(slot[0], slot[1], added))
    offers.sort(key=lambda o: (o.added_travel, str(o.start)))
    return offers[:max_offers]


class RoutingAdapter(Protocol):
    """What the service needs from a routing engine (OR-Tools here; VROOM or a vendor API)."""

    async def optimize(self, plan: Plan, time_limit: float | None = None) -> RouteResult: ...

    async def apply(self, plan: Plan, change: Change) -> ChangeResult: ...

    async def feasible_windows(
        self, plan: Plan, target: str | PlanStop, day_start: Time, day_end: Time
    ) -> list[WindowOffer]: ...


def _new_pool(workers: int) -> ProcessPoolExecutor:
    """Solver processes started by a fork server, not forked from the service.

    A fork of the running service would copy its event loop, threads and every open
    file descriptor into the solvers: a pipe held open there keeps another process
    (a subprocess the service started) from ever seeing its end.
    """
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver"))


class OrToolsEngine:
    """The default adapter: solves in worker processes, one event loop never blocked."""

    def __init__(
        self,
        workers: int = 2,
        time_limit: float = DEFAULT_TIME_LIMIT,
        slot_s: int = 7200,
        max_offers: int = 3,
    ) -> None:
        self._workers = workers
        self._pool = _new_pool(workers)
        self.time_limit = time_limit
        self.slot_s = slot_s
        self.max_offers = max_offers

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            # A solver process died (killed, or a native crash): replace the pool and try
            # once more, so one bad solve does not take routing down for the whole process.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = _new_pool(self._workers)
            return await loop.run_in_executor(self._pool, fn, *args)

    async def optimize(self, plan: Plan, time_limit: float | None = None) -> RouteResult:
        result: RouteResult = await self._run(optimize, plan, time_limit or self.time_limit)
        return result

    async def apply(self, plan: Plan, change: Change) -> ChangeResult:
        result: ChangeResult = await self._run(apply, plan, change, self.time_limit)
        return result

    async def feasible_windows(
        self, plan: Plan, target: str | PlanStop, day_start: Time, day_end: Time
    ) -> list[WindowOffer]:
        offers: list[WindowOffer] = await self._run(
            feasible_windows, plan, target, day_start, day_end, self.slot_s, self.max_offers
        )
        return offers

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
