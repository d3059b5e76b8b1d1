"""The sandbox channel: a phone in the browser, for trying Doorstep with no provider account.

It implements the same `Channel` contract as Twilio and Telegram: outbound messages
land in a per-number feed kept in Redis (so every replica sees the same phone) and
are pushed live over a WebSocket; what the person types is verified (the page's
sandbox token) and handed to the inbound sink exactly like an SMS webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web
from redis.asyncio import Redis

from integrations.base import InboundMessage, InboundSink, OutboundMessage, SendResult, StatusSink
from integrations.wire import BodyError, header, parse_json

FEED_LENGTH = 200
FEED_TTL_S = 86400


class SandboxChannel:
    """Outbound to Redis feeds; inbound from the sandbox page's reply box."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._token = ""
        self._live_channel = f"{prefix}:live"

    @property
    def name(self) -> str:
        return "sandbox"

    @property
    def token(self) -> str:
        return self._token

    def _feed(self, address: str) -> str:
        return f"{self._prefix}:feed:{address}"

    async def start(self) -> None:
        """Load the page token, made by the first replica to start (all replicas share it)."""
        key = f"{self._prefix}:token"
        await self._redis.set(key, secrets.token_hex(16), nx=True)
        self._token = str(await self._redis.get(key))

    async def stop(self) -> None:
        return None

    async def _append(self, address: str, entry: dict[str, Any]) -> None:
        payload = json.dumps(entry)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.rpush(self._feed(address), payload)
            pipe.ltrim(self._feed(address), -FEED_LENGTH, -1)
            pipe.expire(self._feed(address), FEED_TTL_S)
            await pipe.execute()
        # Not in the pipeline: a cluster client refuses PUBLISH there.
        await self._redis.publish(
            self._live_channel, json.dumps({"address": address, "entry": entry})
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        provider_id = f"SBX{secrets.token_hex(12)}"
        await self._append(
            message.to,
            {
                "id": provider_id,
                "dir": "out",
                "text": message.text,
                "media": list(message.media_urls),
                "choices": list(message.choices),
                "at": time.time(),
            },
        )
        return SendResult(provider_id=provider_id, status="delivered")

    async def feed(self, address: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in await self._redis.lrange(self._feed(address), 0, -1)]

    def token_ok(self, supplied: str) -> bool:
        """The page's token, compared in constant time (no token yet: nothing passes)."""
        return bool(self._token) and hmac.compare_digest(
            supplied.encode("utf-8", "replace"), self._token.encode()
        )

    def _verify(self, request: web.Request) -> None:
        supplied = header(request, "X-Sandbox-Token") or request.query.get("token", "")
        if not self.token_ok(supplied):
            raise web.HTTPForbidden(
                text=json.dumps({"error": "forbidden", "detail": "bad sandbox token"}),
                content_type="application/json",
            )

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        async def post_message(request: web.Request) -> web.Response:
            return await self._post_message(request, inbound)

        return [
            web.get("/sandbox/api/phones/{address}", self._get_feed),
            web.post("/sandbox/api/phones/{address}/messages", post_message),
            web.get("/sandbox/ws", self._live),
        ]

    async def _get_feed(self, request: web.Request) -> web.Response:
        self._verify(request)
        return web.json_response(await self.feed(request.match_info["address"]))

    @staticmethod
    def _reply_errors(body: object) -> list[dict[str, str]]:
        text = body.get("text") if isinstance(body, dict) else None
        media = body.get("media_urls", []) if isinstance(body, dict) else []
        errors = []
        if not isinstance(text, str) or not (text.strip() or media):
            errors.append({"field": "text", "message": "a non-empty text is required"})
        elif len(text) > 1600:
            errors.append({"field": "text", "message": "at most 1600 characters"})
        if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
            errors.append({"field": "media_urls", "message": "a list of URLs"})
        return errors

    async def _post_message(self, request: web.Request, inbound: InboundSink) -> web.Response:
        """The person typed a reply on the sandbox phone: the sandbox's 'SMS webhook'."""
        self._verify(request)
        address = request.match_info["address"]
        try:
            body = parse_json(await request.read())
        except BodyError:
            body = None
        errors = self._reply_errors(body)
        if errors:
            return web.json_response({"error": "invalid", "fields": errors}, status=400)
        text, media = str(body["text"]), list(body.get("media_urls", []))
        provider_id = f"SBXIN{secrets.token_hex(10)}"
        await self._append(
            address,
            {"id": provider_id, "dir": "in", "text": text, "media": media, "at": time.time()},
        )
        await inbound(
            InboundMessage(
                channel=self.name,
                sender=address,
                text=text,
                provider_id=provider_id,
                received_at=datetime.now(UTC),
                media_urls=tuple(media),
            )
        )
        return web.json_response({"id": provider_id}, status=202)

    async def _live(self, request: web.Request) -> web.WebSocketResponse:
        """Push every new phone entry to the page as it happens."""
        self._verify(request)
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._live_channel)

        async def forward() -> None:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    await ws.send_str(str(item["data"]))

        task = asyncio.create_task(forward())
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await pubsub.unsubscribe(self._live_channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated upstream
        return ws
