"""Local stand-ins for Twilio's Messages API and Telegram's Bot API, at the HTTP boundary.

Doorstep talks to them through the real twilio and python-telegram-bot libraries
(pointed here by TWILIO_API_URL / TELEGRAM_API_URL). Each records what it was asked
and can be told to fail the next requests (429 with Retry-After, 500, a stall).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@dataclass
class Failure:
    status: int
    retry_after: int | None = None
    stall_s: float = 0.0


@dataclass
class FakeProvider:
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    server: TestServer | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def start(self, app: web.Application) -> None:
        self.server = TestServer(app)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def failure(self) -> Failure | None:
        if not self.failures:
            return None
        f = self.failures.pop(0)
        if f.stall_s:
            await asyncio.sleep(f.stall_s)
        return f


class FakeTwilio(FakeProvider):
    """POST /2010-04-01/Accounts/{sid}/Messages.json and the media it hands out."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        app.router.add_get("/media/{name}", self.media)
        return app

    async def create(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.requests.append(
            {"path": request.path, "auth": request.headers.get("Authorization"), **form}
        )
        if not any(form.get(k) for k in ("Body", "MediaUrl", "ContentSid")):
            body = {
                "code": 21619,
                "message": "A text message body or media urls must be specified.",
            }
            return web.json_response({**body, "status": 400}, status=400)
        failure = await self.failure()
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            body = {
                "code": 20429 if failure.status == 429 else 20500,
                "message": "try later",
                "status": failure.status,
            }
            return web.json_response(body, status=failure.status, headers=headers)
        sid = f"SM{next(self._ids):032d}"
        body = {
            "sid": sid,
            "status": "queued",
            "to": form.get("To"),
            "body": form.get("Body"),
            "num_segments": "2" if len(str(form.get("Body", ""))) > 160 else "1",
            "account_sid": request.match_info["sid"],
        }
        return web.json_response(body, status=201)

    async def media(self, request: web.Request) -> web.Response:
        if (
            request.headers.get("Authorization", "")
            != "Basic " + base64.b64encode(b"AC123:secret").decode()
        ):
            return web.Response(status=401)
        return web.Response(body=PNG, content_type="image/png")

    async def sent(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "Body" in r or "ContentSid" in r]


class FakeTelegram(FakeProvider):
    """POST /bot<token>/<method> and file downloads; updates queued for getUpdates."""

    updates: list[dict[str, Any]]

    def app(self) -> web.Application:
        self.updates = []
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.method)
        app.router.add_get("/file/bot{token}/{path:.*}", self.file)
        return app

    async def method(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        if request.content_type == "application/json":
            params: dict[str, Any] = await request.json()
        else:
            params = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.requests.append({"method": name, **params})
        if name in ("sendMessage", "sendPhoto"):
            failure = await self.failure()
            if failure is not None:
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": failure.status,
                    "description": "fail",
                }
                if failure.retry_after:
                    body["parameters"] = {"retry_after": failure.retry_after}
                    body["description"] = f"Too Many Requests: retry after {failure.retry_after}"
                return web.json_response(body, status=failure.status)
        result: Any = True
        if name == "getMe":
            result = {
                "id": 42,
                "is_bot": True,
                "first_name": "Doorstep",
                "username": "doorstep_test_bot",
            }
        elif name in ("sendMessage", "sendPhoto"):
            result = {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params.get("text") or params.get("caption", ""),
            }
        elif name == "getFile":
            result = {
                "file_id": params["file_id"],
                "file_unique_id": "u1",
                "file_path": "photos/p.png",
            }
        elif name == "getUpdates":
            pending, self.updates = self.updates, []
            if not pending:
                await asyncio.sleep(0.1)
            result = pending
        return web.json_response({"ok": True, "result": result})

    async def file(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def sent(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] in ("sendMessage", "sendPhoto")]


def markup(request: dict[str, Any]) -> list[str]:
    """The button labels of a sendMessage request."""
    raw = request.get("reply_markup")
    if not raw:
        return []
    data = json.loads(raw) if isinstance(raw, str) else raw
    return [b["text"] for row in data["inline_keyboard"] for b in row]
