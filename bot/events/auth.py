"""Per-brand authentication of API calls: an API key, and an optional body signature.

The signature is HMAC-SHA256 over `"<timestamp>." + body` with the brand's signing
secret, sent as `X-Doorstep-Signature: v1=<hex>` with `X-Doorstep-Timestamp: <unix
seconds>`; a timestamp more than five minutes from our clock is refused, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from aiohttp import web

from bot.base.bodies import header
from bot.base.brands import BrandSettings, BrandStore
from bot.base.httperrors import ApiError

SIGNATURE_HEADER = "X-Doorstep-Signature"
TIMESTAMP_HEADER = "X-Doorstep-Timestamp"
REPLAY_WINDOW_S = 300


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def api_key_of(request: web.Request) -> str | None:
    auth = header(request, "Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return header(request, "X-Api-Key") or None


async def authenticate(request: web.Request, brands: BrandStore) -> BrandSettings:
    """The brand whose API key the request carries, or 401."""
    key = api_key_of(request)
    if key is None:
        raise ApiError(
            401, "unauthenticated", "send the brand's API key as 'Authorization: Bearer <key>'"
        )
    brand_id = await brands.brand_for_key(key)
    brand = await brands.get(brand_id) if brand_id else None
    if brand is None:
        raise ApiError(401, "unauthenticated", "unknown API key")
    return brand


async def verify_signature(
    request: web.Request, body: bytes, brand: BrandSettings, brands: BrandStore, now: float
) -> None:
    """Check the body signature when one is sent or the brand requires one; 403 if wrong."""
    if SIGNATURE_HEADER in request.headers and header(request, SIGNATURE_HEADER) is None:
        raise ApiError(403, "bad_signature", f"{SIGNATURE_HEADER} must be printable ASCII")
    signature = header(request, SIGNATURE_HEADER)
    if signature is None and not brand.require_signature:
        return
    if signature is None:
        raise ApiError(403, "bad_signature", f"this brand requires a {SIGNATURE_HEADER} header")
    secret = await brands.signing_secret(brand.brand_id)
    if secret is None:
        raise ApiError(403, "bad_signature", "no signing secret is configured for this brand")
    raw_ts = header(request, TIMESTAMP_HEADER) or ""
    if not re.fullmatch(r"[0-9]{1,12}", raw_ts):  # a 400-digit one would not fit a float
        raise ApiError(
            400,
            "invalid_timestamp",
            f"{TIMESTAMP_HEADER} must be unix seconds (1-12 digits)",
            [{"field": TIMESTAMP_HEADER, "message": "unix seconds, 1-12 digits"}],
        )
    timestamp = int(raw_ts)
    if abs(now - timestamp) > REPLAY_WINDOW_S:
        raise ApiError(
            403,
            "stale_timestamp",
            f"{TIMESTAMP_HEADER} is more than {REPLAY_WINDOW_S}s from server time",
        )
    expected = sign(secret, raw_ts, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ApiError(403, "bad_signature", "signature does not match the body")
