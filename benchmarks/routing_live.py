"""A live-like route for the reschedule benchmark, and the cost of one `apply`.

100 stops in Brooklyn (lat/lon, great-circle travel at city speed), two-hour promised
windows through the day, 3-minute visits, `wait_cost` 1 as the service sets it: the
shape of a real driver's day. The plan's order is the optimiser's (a dispatched
route), and the change is a customer's "can you come after 5" on one stop.

    python benchmarks/routing_live.py [--stops 100] [--repeat 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing_adapter.engine import NewWindow, apply, optimize
from routing_adapter.plan import Plan, parse_plan

DAY = datetime.fromisoformat("2026-11-24T08:00:00-05:00")


def live_plan(n: int = 100, seed: int = 7) -> Plan:
    """A dispatched route: random stops and windows, in the order the optimiser chose."""
    rng = random.Random(seed)
    stops: list[dict[str, Any]] = []
    for i in range(n):
        start = DAY + timedelta(hours=rng.choice(range(0, 10, 2)))
        stops.append(
            {
                "id": f"s{i:03d}",
                "location": {
                    "lat": 40.64 + rng.random() * 0.06,
                    "lon": -74.0 + rng.random() * 0.08,
                },
                "window": {
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=4)).isoformat(),
                },
                "service_s": 180,
            }
        )
    raw = {
        "driver": {"location": {"lat": 40.6782, "lon": -73.9442}, "time": DAY.isoformat()},
        "vehicle": {"end": {"lat": 40.6782, "lon": -73.9442}},
        "wait_cost": 1,
        "stops": stops,
    }
    plan = parse_plan(raw)
    first = optimize(plan, 3.0)
    by_id = {s["id"]: s for s in stops}
    return parse_plan({**raw, "stops": [by_id[s] for s in first.sequence]})


def after_five(plan: Plan, k: int) -> NewWindow:
    """'Can you come after 5?' for the k-th stop of the route (5 pm to the end of its day)."""
    stop = plan.stops[k]
    assert stop.window is not None
    return NewWindow.model_validate(
        {
            "type": "window",
            "stop_id": stop.id,
            "window": {
                "start": DAY.replace(hour=17).isoformat(),
                "end": DAY.replace(hour=20).isoformat(),
            },
        }
    )


def measure(plan: Plan, change: NewWindow, fast: bool, repeat: int) -> dict[str, Any]:
    """Median wall and CPU seconds of `apply`, and how the answers were found."""
    walls, cpus, methods = [], [], set()
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = apply(plan, change, time_limit=1.0, fast=fast)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        methods.add(result.route.method)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "methods": sorted(methods),
        "feasible": result.route.feasible,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stops", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    plan = live_plan(args.stops)
    for k in (10, 50):
        change = after_five(plan, k)
        quick = measure(plan, change, fast=True, repeat=args.repeat)
        full = measure(plan, change, fast=False, repeat=3)
        print(
            f"apply(NewWindow after 5pm) on stop {k} of {args.stops}: fast path "
            f"{quick['wall_s'] * 1e6:,.0f} us wall / {quick['cpu_s'] * 1e6:,.0f} us CPU "
            f"({'/'.join(quick['methods'])}) vs solve {full['wall_s'] * 1e3:,.0f} ms wall / "
            f"{full['cpu_s']:.2f} s CPU; both feasible: {quick['feasible'] and full['feasible']}"
        )


if __name__ == "__main__":
    main()
