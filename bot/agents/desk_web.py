"""The desk's own console routes: availability, the roster, transfers, the conversation
as an agent reads it (route with customers and streets, SLA clock), and reports.

Same authentication as the rest of the console (`web.agent_of`: the session cookie
with its CSRF token, or an API token); every read and write is the agent's brand's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.asyncio import Redis

from bot.agents.accounts import AccountStore, Agent
from bot.agents.assign import Assigner, Locale, Profile, TransferRefused
from bot.agents.csat import Csat
from bot.agents.desk import Desk
from bot.agents.sla import status_of
from bot.agents.web import agent_of
from bot.base.bodies import json_object as json_body
from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.geo import travel_time
from bot.base.httperrors import ApiError, field_errors
from bot.base.keys import Keys
from bot.base.store import DeliveryRecord, RouteRecord, Store


class DeskServices(Protocol):
    """What the desk's routes use; the composition root provides it."""

    redis: Redis
    keys: Keys
    clock: Clock
    accounts: AccountStore
    brands: BrandStore
    store: Store
    desk: Desk
    assigner: Assigner
    csat: Csat


DESK = web.AppKey[DeskServices]("desk")
routes = web.RouteTableDef()


class MeUpdate(BaseModel):
    """`PUT /console/api/desk/me`: what an agent changes about themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    available: bool | None = None
    capacity: int | None = None
    locale: Locale | None = None


async def _brand(request: web.Request, agent: Agent) -> BrandSettings:
    brand = await request.app[DESK].brands.get(agent.brand_id)
    assert brand is not None
    return brand


def _brand_json(brand: BrandSettings) -> dict[str, Any]:
    return {
        "brand_id": brand.brand_id,
        "display_name": brand.display_name,
        "timezone": brand.timezone,
        "locales": brand.locales,
        "default_locale": brand.default_locale,
        "escalation_limit_min": brand.escalation_limit_min,
        "desk": brand.desk.model_dump(mode="json"),
    }


async def _me(request: web.Request, agent: Agent) -> dict[str, Any]:
    services = request.app[DESK]
    brand = await _brand(request, agent)
    roster = await services.assigner.roster(brand)
    status = next((s for s in roster if s.username == agent.username), None)
    profile = await services.assigner.profile(agent.brand_id, agent.username)
    return {
        **agent.model_dump(),
        "available": bool(status and status.available),
        "capacity": status.capacity if status else brand.desk.agent_capacity,
        "open": status.open if status else 0,
        "profile": profile.model_dump(),
        "brand": _brand_json(brand),
    }


@routes.get("/console/api/desk/me")
async def get_me(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    await request.app[DESK].assigner.heartbeat(agent.brand_id, agent.username)
    return web.json_response(await _me(request, agent))


@routes.put("/console/api/desk/me")
async def put_me(request: web.Request) -> web.Response:
    """Availability, capacity (null: the brand's default) and the console's language."""
    agent, _ = await agent_of(request)
    services = request.app[DESK]
    body = await json_body(request)
    try:
        update = MeUpdate.model_validate(body)
        profile = await services.assigner.profile(agent.brand_id, agent.username)
        changes = {k: v for k, v in body.items() if k in ("capacity", "locale")}
        profile = Profile.model_validate({**profile.model_dump(), **changes})
    except ValidationError as exc:
        raise ApiError(400, "invalid", "not changed", field_errors(exc)) from None
    await services.assigner.set_profile(agent.brand_id, agent.username, profile)
    if update.available is not None:
        await services.assigner.set_available(agent.brand_id, agent.username, update.available)
        if update.available:
            await services.assigner.assign_brand(await _brand(request, agent))
    return web.json_response(await _me(request, agent))


@routes.post("/console/api/desk/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    """The console is open: keeps an available agent in line for new conversations."""
    agent, _ = await agent_of(request)
    await request.app[DESK].assigner.heartbeat(agent.brand_id, agent.username)
    return web.json_response({"ok": True})


@routes.get("/console/api/desk/agents")
async def agents(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    roster = await request.app[DESK].assigner.roster(await _brand(request, agent))
    return web.json_response({"agents": [s.as_json() for s in roster]})


def _to(body: dict[str, Any]) -> str | None:
    to = body.get("to")
    if to is not None and (not isinstance(to, str) or not to):
        problem = [{"field": "to", "message": "a username, or null for the queue"}]
        raise ApiError(400, "invalid", "to must be a username or null", problem)
    return to


def _refused(exc: TransferRefused) -> ApiError:
    why = str(exc)
    if why == "unknown_agent":
        problem = [{"field": "to", "message": "no such agent in this brand"}]
        return ApiError(400, "invalid", "no such agent", problem)
    if why == "not_yours":
        return ApiError(403, "forbidden", "only its holder or an admin can transfer it")
    return ApiError(409, "not_held", "nobody holds this conversation")


@routes.post("/console/api/conversations/{delivery_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    """`{to: username}` to a colleague, `{to: null}` back to the queue."""
    agent, _ = await agent_of(request)
    services = request.app[DESK]
    delivery = await _own_delivery(request, agent)
    to = _to(await json_body(request))
    try:
        await services.assigner.transfer(
            await _brand(request, agent), delivery.delivery_id, agent, to
        )
    except TransferRefused as exc:
        raise _refused(exc) from None
    return web.json_response({"ok": True, "to": to})


@routes.post("/console/api/desk/agents/{username}/transfer")
async def transfer_all(request: web.Request) -> web.Response:
    """Everything an agent holds, to a colleague or back to the queue (their own, or
    anyone's for an admin)."""
    agent, _ = await agent_of(request)
    username = request.match_info["username"]
    if agent.role != "admin" and agent.username != username:
        raise ApiError(403, "forbidden", "only an admin can move a colleague's conversations")
    to = _to(await json_body(request))
    brand = await _brand(request, agent)
    try:
        moved = await request.app[DESK].assigner.transfer_all(brand, username, agent, to)
    except TransferRefused as exc:
        raise _refused(exc) from None
    return web.json_response({"moved": moved, "to": to})


# --- the conversation as an agent reads it -----------------------------------------


async def _own_delivery(request: web.Request, agent: Agent) -> DeliveryRecord:
    found = await request.app[DESK].store.get_delivery(
        agent.brand_id, request.match_info["delivery_id"]
    )
    if found is None:
        raise ApiError(404, "not_found", "no such conversation")
    return found


async def route_view(
    store: Store, route: RouteRecord, delivery: DeliveryRecord, now: datetime
) -> dict[str, Any]:
    """The driver's stops in order with each customer and street, this one marked, and
    where the driver was last seen (and about how far from the next stop)."""
    stops = route.stops
    others = await store.get_deliveries(route.brand_id, [s.delivery_id for s in stops])
    rows = []
    for n, (stop, d) in enumerate(zip(stops, others, strict=True), 1):
        rows.append(
            {
                "n": n,
                "stop_id": stop.stop_id,
                "kind": stop.kind,
                "status": stop.status,
                "eta": stop.planned_eta.isoformat(),
                "customer": d.customer.name if d else stop.delivery_id,
                "street": d.address.line1 if d else "",
                "window": (d.eta_window or d.promised_window).model_dump(mode="json")
                if d
                else None,
                "this": stop.delivery_id == delivery.delivery_id and stop.kind == "delivery",
            }
        )
    driver: dict[str, Any] = {"name": route.driver_name, "position": None}
    position = route.position
    pending = route.remaining()
    if position is not None:
        driver["position"] = position.model_dump()
        driver["seen_at"] = route.position_at.isoformat() if route.position_at else None
    if pending:
        nxt = pending[0]
        driver["next_stop"] = stops.index(nxt) + 1
        if position is not None and nxt.location is not None:
            driver["minutes_to_next"] = round(
                travel_time(position, nxt.location, now.hour).total_seconds() / 60
            )
    return {"route_id": route.route_id, "stops": rows, "driver": driver}


@routes.get("/console/api/desk/conversations/{delivery_id}")
async def conversation(request: web.Request) -> web.Response:
    """Everything `/console/api/conversations/{id}` has, plus the route as customers and
    streets, the SLA clock and the zones to show times in; marks it read for the agent."""
    agent, _ = await agent_of(request)
    services = request.app[DESK]
    delivery = await _own_delivery(request, agent)
    found = await services.desk.conversation(
        agent.brand_id, delivery.delivery_id, reveal=request.query.get("reveal") == "1"
    )
    assert found is not None
    brand = await _brand(request, agent)
    now = services.clock.now()
    route = (
        await services.store.get_route(agent.brand_id, delivery.route_id)
        if delivery.route_id
        else None
    )
    handoff = found["handoff"] or {}
    status = status_of(brand, handoff, now) if handoff else None
    await services.desk.seen(agent.brand_id, delivery.delivery_id, agent.username)
    return web.json_response(
        {
            **found,
            "route_view": await route_view(services.store, route, delivery, now) if route else None,
            "sla": status.as_json() if status else None,
            "zones": {"brand": brand.timezone, "customer": delivery.customer.timezone},
            "now": now.isoformat(),
        }
    )


# --- reports ------------------------------------------------------------------------------


def _sla_summary(resolved: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of resolved conversations that met each target, overall and per agent."""

    def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(rows)
        missed = {
            t: sum(1 for r in rows if t in (r.get("sla") or {}).get("breached", []))
            for t in ("first_response", "resolution")
        }
        return {
            "resolved": n,
            "first_response_met": round(100 * (n - missed["first_response"]) / n) if n else None,
            "resolution_met": round(100 * (n - missed["resolution"]) / n) if n else None,
        }

    agents = sorted({str(r.get("agent")) for r in resolved})
    return {
        **summary(resolved),
        "agents": [
            {"agent": a, **summary([r for r in resolved if r.get("agent") == a])} for a in agents
        ],
    }


@routes.get("/console/api/desk/reports")
async def reports(request: web.Request) -> web.Response:
    """CSAT per agent and per reason, SLA outcomes of the last 1,000 resolved."""
    agent, _ = await agent_of(request)
    services = request.app[DESK]
    brand = await _brand(request, agent)
    names = {s.username: s.name for s in await services.assigner.roster(brand)}
    raw = await services.redis.lrange(services.keys.desk_resolved(agent.brand_id), 0, -1)
    resolved = [json.loads(r) for r in raw]
    return web.json_response(
        {
            "csat": await services.csat.report(agent.brand_id, names),
            "sla": _sla_summary(resolved),
            "generated_at": datetime.now(UTC).isoformat(),
        }
    )
