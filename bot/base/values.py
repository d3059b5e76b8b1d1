"""The values every flow shares: windows, places, addresses, customers, items.

They are validated pydantic models (unknown fields are errors) because they arrive in
delivery events, but messages, replies, routes and the store use them as plain data;
keeping them here, below every flow, lets those flows use them without importing the
events API.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from integrations.phones import e164

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def iana_zone(value: str) -> str:
    """`value` if it names an IANA time zone; ValueError (a field error) otherwise."""
    if len(value) > 64:  # the longest IANA name is 32; a long one is ENAMETOOLONG (OSError)
        raise ValueError(f"unknown IANA time zone {value[:64]!r}...")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class Model(BaseModel):
    """Strict base: unknown fields are errors (a typo must not be silently dropped)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Model):
    """A half-open interval `[start, end)` of zoned datetimes."""

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start >= self.end:
            raise ValueError("window start must be before its end")
        return self


class GeoPoint(Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Address(Model):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postcode: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Customer(Model):
    name: str = Field(min_length=1, max_length=120)
    phone: str | None = Field(default=None, description="E.164, or national with `country`")
    telegram_chat_id: str | None = Field(default=None, pattern=r"^-?\d{1,20}$")
    locale: str = Field(default="en", description="BCP 47 / CLDR locale, e.g. en, es, fr_CA")
    timezone: str = Field(description="IANA time zone, e.g. America/New_York")
    channel: str | None = Field(default=None, description="preferred channel, e.g. sms")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return iana_zone(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError):
            raise ValueError(f"unknown locale {value!r}") from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else e164(value)

    @model_validator(mode="after")
    def _reachable(self) -> Customer:
        if self.phone is None and self.telegram_chat_id is None:
            raise ValueError("a customer needs a phone or a telegram_chat_id")
        return self

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


class Item(Model):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=10_000)
    size: int = Field(default=1, ge=0, description="capacity units the item takes in the van")
