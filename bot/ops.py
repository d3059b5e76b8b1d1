"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.base.bodies import header
from bot.base.httperrors import ApiError
from bot.base.redisconn import writes_to
from bot.services import SERVICES

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when Redis answers (a write, so a demoted master counts as down) and every
    background loop of this process is alive and ticking; the NLU is reported, not
    required (without it replies go to a person)."""
    services = request.app[SERVICES]
    checks: dict[str, Any] = {}
    topology: dict[str, str] = {"topology": services.settings.redis.topology}
    try:
        probe = f"{services.keys.prefix}:readyz"
        await asyncio.wait_for(services.redis.set(probe, "1", ex=10), 2)
        checks["redis"] = "ok"
        topology["writes_to"] = await asyncio.wait_for(
            writes_to(services.redis, services.settings.redis), 2
        )
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    checks["redis_topology"] = topology
    if services.nlu is None:
        checks["nlu"] = "not configured"
    else:
        checks["nlu"] = "ok" if await services.nlu.ready() else "unreachable"
    unhealthy = services.supervisor.unhealthy()
    checks["workers"] = unhealthy or ("ok" if services.supervisor.loops else "none in this process")
    ready = checks["redis"] == "ok" and not unhealthy
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; behind `DOORSTEP_METRICS_TOKEN` (a bearer token) when it is set."""
    services = request.app[SERVICES]
    wanted = services.settings.metrics_token
    if wanted is not None:
        sent = (header(request, "Authorization") or "").removeprefix("Bearer ")
        if not hmac.compare_digest(sent.encode(), wanted.encode()):
            raise ApiError(
                401,
                "unauthenticated",
                "send 'Authorization: Bearer <DOORSTEP_METRICS_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    registry = services.metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
