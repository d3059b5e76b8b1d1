"""Canned responses over HTTP: agents list and render them, admins write them.

Rendering happens here, on the server, in the customer's language and zone and in
the brand templates' sandbox; the console puts the text in the reply box for the
agent to read (and edit) before it is sent as an ordinary reply.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

from bot.agents.accounts import Agent
from bot.agents.canned import CannedRejected, CannedResponse, CannedResponses, canned_context
from bot.agents.desk_web import DESK
from bot.agents.web import agent_of
from bot.base.bodies import json_object as json_body
from bot.base.brands import BrandSettings
from bot.base.httperrors import ApiError, field_errors
from bot.base.logs import log
from bot.messaging.brand_templates import sample_context
from bot.messaging.notify import Notifier


class CannedServices(Protocol):
    canned: CannedResponses
    notifier: Notifier


CANNED = web.AppKey[CannedServices]("canned")
routes = web.RouteTableDef()


async def _brand(request: web.Request, agent: Agent) -> BrandSettings:
    brand = await request.app[DESK].brands.get(agent.brand_id)
    assert brand is not None
    return brand


async def _admin(request: web.Request) -> tuple[Agent, BrandSettings]:
    agent, _ = await agent_of(request)
    if agent.role != "admin":
        raise ApiError(403, "forbidden", "only a brand admin can change canned responses")
    return agent, await _brand(request, agent)


@routes.get("/console/api/canned")
async def list_canned(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    found = await request.app[CANNED].canned.all(agent.brand_id)
    return web.json_response({"canned": [c.model_dump() for c in found]})


@routes.post("/console/api/conversations/{delivery_id}/canned/{shortcut}")
async def render_canned(request: web.Request) -> web.Response:
    """The canned response's text for this conversation's customer (not sent)."""
    agent, _ = await agent_of(request)
    services, desk = request.app[CANNED], request.app[DESK]
    delivery = await desk.store.get_delivery(agent.brand_id, request.match_info["delivery_id"])
    if delivery is None:
        raise ApiError(404, "not_found", "no such conversation")
    canned = await services.canned.get(agent.brand_id, request.match_info["shortcut"])
    if canned is None:
        raise ApiError(404, "not_found", "no such canned response")
    brand = await _brand(request, agent)
    route = (
        await desk.store.get_route(agent.brand_id, delivery.route_id) if delivery.route_id else None
    )
    base = services.notifier.base_context(brand, delivery)
    context = canned_context(base, delivery, route, agent.name)
    try:
        text = await services.canned.render_off_loop(brand, canned, delivery.locale, context)
    except Exception as exc:  # the sandbox on data no sample had: say so, send nothing
        log.warning("canned.render_failed", shortcut=canned.shortcut, error=repr(exc))
        raise ApiError(
            422,
            "render_failed",
            f"this canned response cannot be written for this "
            f"customer: {type(exc).__name__}: {exc}",
        ) from None
    return web.json_response({"text": text, "locale": delivery.locale})


def _parsed(body: dict[str, Any], shortcut: str) -> CannedResponse:
    try:
        return CannedResponse.model_validate({**body, "shortcut": shortcut})
    except ValidationError as exc:
        fields = field_errors(exc)
        raise ApiError(400, "invalid_canned", "the canned response was not saved", fields) from None


@routes.put("/console/api/admin/canned/{shortcut}")
async def save_canned(request: web.Request) -> web.Response:
    """`{title, texts: {locale: template}}`; refused with reasons, like a template."""
    _, brand = await _admin(request)
    canned = _parsed(await json_body(request), request.match_info["shortcut"])
    try:
        await request.app[CANNED].canned.save(brand, canned)
    except CannedRejected as exc:
        raise ApiError(
            400, "invalid_canned", "the canned response was not saved", exc.problems
        ) from None
    return web.json_response(canned.model_dump(), status=201)


@routes.delete("/console/api/admin/canned/{shortcut}")
async def delete_canned(request: web.Request) -> web.Response:
    agent, _ = await _admin(request)
    if not await request.app[CANNED].canned.delete(agent.brand_id, request.match_info["shortcut"]):
        raise ApiError(404, "not_found", "no such canned response")
    return web.json_response({"ok": True})


@routes.post("/console/api/admin/canned/preview")
async def preview_canned(request: web.Request) -> web.Response:
    """Each locale's text for a sample customer, or the problems that would stop a save."""
    _, brand = await _admin(request)
    services = request.app[CANNED]
    body = await json_body(request)
    canned = _parsed({"title": "preview", **body}, str(body.get("shortcut") or "preview"))
    problems = await services.canned.problems(brand, canned)
    if problems:
        return web.json_response({"ok": False, "problems": problems})
    texts = {
        locale: await services.canned.render_off_loop(
            brand, canned, locale, sample_context(brand, locale)
        )
        for locale in canned.texts
    }
    return web.json_response({"ok": True, "texts": texts})
