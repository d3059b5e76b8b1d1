"""What a route search answers, and why a stop was left out: no OR-Tools needed here.

Kept apart from solver.py so that the cheap paths (a kept order, an insertion) and
the CLI's start-up never import OR-Tools (~0.1 s) unless they solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routing_adapter.plan import Problem


@dataclass(frozen=True, slots=True)
class SearchStats:
    """How the search went: what the service logs, and what tests can assert on.

    `stop` is why it ended: "stalled" (no better route for a while, see `solve`),
    "time_limit", "no_search" (nothing to search: an empty route), "construction" (the
    search ended without improving on the constructed route, which is the answer), or
    "failed".
    """

    solutions: int = 0  # solutions the local search reported
    improvements: int = 0  # of which strictly better than the best before
    last_improvement_ms: int = 0  # since the search started
    stop: str = "no_search"


@dataclass(frozen=True, slots=True)
class Solution:
    route: tuple[int, ...]
    unassigned: tuple[int, ...]
    arrivals: tuple[int, ...]
    breaks: tuple[tuple[int, int], ...]  # (start, duration)
    travel: int
    end_time: int
    solve_ms: int
    stats: SearchStats = SearchStats()


def why_unserved(p: Problem, node: int) -> str:
    """A plain reason for a stop the solver had to leave out."""
    direct = p.windows[0][0] + p.service[0] + p.matrix[0][node]
    if max(direct, p.windows[node][0]) > p.windows[node][1]:
        return "its window ends before the driver can get there"
    if p.capacity is not None and p.initial_load + p.demand[node] > p.capacity:
        return "the van has no room for it"
    return "it does not fit with the other stops' windows"


def solve_lazily(p: Problem, *args: Any, **kwargs: Any) -> Solution:
    """`solver.solve`, with OR-Tools imported on the first solve: a process that only
    checks cheap answers (or the CLI printing its help) never pays its ~0.1 s import."""
    from routing_adapter.solver import solve

    result: Solution = solve(p, *args, **kwargs)
    return result
