"""Telegram deep links: a customer joins a delivery's conversation from a link in an SMS.

`https://t.me/<bot>?start=<token>`: Telegram passes the token to the bot as
`/start <token>`. The token names a random reference (kept in Redis for the
delivery) plus an expiry, signed with HMAC-SHA256; Telegram allows 64 characters of
`[A-Za-z0-9_-]`, and ours take 39. A forged, altered or expired token links nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.base.keys import Keys
from bot.base.store import DeliveryRecord

VALID_FOR = timedelta(days=14)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class TelegramLinks:
    redis: Redis
    keys: Keys
    secret: bytes
    # The bot's @username is known once the channel has started.
    bot_username: Callable[[], str]

    def _ref(self, delivery: DeliveryRecord) -> str:
        """Stable per delivery, so every message about it carries the same link."""
        raw = f"ref|{delivery.brand_id}/{delivery.delivery_id}".encode()
        return _b64(hmac.new(self.secret, raw, hashlib.sha256).digest()[:9])

    def _sig(self, ref: str, expires: int) -> str:
        raw = f"{ref}|{expires}".encode()
        return _b64(hmac.new(self.secret, raw, hashlib.sha256).digest()[:15])

    def token(self, delivery: DeliveryRecord) -> str:
        expires = int((delivery.created_at + VALID_FOR).timestamp())
        ref = self._ref(delivery)
        stamp = _b64(expires.to_bytes(5, "big"))
        return f"{ref}{stamp}{self._sig(ref, expires)}"

    def url(self, delivery: DeliveryRecord) -> str:
        return f"https://t.me/{self.bot_username()}?start={self.token(delivery)}"

    def queue_register(self, pipe: Pipeline, delivery: DeliveryRecord) -> None:
        """Remember which conversation the delivery's reference opens (in the caller's pipe)."""
        pipe.set(
            self.keys.telegram_ref(self._ref(delivery)),
            f"{delivery.brand_id}/{delivery.delivery_id}",
            ex=int(VALID_FOR.total_seconds()) + 86400,
        )

    async def resolve(self, token: str, now: float | None = None) -> str | None:
        """The conversation (`brand/delivery`) a valid, unexpired token opens, else None."""
        if len(token) != 39:
            return None
        ref, stamp, sig = token[:12], token[12:19], token[19:]
        try:
            expires = int.from_bytes(base64.urlsafe_b64decode(stamp + "="), "big")
        except ValueError:
            return None
        if not hmac.compare_digest(self._sig(ref, expires), sig):
            return None
        if expires < (time.time() if now is None else now):
            return None
        found = await self.redis.get(self.keys.telegram_ref(ref))
        return None if found is None else str(found)
