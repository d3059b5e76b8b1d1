"""The second factor a brand may ask for before a page shows personal details.

A link can be forwarded, or read over a shoulder; the order number or the postcode is
something the customer knows that the link does not carry. Answers are compared in
constant time (`hmac.compare_digest`) after normalising (case, spaces, dashes), and
wrong ones are counted per link: after 5 in 15 minutes the link accepts no answer
until the 15 minutes are over, so a guesser gets 20 tries an hour, not thousands.
A right answer gives the browser a proof (an HMAC of the token and an expiry) in an
HttpOnly, SameSite=Strict cookie scoped to the page's own path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from bot.base.brands import BrandSettings
from bot.base.keys import Keys
from bot.base.store import DeliveryRecord

FAILURES_ALLOWED = 5
LOCKOUT_S = 15 * 60
PROOF_S = 24 * 3600
COOKIE = "doorstep_track"
Outcome = Literal["ok", "wrong", "throttled"]


def normalise(value: str) -> str:
    """'ord-1042 ', 'ORD1042' and 'Ord 1042' are one answer; so are 'sw1a 1aa' and 'SW1A1AA'."""
    return re.sub(r"[\s\-_.]", "", value).casefold()


def expected_answer(brand: BrandSettings, delivery: DeliveryRecord) -> str | None:
    """What the customer must type, or None when the brand asks nothing.

    A brand asking for the postcode, for a delivery that has none, gets the order number."""
    if brand.tracking_factor == "none":
        return None
    if brand.tracking_factor == "postcode" and delivery.address.postcode:
        return delivery.address.postcode
    return delivery.order_id


def asks_for(brand: BrandSettings, delivery: DeliveryRecord) -> str | None:
    """'order', 'postcode' or None: what the page asks for."""
    if brand.tracking_factor == "none":
        return None
    return "postcode" if expected_answer(brand, delivery) != delivery.order_id else "order"


@dataclass
class SecondFactor:
    redis: Redis
    keys: Keys
    secret: bytes

    def _mac(self, token: str, until: int) -> str:
        digest = hmac.new(self.secret, f"trk-ok|{token}|{until}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:18]).decode()

    def proof(self, token: str, now: float) -> str:
        until = int(now + PROOF_S)
        return f"{until}.{self._mac(token, until)}"

    def proven(self, token: str, cookie: str | None, now: float) -> bool:
        if not cookie or "." not in cookie or not cookie.isascii():
            return False
        raw_until, _, mac = cookie.partition(".")
        if not raw_until.isdigit() or int(raw_until) < now:
            return False
        return hmac.compare_digest(self._mac(token, int(raw_until)), mac)

    async def check(self, token: str, answer: str, expected: str) -> Outcome:
        key = self.keys.tracking_failures(token)
        if int(await self.redis.get(key) or 0) >= FAILURES_ALLOWED:
            return "throttled"
        if hmac.compare_digest(normalise(answer).encode(), normalise(expected).encode()):
            await self.redis.delete(key)
            return "ok"
        async with self.redis.pipeline(transaction=True) as tx:
            tx.incr(key)
            tx.expire(key, LOCKOUT_S, nx=True)
            await tx.execute()
        return "wrong"
