"""`doorstep route ...`: optimise a plan file or list the windows a stop could move to.

Importing this module (which `bot/cli.py` does to add the `route` parser) loads only
the standard library: the plan model (pydantic) and OR-Tools are imported in `run`,
when there is a plan to read, so `doorstep --help` and every other subcommand do not
pay for them (measured with `python -X importtime`: 0.46 s before, a few ms now).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routing_adapter.plan import Plan, Time


def _load(path: str) -> Plan:
    from routing_adapter.plan import PlanError, parse_plan

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError([{"field": "(file)", "message": str(exc)}]) from None
    return parse_plan(text)


def _day(plan: Plan, start: str | None, end: str | None) -> tuple[Time, Time]:
    """The day to offer windows in: given, or 08:00-21:00 of the driver's day."""

    def parse(value: str) -> Time:
        return int(value) if value.lstrip("-").isdigit() else datetime.fromisoformat(value)

    if start and end:
        return parse(start), parse(end)
    now = plan.driver.time
    if isinstance(now, datetime):
        day = now.date()
        return (
            datetime.combine(day, time(8), now.tzinfo),
            datetime.combine(day, time(21), now.tzinfo),
        )
    return now, now + int(timedelta(hours=13).total_seconds())


def run(args: argparse.Namespace) -> int:
    """Print the result as JSON; exit 2 with the field errors on stderr for a bad plan."""
    from routing_adapter.engine import feasible_windows, optimize
    from routing_adapter.plan import PlanError

    try:
        plan = _load(args.plan)
        output: Any
        if args.route_command == "optimize":
            output = optimize(plan, args.time_limit).to_json()
        else:
            start, end = _day(plan, args.day_start, args.day_end)
            offers = feasible_windows(
                plan, args.stop, start, end, slot_s=args.slot_minutes * 60, max_offers=args.max
            )
            output = {"stop": args.stop, "windows": [o.to_json() for o in offers]}
    except PlanError as exc:
        print(
            json.dumps({"error": "invalid_plan", "fields": exc.fields}, indent=2), file=sys.stderr
        )
        return 2
    print(json.dumps(output, indent=2))
    return 0


def add_parser(sub: Any) -> None:
    route = sub.add_parser("route", help="optimise a route plan, or offer windows for a stop")
    route_sub = route.add_subparsers(dest="route_command", required=True)
    opt = route_sub.add_parser("optimize", help="print the re-optimised route as JSON")
    opt.add_argument("plan", help="plan JSON file, or - for stdin")
    opt.add_argument("--time-limit", type=float, default=1.0, help="seconds (default 1)")
    win = route_sub.add_parser("windows", help="print the windows a stop could move to")
    win.add_argument("plan")
    win.add_argument("--stop", required=True, help="stop id")
    win.add_argument("--day-start", help="ISO datetime or seconds (default 08:00 driver's day)")
    win.add_argument("--day-end", help="ISO datetime or seconds (default 21:00)")
    win.add_argument("--slot-minutes", type=int, default=120)
    win.add_argument("--max", type=int, default=3)
    route.set_defaults(func=lambda args, settings: run(args))


def main(argv: list[str] | None = None) -> int:
    """`python -m routing_adapter.cli optimize plan.json`: the routing commands alone,
    without the service's CLI (and its imports) around them."""
    parser = argparse.ArgumentParser(prog="doorstep")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["route", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
