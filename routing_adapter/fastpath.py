"""Answers without a solve: the driver's current order kept, or one stop inserted into it.

Most reschedules ("can you come after 5") fit the route the driver already has: the
stop's new window still holds where it is, or the stop can move to one other place
in the order without making anyone late. Checking that is a simulation of the order
(tens of microseconds for 100 stops) and, failing it, Savelsbergh's O(n) insertion
test (`construct.best_insertion`); a full search costs a CPU-second. So the engine
asks here first and solves only when neither works.

What a cheap answer gives up: a solve might also reorder other stops to shorten the
day. The driver's order staying put is worth more on a live route (the same reason
the solver makes arcs of the current order 2% cheaper), and every answer here is a
complete schedule checked against every window and the van's capacity.

Breaks are left to the solver: placing them is OR-Tools' job, not the simulation's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from routing_adapter.construct import Schedule, best_insertion, route_cost, simulate
from routing_adapter.plan import Problem

Method = Literal["kept_order", "insertion", "solve"]
# The driver's order is kept unless moving the stop saves more than this share of its
# driving: the same preference the solver gives the current order's arcs.
STICKINESS = 0.02
ChangeKind = Literal["window", "remove", "insert", "service_time"]


@dataclass(frozen=True, slots=True)
class QuickRoute:
    route: list[int]  # stop nodes in driving order
    schedule: Schedule
    method: Method


def on_time(p: Problem, route: list[int]) -> Schedule | None:
    """The schedule of `route` if every stop is inside its window and the van never
    overflows; None otherwise."""
    if p.serving is not None and (not route or route[0] != p.serving):
        return None  # the stop being served now stays first
    schedule = simulate(p, route)
    return None if schedule.late or schedule.over_capacity else schedule


def insert(p: Problem, order: list[int], node: int) -> QuickRoute | None:
    """`node` put at its cheapest on-time place in `order` (which must be on time).

    Cheapest as the solver counts it: driving, plus `wait_cost` per second of the
    driver's day. With a waiting cost each on-time place is simulated (a late window
    put early in the order would make everyone behind it wait); without, the O(1)
    insertion test's added driving decides.
    """
    places: list[tuple[int, int]] = []
    found = best_insertion(p, order, node, places if p.wait_cost else None)
    if found is None:
        return None
    best: QuickRoute | None = None
    for _, pos in places if p.wait_cost else [found]:
        route = [*order[:pos], node, *order[pos:]]
        schedule = on_time(p, route)  # the O(1) test is exact, but a schedule is the proof
        if schedule is None:
            continue
        trial = QuickRoute(route, schedule, "insertion")
        if best is None or cost(p, trial) < cost(p, best):
            best = trial
    return best


def quick_change(
    p: Problem,
    kind: ChangeKind,
    node: int | None,
    not_later: Mapping[int, int] | None = None,
) -> QuickRoute | None:
    """A route for the changed plan `p` (stops in the driver's order, an inserted stop
    last) without a solve, or None when only a solve can tell.

    `node` is the changed or inserted stop. `not_later` (a removal) maps nodes to their
    arrival before the change: the kept order counts only if nobody arrives later.
    A new window: the kept order, unless moving the stop saves more (by the solver's
    objective, waiting included) than `STICKINESS` of the order's driving.
    """
    if p.breaks:
        return None
    order = list(range(1, p.n + 1))
    if kind == "insert":
        assert node is not None
        order.remove(node)
        return insert(p, order, node) if on_time(p, order) is not None else None
    schedule = on_time(p, order)
    kept = None
    if schedule is not None and (
        not_later is None
        or all(a <= not_later.get(v, a) for v, a in zip(order, schedule.arrivals, strict=True))
    ):
        kept = QuickRoute(order, schedule, "kept_order")
    if kind != "window":
        return kept  # a longer visit or a removal: the order, or a solve
    assert node is not None
    rest = [v for v in order if v != node]
    moved = insert(p, rest, node) if on_time(p, rest) is not None else None
    if kept is not None and (
        moved is None or cost(p, kept) - cost(p, moved) <= STICKINESS * kept.schedule.travel
    ):
        return kept
    return moved


def cost(p: Problem, quick: QuickRoute) -> float:
    """The solver's objective for a route: driving, plus `wait_cost` per second of the
    driver's day (so a stop moved to 5 pm and kept first, with everyone else waiting
    behind it, is what it is: the worst order)."""
    return quick.schedule.travel + p.wait_cost * (quick.schedule.end_time - p.windows[0][0])


@dataclass(frozen=True, slots=True)
class SlotFit:
    slot: int  # index into the slots asked about
    added_travel: int
    route: list[int]


def slot_fits(
    p: Problem,
    order: list[int],
    node: int,
    windows: Sequence[tuple[int, int]],
    base_travel: int,
) -> list[SlotFit]:
    """Each window (in seconds) in which `node` fits into `order`, with a checked route.

    `p` has `node` in it and `order` (on time, without `node`) is what the driver
    would drive otherwise; `base_travel` its driving time. One insertion test per
    window: 6 slots of a 100-stop route take about a millisecond.
    """
    fits: list[SlotFit] = []
    for k, window in enumerate(windows):
        if window[0] > window[1]:
            continue  # nothing left of it after now
        trial = replace(p, windows=(*p.windows[:node], window, *p.windows[node + 1 :]))
        found = insert(trial, order, node)
        if found is not None:
            added = max(route_cost(trial, found.route) - base_travel, 0)
            fits.append(SlotFit(k, added, found.route))
    return fits
