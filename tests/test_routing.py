"""The routing adapter: windows, capacity, breaks, warm start, changes, offered windows."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from routing_adapter.construct import simulate
from routing_adapter.engine import (
    InsertStop,
    NewWindow,
    OrToolsEngine,
    RemoveStop,
    ServiceTime,
    apply,
    feasible_windows,
    optimize,
    parse_change,
)
from routing_adapter.plan import PlanError, build_problem, parse_plan
from routing_adapter.solver import solve
from routing_adapter.travel import SpeedProfile

ROOT = Path(__file__).resolve().parent.parent


def grid_plan(n: int = 12, seed: int = 3, width: int = 5400, **extra: Any) -> dict[str, Any]:
    """Stops on a grid with travel times in seconds and windows of `width` seconds."""
    rng = random.Random(seed)
    points = [(rng.uniform(0, 10), rng.uniform(0, 10)) for _ in range(n + 2)]
    matrix = [
        [round(120 * ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5) for bx, by in points]
        for ax, ay in points
    ]
    stops = []
    for i in range(n):
        start = rng.randrange(0, 4 * 3600, 600)
        stops.append(
            {
                "id": f"s{i}",
                "location": {"index": i + 1},
                "window": {"start": start, "end": start + width},
                "service_s": 180,
            }
        )
    plan: dict[str, Any] = {
        "driver": {"location": {"index": 0}, "time": 0},
        "matrix": matrix,
        "vehicle": {"end": {"index": n + 1}},
        "stops": stops,
    }
    plan.update(extra)
    return plan


def arrivals_in_windows(plan: dict[str, Any], result: dict[str, Any]) -> list[str]:
    windows = {s["id"]: s["window"] for s in plan["stops"] if "window" in s}
    return [
        sid
        for sid, t in result["arrivals"].items()
        if sid in windows and not windows[sid]["start"] <= t < windows[sid]["end"]
    ]


def test_every_arrival_is_inside_its_window() -> None:
    plan = grid_plan(n=25, seed=5)
    result = optimize(parse_plan(plan), 0.5).to_json()
    assert result["feasible"] and sorted(result["sequence"]) == sorted(
        s["id"] for s in plan["stops"]
    )
    assert arrivals_in_windows(plan, result) == []
    # Arrivals respect travel and service times along the sequence.
    p = build_problem(parse_plan(plan))
    schedule = simulate(p, [p.stop_index(s) for s in result["sequence"]])
    assert list(result["arrivals"].values()) == list(schedule.arrivals)
    assert schedule.late == ()


def test_capacity_holds_with_pickups() -> None:
    plan = grid_plan(n=8, seed=11, width=6 * 3600)
    for i, stop in enumerate(plan["stops"]):
        stop["size"] = 2
        stop["kind"] = "pickup" if i % 2 else "delivery"
    plan["vehicle"]["capacity"] = 8  # 4 deliveries of 2 = full at the start
    plan["stops"].append(
        {"id": "sofa", "location": {"index": 3}, "kind": "pickup", "size": 9, "service_s": 60}
    )
    result = optimize(parse_plan(plan), 0.5).to_json()
    load = 8
    for sid in result["sequence"]:
        stop = next(s for s in plan["stops"] if s["id"] == sid)
        load += stop["size"] if stop["kind"] == "pickup" else -stop["size"]
        assert 0 <= load <= 8, (sid, load)
    assert result["unassigned"] == ["sofa"]
    assert result["violations"] == [{"stop": "sofa", "reason": "the van has no room for it"}]
    assert len(result["sequence"]) == 8


def test_a_pickup_waits_until_deliveries_made_room() -> None:
    plan = grid_plan(n=4, seed=2, width=8 * 3600)
    for stop in plan["stops"]:
        stop["size"] = 2
    plan["vehicle"]["capacity"] = 8
    plan["stops"].append({"id": "chair", "location": {"index": 1}, "kind": "pickup", "size": 3})
    result = optimize(parse_plan(plan), 0.3).to_json()
    assert result["feasible"]
    position = result["sequence"].index("chair")
    assert position >= 2  # at least two deliveries (4 units) before 3 more fit in 8


def test_break_is_taken_inside_its_window_and_not_during_a_visit() -> None:
    plan = grid_plan(n=10, seed=8, width=3 * 3600)
    plan["breaks"] = [{"window": {"start": 5400, "end": 9000}, "duration_s": 1800}]
    result = optimize(parse_plan(plan), 0.5).to_json()
    assert result["feasible"]
    (brk,) = result["breaks"]
    assert 5400 <= brk["start"] <= 9000 and brk["duration_s"] == 1800
    for sid, arrive in result["arrivals"].items():
        leave = arrive + 180
        assert leave <= brk["start"] or arrive >= brk["start"] + 1800, sid
    # The schedule after the break is later than a schedule that ignored it.
    no_break = optimize(parse_plan(grid_plan(n=10, seed=8, width=3 * 3600)), 0.5).to_json()
    assert result["end_time"] >= no_break["end_time"]


def test_an_optimised_plan_stays_unchanged_when_optimised_again() -> None:
    plan = grid_plan(n=30, seed=21)
    first = optimize(parse_plan(plan), 0.5).to_json()
    ordered = dict(plan)
    ordered["stops"] = [
        next(s for s in plan["stops"] if s["id"] == sid) for sid in first["sequence"]
    ]
    again = optimize(parse_plan(ordered), 0.5).to_json()
    assert again["feasible"]
    if again["sequence"] != first["sequence"]:
        # Under load the first half-second search can stop before its local optimum;
        # the driver's order may then change, but only for a strictly shorter route.
        assert again["travel_time"] < first["travel_time"]
    else:
        assert again["arrivals"] == first["arrivals"]


def test_same_input_and_limit_give_the_same_route() -> None:
    plan = parse_plan(grid_plan(n=15, seed=4))
    assert optimize(plan, 0.3).to_json()["sequence"] == optimize(plan, 0.3).to_json()["sequence"]


def _ordered(plan: dict[str, Any], limit: float = 0.5) -> dict[str, Any]:
    """The plan with its stops in the optimiser's order (what a dispatched route is)."""
    result = optimize(parse_plan(plan), limit).to_json()
    out = dict(plan)
    out["stops"] = [next(s for s in plan["stops"] if s["id"] == sid) for sid in result["sequence"]]
    return out


def test_removing_a_stop_makes_no_later_eta_later() -> None:
    plan = _ordered(grid_plan(n=20, seed=9))
    p = build_problem(parse_plan(plan))
    before = dict(zip(p.ids, simulate(p, list(range(1, p.n + 1))).arrivals, strict=True))
    victim = plan["stops"][5]["id"]
    changed = apply(parse_plan(plan), RemoveStop(type="remove", stop_id=victim), 0.5)
    assert victim not in changed.route.sequence
    for sid, after in changed.route.arrivals.items():
        assert after <= before[sid], f"{sid} got later: {before[sid]} -> {after}"


def test_new_window_moves_the_stop_and_reports_who_moved() -> None:
    plan = _ordered(grid_plan(n=10, seed=12, width=4 * 3600))
    first = plan["stops"][0]["id"]
    change = NewWindow(type="window", stop_id=first, window={"start": 5 * 3600, "end": 6 * 3600})  # type: ignore[arg-type]
    result = apply(parse_plan(plan), change, 0.5)
    assert 5 * 3600 <= result.route.arrivals[first] < 6 * 3600
    moved = {m[0] for m in result.moved}
    assert first in moved
    assert all(abs(after - before) >= 900 for _, before, after in result.moved)  # type: ignore[operator]


def test_inserted_pickup_and_longer_service_are_scheduled() -> None:
    plan = _ordered(grid_plan(n=8, seed=6, width=6 * 3600))
    pickup = InsertStop(
        type="insert",
        stop={  # type: ignore[arg-type]
            "id": "return-1",
            "location": {"index": 2},
            "kind": "pickup",
            "size": 1,
            "window": {"start": 3600, "end": 3 * 3600},
            "service_s": 300,
        },
    )
    result = apply(parse_plan(plan), pickup, 0.5)
    assert 3600 <= result.route.arrivals["return-1"] < 3 * 3600  # type: ignore[operator]
    first, second = plan["stops"][0]["id"], plan["stops"][1]["id"]
    before = optimize(parse_plan(plan), 0.5).arrivals
    slower = apply(
        parse_plan(plan), ServiceTime(type="service_time", stop_id=first, service_s=1800), 0.5
    )
    assert slower.route.arrivals[second] > before[second]  # type: ignore[operator]
    assert second in {m[0] for m in slower.moved}


def busy_morning_plan() -> dict[str, Any]:
    """Six back-to-back stops until 1:30 (5 min apart, 10 min service, 10-minute windows);
    location 8 is 25 minutes from everything."""
    size = 9
    matrix = [
        [0 if a == b else (1500 if 8 in (a, b) else 300) for b in range(size)] for a in range(size)
    ]
    stops = [
        {
            "id": f"s{k}",
            "location": {"index": k + 1},
            "service_s": 600,
            "window": {"start": 900 * k, "end": 900 * k + 600},
        }
        for k in range(6)
    ]
    return {
        "driver": {"location": {"index": 0}, "time": 0},
        "matrix": matrix,
        "vehicle": {"end": {"index": 7}},
        "stops": stops,
    }


def test_offered_windows_fit_and_the_others_do_not() -> None:
    plan = busy_morning_plan()
    target = {
        "id": "pickup",
        "location": {"index": 8},
        "kind": "pickup",
        "size": 1,
        "service_s": 600,
    }
    new_stop = parse_plan({**plan, "stops": [*plan["stops"], target]}).stops[-1]
    offers = feasible_windows(parse_plan(plan), new_stop, 0, 4 * 3600, slot_s=1800, max_offers=100)
    offered = {o.start for o in offers}
    outcomes = {}
    for start in range(0, 4 * 3600, 1800):
        trial = {
            **plan,
            "stops": [*plan["stops"], {**target, "window": {"start": start, "end": start + 1800}}],
        }
        outcomes[start] = optimize(parse_plan(trial), 0.5).feasible
    assert outcomes == {
        0: False,
        1800: False,
        3600: False,
        5400: True,
        7200: True,
        9000: True,
        10800: True,
        12600: True,
    }
    for start, fits in outcomes.items():
        assert (start in offered) == fits, (start, fits, sorted(offered))
    added = [o.added_travel for o in offers]
    assert added == sorted(added)


def test_windows_of_an_existing_stop_are_limited_and_ranked() -> None:
    plan = _ordered(grid_plan(n=10, seed=14, width=3600))
    stop = plan["stops"][3]["id"]
    offers = feasible_windows(parse_plan(plan), stop, 0, 8 * 3600, max_offers=3)
    assert 1 <= len(offers) <= 3
    assert all(o.end - o.start == 7200 for o in offers)  # type: ignore[operator]


def test_infeasible_plan_returns_the_best_schedule_for_the_rest() -> None:
    plan = grid_plan(n=6, seed=1, width=6 * 3600)
    plan["stops"].append(
        {
            "id": "too-early",
            "location": {"index": 5},
            "window": {"start": 0, "end": 1},
            "service_s": 60,
        }
    )
    result = optimize(parse_plan(plan), 0.3).to_json()
    assert result["feasible"] is False
    assert result["unassigned"] == ["too-early"]
    assert result["violations"][0]["reason"] == "its window ends before the driver can get there"
    assert len(result["sequence"]) == 6


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["stops"][0].update(service_s=-5), "stops.0.service_s"),
        (lambda p: p["stops"][0].pop("location"), "stops.0.location"),
        (lambda p: p["stops"][1].update(window={"start": 900, "end": 900}), "stops.1.window"),
        (lambda p: p["matrix"][2].pop(), "matrix.2"),
        (lambda p: p["matrix"][3].__setitem__(1, -60), "matrix.3"),
        (lambda p: p["stops"][0].update(location={"index": 99}), "stops.0.location"),
        (lambda p: p["driver"].update(serving="nope"), "driver.serving"),
        (lambda p: p["stops"].append(dict(p["stops"][0])), "(plan)"),
    ],
    ids=[
        "negative-service",
        "missing-location",
        "empty-window",
        "ragged-matrix",
        "negative-travel",
        "index-outside-matrix",
        "unknown-serving-stop",
        "duplicate-id",
    ],
)
def test_bad_plans_name_the_field(mutate: Any, field: str) -> None:
    plan = grid_plan(n=4)
    mutate(plan)
    with pytest.raises(PlanError) as err:
        build_problem(parse_plan(plan))
    assert field in [f["field"] for f in err.value.fields], err.value.fields


def test_a_change_to_an_unknown_stop_is_an_error() -> None:
    with pytest.raises(PlanError) as err:
        apply(parse_plan(grid_plan(n=3)), RemoveStop(type="remove", stop_id="ghost"), 0.1)
    assert err.value.fields[0]["field"] == "change.stop_id"
    with pytest.raises(PlanError):
        parse_change({"type": "window", "stop_id": "s1", "window": {"start": 5, "end": 1}})


def test_cli_prints_the_route_and_exits_2_on_a_bad_plan(tmp_path: Path) -> None:
    good = tmp_path / "plan.json"
    good.write_text(json.dumps(grid_plan(n=5)))
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "route", "optimize", str(good), "--time-limit", "0.2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert set(body) >= {
        "sequence",
        "arrivals",
        "feasible",
        "violations",
        "unassigned",
        "travel_time",
        "solve_ms",
    }
    bad = grid_plan(n=5)
    bad["stops"][0]["window"] = {"start": 10, "end": 5}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "route", "optimize", str(tmp_path / "bad.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 2
    assert json.loads(out.stderr)["fields"][0]["field"] == "stops.0.window"


def test_cli_offers_windows(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text((ROOT / "routing_adapter/examples/plan.json").read_text())
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "route", "windows", str(plan), "--stop", "p01"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    windows = json.loads(out.stdout)["windows"]
    assert 1 <= len(windows) <= 3
    assert windows[0]["start"].startswith("2026-11-24T")


async def test_solving_in_the_pool_leaves_the_event_loop_free() -> None:
    """The solves run in the pool's processes, not on the event loop's thread.

    Measured as this process's CPU time, not as the loop's stalls: on a loaded machine a
    process waits seconds for a core whatever it runs, but two 0.8-second solves done
    here would cost this process most of their CPU (`benchmarks/routing.py` prints the
    loop's lag while the pool solves)."""
    engine = OrToolsEngine(workers=2, time_limit=0.8)
    try:
        plans = [parse_plan(grid_plan(n=60, seed=s, width=12 * 3600)) for s in range(2)]
        await engine.optimize(plans[0])  # the pool's processes started, their imports done
        ticks = 0
        cpu = time.process_time()
        solving = asyncio.gather(*(engine.optimize(p) for p in plans))
        while not solving.done():
            await asyncio.sleep(0.005)
            ticks += 1
        results = await solving
        used = time.process_time() - cpu
        assert all(r.feasible for r in results)
        assert ticks > 10  # the loop went on while they solved
        assert used < 0.25, f"this process spent {used:.2f} s of CPU while the pool solved"
    finally:
        engine.close()


def test_rush_hour_is_slower() -> None:
    profile = SpeedProfile()
    a, b = (40.70, -73.99), (40.75, -73.95)
    assert profile.seconds(*a, *b, hour=8) > profile.seconds(*a, *b, hour=13)


def test_solver_handles_an_empty_route() -> None:
    p = build_problem(
        parse_plan({"driver": {"location": {"lat": 1, "lon": 1}, "time": 0}, "stops": []})
    )
    assert solve(p, 0.1).route == ()


async def test_engine_reports_bad_plans_from_its_workers_and_survives_a_dead_worker() -> None:
    import os
    import signal

    engine = OrToolsEngine(workers=1, time_limit=0.2)
    try:
        bad = grid_plan(n=3)
        bad["matrix"][1][2] = -1
        with pytest.raises(PlanError) as err:
            await engine.optimize(parse_plan(bad))
        assert err.value.fields[0]["field"] == "matrix.1"
        # Kill the worker process: the next solve still works.
        for pid in list(engine._pool._processes):
            os.kill(pid, signal.SIGKILL)
        result = await engine.optimize(parse_plan(grid_plan(n=4, width=6 * 3600)))
        assert result.feasible
    finally:
        engine.close()


async def test_osrm_table_becomes_the_plans_matrix() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from routing_adapter.osrm import OsrmError, OsrmTable

    asked: list[str] = []

    async def table(request: web.Request) -> web.Response:
        asked.append(request.match_info["coords"])
        n = len(request.match_info["coords"].split(";"))
        if n > 50:
            return web.json_response({"code": "TooBig", "message": "too many coordinates"})
        durations = [[0 if i == j else 300 + 10 * abs(i - j) for j in range(n)] for i in range(n)]
        durations[1][2] = None  # an unreachable pair
        return web.json_response({"code": "Ok", "durations": durations})

    app = web.Application()
    app.router.add_get("/table/v1/driving/{coords}", table)
    server = TestServer(app)
    await server.start_server()
    import aiohttp

    osrm = OsrmTable(aiohttp.ClientSession(), str(server.make_url("/")))
    try:
        plan = parse_plan(json.loads((ROOT / "routing_adapter/examples/plan.json").read_text()))
        with_roads = await osrm.with_matrix(plan)
        assert asked[0].startswith("-73.944200,40.678200;")  # lon,lat as OSRM wants
        assert with_roads.matrix is not None and len(with_roads.matrix) == len(plan.stops) + 2
        assert with_roads.matrix[1][2] == 24 * 3600
        assert with_roads.stops[0].location.index == 1
        result = optimize(with_roads, 0.3)
        assert sorted(result.sequence) == sorted(s.id for s in plan.stops)
        big = parse_plan(
            {
                **plan.model_dump(mode="json"),
                "stops": [
                    {**plan.stops[0].model_dump(mode="json"), "id": f"x{i}"} for i in range(60)
                ],
            }
        )
        with pytest.raises(OsrmError, match="TooBig"):
            await osrm.with_matrix(big)
    finally:
        await osrm.close()
        await server.close()
