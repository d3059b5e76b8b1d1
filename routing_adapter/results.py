"""What the adapter answers: a route, a route after a change, an offered window.

Plain dataclasses with `to_json`, so the service can log and return them; the
engine's pool pickles them back from its workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from routing_adapter.fastpath import Method
from routing_adapter.plan import Problem
from routing_adapter.solution import SearchStats, Solution, why_unserved


def json_time(value: datetime | int | None) -> Any:
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
    # How the answer was found: the current order kept, one stop inserted into it, or
    # a search (whose `search` stats say how it went and why it stopped).
    method: Method = "solve"
    search: SearchStats | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "sequence": self.sequence,
            "arrivals": {k: json_time(v) for k, v in self.arrivals.items()},
            "feasible": self.feasible,
            "violations": self.violations,
            "unassigned": self.unassigned,
            "travel_time": self.travel_time,
            "solve_ms": self.solve_ms,
            "breaks": [{**b, "start": json_time(b["start"])} for b in self.breaks],
            "end_time": json_time(self.end_time),
            "method": self.method,
        }
        if self.search is not None:
            out["search"] = {
                "solutions": self.search.solutions,
                "improvements": self.search.improvements,
                "last_improvement_ms": self.search.last_improvement_ms,
                "stop": self.search.stop,
            }
        return out


@dataclass(frozen=True, slots=True)
class ChangeResult:
    route: RouteResult
    # Stops whose arrival moved by at least the threshold: (id, before, after).
    moved: list[tuple[str, datetime | int, datetime | int]]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.route.to_json(),
            "moved": [
                {"stop": s, "before": json_time(a), "after": json_time(b)} for s, a, b in self.moved
            ],
        }


@dataclass(frozen=True, slots=True)
class WindowOffer:
    start: datetime | int
    end: datetime | int
    added_travel: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": json_time(self.start),
            "end": json_time(self.end),
            "added_travel": self.added_travel,
        }


def route_result(p: Problem, sol: Solution, method: Method = "solve") -> RouteResult:
    """The problem's integer solution in the plan's ids and times."""
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
        method=method,
        search=sol.stats if method == "solve" else None,
    )
