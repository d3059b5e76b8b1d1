"""Photos customers send (MMS, Telegram): fetched from the provider once and kept here.

Provider media URLs need the provider's credentials and expire; agents and cases
need the photo for weeks. Each photo is stored in Redis (size-capped, expiring with
the conversation data) and served at an unguessable, HMAC-signed URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis

MAX_BYTES = 5 * 1024 * 1024
TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}

Fetch = Callable[[], Awaitable[tuple[bytes, str]]]


class MediaTooLarge(ValueError):
    pass


class MediaStore:
    """Given its own Redis client that does not decode (photos are bytes), which it closes."""

    def __init__(self, redis: Redis, prefix: str, public_base_url: str, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._base = public_base_url.rstrip("/")
        self._ttl = ttl_s
        self._secret = b""

    async def start(self, secret: bytes) -> None:
        """`secret` signs the URLs; every replica must be given the same one."""
        self._secret = secret

    async def stop(self) -> None:
        await self._redis.aclose()

    def _sign(self, media_id: str) -> str:
        return hmac.new(self._secret, media_id.encode(), hashlib.sha256).hexdigest()[:32]

    async def keep(self, data: bytes, content_type: str) -> str:
        """Store a photo; its signed URL."""
        if len(data) > MAX_BYTES:
            raise MediaTooLarge(f"{len(data)} bytes (at most {MAX_BYTES})")
        ext = TYPES.get(content_type.split(";")[0].strip().lower(), "bin")
        media_id = f"{secrets.token_hex(12)}.{ext}"
        key = f"{self._prefix}:m:{media_id}"
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hset(key, mapping={"type": content_type, "data": data})
            tx.expire(key, self._ttl)
            await tx.execute()
        return f"{self._base}/media/{media_id}?sig={self._sign(media_id)}"

    async def serve(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        if not hmac.compare_digest(self._sign(media_id), request.query.get("sig", "")):
            raise web.HTTPForbidden(text="bad or missing signature")
        raw = await self._redis.hgetall(f"{self._prefix}:m:{media_id}")
        if not raw:
            raise web.HTTPNotFound(text="no such photo (or it expired)")
        data, kind = raw[b"data"], raw[b"type"]
        assert isinstance(data, bytes) and isinstance(kind, bytes)  # a client without decoding
        return web.Response(body=data, content_type=kind.decode())

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/media/{media_id}", self.serve)]
