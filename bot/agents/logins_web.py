"""Logging in, accounts and API tokens over HTTP: throttled logins, admin-only tokens.

A login is throttled per account and per client address (`bot.agents.throttle`): a
browser is sent back to the login box with the seconds to wait, any other client gets
429 with `Retry-After`. Creating an account that exists is a 409, never an overwrite.
An admin lists the brand's API tokens (never the tokens themselves), revokes one at
once, and sees and clears the accounts that are throttled.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from bot.agents.accounts import TOKEN_MAX_TTL_S, TOKEN_TTL_S, AccountExists, Agent
from bot.agents.web import COOKIE, SERVICES, agent_of, same_origin
from bot.base.bodies import form_fields
from bot.base.bodies import json_object as json_body
from bot.base.httperrors import ApiError, field_errors

routes = web.RouteTableDef()
LOGIN_FIELDS = {"brand": 64, "username": 40, "password": 1024}


def _login_form(form: dict[str, str]) -> tuple[str, str, str]:
    problems = [
        {"field": name, "message": f"1-{limit} characters"}
        for name, limit in LOGIN_FIELDS.items()
        if not 0 < len(form.get(name, "")) <= limit
    ]
    if problems:
        raise ApiError(400, "invalid_form", "the login form is not valid", problems)
    return form["brand"], form["username"], form["password"]


def _wants_page(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


@routes.post("/console/login")
async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not same_origin(request):
        raise ApiError(403, "origin", "login must be posted from this console's own page")
    brand, username, password = _login_form(await form_fields(request))
    address = request.remote or "unknown"

    async def not_throttled() -> None:
        refusal = await services.throttle.refusal(brand, username, address)
        if refusal is None:
            return
        if _wants_page(request):
            raise web.HTTPFound(f"/console?error=throttled&retry={refusal.retry_after_s}")
        raise ApiError(
            429,
            "throttled" if refusal.how == "delay" else "locked",
            f"too many wrong passwords for this {refusal.kind}; "
            f"try again in {refusal.retry_after_s} s",
            headers={"Retry-After": str(refusal.retry_after_s)},
        )

    await not_throttled()  # before queueing for argon2, and again once at its head
    agent = await services.accounts.check_password(brand, username, password, not_throttled)
    if agent is None:
        await services.throttle.failed(brand, username, address)
        raise web.HTTPFound("/console?error=login")
    await services.throttle.succeeded(brand, username)
    session = await services.accounts.open_session(agent)
    response = web.HTTPFound("/console")
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="Strict",
        secure=services.settings.public_base_url.startswith("https://"),
        path="/console",
    )
    raise response


async def _admin(request: web.Request, doing: str) -> Agent:
    agent, _ = await agent_of(request)
    if agent.role != "admin":
        raise ApiError(403, "forbidden", f"only an admin can {doing}")
    return agent


@routes.post("/console/api/agents")
async def create_agent(request: web.Request) -> web.Response:
    agent = await _admin(request, "add agents")
    body = await json_body(request)
    try:
        new = Agent.model_validate({**body, "brand_id": agent.brand_id})
    except ValidationError as exc:
        raise ApiError(400, "invalid", "the agent is not valid", field_errors(exc)) from None
    password = body.get("password")
    if not isinstance(password, str):
        raise ApiError(
            400, "invalid", "password is required", [{"field": "password", "message": "text"}]
        )
    try:
        await request.app[SERVICES].accounts.create(new, password)
    except AccountExists as exc:
        problem = [{"field": "username", "message": str(exc)}]
        raise ApiError(409, "exists", "an account with this username exists", problem) from None
    except ValueError as exc:
        problem = [{"field": "password", "message": str(exc)}]
        raise ApiError(400, "invalid", str(exc), problem) from None
    return web.json_response(new.model_dump(), status=201)


def _ttl(body: dict[str, object]) -> int:
    days = body.get("expires_in_days", TOKEN_TTL_S // 86400)
    most = TOKEN_MAX_TTL_S // 86400
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= most:
        problem = [{"field": "expires_in_days", "message": f"whole days, 1-{most}"}]
        raise ApiError(400, "invalid", "expires_in_days is not valid", problem)
    return days * 86400


@routes.post("/console/api/tokens")
async def create_token(request: web.Request) -> web.Response:
    """`{expires_in_days?}` (90 unless given, 1-365): the token, shown this once."""
    agent = await _admin(request, "create API tokens")
    ttl_s = _ttl(await json_body(request))
    accounts = request.app[SERVICES].accounts
    token = await accounts.new_token(agent, ttl_s)
    info = await accounts.token_info(token)
    assert info is not None
    return web.json_response({"token": token, **info.model_dump()}, status=201)


@routes.get("/console/api/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    agent = await _admin(request, "list API tokens")
    tokens = await request.app[SERVICES].accounts.tokens(agent.brand_id)
    return web.json_response({"tokens": [t.model_dump() for t in tokens]})


@routes.delete("/console/api/tokens/{token_id}")
async def revoke_token(request: web.Request) -> web.Response:
    agent = await _admin(request, "revoke API tokens")
    token_id = request.match_info["token_id"]
    if not await request.app[SERVICES].accounts.revoke_token(agent.brand_id, token_id):
        raise ApiError(404, "not_found", "no such API token")
    return web.json_response({"revoked": token_id})


@routes.get("/console/api/admin/logins")
async def throttled_logins(request: web.Request) -> web.Response:
    """The brand's accounts that must wait before another login, or are locked."""
    agent = await _admin(request, "see throttled logins")
    found = await request.app[SERVICES].throttle.throttled(agent.brand_id)
    return web.json_response(
        {
            "throttled": [
                {"username": t.who, "failures": t.failures, "how": t.how, "until": t.until}
                for t in found
            ]
        }
    )


@routes.delete("/console/api/admin/logins/{username}")
async def unlock_login(request: web.Request) -> web.Response:
    agent = await _admin(request, "unlock logins")
    username = request.match_info["username"]
    if not await request.app[SERVICES].throttle.unlock(agent.brand_id, username):
        raise ApiError(404, "not_found", "this account is not throttled")
    return web.json_response({"unlocked": username})
