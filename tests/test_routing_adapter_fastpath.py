"""Reschedules and offers without a full solve; the solve's improvement-based stop; the
travel-time matrix cache. Real OR-Tools throughout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from routing_adapter.construct import simulate
from routing_adapter.engine import InsertStop, NewWindow, RemoveStop, apply, optimize
from routing_adapter.plan import build_problem, parse_plan
from routing_adapter.solver import solve
from routing_adapter.travel import travel_matrix
from routing_adapter.windows import feasible_windows
from tests.test_routing import _ordered, busy_morning_plan, grid_plan

ROOT = Path(__file__).resolve().parent.parent


def _window(stop_id: str, start: int, end: int) -> NewWindow:
    return NewWindow.model_validate(
        {"type": "window", "stop_id": stop_id, "window": {"start": start, "end": end}}
    )


def _eta(plan: dict[str, Any], sequence: list[str]) -> list[int]:
    p = build_problem(parse_plan(plan))
    return list(simulate(p, [p.stop_index(s) for s in sequence]).arrivals)


def test_a_window_that_still_holds_keeps_the_order_and_its_simulated_etas() -> None:
    plan = _ordered(grid_plan(n=20, seed=9))
    order = [s["id"] for s in plan["stops"]]
    etas = dict(zip(order, _eta(plan, order), strict=True))
    stop = order[7]
    # A narrower window around the planned arrival: the customer's "after 5".
    change = _window(stop, etas[stop] - 300, etas[stop] + 900)
    result = apply(parse_plan(plan), change, time_limit=1.0)
    assert result.route.method == "kept_order"
    assert result.route.search is None  # no search ran
    assert result.route.sequence == order
    changed = json.loads(json.dumps(plan))
    changed["stops"][7]["window"] = {"start": etas[stop] - 300, "end": etas[stop] + 900}
    assert list(result.route.arrivals.values()) == _eta(changed, order)
    assert result.moved == []


def test_a_later_window_moves_only_that_stop() -> None:
    plan = _ordered(grid_plan(n=10, seed=12, width=4 * 3600))
    first = plan["stops"][0]["id"]
    result = apply(parse_plan(plan), _window(first, 5 * 3600, 6 * 3600), time_limit=1.0)
    assert result.route.method == "insertion"
    others = [s["id"] for s in plan["stops"][1:]]
    assert [s for s in result.route.sequence if s != first] == others
    assert 5 * 3600 <= result.route.arrivals[first] < 6 * 3600  # type: ignore[operator]
    assert list(result.route.arrivals.values()) == _eta(
        {
            **plan,
            "stops": [
                {**s, "window": {"start": 5 * 3600, "end": 6 * 3600}} if s["id"] == first else s
                for s in plan["stops"]
            ],
        },
        result.route.sequence,
    )


def test_a_pickup_is_inserted_and_a_removal_keeps_everyone_as_early() -> None:
    plan = _ordered(grid_plan(n=12, seed=6, width=6 * 3600))
    pickup = InsertStop.model_validate(
        {
            "type": "insert",
            "stop": {"id": "ret", "location": {"index": 2}, "kind": "pickup", "size": 1},
        }
    )
    inserted = apply(parse_plan(plan), pickup, time_limit=1.0)
    assert inserted.route.method == "insertion" and inserted.route.feasible
    assert "ret" in inserted.route.sequence
    order = [s["id"] for s in plan["stops"]]
    before = dict(zip(order, _eta(plan, order), strict=True))
    removed = apply(parse_plan(plan), RemoveStop(type="remove", stop_id=order[4]), 1.0)
    assert removed.route.method == "kept_order"
    assert removed.route.sequence == order[:4] + order[5:]
    assert all(t <= before[s] for s, t in removed.route.arrivals.items())  # type: ignore[operator]


def two_moves_plan() -> dict[str, Any]:
    """Stops a (any time), b (600-700) and x, 300 s apart, no service time, driven
    a, b, x. x's new window 250-350 puts it first; then a cannot stay before b, so
    no single move of x works, but x, b, a does."""
    matrix = [[0 if i == j else 300 for j in range(4)] for i in range(4)]
    stop = {"service_s": 0}
    return {
        "driver": {"location": {"index": 0}, "time": 0},
        "matrix": matrix,
        "stops": [
            {**stop, "id": "a", "location": {"index": 1}, "window": {"start": 0, "end": 9000}},
            {**stop, "id": "b", "location": {"index": 2}, "window": {"start": 600, "end": 700}},
            {**stop, "id": "x", "location": {"index": 3}, "window": {"start": 0, "end": 9000}},
        ],
    }


def test_a_change_no_single_move_fits_is_solved_and_served_on_time() -> None:
    plan = parse_plan(two_moves_plan())
    result = apply(plan, _window("x", 250, 350), time_limit=2.0)
    assert result.route.method == "solve"
    assert result.route.search is not None and result.route.search.stop == "stalled"
    assert result.route.feasible
    assert result.route.sequence == ["x", "b", "a"]
    assert result.route.arrivals == {"x": 300, "b": 600, "a": 900}


def test_offered_windows_are_confirmed_by_a_full_solve() -> None:
    plan = _ordered(grid_plan(n=15, seed=14, width=3 * 3600))
    stop = plan["stops"][6]
    offers = feasible_windows(parse_plan(plan), stop["id"], 0, 10 * 3600, 3600, max_offers=20)
    assert len(offers) >= 2
    for offer in offers:
        trial = json.loads(json.dumps(plan))
        trial["stops"][6]["window"] = {"start": offer.start, "end": offer.end}
        assert optimize(parse_plan(trial), 1.0).feasible, offer
    assert [o.added_travel for o in offers] == sorted(o.added_travel for o in offers)


def test_a_window_that_needs_the_others_reordered_is_still_offered() -> None:
    """Inserting the pickup into the driver's order fails in every slot; a slot still
    fits once the others are reordered, which the one solve finds."""
    plan = busy_morning_plan()
    target = {"id": "p", "location": {"index": 8}, "kind": "pickup", "service_s": 600}
    # Drive the morning in a poor order: s5 first makes everyone else late.
    plan["stops"] = [plan["stops"][5], *plan["stops"][:5]]
    new_stop = parse_plan({**plan, "stops": [*plan["stops"], target]}).stops[-1]
    offers = feasible_windows(parse_plan(plan), new_stop, 5400, 4 * 3600, 1800, max_offers=9)
    assert {o.start for o in offers} == {5400, 7200, 9000, 10800, 12600}


def test_the_search_stops_when_it_stops_improving() -> None:
    p = build_problem(parse_plan(grid_plan(n=12, seed=3, width=4 * 3600)))
    stalled = solve(p, time_limit=20.0, stop_when_stalled=True)
    assert stalled.stats.stop == "stalled"
    assert not stalled.unassigned
    assert 1 <= stalled.stats.improvements <= stalled.stats.solutions
    full = solve(p, time_limit=0.3)
    assert full.stats.stop == "time_limit"
    assert full.travel <= stalled.travel * 1.05  # stopping early cost (almost) nothing


def test_the_matrix_of_a_route_is_computed_once() -> None:
    raw = json.loads((ROOT / "routing_adapter/examples/plan.json").read_text())
    travel_matrix.cache_clear()
    first = build_problem(parse_plan(raw))
    assert travel_matrix.cache_info().misses == 1
    stop = raw["stops"][1]["id"]
    apply(parse_plan(raw), _window(stop, raw["driver"]["time"], "2026-11-24T21:00:00-05:00"))  # type: ignore[arg-type]
    info = travel_matrix.cache_info()
    assert info.misses == 1 and info.hits >= 2  # before and after the change: same points
    assert build_problem(parse_plan(raw)).matrix is first.matrix


def test_a_quick_answer_does_not_even_load_ortools() -> None:
    code = """
import json, sys
from routing_adapter.engine import NewWindow, apply
from routing_adapter.plan import parse_plan
from tests.test_routing import _ordered, grid_plan
plan = _ordered(grid_plan(n=8, seed=2, width=6 * 3600))
for m in [m for m in sys.modules if m.startswith(("ortools", "routing_adapter.solver"))]:
    del sys.modules[m]
s = plan["stops"][3]["id"]
change = NewWindow.model_validate({"type": "window", "stop_id": s,
                                   "window": {"start": 0, "end": 8 * 3600}})
result = apply(parse_plan(plan), change)
print(json.dumps([result.route.method, "ortools" in sys.modules]))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert json.loads(out.stdout) == ["kept_order", False]


async def test_the_engine_answers_a_quick_change_without_its_solver_processes() -> None:
    from routing_adapter.engine import OrToolsEngine

    engine = OrToolsEngine(workers=1, time_limit=1.0)
    plan = parse_plan(_ordered(grid_plan(n=10, seed=12, width=4 * 3600)))
    first = plan.stops[0].id
    try:
        engine._pool.shutdown(wait=True)  # any use of the pool now raises
        result = await engine.apply(plan, _window(first, 5 * 3600, 6 * 3600))
        assert result.route.method == "insertion"
        assert 5 * 3600 <= result.route.arrivals[first] < 6 * 3600  # type: ignore[operator]
    finally:
        engine.close()


def test_the_route_cli_imports_neither_pydantic_nor_ortools() -> None:
    code = "import sys, routing_adapter.cli; print(sorted(m.split('.')[0] for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert not loaded & {"pydantic", "ortools", "asyncio", "aiohttp"}, loaded


def test_the_route_cli_runs_alone(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(grid_plan(n=5)))
    out = subprocess.run(
        [sys.executable, "-m", "routing_adapter.cli", "optimize", str(plan), "--time-limit", "0.2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["feasible"] is True


def test_with_a_waiting_cost_a_late_window_does_not_keep_everyone_waiting() -> None:
    """The order still 'works' with the first stop moved to 5 h from now (everyone
    after it just waits), but a live route counts the driver's day: it goes last."""
    plan = _ordered(grid_plan(n=6, seed=4, width=12 * 3600))
    for stop in plan["stops"]:
        del stop["window"]
    plan["wait_cost"] = 1
    first = plan["stops"][0]["id"]
    result = apply(parse_plan(plan), _window(first, 5 * 3600, 7 * 3600), time_limit=1.0)
    assert result.route.method == "insertion"
    assert result.route.sequence[-1] == first
    others = [s["id"] for s in plan["stops"][1:]]
    assert result.route.sequence[:-1] == others
    assert all(result.route.arrivals[s] < 5 * 3600 for s in others)  # type: ignore[operator]
