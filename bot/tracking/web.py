"""The tracking page over HTTP: the page, its data, its live stream, the second factor.

`/t/<token>` is the page: one small HTML document, its script and style from
`/t/static/` (Leaflet only when a map is shown). The data comes as JSON (`/state`)
and then live over server-sent events (`/events`), woken by the process's one
subscription (`TrackingHub`). Every response under `/t/` is `no-store, private`,
sends no referrer, is not indexed, and the page runs under a strict CSP that loads
nothing from anywhere but here (and the configured tile server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.base.bodies import json_object
from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.httperrors import ApiError
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import DeliveryRecord, Store
from bot.config import Settings
from bot.messaging.tracking_links import TrackingLinks
from bot.replies.conversation.executor import Executor
from bot.replies.conversation.state import StateStore
from bot.replies.inbound import HandoffToAgent, InboundService
from bot.tracking import words
from bot.tracking.factor import COOKIE, PROOF_S, SecondFactor, asks_for, expected_answer
from bot.tracking.hub import TrackingHub
from bot.tracking.view import Page, view
from bot.web import STATIC

HEARTBEAT_S = 20.0
SEEN_S = 60  # a reload within a minute is the same view
PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent),
    autoescape=select_autoescape(default=True),
)


class TrackingServices(Protocol):
    """What the tracking page's handlers use; the composition root provides it."""

    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock
    metrics: Metrics
    brands: BrandStore
    store: Store
    executor: Executor
    inbound: InboundService
    handoff: HandoffToAgent
    states: StateStore
    tracking_links: TrackingLinks
    tracking_hub: TrackingHub
    second_factor: SecondFactor


SERVICES = web.AppKey[TrackingServices]("tracking")
routes = web.RouteTableDef()


class LinkProblem(Exception):
    """The token opens nothing: `kind` is unknown, expired or revoked."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = 404 if kind == "unknown" else 410


@dataclass(frozen=True, slots=True)
class Opened:
    token: str
    brand: BrandSettings
    delivery: DeliveryRecord
    verified: bool
    locale: str

    @property
    def conversation(self) -> str:
        return f"{self.delivery.brand_id}/{self.delivery.delivery_id}"


def _languages(brand: BrandSettings | None) -> list[str]:
    offered = brand.locales if brand else list(words.LANGUAGES)
    return [loc for loc in offered if loc.split("_")[0] in words.LANGUAGES]


def _locale(request: web.Request, brand: BrandSettings | None, fallback: str | None) -> str:
    """?lang= when the brand speaks it, else the customer's, else the browser's."""
    choices = _languages(brand)
    asked = request.query.get("lang")
    if asked in choices:
        return str(asked)
    if fallback and fallback.split("_")[0] in words.LANGUAGES:
        return fallback.split("_")[0]
    for part in request.headers.get("Accept-Language", "").split(","):
        lang = part.split(";")[0].strip().split("-")[0].lower()
        if lang in words.LANGUAGES:
            return lang
    return "en"


async def open_link(request: web.Request) -> Opened:
    """The delivery the URL's token opens, or LinkProblem: never any data of it."""
    services = request.app[SERVICES]
    token = request.match_info["token"]
    state = await services.tracking_links.resolve(token)
    if state is None:
        raise LinkProblem("unknown")
    if state.revoked:
        raise LinkProblem("revoked")
    brand = await services.brands.get(state.brand_id)
    delivery = await services.store.get_delivery(state.brand_id, state.delivery_id)
    if brand is None or delivery is None:
        raise LinkProblem("expired")  # past retention: the records are gone
    if services.tracking_links.token(delivery) != token:
        raise LinkProblem("revoked")  # an earlier generation's link
    lifetime = timedelta(days=brand.tracking_link_days)
    if (
        delivery.completed_at is not None
        and services.clock.now() > delivery.completed_at + lifetime
    ):
        raise LinkProblem("expired")
    now = services.clock.timestamp()
    verified = expected_answer(brand, delivery) is None or services.second_factor.proven(
        token, request.cookies.get(COOKIE), now
    )
    return Opened(token, brand, delivery, verified, _locale(request, brand, delivery.locale))


async def page_view(request: web.Request, opened: Opened) -> dict[str, Any]:
    """The view of the delivery as this page may show it now."""
    services = request.app[SERVICES]
    d = opened.delivery
    route = await services.store.get_route(d.brand_id, d.route_id) if d.route_id else None
    transcript: list[str] = []
    pending = None
    held = await services.handoff.active(opened.conversation)
    if opened.verified:
        transcript = await services.store.transcript(d.brand_id, d.delivery_id)
        pending = (await services.states.get(opened.conversation)).pending
    page = Page(
        opened.brand, d, opened.locale, services.clock.now(), opened.verified,
        route, transcript, pending, held,
    )  # fmt: skip
    body = view(page)
    body["asks_for"] = None if opened.verified else asks_for(opened.brand, d)
    return body


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Nothing under /t/ may be kept by a proxy, leak the token as a referrer, or be indexed."""
    if not request.path.startswith("/t/"):
        return
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", _csp(request, None))


def _csp(request: web.Request, nonce: str | None) -> str:
    tiles = request.app[SERVICES].settings.tile_url
    img = ["'self'", "data:", "https:"]
    if tiles:
        parts = urlsplit(tiles.replace("{s}", "a"))
        img.append(f"{parts.scheme}://{parts.netloc}")
    style = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src {style}; img-src {' '.join(img)}; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _on_colour(hex_colour: str) -> str:
    """Black or white text, whichever reads better on the brand's colour (WCAG luminance)."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def _problem(request: web.Request, problem: LinkProblem) -> web.Response:
    locale = _locale(request, None, None)
    headline, advice = words.problem_page(locale, problem.kind)
    html = PAGES.get_template("problem.html").render(
        lang=locale, headline=headline, advice=advice, kind=problem.kind
    )
    return web.Response(text=html, status=problem.status, content_type="text/html")


@routes.get("/t/{token}")
async def tracking_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        opened = await open_link(request)
    except LinkProblem as problem:
        return _problem(request, problem)
    d = opened.delivery
    if await services.redis.set(services.keys.tracking_viewed(opened.token), 1, nx=True, ex=SEEN_S):
        await record(services, d, "page_viewed")
    body = await page_view(request, opened)
    nonce = secrets.token_urlsafe(12)
    brand = opened.brand
    boot = {
        "token": opened.token,
        "lang": opened.locale,
        "words": words.words(opened.locale),
        "view": body,
        "tiles": services.settings.tile_url,
        "attribution": services.settings.tile_attribution,
    }
    html = PAGES.get_template("page.html").render(
        lang=opened.locale,
        brand=brand,
        colour=brand.brand_colour,
        on_colour=_on_colour(brand.brand_colour),
        nonce=nonce,
        w=boot["words"],
        view=body,
        languages=[(loc, words.LANGUAGES[loc.split("_")[0]]) for loc in _languages(brand)],
        # No `<` at all in the JSON: nothing in it can end its script element early.
        boot=json.dumps(boot).replace("<", "\\u003c"),
    )
    response = web.Response(text=html, content_type="text/html")
    response.headers["Content-Security-Policy"] = _csp(request, nonce)
    return response


async def record(services: TrackingServices, delivery: DeliveryRecord, action: str) -> None:
    """A page view or an action: on the delivery's record and in /metrics."""
    services.metrics.tracking.labels(action).inc()
    await services.store.record_tracking(
        delivery.brand_id, delivery.delivery_id, action, services.clock.timestamp()
    )


def same_origin(request: web.Request) -> None:
    """A change posted from another site's page is refused (a browser names the page's
    Origin); the JSON body already keeps plain HTML forms out."""
    origin = request.headers.get("Origin")
    public = request.app[SERVICES].settings.public_base_url
    if origin is not None and origin not in (public, f"{request.scheme}://{request.host}"):
        raise ApiError(403, "origin", "changes must come from the tracking page itself")


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "json_only", "send the body as application/json")
    return await json_object(request)


async def opened_or_error(request: web.Request) -> Opened:
    """For the JSON routes: the link's problem as a clear error, not a page."""
    try:
        return await open_link(request)
    except LinkProblem as problem:
        headline, _ = words.problem_page(_locale(request, None, None), problem.kind)
        raise ApiError(problem.status, f"link_{problem.kind}", headline) from None


@routes.get("/t/{token}/state")
async def state(request: web.Request) -> web.Response:
    opened = await opened_or_error(request)
    return web.json_response(await page_view(request, opened))


@routes.post("/t/{token}/verify")
async def verify(request: web.Request) -> web.Response:
    """The second factor: the order number or postcode, compared in constant time, throttled."""
    services = request.app[SERVICES]
    opened = await opened_or_error(request)
    same_origin(request)
    answer = (await json_body(request)).get("answer")
    expected = expected_answer(opened.brand, opened.delivery)
    if expected is None:
        return web.json_response(await page_view(request, opened))
    if not isinstance(answer, str) or not 0 < len(answer) <= 64:
        problem = [{"field": "answer", "message": "1-64 characters"}]
        raise ApiError(400, "invalid", "answer is required", problem)
    outcome = await services.second_factor.check(opened.token, answer, expected)
    w = words.words(opened.locale)
    if outcome == "throttled":
        raise ApiError(429, "too_many_tries", w["too_many"])
    if outcome == "wrong":
        raise ApiError(403, "wrong_answer", w["wrong_factor"])
    proof = services.second_factor.proof(opened.token, services.clock.timestamp())
    verified = Opened(opened.token, opened.brand, opened.delivery, True, opened.locale)
    response = web.json_response(await page_view(request, verified))
    response.set_cookie(
        COOKIE,
        proof,
        max_age=PROOF_S,
        path=f"/t/{opened.token}",
        httponly=True,
        samesite="Strict",
        secure=services.settings.public_base_url.startswith("https://"),
    )
    return response


@routes.get("/t/{token}/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the page's view whenever it changes, a heartbeat otherwise."""
    services = request.app[SERVICES]
    opened = await opened_or_error(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    last: str | None = None
    # A page closed (the customer left) ends the stream quietly.
    with (
        services.tracking_hub.listen(opened.conversation) as changed,
        contextlib.suppress(ConnectionResetError),
    ):
        while not services.tracking_hub.closed:
            changed.clear()
            try:
                current = await open_link(request)  # revoked or expired while open: stop
                body: str | None = json.dumps(await page_view(request, current))
            except LinkProblem as problem:
                await response.write(f"event: gone\ndata: {json.dumps(problem.kind)}\n\n".encode())
                break
            except RedisError:  # Redis busy or away: this page waits for the next change
                log.warning("tracking.view_failed", exc_info=True)
                body = None
            if body is not None and body != last:
                await response.write(f"event: view\ndata: {body}\n\n".encode())
                last = body
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), HEARTBEAT_S)
            if not changed.is_set():
                await response.write(b": ping\n\n")
    return response


async def close_streams(app: web.Application) -> None:
    """On shutdown: the server waits for open handlers, so the streams end first."""
    if SERVICES in app:
        app[SERVICES].tracking_hub.close()


def static_routes() -> list[web.AbstractRouteDef]:
    return [
        web.static("/t/static", STATIC / "tracking"),
        web.static("/t/vendor", STATIC / "vendor"),
    ]
