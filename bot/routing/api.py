"""Routing over HTTP: plan operations for a brand's systems, and changes to stored routes."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.base.bodies import json_object as _body
from bot.base.brands import BrandStore
from bot.base.httperrors import ApiError
from bot.events.auth import authenticate
from bot.routing.changes import RouteNotFound, RouteService
from routing_adapter.engine import RoutingAdapter, parse_change
from routing_adapter.plan import PlanError, PlanStop, Time, parse_plan


class RoutingApiServices(Protocol):
    """What the routing API's handlers use; the composition root provides it."""

    brands: BrandStore
    routing: RoutingAdapter
    route_changes: RouteService


SERVICES = web.AppKey[RoutingApiServices]("routing_api")
routes = web.RouteTableDef()


def _invalid(exc: PlanError, prefix: str = "") -> ApiError:
    fields = [{**f, "field": f"{prefix}{f['field']}"} for f in exc.fields]
    return ApiError(400, "invalid_plan", "the plan or change is not valid", fields)


def _time_limit(body: dict[str, Any]) -> float:
    value = body.get("time_limit", 1.0)
    if not isinstance(value, int | float) or not 0.05 <= value <= 30:
        raise ApiError(
            400,
            "invalid_plan",
            "time_limit must be 0.05..30 seconds",
            [{"field": "time_limit", "message": "a number of seconds, 0.05..30"}],
        )
    return float(value)


@routes.post("/v1/routing/optimize")
async def optimize(request: web.Request) -> web.Response:
    """Re-optimise a plan (stateless): `{plan, time_limit?}`."""
    services = request.app[SERVICES]
    await authenticate(request, services.brands)
    body = await _body(request)
    try:
        plan = parse_plan(body.get("plan", {}))
        result = await services.routing.optimize(plan, _time_limit(body))
    except PlanError as exc:
        raise _invalid(exc, "plan.") from None
    return web.json_response(result.to_json())


@routes.post("/v1/routing/apply")
async def apply_to_plan(request: web.Request) -> web.Response:
    """Apply one change to a plan (stateless): `{plan, change}`; lists the stops that moved."""
    services = request.app[SERVICES]
    await authenticate(request, services.brands)
    body = await _body(request)
    try:
        plan = parse_plan(body.get("plan", {}))
    except PlanError as exc:
        raise _invalid(exc, "plan.") from None
    try:
        result = await services.routing.apply(plan, parse_change(body.get("change")))
    except PlanError as exc:
        raise _invalid(exc) from None
    return web.json_response(result.to_json())


def _day(body: dict[str, Any], now: Time, zone: str) -> tuple[Time, Time]:
    start, end = body.get("day_start"), body.get("day_end")
    if start is not None and end is not None:
        try:
            return (
                start if isinstance(start, int) else datetime.fromisoformat(start),
                end if isinstance(end, int) else datetime.fromisoformat(end),
            )
        except (TypeError, ValueError):
            raise ApiError(
                400,
                "invalid_plan",
                "day_start/day_end must be ISO datetimes",
                [{"field": "day_start", "message": "ISO datetime or seconds"}],
            ) from None
    if isinstance(now, int):
        return now, now + 13 * 3600
    day = now.astimezone(ZoneInfo(zone)).date()
    tz = ZoneInfo(zone)
    return datetime.combine(day, time(8), tz), datetime.combine(day, time(21), tz)


@routes.post("/v1/routing/windows")
async def windows(request: web.Request) -> web.Response:
    """Windows a stop (`stop_id`) or a new stop (`stop`) could take without breaking others."""
    services = request.app[SERVICES]
    brand = await authenticate(request, services.brands)
    body = await _body(request)
    try:
        plan = parse_plan(body.get("plan", {}))
        target: str | PlanStop
        if isinstance(body.get("stop"), dict):
            target = PlanStop.model_validate(body["stop"])
        elif isinstance(body.get("stop_id"), str):
            target = body["stop_id"]
        else:
            raise PlanError([{"field": "stop_id", "message": "give stop_id or a new stop"}])
        start, end = _day(body, plan.driver.time, brand.timezone)
        offers = await services.routing.feasible_windows(plan, target, start, end)
    except PlanError as exc:
        raise _invalid(exc) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_plan", str(exc)) from None
    return web.json_response({"windows": [o.to_json() for o in offers]})


@routes.post("/v1/routes/{route_id}/changes")
async def change_route(request: web.Request) -> web.Response:
    """Change a dispatched route; customers whose ETA moved are told, dispatch is notified."""
    services = request.app[SERVICES]
    brand = await authenticate(request, services.brands)
    body = await _body(request)
    try:
        change = parse_change(body.get("change"))
        result = await services.route_changes.apply_change(
            brand, request.match_info["route_id"], change
        )
    except PlanError as exc:
        raise _invalid(exc) from None
    except RouteNotFound:
        raise ApiError(404, "not_found", "no such route") from None
    return web.json_response(result.to_json())
