"""What a customer does on the tracking page: the conversation engine's own operations.

Each action becomes a reply of the conversation, already read (an intent, its
entities, a window), and goes through the conversation's inbox like a typed reply:
the same per-conversation order and lock, the same rules (`decide.tapped` hands it
to that intent's handler), the same route changes and the same confirmation on the
customer's channel; the transcript shows it as "(on the tracking page) ...".
Writing to the bot or an agent is a typed reply, word for word.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from bot.base.httperrors import ApiError
from bot.base.values import Window
from bot.replies.conversation.actions import Facts
from bot.tracking import words
from bot.tracking.view import Formats
from bot.tracking.web import (
    SERVICES,
    Opened,
    TrackingServices,
    json_body,
    opened_or_error,
    page_view,
    record,
    same_origin,
)

routes = web.RouteTableDef()
ACCESS_CODE = re.compile(r"[A-Za-z0-9#*]{2,20}")


def _invalid(name: str, message: str, what: str = "is not valid") -> ApiError:
    return ApiError(400, "invalid", f"{name} {what}", [{"field": name, "message": message}])


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _invalid(name, f"1-{limit} characters", "is required")
    return value.strip()


def _window(body: dict[str, Any]) -> Window:
    try:
        return Window.model_validate(body.get("window"))
    except ValidationError:
        problem = [{"field": "window", "message": "{start, end}: ISO datetimes with offset"}]
        raise ApiError(400, "invalid", "window must be {start, end}", problem) from None


def _facts(services: TrackingServices, opened: Opened) -> Facts:
    return Facts(opened.brand, opened.delivery, services.clock.now())


def _bookable(services: TrackingServices, opened: Opened, window: Window) -> None:
    """A window a reply could have named: ahead, on one day, inside the brand's delivery
    hours. Whether the route can make it is the engine's to find out (as for a typed
    time): if it cannot, the customer is offered the windows that fit."""
    zone = ZoneInfo(opened.delivery.customer.timezone)
    start, end = window.start.astimezone(zone), window.end.astimezone(zone)
    hours = opened.brand.delivery_hours
    if (
        start < services.clock.now()
        or start.date() != end.date()
        or start.time() < hours.start
        or end.time() > hours.end
    ):
        raise ApiError(409, "not_bookable", "that time cannot be booked: pick one of the times")


def _acting(opened: Opened, can: dict[str, bool], action: str) -> None:
    if not opened.verified:
        raise ApiError(403, "verify_first", "give the order number or postcode first")
    if not can.get(action):
        raise ApiError(409, "not_now", f"{action} is not possible for this delivery now")


@routes.get("/t/{token}/windows")
async def windows(request: web.Request) -> web.Response:
    """?day=YYYY-MM-DD&purpose=reschedule|return&item=: the times that can be booked."""
    services = request.app[SERVICES]
    opened = await opened_or_error(request)
    purpose = "return" if request.query.get("purpose") == "return" else "reschedule"
    can = (await page_view(request, opened))["can"]
    _acting(opened, can, purpose)
    facts = _facts(services, opened)
    try:
        day = date.fromisoformat(request.query["day"]) if request.query.get("day") else facts.today
    except ValueError:
        raise _invalid("day", "a date, YYYY-MM-DD") from None
    if day < facts.today:
        raise _invalid("day", "today or later", "is in the past")
    item = request.query.get("item")
    offers = await services.executor.offers(facts, purpose, day, item)
    if not offers and not request.query.get("day"):  # late in the day: the next day's
        day += timedelta(days=1)
        offers = await services.executor.offers(facts, purpose, day, item)
    f = Formats(opened.locale, opened.delivery.customer.timezone, facts.now)
    return web.json_response({"day": day.isoformat(), "windows": [f.offer(w) for w in offers]})


Read = tuple[str, dict[str, Any] | None]


def _label(services: TrackingServices, opened: Opened, window: Window) -> str:
    f = Formats(opened.locale, opened.delivery.customer.timezone, services.clock.now())
    return f.offer(window)["label"]


async def _reschedule(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    window = _window(body)
    _bookable(services, opened, window)
    said = words.tapped(opened.locale, "reschedule", window=_label(services, opened, window))
    return said, {"intent": "reschedule", "window": window.model_dump(mode="json")}


async def _safe_place(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    place = _text(body, "place", 200)
    said = words.tapped(opened.locale, "safe_place", place=place)
    return said, {"intent": "set_safe_place", "entities": {"place": place}}


async def _instructions(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    note = _text(body, "note", 500)
    code = body.get("access_code") or None
    if code is not None and not (isinstance(code, str) and ACCESS_CODE.fullmatch(code)):
        raise _invalid("access_code", "2-20 letters, digits, # or *")
    entities = {"access_code": code} if code else {}
    said = words.tapped(opened.locale, "instructions", note=note)  # the code stays out of it
    return said, {"intent": "delivery_instructions", "text": note, "entities": entities}


async def _return(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    item = _text(body, "item", 200)
    if item not in {i.name for i in opened.delivery.items}:
        raise _invalid("item", "one of the delivery's items")
    window = _window(body)
    _bookable(services, opened, window)
    label = _label(services, opened, window)
    said = words.tapped(opened.locale, "return", item=item, window=label)
    window_json = window.model_dump(mode="json")
    return said, {"intent": "request_return_pickup", "text": item, "window": window_json}


async def _not_home(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    return words.tapped(opened.locale, "not_home"), {"intent": "not_home"}


async def _rate(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    rating = body.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise _invalid("rating", "a whole number 1-5")
    said = words.tapped(opened.locale, "rate", rating=rating)
    entities = {"rating": str(rating)}
    return said, {"intent": "rate_delivery", "text": str(rating), "entities": entities}


async def _write(services: TrackingServices, opened: Opened, body: dict[str, Any]) -> Read:
    return _text(body, "text", 1600), None  # words, read like any typed reply


# Each action: the text the transcript shows, and the reply as the engine reads it.
ACTIONS: dict[str, Callable[[TrackingServices, Opened, dict[str, Any]], Awaitable[Read]]] = {
    "reschedule": _reschedule,
    "safe_place": _safe_place,
    "instructions": _instructions,
    "return": _return,
    "not_home": _not_home,
    "rate": _rate,
    "write": _write,
}


@routes.post("/t/{token}/act/{action}")
async def act(request: web.Request) -> web.Response:
    """Do one thing the customer could have typed; the fresh view when it is done."""
    services = request.app[SERVICES]
    opened = await opened_or_error(request)
    same_origin(request)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"no action {action!r}")
    body = await json_body(request)
    can = (await page_view(request, opened))["can"]
    _acting(opened, can, action)
    said, tap = await ACTIONS[action](services, opened, body)
    await services.inbound.submit(opened.conversation, said, tap)
    await record(services, opened.delivery, action)
    fresh = await opened_or_error(request)
    return web.json_response(await page_view(request, fresh))
