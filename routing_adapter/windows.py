"""Offered windows: the slots of the day a stop could move to without anyone being late.

The service asks this when a customer wants another time ("what times do you have
tomorrow?"). Each slot used to be its own short solve (6 slots x 0.3 s); now each is
an insertion test into the driver's order (`fastpath.slot_fits`), and at most one
solve re-orders the others when some slot failed there. Every offered slot comes
with a route, checked by simulation, that serves every stop on time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from routing_adapter.construct import route_cost
from routing_adapter.fastpath import on_time, slot_fits
from routing_adapter.plan import (
    Plan,
    PlanError,
    PlanStop,
    Problem,
    Time,
    TimeWindow,
    build_problem,
    stop_position,
    window_seconds,
    with_stops,
)
from routing_adapter.results import WindowOffer
from routing_adapter.solution import solve_lazily


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


def _base_order(p: Problem, time_limit: float) -> tuple[list[int], bool]:
    """The order the driver drives without the stop (nodes 1..n of `p`): the current
    one if it is on time, else the solver's. Also whether a solve was spent."""
    order = list(range(1, p.n + 1))
    if on_time(p, order) is not None:
        return order, False
    best = solve_lazily(p, time_limit, order, stop_when_stalled=True)
    return list(best.route), True


def feasible_windows(
    plan: Plan,
    target: str | PlanStop,
    day_start: Time,
    day_end: Time,
    slot_s: int = 7200,
    max_offers: int = 3,
    time_limit: float = 0.3,
) -> list[WindowOffer]:
    """Up to `max_offers` slots of the day where the stop fits, least added driving first.

    Each slot is an insertion test into the order the driver has without the stop
    (microseconds); only when some slot fails there, one solve re-orders the others
    (stopping when it stops improving) and the failed slots are tried again in that
    order. Every slot offered comes with a route that serves everyone on time.
    Plans with breaks are checked by solving, one slot at a time.
    """
    if isinstance(target, str):
        stop = plan.stops[stop_position(plan, target)]
        base = with_stops(plan, [s for s in plan.stops if s.id != target])
    else:
        stop, base = target, plan
        if any(s.id == stop.id for s in plan.stops):
            raise PlanError([{"field": "stop.id", "message": f"stop id {stop.id!r} exists"}])
    now = plan.driver.time
    slots = [s for s in day_slots(day_start, day_end, slot_s) if not s[0] < now]  # type: ignore[operator]
    if not slots:
        return []  # a slot already under way is not something to offer
    trial = build_problem(with_stops(base, [*base.stops, stop]))
    if trial.breaks:
        return _windows_by_solving(base, stop, slots, max_offers, time_limit)
    node = trial.n
    base_p = build_problem(base)
    order, solved = _base_order(base_p, time_limit)
    base_travel = route_cost(base_p, order)
    windows = [window_seconds(trial, a, b, "slot") for a, b in slots]
    fits = {f.slot: f.added_travel for f in slot_fits(trial, order, node, windows, base_travel)}
    failed = [k for k in range(len(slots)) if k not in fits]
    if failed and not solved:
        sol = solve_lazily(base_p, time_limit, order, stop_when_stalled=True)
        if not sol.unassigned and list(sol.route) != order:
            retry = [windows[k] for k in failed]
            again = slot_fits(trial, list(sol.route), node, retry, base_travel)
            fits.update({failed[f.slot]: f.added_travel for f in again})
    offers = [WindowOffer(slots[k][0], slots[k][1], added) for k, added in fits.items()]
    offers.sort(key=lambda o: (o.added_travel, str(o.start)))
    return offers[:max_offers]


def _windows_by_solving(
    base: Plan, stop: PlanStop, slots: list[tuple[Time, Time]], max_offers: int, limit: float
) -> list[WindowOffer]:
    """With breaks the simulation cannot tell: one short solve per slot."""
    p = build_problem(base)
    best = solve_lazily(p, limit, list(range(1, p.n + 1)), stop_when_stalled=True)
    offers = []
    for start, end in slots:
        moved = stop.model_copy(update={"window": TimeWindow(start=start, end=end)})
        trial = build_problem(with_stops(base, [*base.stops, moved]))
        order = [*best.route]
        sol = solve_lazily(trial, limit, order, stop_when_stalled=True)
        if not sol.unassigned:
            offers.append(WindowOffer(start, end, max(sol.travel - best.travel, 0)))
    offers.sort(key=lambda o: (o.added_travel, str(o.start)))
    return offers[:max_offers]
