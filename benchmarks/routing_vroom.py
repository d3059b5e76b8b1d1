"""VROOM (pyvroom) on the same TSPTW problems as our solver, for the side-by-side table.

Exploration level 5 (VROOM's most thorough), on both cores of this machine: what a
deployment would run it with. Its cost is measured on our side with the same
`route_cost`, so the two columns are the same objective.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import vroom

from routing_adapter.construct import route_cost
from routing_adapter.plan import Problem


@dataclass(frozen=True, slots=True)
class VroomResult:
    route: list[int]  # our problem's stop nodes, in order
    travel: int
    unassigned: int
    ms: int


def vroom_solve(
    p: Problem, exploration: int = 5, threads: int = 2, timeout_s: float | None = None
) -> VroomResult:
    """Solve a depot-to-depot TSPTW (our `problem_from` shape: node n+1 is the depot's
    copy) with VROOM; jobs are nodes 1..n, the depot is location 0. `timeout_s` bounds
    its search as our time limit bounds ours (None: as long as it wants)."""
    started = time.perf_counter()
    n = p.n
    matrix = [[p.matrix[i][j] for j in range(n + 1)] for i in range(n + 1)]
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=matrix)
    start, end = p.windows[0][0], p.windows[p.end][1]
    problem.add_vehicle(vroom.Vehicle(1, start=0, end=0, time_window=vroom.TimeWindow(start, end)))
    for node in range(1, n + 1):
        a, b = p.windows[node]
        problem.add_job(vroom.Job(node, location=node, time_windows=[vroom.TimeWindow(a, b)]))
    timeout = None if timeout_s is None else timedelta(seconds=timeout_s)
    solution = problem.solve(exploration_level=exploration, nb_threads=threads, timeout=timeout)
    routes = solution.routes
    jobs = routes[routes["type"] == "job"]
    route = [int(j) for j in jobs["id"]]
    return VroomResult(
        route=route,
        travel=route_cost(p, route),
        unassigned=n - len(route),
        ms=round((time.perf_counter() - started) * 1000),
    )
