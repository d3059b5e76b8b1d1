"""A brand's administration (admin role): its settings and its message templates.

The same routes serve the console's editor (session cookie + CSRF token) and an
integration (an admin's API token). Everything is read and written for the
caller's own brand only.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.agents.accounts import Agent
from bot.agents.web import SERVICES, agent_of
from bot.base.bodies import json_object as json_body
from bot.base.brands import BrandSettings
from bot.base.httperrors import ApiError, field_errors
from bot.messaging.brand_templates import (
    BASE_VARIABLES,
    MESSAGE_VARIABLES,
    TemplateRejected,
)
from bot.messaging.channels import egress_guard
from bot.messaging.render import DEFAULT_TEMPLATES
from integrations.sms import gsm_friendly, sms_info

routes = web.RouteTableDef()


async def _admin(request: web.Request) -> tuple[Agent, BrandSettings]:
    agent, _ = await agent_of(request)
    if agent.role != "admin":
        raise ApiError(403, "forbidden", "only a brand admin can change its configuration")
    brand = await request.app[SERVICES].brands.get(agent.brand_id)
    assert brand is not None
    return agent, brand


def _rejected(exc: TemplateRejected) -> ApiError:
    return ApiError(400, "invalid_template", "the template was not saved", exc.problems)


def _missing(field: str, what: str) -> ApiError:
    return ApiError(400, "invalid", f"{field} is required", [{"field": field, "message": what}])


def _source(body: dict[str, Any]) -> str:
    source = body.get("source")
    if not isinstance(source, str):
        raise _missing("source", "the template text")
    return source


async def _made_live(
    request: web.Request, brand: BrandSettings, saving: Awaitable[int]
) -> web.Response:
    """Await a save or rollback: 201 with the new version, or 400 with why it was refused."""
    try:
        version = await saving
    except TemplateRejected as exc:
        raise _rejected(exc) from None
    request.app[SERVICES].brands.forget(brand.brand_id)  # live in this process at once
    return web.json_response({"version": version}, status=201)


def _target(brand: BrandSettings, body: dict[str, Any], message_type: str) -> tuple[str, str]:
    channel = str(body.get("channel") or "*")
    locale = str(body.get("locale") or brand.default_locale)
    problems = []
    if message_type not in MESSAGE_VARIABLES:
        problems.append({"field": "type", "message": f"unknown message type {message_type!r}"})
    if channel != "*" and channel not in brand.channels:
        problems.append(
            {"field": "channel", "message": f"{channel!r} is not one of the brand's channels"}
        )
    if locale not in brand.locales:
        problems.append(
            {"field": "locale", "message": f"{locale!r} is not one of the brand's locales"}
        )
    if problems:
        raise ApiError(400, "invalid", "no such template slot", problems)
    return channel, locale


@routes.get("/console/api/admin/settings")
async def get_settings(request: web.Request) -> web.Response:
    _, brand = await _admin(request)
    return web.json_response(brand.model_dump(mode="json"))


@routes.put("/console/api/admin/settings")
async def put_settings(request: web.Request) -> web.Response:
    """Change some settings; a bad value changes nothing and is named."""
    _, brand = await _admin(request)
    body = await json_body(request)
    body.pop("brand_id", None)  # a brand cannot rename itself
    egress = egress_guard(request.app[SERVICES].settings)
    try:
        updated = BrandSettings.model_validate(
            {**brand.model_dump(mode="json"), **body}, context={"egress": egress}
        )
    except ValidationError as exc:
        fields = field_errors(exc, whole="settings")
        raise ApiError(400, "invalid_settings", "the settings were not changed", fields) from None
    services = request.app[SERVICES]
    problems = await services.brand_templates.check_whatsapp_off_loop(updated)
    if problems:
        raise ApiError(400, "invalid_settings", "the settings were not changed", problems)
    await services.brands.save(updated)
    return web.json_response(updated.model_dump(mode="json"))


@routes.post("/console/api/conversations/{delivery_id}/tracking/revoke")
async def revoke_tracking(request: web.Request) -> web.Response:
    """The delivery's tracking link opens nothing any more (a lost phone, a forwarded
    link); the delivery gets a new link, which the agent can give the customer."""
    agent, _ = await agent_of(request)
    services = request.app[SERVICES]
    found = await services.store.get_delivery(agent.brand_id, request.match_info["delivery_id"])
    if found is None:
        raise ApiError(404, "not_found", "no such conversation")
    await services.tracking_links.revoke(found)
    renewed = found.model_copy(update={"tracking_generation": found.tracking_generation + 1})
    await services.store.put_delivery(renewed)
    return web.json_response({"tracking_url": await services.tracking_links.register(renewed)})


@routes.get("/console/api/admin/templates")
async def list_templates(request: web.Request) -> web.Response:
    _, brand = await _admin(request)
    live = request.app[SERVICES].brands.templates(brand.brand_id)
    return web.json_response(
        {
            # Types with a default template (a canned response has none: see canned.py).
            "types": {
                t: sorted(BASE_VARIABLES | v)
                for t, v in sorted(MESSAGE_VARIABLES.items())
                if (DEFAULT_TEMPLATES / "default" / f"{t}.j2").is_file()
            },
            "channels": ["*", *brand.channels],
            "locales": brand.locales,
            "overrides": sorted(live),
        }
    )


@routes.get("/console/api/admin/templates/{type}")
async def get_template(request: web.Request) -> web.Response:
    _, brand = await _admin(request)
    services = request.app[SERVICES]
    message_type = request.match_info["type"]
    channel, locale = _target(brand, dict(request.query), message_type)
    live = services.brands.templates(brand.brand_id).get(f"{message_type}|{channel}|{locale}")
    default = DEFAULT_TEMPLATES / "default" / f"{message_type}.j2"
    return web.json_response(
        {
            "type": message_type,
            "channel": channel,
            "locale": locale,
            "source": live,
            "default_source": default.read_text() if default.is_file() else None,
            "versions": await services.brand_templates.versions(
                brand.brand_id, message_type, channel, locale
            ),
        }
    )


@routes.post("/console/api/admin/templates/preview")
async def preview(request: web.Request) -> web.Response:
    """The text a sample customer would get, with what an SMS of it costs."""
    _, brand = await _admin(request)
    services = request.app[SERVICES]
    body = await json_body(request)
    message_type = str(body.get("type", ""))
    _, locale = _target(brand, body, message_type)
    source = _source(body)
    try:
        text = await services.brand_templates.preview(brand, message_type, locale, source)
    except TemplateRejected as exc:
        return web.json_response({"ok": False, "problems": exc.problems})
    sms_text = gsm_friendly(text)
    info = sms_info(sms_text)
    return web.json_response(
        {
            "ok": True,
            "text": text,
            "sms": {
                "text": sms_text,
                "encoding": info.encoding,
                "characters": info.characters,
                "segments": info.segments,
                "cost_per_1000": info.cost(brand.sms_segment_price),
            },
            "whatsapp": {"text": text},
            "telegram": {"text": text},
        }
    )


@routes.put("/console/api/admin/templates/{type}")
async def save_template(request: web.Request) -> web.Response:
    agent, brand = await _admin(request)
    services = request.app[SERVICES]
    body = await json_body(request)
    message_type = request.match_info["type"]
    channel, locale = _target(brand, body, message_type)
    source = _source(body)
    saving = services.brand_templates.save(
        brand, message_type, channel, locale, source, agent.username
    )
    return await _made_live(request, brand, saving)


@routes.post("/console/api/admin/templates/{type}/rollback")
async def rollback(request: web.Request) -> web.Response:
    agent, brand = await _admin(request)
    services = request.app[SERVICES]
    body = await json_body(request)
    message_type = request.match_info["type"]
    channel, locale = _target(brand, body, message_type)
    version = body.get("version")
    if not isinstance(version, int):
        raise _missing("version", "a version number")
    saving = services.brand_templates.rollback(
        brand, message_type, channel, locale, version, agent.username
    )
    return await _made_live(request, brand, saving)


@routes.delete("/console/api/admin/templates/{type}")
async def reset(request: web.Request) -> web.Response:
    _, brand = await _admin(request)
    services = request.app[SERVICES]
    message_type = request.match_info["type"]
    channel, locale = _target(brand, dict(request.query), message_type)
    await services.brand_templates.reset(brand.brand_id, message_type, channel, locale)
    services.brands.forget(brand.brand_id)
    return web.json_response({"ok": True})
