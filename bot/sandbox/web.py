"""The sandbox page: a dispatcher panel for the demo route beside the customer's phone.

Served only in sandbox mode. Every API call carries the page's sandbox token in a
header (never a cookie), so another site cannot drive it from a visitor's browser.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.base.bodies import header
from bot.base.bodies import json_object as _body
from bot.base.brands import HoursRange
from bot.base.httperrors import ApiError
from bot.events.ingest import Accepted
from bot.messaging.outbox import Outbox
from bot.sandbox import demo
from bot.web import STATIC
from integrations.sandbox import SandboxChannel


class SandboxServices(demo.DemoServices, Protocol):
    """What the sandbox page's handlers use; the composition root provides it."""

    outbox: Outbox

    @property
    def sandbox(self) -> SandboxChannel | None: ...


SERVICES = web.AppKey[SandboxServices]("sandbox")
routes = web.RouteTableDef()


def _services(request: web.Request) -> SandboxServices:
    services = request.app[SERVICES]
    sandbox = services.sandbox
    if sandbox is None:
        raise ApiError(404, "not_found", "the sandbox is off")
    supplied = header(request, "X-Sandbox-Token") or ""
    needs_token = request.method != "GET" or request.path.startswith("/sandbox/api")
    if needs_token and not sandbox.token_ok(supplied):
        raise ApiError(403, "forbidden", "bad sandbox token")
    return services


async def _run(services: SandboxServices) -> str:
    run = await demo.current_run(services)
    if run is None:
        raise ApiError(409, "no_run", "press 'New demo day' first")
    return run


def _result(accepted: Accepted | None) -> web.Response:
    if accepted is None:
        return web.json_response({"status": "nothing to do"})
    return web.json_response({"status": accepted.outcome, "messages": list(accepted.message_ids)})


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    if request.app[SERVICES].sandbox is None:
        return web.json_response({"service": "doorstep", "docs": "/v1/openapi.json"})
    raise web.HTTPFound("/sandbox")


@routes.get("/sandbox")
async def page(request: web.Request) -> web.Response:
    services = _services(request)
    assert services.sandbox is not None
    html = (STATIC / "sandbox.html").read_text(encoding="utf-8")
    return web.Response(
        text=html.replace("{{SANDBOX_TOKEN}}", services.sandbox.token),
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' "
            "data: https:; connect-src 'self' ws: wss:",
        },
    )


@routes.get("/sandbox/api/demo")
async def state(request: web.Request) -> web.Response:
    services = _services(request)
    brand = await services.brands.get(demo.DEMO_BRAND_ID)
    assert brand is not None
    tz = ZoneInfo(brand.timezone)
    run = await demo.current_run(services)
    body: dict[str, Any] = {
        "now": services.clock.now().astimezone(tz).isoformat(),
        "clock_offset_s": services.clock.offset,
        "quiet_hours": brand.quiet_hours.model_dump(mode="json") if brand.quiet_hours else None,
        "run": run,
        "stops": [],
        "driver": demo.DRIVER["name"],
    }
    if run is None:
        return web.json_response(body)
    ids = [demo.delivery_id(run, n) for n in range(len(demo.CUSTOMERS))]
    records = await services.store.get_deliveries(brand.brand_id, ids)
    for customer, record in zip(demo.CUSTOMERS, records, strict=True):
        if record is None:
            continue
        messages = await services.outbox.for_delivery(brand.brand_id, record.delivery_id)
        window = record.eta_window or record.promised_window
        body["stops"].append(
            {
                "delivery_id": record.delivery_id,
                "name": customer.name,
                "phone": customer.phone,
                "locale": record.locale,
                "status": record.status,
                "street": customer.street,
                "window": [
                    window.start.astimezone(tz).isoformat(),
                    window.end.astimezone(tz).isoformat(),
                ],
                "messages": [
                    {
                        "id": m["id"],
                        "type": m["type"],
                        "status": m["status"],
                        "due_at": float(m["due_at"]),
                        "error": m.get("error", ""),
                    }
                    for m in messages
                ],
            }
        )
    return web.json_response(body)


@routes.post("/sandbox/api/demo/reset")
async def reset(request: web.Request) -> web.Response:
    services = _services(request)
    return web.json_response({"run": await demo.start_run(services)})


@routes.post("/sandbox/api/demo/dispatch")
async def dispatch(request: web.Request) -> web.Response:
    services = _services(request)
    return _result(await demo.dispatch(services, await _run(services)))


@routes.post("/sandbox/api/demo/move")
async def move(request: web.Request) -> web.Response:
    services = _services(request)
    return _result(await demo.move_driver(services, await _run(services)))


@routes.post("/sandbox/api/demo/complete")
async def complete(request: web.Request) -> web.Response:
    services = _services(request)
    body = await _body(request)
    outcome = body.get("outcome")
    if outcome not in ("delivered", "failed"):
        raise ApiError(
            400,
            "invalid",
            "outcome must be delivered or failed",
            [{"field": "outcome", "message": "delivered or failed"}],
        )
    run = await _run(services)
    delivery = str(body.get("delivery_id", ""))
    if not delivery.startswith(f"d-{run}-"):
        raise ApiError(
            400,
            "invalid",
            "unknown delivery",
            [{"field": "delivery_id", "message": "not a delivery of this demo day"}],
        )
    return _result(await demo.complete(services, run, delivery, str(outcome)))


@routes.post("/sandbox/api/demo/delay")
async def delay(request: web.Request) -> web.Response:
    services = _services(request)
    minutes = (await _body(request)).get("minutes", 30)
    if not isinstance(minutes, int) or not -240 <= minutes <= 240:
        raise ApiError(
            400,
            "invalid",
            "minutes must be an integer in [-240, 240]",
            [{"field": "minutes", "message": "integer in [-240, 240]"}],
        )
    return _result(await demo.delay(services, await _run(services), minutes))


@routes.post("/sandbox/api/demo/clock")
async def clock(request: web.Request) -> web.Response:
    """Time travel, so that a deferred message can be seen going out."""
    services = _services(request)
    if not services.settings.allow_clock_control:
        raise ApiError(403, "forbidden", "clock control is off (DOORSTEP_CLOCK_CONTROL)")
    body = await _body(request)
    if body.get("reset"):
        await services.clock.reset()
    else:
        minutes = body.get("minutes")
        if not isinstance(minutes, int) or not 0 < minutes <= 7 * 24 * 60:
            raise ApiError(
                400,
                "invalid",
                "minutes must be a positive integer (max a week)",
                [{"field": "minutes", "message": "positive integer"}],
            )
        await services.clock.advance(timedelta(minutes=minutes))
    return web.json_response(
        {"now": services.clock.now().isoformat(), "offset_s": services.clock.offset}
    )


@routes.post("/sandbox/api/demo/quiet")
async def quiet(request: web.Request) -> web.Response:
    services = _services(request)
    body = await _body(request)
    brand = await services.brands.get(demo.DEMO_BRAND_ID)
    assert brand is not None
    if body.get("enabled") is False:
        hours = None
    elif body.get("around_now"):
        # Quiet from a minute ago for three hours, on the service's (possibly moved) clock.
        local = services.clock.now().astimezone(ZoneInfo(brand.timezone))
        hours = HoursRange(
            start=(local - timedelta(minutes=1)).time().replace(second=0, microsecond=0),
            end=(local + timedelta(hours=3)).time().replace(second=0, microsecond=0),
        )
    else:
        try:
            hours = HoursRange(
                start=time.fromisoformat(str(body.get("start"))),
                end=time.fromisoformat(str(body.get("end"))),
            )
        except ValueError as exc:
            raise ApiError(
                400,
                "invalid",
                f"quiet hours: {exc}",
                [{"field": "start", "message": "HH:MM"}, {"field": "end", "message": "HH:MM"}],
            ) from None
    await services.brands.save(brand.model_copy(update={"quiet_hours": hours}))
    return web.json_response({"quiet_hours": hours.model_dump(mode="json") if hours else None})


def static_routes() -> list[web.AbstractRouteDef]:
    return [web.static("/sandbox/static", STATIC)]
