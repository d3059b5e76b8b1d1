"""The OR-Tools model: one driver, hard time windows, service times, capacity, breaks.

Choices, each measured on the public TSPTW instances (benchmarks/routing.py):
- Every stop may be left out at a large penalty, so a first solution always exists
  and an infeasible plan still yields the best schedule for the rest.
- The search is warm-started from our own construction (construct.py), or from the
  driver's current order; OR-Tools' first-solution strategies alone found nothing
  feasible within a second on most instances.
- From 50 stops, iterated local search (ruin and recreate, `_iterated_local_search`;
  guided local search below that and for reschedules) over the
  neighbourhoods `_choose_operators` picks: two large-neighbourhood operators
  (re-insert stops close to each other, or an expensive chain) and the ruin of strings
  of nearby stops get it out of the local optima of wide windows; the operators that
  cannot help one van (pairs, sub-trips, moves between routes) are off.
- Travel times go to OR-Tools as matrices, not Python callbacks: several times more
  search steps per second.
- Arcs of the current order cost 2% less, so a re-plan reshuffles only for a real gain.
- A reschedule's search stops when it stops improving (`_Progress`), not only at
  its time limit; every solve reports `SearchStats`.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing_adapter.construct import construct, route_cost, simulate
from routing_adapter.plan import Problem
from routing_adapter.solution import SearchStats, Solution, why_unserved

__all__ = ["SearchStats", "Solution", "solve", "why_unserved"]

BOOL_TRUE = 3  # ortools.util.OptionalBoolean.BOOL_TRUE
SCALE = 100
MIN_STALL_S = 0.05
STALL_RATIO = 1.0


def _scaled_costs(p: Problem, stickiness: float) -> list[list[int]]:
    sticky = set(p.sticky)
    keep = round(SCALE * (1 - stickiness))
    return [
        [p.matrix[i][j] * (keep if (i, j) in sticky else SCALE) for j in range(p.n + 2)]
        for i in range(p.n + 2)
    ]


class _Progress:
    """Counts the search's solutions and says when it has stopped improving.

    Guided local search never ends by itself: without this it runs to its time limit
    even when the best route was found in the first tenth of it (a reschedule of 100
    stops: found in ~0.1 s, searched for 1 s). The search stops once it has gone
    `max(MIN_STALL_S, STALL_RATIO x the time it took to find the best)` without a
    better route: an easy change stops in tens of milliseconds, a hard plan that keeps
    improving keeps its whole time limit. Checked by OR-Tools' custom search limit,
    which it polls during the local search, so a stall ends even between solutions.
    """

    def __init__(self, routing: Any, enabled: bool) -> None:
        self._routing = routing
        self._enabled = enabled
        self.started = time.perf_counter()
        self.last = self.started
        self.best: int | None = None
        self.solutions = 0
        self.improvements = 0
        self.stalled = False

    def at_solution(self) -> None:
        self.solutions += 1
        cost = self._routing.CostVar().Value()
        if self.best is None or cost < self.best:
            self.best = cost
            self.improvements += 1
            self.last = time.perf_counter()

    def should_stop(self) -> bool:
        if not self._enabled or self.best is None:
            return False
        now = time.perf_counter()
        if now - self.last > max(MIN_STALL_S, STALL_RATIO * (self.last - self.started)):
            self.stalled = True
        return self.stalled

    def stats(self, stop: str | None = None) -> SearchStats:
        return SearchStats(
            solutions=self.solutions,
            improvements=self.improvements,
            last_improvement_ms=round((self.last - self.started) * 1000),
            stop=stop or ("stalled" if self.stalled else "time_limit"),
        )


def _model(p: Problem, stickiness: float) -> tuple[Any, Any, Any, list[Any]]:
    """The routing model: (manager, routing, time dimension, break intervals)."""
    manager = pywrapcp.RoutingIndexManager(p.n + 2, 1, [0], [p.end])
    routing = pywrapcp.RoutingModel(manager)
    cost = routing.RegisterTransitMatrix(_scaled_costs(p, stickiness))
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    timing = [[p.matrix[i][j] + p.service[i] for j in range(p.n + 2)] for i in range(p.n + 2)]
    transit = routing.RegisterTransitMatrix(timing)
    routing.AddDimension(transit, p.horizon, p.horizon, False, "Time")
    clock = routing.GetDimensionOrDie("Time")
    for node in range(1, p.n + 1):
        clock.CumulVar(manager.NodeToIndex(node)).SetRange(*p.windows[node])
        routing.AddVariableMinimizedByFinalizer(clock.CumulVar(manager.NodeToIndex(node)))
    clock.CumulVar(routing.Start(0)).SetValue(p.windows[0][0])
    clock.CumulVar(routing.End(0)).SetRange(p.windows[0][0], p.windows[p.end][1])
    if p.wait_cost:
        clock.SetSpanCostCoefficientForAllVehicles(round(SCALE * p.wait_cost))
    routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(0)))

    penalty = SCALE * 100 * (1 + sum(max(row) for row in p.matrix))
    for node in range(1, p.n + 1):
        if node != p.serving:
            routing.AddDisjunction([manager.NodeToIndex(node)], penalty)
    if p.serving is not None:
        routing.solver().Add(routing.NextVar(routing.Start(0)) == manager.NodeToIndex(p.serving))
    if p.capacity is not None:
        demand = routing.RegisterUnaryTransitVector(list(p.demand))
        routing.AddDimensionWithVehicleCapacity(demand, 0, [p.capacity], False, "Load")
        routing.GetDimensionOrDie("Load").CumulVar(routing.Start(0)).SetValue(p.initial_load)
    intervals = []
    if p.breaks:
        solver = routing.solver()
        intervals = [
            solver.FixedDurationIntervalVar(b.earliest, b.latest, b.duration, False, f"b{i}")
            for i, b in enumerate(p.breaks)
        ]
        visit = [p.service[manager.IndexToNode(i)] for i in range(routing.Size())]
        clock.SetBreakIntervalsOfVehicle(intervals, 0, visit)
    return manager, routing, clock, intervals


# Neighbourhoods that cannot help one van with single stops (pairs, sub-trips, moves
# between routes, taking stops out): each costs a pass of the local search for nothing.
_USELESS = (
    "use_relocate_pair",
    "use_light_relocate_pair",
    "use_exchange_pair",
    "use_relocate_subtrip",
    "use_exchange_subtrip",
    "use_cross",
    "use_make_inactive",
    "use_make_chain_inactive",
    "use_swap_active",
    "use_swap_active_chain",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
)
BOOL_FALSE = 2
RELOCATE_NEIGHBORS_MAX_N = 150


def _choose_operators(params: Any, n: int) -> None:
    """The local search's neighbourhoods, each choice measured at a 1 s limit on the
    public Dumas instances and generated n = 200 ones (benchmarks/routing.py):

    - "relocate and make active" puts left-out stops back (3 of 15 kept one out
      without it);
    - two large-neighbourhood operators, removing the stops close to each other or an
      expensive chain of the route and re-inserting them by local cheapest insertion:
      the way out of the local optima guided local search alone stayed in on wide
      windows (n60w100 1.55% -> 0.00%, n80w80 0.80% -> 0.00%, generated n200w120
      -> about -1% of the old result);
    - "relocate neighbours" (a stop moved next to one of its nearest), up to 150
      stops: n100w60 1.37% -> 0.00%, n80w60 0.36% -> 0.00%; at 200 stops its passes
      cost more than they found in a second;
    - and off, the neighbourhoods in `_USELESS`.
    """
    ops = params.local_search_operators
    ops.use_relocate_and_make_active = BOOL_TRUE
    ops.use_local_cheapest_insertion_close_nodes_lns = BOOL_TRUE
    ops.use_local_cheapest_insertion_expensive_chain_lns = BOOL_TRUE
    if n <= RELOCATE_NEIGHBORS_MAX_N:
        ops.use_relocate_neighbors = BOOL_TRUE
    for name in _USELESS:
        setattr(ops, name, BOOL_FALSE)


def _more_rounds(routing: Any, params: Any, assignment: Any, deadline: float) -> Any:
    """Iterated local search again from its best route while time is left.

    OR-Tools' iterated local search ends by itself well before its time limit (n100w60:
    after 0.34 s of a 1 s limit, n60w20 after 0.09 s), and from the same route with the
    same parameters it ends at the same route; so each further round starts from the
    best route so far with another ruin size (`ROUND_RUINS`), and the search ends when
    the time is up or a cycle of sizes brought nothing.
    """
    sisr = params.iterated_local_search_parameters.ruin_recreate_parameters.ruin_strategies[0].sisr
    idle = 0
    for size in itertools.cycle(ROUND_RUINS):
        remaining = deadline - time.perf_counter()
        if assignment is None or remaining < MIN_ROUND_S or idle >= len(ROUND_RUINS):
            break
        sisr.avg_num_removed_visits = size
        params.time_limit.FromMilliseconds(int(remaining * 1000))
        again = routing.SolveFromAssignmentWithParameters(assignment, params)
        if again is not None and again.ObjectiveValue() < assignment.ObjectiveValue():
            assignment, idle = again, 0
        else:
            idle += 1
    return assignment


def _constructed(p: Problem, route: list[int], started: float, stats: SearchStats) -> Solution:
    """The construction's own route as the answer (it serves each stop on time)."""
    schedule = simulate(p, route)
    served = set(route)
    return Solution(
        route=tuple(route),
        unassigned=tuple(v for v in range(1, p.n + 1) if v not in served),
        arrivals=schedule.arrivals,
        breaks=(),
        travel=schedule.travel,
        end_time=schedule.end_time,
        solve_ms=round((time.perf_counter() - started) * 1000),
        stats=stats,
    )


RUINED_VISITS = 10
RUINED_SEQUENCE = 10
# Below this many stops guided local search finds the same routes within milliseconds
# (the public n <= 40 instances: optimal either way) and its search reports each
# solution, which the stall stop of a reschedule needs: that one keeps it at any size.
ILS_MIN_N = 50
MIN_ROUND_S = 0.05
ROUND_RUINS = (20, 5, 30, 15)


def _iterated_local_search(params: Any) -> None:
    """Iterated local search (OR-Tools >= 9.12) in place of guided local search: at a
    local optimum, remove about `RUINED_VISITS` stops in strings of nearby ones (SISR,
    Christiaens & Vanden Berghe 2020, the ruin VROOM-like solvers use), put them back
    by local cheapest insertion, descend again, and keep the result by simulated
    annealing. Measured at the same CPU time (0.8 s) on the generated n = 200 instances
    with wide windows (benchmarks/routing.py): 853 -> 814 and 768 -> 735 of references
    757 and 710, 924 -> 907; the public instances as before. Guided local search
    penalises long arcs, which a route with 100-wide windows needs; ruin-and-recreate
    moves a whole neighbourhood at once. Not for a reschedule (`stop_when_stalled`):
    under it the reschedule tests' searches ran to their time limit instead of
    stopping once stalled.
    """
    params.use_iterated_local_search = True
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    ruin = params.iterated_local_search_parameters.ruin_recreate_parameters
    del ruin.ruin_strategies[:]
    sisr = ruin.ruin_strategies.add().sisr
    sisr.max_removed_sequence_size = RUINED_SEQUENCE
    sisr.avg_num_removed_visits = RUINED_VISITS
    sisr.bypass_factor = 0.01
    ruin.recreate_strategy.heuristic = (
        routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION
    )


def solve(
    p: Problem,
    time_limit: float = 1.0,
    current: list[int] | None = None,
    stickiness: float = 0.02,
    stop_when_stalled: bool = False,
) -> Solution:
    """Best route found within `time_limit` seconds (wall clock, this process's CPU).

    With `stop_when_stalled` the search ends earlier once it stops improving (see
    `_Progress`): what a reschedule wants. A morning optimisation keeps the whole limit.
    """
    started = time.perf_counter()
    if p.n == 0:
        schedule = simulate(p, [])
        return Solution((), (), (), (), schedule.travel, schedule.end_time, 0)
    # From ILS_MIN_N stops, the first of the construction's orders that serves everyone,
    # not the shortest of the three: the search shortens it anyway, and the ~0.1 s saved
    # at 200 stops is search time (at 0.4 s of CPU, wide-window n = 200: 882 -> 814,
    # 915 -> 874). Smaller routes keep the shortest start (their searches converge
    # from it within a few ms, so the same input gives the same route).
    initial, _left = construct(
        p, current, budget_s=0.4 * time_limit, first_feasible=p.n >= ILS_MIN_N
    )
    manager, routing, clock, intervals = _model(p, stickiness if current else 0.0)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    _choose_operators(params, p.n)
    if p.n >= ILS_MIN_N and not stop_when_stalled:
        _iterated_local_search(params)
    else:
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
    remaining = max(time_limit - (time.perf_counter() - started), 0.05)
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    progress = _Progress(routing, stop_when_stalled)
    routing.AddAtSolutionCallback(progress.at_solution)
    routing.AddSearchMonitor(routing.solver().CustomLimit(progress.should_stop))
    routing.CloseModelWithParameters(params)
    start = routing.ReadAssignmentFromRoutes([[manager.NodeToIndex(v) for v in initial]], True)
    assignment = (
        routing.SolveFromAssignmentWithParameters(start, params)
        if start
        else routing.SolveWithParameters(params)
    )
    if p.n >= ILS_MIN_N and not stop_when_stalled:
        assignment = _more_rounds(routing, params, assignment, started + time_limit)
    if assignment is None and not p.breaks and initial:
        # The search ended before it accepted even its start (a loaded machine leaves
        # it a few milliseconds after the construction): the construction's route is
        # on time, so it is the answer, not an empty one. With breaks it is not known
        # to be (the construction does not place them).
        return _constructed(p, initial, started, progress.stats("construction"))
    if assignment is None:  # nothing found at all (breaks that cannot be placed)
        schedule = simulate(p, [])
        return Solution(
            (),
            tuple(range(1, p.n + 1)),
            (),
            (),
            schedule.travel,
            schedule.end_time,
            round((time.perf_counter() - started) * 1000),
            progress.stats("failed"),
        )
    route: list[int] = []
    arrivals: list[int] = []
    index = routing.Start(0)
    while True:
        index = assignment.Value(routing.NextVar(index))
        if routing.IsEnd(index):
            break
        route.append(manager.IndexToNode(index))
        arrivals.append(assignment.Value(clock.CumulVar(index)))
    end_time = assignment.Value(clock.CumulVar(index))
    breaks = (
        tuple((assignment.StartValue(iv), p.breaks[i].duration) for i, iv in enumerate(intervals))
        if intervals
        else ()
    )
    if len(route) < len(initial) and not p.breaks:
        # The search gave back fewer stops than it was started with (stopped early).
        return _constructed(p, initial, started, progress.stats("construction"))
    served = set(route)
    return Solution(
        route=tuple(route),
        unassigned=tuple(v for v in range(1, p.n + 1) if v not in served),
        arrivals=tuple(arrivals),
        breaks=breaks,
        travel=route_cost(p, route),
        end_time=end_time,
        solve_ms=round((time.perf_counter() - started) * 1000),
        stats=progress.stats(),
    )
