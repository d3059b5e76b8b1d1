"""The adapter boundary: optimise a plan, apply a change, offer windows that fit.

`RoutingAdapter` is what the service talks to; `OrToolsEngine` is the in-process
default, running every solve in a process pool so the event loop never stalls.
The module-level functions are the same operations, synchronous, for the CLI and
for the pool's workers.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from routing_adapter.construct import simulate
from routing_adapter.fastpath import ChangeKind, QuickRoute, quick_change
from routing_adapter.plan import (
    Plan,
    PlanError,
    PlanStop,
    Problem,
    StopId,
    Time,
    TimeWindow,
    build_problem,
    stop_position,
    window_seconds,
    with_stops,
)
from routing_adapter.results import ChangeResult, RouteResult, WindowOffer, route_result
from routing_adapter.solution import SearchStats, Solution, solve_lazily
from routing_adapter.windows import day_slots, feasible_windows

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ProcessPoolExecutor

__all__ = [
    "CHANGE_ADAPTER",
    "Change",
    "ChangeResult",
    "InsertStop",
    "NewWindow",
    "OrToolsEngine",
    "RemoveStop",
    "RouteResult",
    "RoutingAdapter",
    "ServiceTime",
    "WindowOffer",
    "apply",
    "changed_plan",
    "day_slots",
    "feasible_windows",
    "optimize",
    "parse_change",
    "quick_apply",
]

DEFAULT_TIME_LIMIT = 1.0


class _Change(BaseModel):
    # Built on first use, not at import: `doorstep route optimize` never parses a change.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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
CHANGE_ADAPTER: TypeAdapter[Change] = TypeAdapter(Change, config=ConfigDict(defer_build=True))


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


def optimize(
    plan: Plan,
    time_limit: float = DEFAULT_TIME_LIMIT,
    sequence: list[str] | None = None,
    stop_when_stalled: bool = False,
) -> RouteResult:
    """Re-optimise, warm-started from `sequence` (default: the plan's stop order).

    The search keeps its whole time limit unless `stop_when_stalled` (a reschedule).
    """
    p = build_problem(plan, sequence=sequence)
    order = sequence if sequence is not None else list(p.ids)
    current = [p.stop_index(s) for s in order]
    return route_result(
        p, solve_lazily(p, time_limit, current, stop_when_stalled=stop_when_stalled)
    )


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
        i = stop_position(plan, change.stop_id)
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
    return with_stops(plan, stops)


def _quick_result(p: Problem, quick: QuickRoute, started: float) -> RouteResult:
    s = quick.schedule
    sol = Solution(
        tuple(quick.route),
        (),
        s.arrivals,
        (),
        s.travel,
        s.end_time,
        round((time.perf_counter() - started) * 1000),
        SearchStats(),
    )
    return route_result(p, sol, quick.method)


def apply(
    plan: Plan,
    change: Change,
    time_limit: float = DEFAULT_TIME_LIMIT,
    threshold_s: int = 15 * 60,
    fast: bool = True,
) -> ChangeResult:
    """Re-plan after a change; report the stops whose arrival moved by >= threshold.

    First without a solve (`quick_apply`: the current order, or the stop moved or
    inserted into it); then, if that cannot serve everyone on time, a search that
    stops when it stops improving. `fast=False` always searches (benchmarks).
    """
    quick = quick_apply(plan, change, threshold_s) if fast else None
    if quick is not None:
        return quick
    before_problem = build_problem(plan)
    eta_before = _etas(before_problem)
    new_plan = changed_plan(plan, change)
    result = optimize(new_plan, time_limit, [s.id for s in new_plan.stops], stop_when_stalled=True)
    if isinstance(change, RemoveStop) and _someone_later(result, eta_before, before_problem):
        # A customer must never wait longer because someone else dropped out: the
        # current order without the stop is the answer when the re-plan is not.
        result = _kept_order(new_plan, result)
    return ChangeResult(result, _moved(result, eta_before, before_problem, threshold_s))


def quick_apply(plan: Plan, change: Change, threshold_s: int = 15 * 60) -> ChangeResult | None:
    """The change answered without a solve, or None when it needs one.

    About a millisecond at 100 stops, most of it converting the plan; cheap enough to
    run on the service's event loop (`OrToolsEngine.apply` does), where a solve is not.
    """
    started = time.perf_counter()
    before_problem = build_problem(plan)
    eta_before = _etas(before_problem)
    new_plan = changed_plan(plan, change)
    p = _changed_problem(before_problem, change) or build_problem(new_plan)
    kind: ChangeKind = change.type
    node = (
        p.n
        if isinstance(change, InsertStop)
        else (None if isinstance(change, RemoveStop) else p.stop_index(change.stop_id))
    )
    not_later = (
        {p.stop_index(s): eta_before[s] for s in p.ids} if isinstance(change, RemoveStop) else None
    )
    quick = quick_change(p, kind, node, not_later)
    if quick is None:
        return None
    result = _quick_result(p, quick, started)
    return ChangeResult(result, _moved(result, eta_before, before_problem, threshold_s))


def _etas(p: Problem) -> dict[str, int]:
    """When each stop is served in the plan's current order (problem seconds)."""
    schedule = simulate(p, list(range(1, p.n + 1)))
    return {p.ids[i]: schedule.arrivals[i] for i in range(p.n)}


def _moved(
    result: RouteResult, eta_before: dict[str, int], before: Problem, threshold_s: int
) -> list[tuple[str, datetime | int, datetime | int]]:
    moved = []
    for stop, after in result.arrivals.items():
        if stop in eta_before:
            old = before.to_time(eta_before[stop])
            if abs(_seconds_between(old, after)) >= threshold_s:
                moved.append((stop, old, after))
    return moved


def _changed_problem(p: Problem, change: Change) -> Problem | None:
    """A new window or visit length changes one number of the problem: no need to
    convert the whole plan again (half the cost of a quick answer at 100 stops)."""
    if isinstance(change, NewWindow):
        node = p.stop_index(change.stop_id)
        a, b = window_seconds(p, change.window.start, change.window.end, "change.window")
        windows = (*p.windows[:node], (a, b), *p.windows[node + 1 :])
        return replace(p, windows=windows, horizon=max(p.horizon, b + 86400))
    if isinstance(change, ServiceTime):
        node = p.stop_index(change.stop_id)
        if node == p.serving:
            return None  # its remaining service, not a visit length: convert it again
        return replace(p, service=(*p.service[:node], change.service_s, *p.service[node + 1 :]))
    return None


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
    return route_result(p, sol, "kept_order")


def _seconds_between(a: datetime | int, b: datetime | int) -> float:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (b - a).total_seconds()
    assert isinstance(a, int) and isinstance(b, int)
    return b - a


class RoutingAdapter(Protocol):
    """What the service needs from a routing engine (OR-Tools here; VROOM or a vendor API)."""

    async def optimize(self, plan: Plan, time_limit: float | None = None) -> RouteResult: ...

    async def apply(self, plan: Plan, change: Change) -> ChangeResult: ...

    async def feasible_windows(
        self, plan: Plan, target: str | PlanStop, day_start: Time, day_end: Time
    ) -> list[WindowOffer]: ...


def _new_pool(workers: int, initializer: Callable[[], object] | None = None) -> ProcessPoolExecutor:
    """Solver processes started by a fork server, not forked from the service.

    A fork of the running service would copy its event loop, threads and every open
    file descriptor into the solvers: a pipe held open there keeps another process
    (a subprocess the service started) from ever seeing its end. Imported here, with
    asyncio in `_run`: the CLI and the pool's workers need neither (~0.1 s).
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("forkserver"), initializer=initializer
    )


class OrToolsEngine:
    """The default adapter: solves in worker processes, one event loop never blocked."""

    def __init__(
        self,
        workers: int = 2,
        time_limit: float = DEFAULT_TIME_LIMIT,
        slot_s: int = 7200,
        max_offers: int = 3,
        inline_max_stops: int = 300,
        initializer: Callable[[], object] | None = None,
    ) -> None:
        """`initializer` runs in each solver process (the service's makes them die
        with it: `bot.base.children.die_with_parent`)."""
        self._workers = workers
        self._initializer = initializer
        self.inline_max_stops = inline_max_stops
        self._pool = _new_pool(workers, initializer)
        self.time_limit = time_limit
        self.slot_s = slot_s
        self.max_offers = max_offers

    async def _run(self, fn: Any, *args: Any) -> Any:
        import asyncio
        from concurrent.futures.process import BrokenProcessPool

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            # A solver process died (killed, or a native crash): replace the pool and try
            # once more, so one bad solve does not take routing down for the whole process.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = _new_pool(self._workers, self._initializer)
            return await loop.run_in_executor(self._pool, fn, *args)

    async def optimize(self, plan: Plan, time_limit: float | None = None) -> RouteResult:
        result: RouteResult = await self._run(optimize, plan, time_limit or self.time_limit)
        return result

    async def apply(self, plan: Plan, change: Change) -> ChangeResult:
        """A change that fits the driver's order is answered here, on the event loop
        (~1 ms at 100 stops: less than sending the plan to a worker, and it does not
        queue behind solves); only a change that needs a search goes to the pool."""
        if len(plan.stops) <= self.inline_max_stops:
            quick = quick_apply(plan, change)
            if quick is not None:
                return quick
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
