"""Hostile input through the real HTTP server: every malformed request is a 4xx naming
the problem, never a 500 (issue 18, "500 instead of 400").

Headers with bytes above 0x7f cannot be sent by aiohttp's client, so those requests
are written on a raw socket.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from twilio.request_validator import RequestValidator

from bot.config import Settings
from bot.services import SERVICES, Services
from tests import factories as f
from tests.fake_providers import FakeTelegram, FakeTwilio
from tests.helpers import DEMO_KEY, Client, signed_headers
from tests.test_agents import add_agent, agent_session
from tests.test_telegram import SECRET, _start, configured, sms, tg

__all__ = ["sms", "tg"]  # fixtures, shared with test_telegram

NESTED = b"[" * 5000 + b"]" * 5000
LONG_INT = b'{"limit": ' + b"7" * 5000 + b"}"
BAD_UTF8 = b'{"text": "caf\xe9"}'
LONE_SURROGATE = b'{"text": "\\ud800"}'
HUGE_FLOAT = b'{"time_limit": 1e999}'
NOT_AN_OBJECT = b"[1, 2, 3]"
# The body, the error code, and the field named (a bad number names its own field).
BODIES = {
    "nested": (NESTED, "too_deep", "body"),
    "long_int": (LONG_INT, "invalid_json", "limit"),
    "bad_utf8": (BAD_UTF8, "invalid_utf8", "body"),
    "lone_surrogate": (LONE_SURROGATE, "invalid_utf8", "body"),
    "huge_float": (HUGE_FLOAT, "invalid_json", "time_limit"),
    "not_an_object": (NOT_AN_OBJECT, "invalid_json", "body"),
}


async def raw_request(
    client: Client, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, dict[str, Any]]:
    """One HTTP/1.1 request written byte for byte; the status and the JSON answer."""
    assert client.server.host is not None and client.server.port is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        parsed = json.loads(payload) if payload.strip() else {}
    except ValueError:
        parsed = {"raw": payload.decode("latin-1")}
    return status, parsed


@pytest.fixture
async def admin(client: Client, services: Services) -> dict[str, str]:
    await add_agent(services, "demo", "boss", role="admin")
    return await agent_session(client, "demo", "boss")


# --- one body reader for every JSON route ------------------------------------------------


@pytest.mark.parametrize("case", sorted(BODIES))
async def test_every_kind_of_bad_body_is_a_400_on_every_json_route(
    client: Client, admin: dict[str, str], case: str
) -> None:
    body, error, field = BODIES[case]
    json_type = {"Content-Type": "application/json"}
    routes = [
        ("PUT", "/console/api/admin/settings", admin),
        ("POST", "/console/api/admin/templates/preview", admin),
        ("PUT", "/console/api/admin/templates/eta", admin),
        ("POST", "/console/api/agents", admin),
        ("POST", "/console/api/tokens", admin),
        ("PUT", "/console/api/admin/canned/greet", admin),
        ("POST", "/console/api/admin/canned/preview", admin),
        ("PUT", "/console/api/desk/me", admin),
        ("POST", "/v1/routing/optimize", DEMO_KEY),
        ("POST", "/v1/routing/windows", DEMO_KEY),
        ("POST", "/v1/routes/r1/changes", DEMO_KEY),
    ]
    for method, path, headers in routes:
        resp = await client.request(method, path, data=body, headers={**headers, **json_type})
        answer = await resp.json()
        assert resp.status == 400, (path, resp.status, answer)
        assert answer["error"] == error, (path, answer)
        assert answer["fields"][0]["field"] == field, (path, answer)
    resp = await client.post("/v1/events", data=body, headers={**DEMO_KEY, **json_type})
    answer = await resp.json()
    assert resp.status == 400 and answer["error"] == "invalid_event", answer
    assert answer["fields"][0]["type"] == "json_invalid"


async def test_a_body_over_the_limit_is_a_413(client: Client, settings: Settings) -> None:
    big = b'{"a": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    resp = await client.post("/v1/events", data=big, headers=DEMO_KEY)
    assert resp.status == 413
    assert (await resp.json())["error"] == "too_large"


async def test_the_sandbox_and_its_phone_refuse_bad_bodies(
    client: Client, services: Services
) -> None:
    assert services.sandbox is not None
    token = {"X-Sandbox-Token": services.sandbox.token}
    resp = await client.post("/sandbox/api/demo/clock", data=NESTED, headers=token)
    assert resp.status == 400 and (await resp.json())["error"] == "too_deep"
    resp = await client.post(
        "/sandbox/api/phones/+12125550142/messages", data=BAD_UTF8, headers=token
    )
    assert resp.status == 400


# --- headers are data ------------------------------------------------------------------


async def test_non_ascii_credentials_are_refused_not_crashed(
    client: Client, admin: dict[str, str]
) -> None:
    cases = [
        ("GET", "/v1/deliveries/d1", [(b"Authorization", b"Bearer \xff\xfe")], 401),
        ("GET", "/v1/deliveries/d1", [(b"X-Api-Key", b"k\xe9y")], 401),
        ("GET", "/console/api/me", [(b"Authorization", b"Bearer dsa_\xff")], 401),
        ("GET", "/console/api/queue", [(b"Cookie", b"doorstep_session=\xff\xfe")], 401),
    ]
    for method, path, headers, status in cases:
        got, answer = await raw_request(client, method, path, headers)
        assert got == status, (path, headers, got, answer)
    # A logged-in console with a CSRF token that is not ASCII: refused as a wrong token.
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/console"))
    session = cookie["doorstep_session"].value
    got, answer = await raw_request(
        client,
        "POST",
        "/console/logout",
        [(b"Cookie", f"doorstep_session={session}".encode()), (b"X-CSRF-Token", b"\xc3\x28")],
    )
    assert got == 403 and answer["error"] == "csrf"


async def test_signature_headers_with_bad_bytes_or_a_huge_timestamp(
    client: Client, services: Services
) -> None:
    secret = await services.brands.set_signing_secret("demo")
    body = json.dumps(f.delivery_created("d1")).encode()
    good = signed_headers(secret, body)
    auth = [(b"Authorization", b"Bearer demo-key"), (b"Content-Type", b"application/json")]
    ts = good["X-Doorstep-Timestamp"].encode()
    got, answer = await raw_request(
        client,
        "POST",
        "/v1/events",
        [*auth, (b"X-Doorstep-Timestamp", ts), (b"X-Doorstep-Signature", b"v1=\xff\xff")],
        body,
    )
    assert got == 403 and answer["error"] == "bad_signature", answer
    for stamp in ("9" * 400, "1" * 5000, "12e3", "-5"):
        headers = {**good, "X-Doorstep-Timestamp": stamp}
        resp = await client.post("/v1/events", data=body, headers=headers)
        answer = await resp.json()
        assert resp.status == 400 and answer["error"] == "invalid_timestamp", (stamp, answer)
    # The same request, rightly signed, still goes in.
    resp = await client.post("/v1/events", data=body, headers=signed_headers(secret, body))
    assert resp.status == 202


# --- values ------------------------------------------------------------------------------


async def test_a_300_character_time_zone_is_a_field_error(
    client: Client, admin: dict[str, str]
) -> None:
    event = f.delivery_created("d1")
    event["data"]["customer"]["timezone"] = "Europe/" + "x" * 300
    resp = await client.post("/v1/events", json=event, headers=DEMO_KEY)
    answer = await resp.json()
    assert resp.status == 400, answer
    assert "data.customer.timezone" in [e["field"] for e in answer["fields"]]
    resp = await client.put(
        "/console/api/admin/settings", json={"timezone": "a" * 300}, headers=admin
    )
    answer = await resp.json()
    assert resp.status == 400, answer
    assert [e["field"] for e in answer["fields"]] == ["timezone"]


async def test_a_malformed_login_form_is_a_400(client: Client) -> None:
    cases: list[tuple[dict[str, str], bytes]] = [
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"brand=demo&username=\xff\xfe"),
        ({"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nnonsense\r\n\r\n--zz--"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"brand=demo"),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"brand=demo&username=" + b"u" * 500 + b"&password=x",
        ),
    ]
    for headers, body in cases:
        resp = await client.post(
            "/console/login", data=body, headers=headers, allow_redirects=False
        )
        answer = await resp.json()
        assert resp.status == 400, (body[:40], resp.status, answer)
        assert answer["error"] in ("invalid_form", "invalid_utf8"), answer


# --- provider webhooks ---------------------------------------------------------------------


@pytest.fixture
async def providers(
    redis: Redis, settings: Settings, tg: FakeTelegram, sms: FakeTwilio
) -> AsyncIterator[Client]:
    client = await _start(configured(settings, tg, sms))
    yield client
    await client.close()


async def test_telegram_webhook_refuses_bad_secrets_and_non_updates(providers: Client) -> None:
    path = "/webhooks/telegram"
    got, _ = await raw_request(
        providers, "POST", path, [(b"X-Telegram-Bot-Api-Secret-Token", b"s\xe9cret")], b"{}"
    )
    assert got == 403
    secret = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for body in (b"[1]", b'"update"', NESTED, b"\xff", b'{"update_id": "x", "message": 5}'):
        resp = await providers.post(path, data=body, headers=secret)
        assert resp.status == 400, (body[:20], resp.status, await resp.text())
    resp = await providers.post(path, json={"update_id": 1}, headers=secret)
    assert resp.status == 204  # an update with nothing in it is fine


def _twilio_signature(client: Client, path: str, params: dict[str, str]) -> str:
    url = f"{client.app[SERVICES].settings.public_base_url}{path}"
    return str(RequestValidator("secret").compute_signature(url, params))


async def test_twilio_webhook_refuses_bad_signature_bytes_and_bad_num_media(
    providers: Client,
) -> None:
    path = "/webhooks/twilio/sms"
    params = {"From": "+12125550142", "To": "+15005550006", "Body": "hi", "MessageSid": "SM1"}
    form = b"From=%2B12125550142&To=%2B15005550006&Body=hi&MessageSid=SM1"
    got, _ = await raw_request(
        providers,
        "POST",
        path,
        [
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"X-Twilio-Signature", b"\xff\xfe=="),
        ],
        form,
    )
    assert got == 403
    for count in ("lots", "1" * 5000, "-1"):
        bad = {**params, "NumMedia": count}
        resp = await providers.post(
            path, data=bad, headers={"X-Twilio-Signature": _twilio_signature(providers, path, bad)}
        )
        assert resp.status == 400, (count, resp.status, await resp.text())
        assert "NumMedia" in (await resp.json())["detail"]
    started = time.monotonic()
    resp = await providers.post(
        path,
        data=params,
        headers={"X-Twilio-Signature": _twilio_signature(providers, path, params)},
    )
    assert resp.status == 200 and time.monotonic() - started < 5
