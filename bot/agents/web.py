"""The agent console over HTTP: login, the queue, a conversation, and what agents do.

Pages are plain HTML with a little JavaScript (no build step). Every route works out
the agent from the session cookie or an API token and reads only that agent's
brand: a delivery id of another brand is simply not found. Requests that change
something and come with the cookie must carry the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import date
from typing import Any, Protocol

from aiohttp import WSMsgType, web
from pydantic import ValidationError
from redis.asyncio import Redis

from bot.agents.accounts import AccountStore, Agent, Session, csrf_ok
from bot.agents.desk import Desk, NotHeld, QueueQuery
from bot.agents.resolve import Resolution
from bot.agents.throttle import LoginThrottle
from bot.base.bodies import header
from bot.base.bodies import json_object as json_body
from bot.base.brands import BrandStore
from bot.base.clock import Clock
from bot.base.httperrors import ApiError, field_errors
from bot.base.keys import Keys
from bot.base.live import LiveHub
from bot.base.store import DeliveryRecord, Store
from bot.base.values import Window
from bot.config import Settings
from bot.messaging.brand_templates import BrandTemplates
from bot.messaging.render import Renderer
from bot.messaging.tracking_links import TrackingLinks
from bot.replies.conversation.actions import Decision, Facts, UpdateDelivery
from bot.replies.conversation.executor import Executor
from bot.replies.conversation.state import ConversationState
from bot.replies.conversation.timing import new_time
from bot.replies.inbound import Reply
from bot.web import STATIC


class ConsoleServices(Protocol):
    """What the console's and the admin API's handlers use; the composition root provides it."""

    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock
    accounts: AccountStore
    brands: BrandStore
    store: Store
    desk: Desk
    executor: Executor
    brand_templates: BrandTemplates
    renderer: Renderer
    live: LiveHub
    resolution: Resolution
    tracking_links: TrackingLinks
    throttle: LoginThrottle


SERVICES = web.AppKey[ConsoleServices]("console")
routes = web.RouteTableDef()
COOKIE = "doorstep_session"


async def agent_of(request: web.Request) -> tuple[Agent, Session | None]:
    services = request.app[SERVICES]
    if "Authorization" in request.headers and header(request, "Authorization") is None:
        raise ApiError(401, "unauthenticated", "the Authorization header must be printable ASCII")
    auth = header(request, "Authorization") or ""
    if auth.startswith("Bearer dsa_"):
        agent = await services.accounts.agent_for_token(auth.removeprefix("Bearer "))
        if agent is None:
            raise ApiError(401, "unauthenticated", "unknown API token")
        return agent, None
    session_id = request.cookies.get(COOKIE, "")
    usable = session_id.isascii() and session_id.isprintable()
    session = await services.accounts.session(session_id) if session_id and usable else None
    if session is None:
        raise ApiError(401, "unauthenticated", "log in first")
    if request.method not in ("GET", "HEAD") and not csrf_ok(
        session, header(request, "X-CSRF-Token")
    ):
        raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token")
    return session.agent, session


def _text(body: dict[str, Any], field: str, limit: int = 1600) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(
            400,
            "invalid",
            f"{field} is required",
            [{"field": field, "message": f"1-{limit} characters"}],
        )
    return value.strip()


# --- pages and login ------------------------------------------------------------------


@routes.get("/console")
async def console_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html")


def same_origin(request: web.Request) -> bool:
    """A browser names the page a form was posted from (Origin); a login posted from
    another site would sign the victim into the attacker's account (login CSRF), which
    no session token can stop because there is no session yet. No Origin at all is a
    non-browser client, which a cross-site attacker cannot make a victim's browser be."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    public = request.app[SERVICES].settings.public_base_url
    return origin in (public, f"{request.scheme}://{request.host}")


@routes.post("/console/logout")
async def logout(request: web.Request) -> web.Response:
    _, session = await agent_of(request)
    if session is not None:
        await request.app[SERVICES].accounts.close_session(session.id)
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/console")
    return response


@routes.get("/console/api/me")
async def me(request: web.Request) -> web.Response:
    agent, session = await agent_of(request)
    return web.json_response({**agent.model_dump(), "csrf": session.csrf if session else None})


# --- the desk -----------------------------------------------------------------------


@routes.get("/console/api/queue")
async def queue(request: web.Request) -> web.Response:
    """?search=&state=waiting|held&limit=50&offset=0: one page, and how many match."""
    agent, _ = await agent_of(request)
    try:
        query = QueueQuery.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(400, "invalid", "the queue query is not valid", field_errors(exc)) from None
    page = await request.app[SERVICES].desk.queue(agent.brand_id, query, viewer=agent.username)
    return web.json_response(
        {"queue": page.rows, "total": page.total, "offset": query.offset, "limit": query.limit}
    )


@routes.get("/console/api/conversations/{delivery_id}")
async def conversation(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    reveal = request.query.get("reveal") == "1"
    found = await request.app[SERVICES].desk.conversation(
        agent.brand_id, request.match_info["delivery_id"], reveal=reveal
    )
    if found is None:
        raise ApiError(404, "not_found", "no such conversation")
    delivery = DeliveryRecord.model_validate(found["delivery"] | {"access_code": None})
    found["tracking_url"] = await request.app[SERVICES].tracking_links.register(delivery)
    return web.json_response(found)


async def _own_delivery(request: web.Request, agent: Agent) -> DeliveryRecord:
    """The delivery in the URL if it is the agent's brand's; another brand's is not found."""
    found = await request.app[SERVICES].store.get_delivery(
        agent.brand_id, request.match_info["delivery_id"]
    )
    if found is None:
        raise ApiError(404, "not_found", "no such conversation")
    return found


@routes.post("/console/api/conversations/{delivery_id}/claim")
async def claim(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    delivery_id = (await _own_delivery(request, agent)).delivery_id
    result = await request.app[SERVICES].desk.claim(agent.brand_id, delivery_id, agent)
    if result == "ok":
        return web.json_response({"claimed": True})
    if result == "gone":
        raise ApiError(409, "not_waiting", "this conversation is not waiting for a person")
    raise ApiError(409, "taken", f"already claimed by {result}")


def _not_held() -> ApiError:
    return ApiError(409, "not_held", "claim the conversation first")


@routes.post("/console/api/conversations/{delivery_id}/reply")
async def reply(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    services = request.app[SERVICES]
    delivery_id = (await _own_delivery(request, agent)).delivery_id
    text = _text(await json_body(request), "text")
    brand = await services.brands.get(agent.brand_id)
    assert brand is not None
    try:
        message_id = await services.desk.reply(brand, delivery_id, agent, text)
    except NotHeld:
        raise _not_held() from None
    return web.json_response({"message_id": message_id}, status=202)


@routes.post("/console/api/conversations/{delivery_id}/notes")
async def note(request: web.Request) -> web.Response:
    agent, _ = await agent_of(request)
    delivery_id = (await _own_delivery(request, agent)).delivery_id
    text = _text(await json_body(request), "text", 2000)
    await request.app[SERVICES].desk.note(agent.brand_id, delivery_id, agent, text)
    return web.json_response({"ok": True}, status=201)


@routes.post("/console/api/conversations/{delivery_id}/hand-back")
async def hand_back(request: web.Request) -> web.Response:
    """Resolved: back to the bot, the SLA settled, the customer asked for a CSAT score
    (unless `{"csat": false}`)."""
    agent, _ = await agent_of(request)
    services = request.app[SERVICES]
    delivery = await _own_delivery(request, agent)
    ask = (await json_body(request)).get("csat", True) is not False
    brand = await services.brands.get(agent.brand_id)
    assert brand is not None
    try:
        done = await services.resolution.resolve(brand, delivery, agent, ask_csat=ask)
    except NotHeld:
        raise _not_held() from None
    return web.json_response(done)


# --- the bot's operations, for agents ---------------------------------------------------


async def _facts(services: ConsoleServices, delivery: DeliveryRecord) -> tuple[Reply, Facts]:
    brand = await services.brands.get(delivery.brand_id)
    assert brand is not None
    now = services.clock.now()
    conversation = f"{delivery.brand_id}/{delivery.delivery_id}"
    return Reply(brand, delivery, "", (), now, conversation), Facts(brand, delivery, now)


def _day(body: dict[str, Any], default: date) -> date:
    if body.get("day") is None:
        return default
    try:
        return date.fromisoformat(str(body["day"]))
    except ValueError:
        problem = [{"field": "day", "message": "a date, YYYY-MM-DD"}]
        raise ApiError(400, "invalid", "day must be a date", problem) from None


def _window(body: dict[str, Any]) -> Window:
    try:
        return Window.model_validate(body.get("window"))
    except ValidationError:
        raise ApiError(
            400,
            "invalid",
            "window must be {start, end}",
            [{"field": "window", "message": "ISO datetimes with offset, start < end"}],
        ) from None


@routes.post("/console/api/conversations/{delivery_id}/operations/{op}")
async def operate(request: web.Request) -> web.Response:
    """`windows` (lists them), `reschedule` {window}, `safe_place` {place},
    `return_pickup` {item, window}: the bot's own operations, done for an agent."""
    agent, _ = await agent_of(request)
    services = request.app[SERVICES]
    delivery = await _own_delivery(request, agent)
    delivery_id = delivery.delivery_id
    try:
        await services.desk.require_held(agent.brand_id, delivery_id, agent)
    except NotHeld:
        raise _not_held() from None
    body = await json_body(request)
    reply_, facts = await _facts(services, delivery)
    op = request.match_info["op"]
    executor = services.executor
    if op == "windows":
        purpose = "return" if body.get("purpose") == "return" else "reschedule"
        day = _day(body, facts.today)
        offers = await executor.offers(facts, purpose, day, body.get("item"))
        return web.json_response({"windows": [w.model_dump(mode="json") for w in offers]})
    # The same rules as when the customer asks: today on the route, or rebooked.
    if op == "reschedule":
        decision = new_time("reschedule", _window(body), facts, None)
    elif op == "safe_place":
        place = _text(body, "place", 200)
        decision = Decision(
            (UpdateDelivery({"safe_place": place}, tell_driver=True),), ConversationState()
        )
    elif op == "return_pickup":
        decision = new_time("return", _window(body), facts, _text(body, "item", 200))
    else:
        raise ApiError(404, "not_found", f"no operation {op!r}")
    await executor.run(reply_, facts, decision)
    await services.desk.note(agent.brand_id, delivery_id, agent, f"{op}: {json.dumps(body)}")
    return web.json_response({"ok": True})


# --- live updates ---------------------------------------------------------------------------


@routes.get("/console/ws")
async def live(request: web.Request) -> web.WebSocketResponse:
    agent, _ = await agent_of(request)
    if request.headers.get("Origin") is not None and not same_origin(request):
        # A page on another site would read the brand's live updates with the agent's cookie.
        raise ApiError(403, "origin", "the live feed opens only from this console's own page")
    services = request.app[SERVICES]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)

    async def forward(queue: asyncio.Queue[str]) -> None:
        while True:
            await ws.send_str(await queue.get())

    with services.live.listen(agent.brand_id) as queue:
        task = asyncio.create_task(forward(queue))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return ws
