"""Brands: their settings, API keys and signing secrets, kept in Redis."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time as clock
from datetime import time
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from redis.asyncio import Redis

from bot.base.desk_settings import DeskSettings
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.values import Customer, iana_zone
from integrations.egress import EgressRefused, check_settings_url

# A logo on the tracking page: a URL on https, or an uploaded image inlined (a data URI,
# base64, at most about 96 KB of image).
MAX_LOGO = 131_072
LOGO_URL = re.compile(r"https://[A-Za-z0-9.-]+(:\d+)?(/[^\s\"'<>]*)?")
LOGO_DATA = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+=*")


class HoursRange(BaseModel):
    """A daily range of local clock times; `end` before `start` wraps past midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> HoursRange:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def contains(self, t: time) -> bool:
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class WhatsAppTemplate(BaseModel):
    """A WhatsApp template the brand had approved by Meta, as Twilio's Content API holds
    it: sent instead of free text when the customer has not written for 24 hours.

    `variables` maps the template's numbered placeholders ({{1}}, {{2}}...) to Jinja
    expressions over the message's own variables, rendered in the same sandbox as the
    message ("{{ name }}", "{{ window | window }}")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: dict[str, str] = Field(default_factory=dict, max_length=10)

    @field_validator("variables")
    @classmethod
    def _numbered(cls, value: dict[str, str]) -> dict[str, str]:
        for key, source in value.items():
            if not key.isdigit() or not 1 <= int(key) <= 10:
                raise ValueError(f"variable {key!r} must be a number 1-10, as in {{{{1}}}}")
            if not 0 < len(source) <= 500:
                raise ValueError(f"variable {key} must be 1-500 characters")
        return value


class BrandSettings(BaseModel):
    """Everything a brand configures. Validated on every change; a bad value changes nothing.

    Every number has both bounds and none may be infinite or NaN: a value that cannot
    be a duration, a price or a count is refused with its field's name, not stored to
    break every later use. Validated with `context={"egress": EgressGuard}` (the
    settings API) the webhook URL is held to the operator's egress policy too."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    brand_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    display_name: str = Field(min_length=1, max_length=80)
    sender_name: str = Field(default="", max_length=11, description="alphanumeric SMS sender")
    channels: list[str] = Field(default_factory=lambda: ["sms"], min_length=1)
    locales: list[str] = Field(default_factory=lambda: ["en", "es", "fr"], min_length=1)
    default_locale: str = "en"
    timezone: str = "UTC"
    delivery_hours: HoursRange = HoursRange(start=time(8), end=time(21))
    quiet_hours: HoursRange | None = HoursRange(start=time(21), end=time(8))
    eta_threshold_min: int = Field(default=15, ge=1, le=240)
    eta_window_min: int = Field(default=60, ge=10, le=480, description="width of ETA windows")
    nearby_stops: int = Field(default=2, ge=1, le=10)
    low_confidence: float = Field(default=0.5, ge=0, le=1)
    escalation_policy: Literal["agent", "bot_then_agent"] = "agent"
    escalation_limit_min: int = Field(default=15, ge=1, le=7 * 24 * 60)
    help_text: str = Field(
        default="Reply with a question about your delivery, or STOP to opt out.", max_length=300
    )
    survey_enabled: bool = True
    survey_delay_min: int = Field(default=30, ge=0, le=7 * 24 * 60)
    sms_segment_price: float = Field(default=0.0079, ge=0, le=100)
    require_signature: bool = False
    webhook_url: str | None = Field(default=None, max_length=2000)
    # Message type -> its approved WhatsApp template (outside the 24-hour window).
    whatsapp_templates: dict[str, WhatsAppTemplate] = Field(default_factory=dict)
    # The brand's own sender per channel (an SMS/WhatsApp number in E.164 or a Twilio
    # Messaging Service SID): its messages go out from it, and a reply sent to it
    # belongs to this brand only. Without one, the deployment's sender is shared.
    senders: dict[str, str] = Field(default_factory=dict, max_length=8)

    @field_validator("senders")
    @classmethod
    def _senders(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, sender in value.items():
            if not re.fullmatch(r"[a-z_]{1,20}", channel):
                raise ValueError(f"unknown channel {channel!r}")
            if not re.fullmatch(r"\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32}|[A-Za-z0-9_]{1,64}", sender):
                raise ValueError(
                    f"{channel}: a sender is an E.164 number or a Messaging Service SID"
                )
        return value

    # The agent desk: assignment, SLA targets and business hours, CSAT.
    desk: DeskSettings = Field(default_factory=DeskSettings)
    # The customer's tracking page (/t/<token>).
    logo_url: str | None = Field(
        default=None, max_length=MAX_LOGO, description="https URL or a data:image/... URI"
    )
    brand_colour: str = Field(default="#1f5fbf", pattern=r"^#[0-9a-fA-F]{6}$")
    tracking_factor: Literal["none", "order", "postcode"] = "none"
    tracking_link_days: int = Field(default=7, ge=0, le=90, description="after completion")
    tracking_map_stops: int = Field(default=3, ge=0, le=20, description="map from N stops away")

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        try:
            check_settings_url(value, info.context)
        except EgressRefused as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return iana_zone(value)

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if LOGO_DATA.fullmatch(value) or LOGO_URL.fullmatch(value):
            return value
        raise ValueError(
            "must be an https:// URL or a data:image/(png|jpeg|gif|webp|svg+xml);base64 URI"
        )

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return value.replace("-", "_")

    @model_validator(mode="after")
    def _default_in_locales(self) -> BrandSettings:
        if self.default_locale not in self.locales:
            raise ValueError("default_locale must be one of locales")
        return self

    def locale_for(self, customer: Customer) -> str:
        """The customer's locale if the brand speaks it (or its language), else the default."""
        if customer.locale in self.locales:
            return customer.locale
        language = customer.locale.split("_")[0]
        return language if language in self.locales else self.default_locale


def read_settings(brand_id: str, raw: str) -> BrandSettings:
    """Stored settings, read defensively: a value stored before it was checked (an
    `Infinity` kept as null, a 400-digit limit) is put back to its default and logged,
    so the brand's API and every loop over brands keep working and an admin can set
    it again. Only settings with no usable brand_id raise."""
    try:
        return BrandSettings.model_validate_json(raw)
    except ValidationError as exc:
        first = exc
    data = json.loads(raw)
    for _ in range(5):
        try:
            brand = BrandSettings.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                _drop(data, error["loc"])
            continue
        log.warning("brands.settings_repaired", brand=brand_id, errors=first.error_count())
        return brand
    raise first


def _drop(data: dict[str, Any], loc: tuple[int | str, ...]) -> None:
    """Remove the value at `loc` (its default then applies); a top-level field at least."""
    target: Any = data
    for part in loc[:-1]:
        if not isinstance(target, dict | list):
            break
        try:
            target = target[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            break
    else:
        if isinstance(target, dict) and loc and loc[-1] in target:
            if loc[-1] != "brand_id":
                del target[loc[-1]]
            return
    if loc and loc[0] in data and loc[0] != "brand_id":
        del data[str(loc[0])]


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class BrandStore:
    """Reads and writes brands; API keys are kept only as SHA-256 hashes.

    Every API call needs its brand, so reads are cached in the process for
    `cache_s` (1 s): a change made through another replica shows within that time.
    """

    def __init__(self, redis: Redis, keys: Keys, cache_s: float = 1.0) -> None:
        self._redis = redis
        self._keys = keys
        self._cache_s = cache_s
        self._brands: dict[str, tuple[float, BrandSettings | None]] = {}
        # Brand template overrides ("type|channel|locale" -> source), loaded with the brand.
        self._templates: dict[str, dict[str, str]] = {}
        self._api_keys: dict[str, tuple[float, str | None]] = {}

    async def save(self, settings: BrandSettings) -> None:
        """Store the settings; a sender another brand already has is refused
        (ValueError): replies to it would otherwise reach the wrong brand."""
        for channel, sender in settings.senders.items():
            key = self._keys.sender_brand(channel, sender)
            if not await self._redis.set(key, settings.brand_id, nx=True):
                owner = await self._redis.get(key)
                if owner is not None and str(owner) != settings.brand_id:
                    raise ValueError(f"the {channel} sender {sender} belongs to another brand")
        key = self._keys.brand(settings.brand_id)
        await self._redis.hset(key, "settings", settings.model_dump_json())
        await self._redis.sadd(self._keys.brands(), settings.brand_id)
        self._brands.pop(settings.brand_id, None)

    async def get(self, brand_id: str) -> BrandSettings | None:
        cached = self._brands.get(brand_id)
        if cached is not None and cached[0] > clock.monotonic():
            return cached[1]
        fields = cast(dict[str, str], await self._redis.hgetall(self._keys.brand(brand_id)))
        raw = fields.get("settings")
        brand = None if raw is None else read_settings(brand_id, raw)
        self._templates[brand_id] = {
            k.removeprefix("tpl:"): v for k, v in fields.items() if k.startswith("tpl:")
        }
        self._brands[brand_id] = (clock.monotonic() + self._cache_s, brand)
        return brand

    def templates(self, brand_id: str) -> dict[str, str]:
        """The brand's live template overrides, as last loaded by `get` (at most `cache_s` old).

        Rendering is synchronous; every path that renders for a brand has just
        fetched the brand (to authenticate an event, to handle a reply).
        """
        return self._templates.get(brand_id, {})

    def forget(self, brand_id: str) -> None:
        """Drop the cached brand, so this process sees a change at once."""
        self._brands.pop(brand_id, None)

    async def add_api_key(self, brand_id: str, api_key: str | None = None) -> str:
        """Register an API key (a new random one if none is given) and return it."""
        api_key = api_key or f"dsk_{secrets.token_urlsafe(24)}"
        await self._redis.set(self._keys.api_key(hash_api_key(api_key)), brand_id)
        return api_key

    async def revoke_api_key(self, api_key: str) -> None:
        digest = hash_api_key(api_key)
        await self._redis.delete(self._keys.api_key(digest))
        self._api_keys.pop(digest, None)

    async def brand_for_key(self, api_key: str) -> str | None:
        digest = hash_api_key(api_key)
        cached = self._api_keys.get(digest)
        if cached is not None and cached[0] > clock.monotonic():
            return cached[1]
        raw = await self._redis.get(self._keys.api_key(digest))
        brand_id = None if raw is None else str(raw)
        self._api_keys[digest] = (clock.monotonic() + self._cache_s, brand_id)
        return brand_id

    async def set_signing_secret(self, brand_id: str, secret: str | None = None) -> str:
        secret = secret or secrets.token_urlsafe(32)
        await self._redis.hset(self._keys.brand(brand_id), "signing_secret", secret)
        return secret

    async def signing_secret(self, brand_id: str) -> str | None:
        raw = await self._redis.hget(self._keys.brand(brand_id), "signing_secret")
        return None if raw is None else str(raw)
