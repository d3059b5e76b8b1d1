"""Tracking-page links: a short, unguessable token per delivery, carried by its first message.

Why here, in messaging, and not with the page (`bot/tracking/`): the first message of
a delivery carries the link and messages render synchronously, so the token is
computed without a round trip: an HMAC-SHA256 of the delivery and its link's
generation under the deployment's shared secret, cut to 10 bytes (16 characters of
lowercase base32, 80 bits: nobody guesses one; short, as every SMS character is paid
for; letters and digits only, so no phone's link detection stops at a '-' or '_').
A token opens a page only once it is registered in Redis, which happens in the same
transaction as the message that carries it; an altered token is simply unknown.
Revoking marks the token (the page then says so rather than "not found") and moves
the delivery to its next generation, whose token is a different one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.base.keys import Keys
from bot.base.store import DeliveryRecord

TOKEN = re.compile(r"[a-z2-7]{16}")


@dataclass(frozen=True, slots=True)
class LinkState:
    """What a registered token opens: the conversation (`brand/delivery`), and whether
    the brand revoked it."""

    conversation: str
    revoked: bool = False

    @property
    def brand_id(self) -> str:
        return self.conversation.partition("/")[0]

    @property
    def delivery_id(self) -> str:
        return self.conversation.partition("/")[2]


@dataclass
class TrackingLinks:
    redis: Redis
    keys: Keys
    secret: bytes
    base_url: str
    ttl_s: int = 30 * 86400

    def token(self, delivery: DeliveryRecord) -> str:
        raw = f"trk|{delivery.brand_id}/{delivery.delivery_id}|{delivery.tracking_generation}"
        digest = hmac.new(self.secret, raw.encode(), hashlib.sha256).digest()[:10]
        return base64.b32encode(digest).decode().lower()

    def url(self, delivery: DeliveryRecord) -> str:
        return f"{self.base_url}/t/{self.token(delivery)}"

    def queue_register(self, pipe: Pipeline, delivery: DeliveryRecord) -> None:
        """Make the delivery's token open its page (in the caller's transaction).

        NX: a token once revoked stays revoked, even if an older copy of the record
        (built before the revocation) is sent afterwards."""
        value = json.dumps({"c": f"{delivery.brand_id}/{delivery.delivery_id}"})
        pipe.set(self.keys.tracking_link(self.token(delivery)), value, ex=self.ttl_s, nx=True)

    async def register(self, delivery: DeliveryRecord) -> str:
        async with self.redis.pipeline(transaction=True) as tx:
            self.queue_register(tx, delivery)
            await tx.execute()
        return self.url(delivery)

    async def resolve(self, token: str) -> LinkState | None:
        """What a token opens, or None: malformed, altered, never sent or long gone."""
        if not TOKEN.fullmatch(token):
            return None
        raw = await self.redis.get(self.keys.tracking_link(token))
        if raw is None:
            return None
        data = json.loads(raw)
        return LinkState(str(data["c"]), bool(data.get("revoked")))

    async def revoke(self, delivery: DeliveryRecord) -> None:
        """The delivery's current link opens nothing any more (and says it was withdrawn)."""
        value = json.dumps({"c": f"{delivery.brand_id}/{delivery.delivery_id}", "revoked": True})
        await self.redis.set(self.keys.tracking_link(self.token(delivery)), value, ex=self.ttl_s)
