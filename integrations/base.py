"""The two-sided channel contract every messaging provider implements.

Inbound, a channel turns a verified webhook into an `InboundMessage` and hands it
to an injected sink; outbound it only needs to send text (with optional media and
choices, which each channel renders as it can). The core never branches on a
channel's name: it looks channels up in a `ChannelRegistry`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol, runtime_checkable

from aiohttp import web

from integrations.media import MediaStore

ProviderStatus = Literal["queued", "sending", "sent", "delivered", "undelivered", "failed"]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to hand to a provider. `message_id` is ours and stable across retries."""

    message_id: str
    channel: str
    to: str
    text: str
    media_urls: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    # Whose message it is: a provider may need per-brand credentials or signing keys.
    brand_id: str = ""
    # A provider-approved template to send instead of the text (WhatsApp outside the
    # 24-hour window): its id and the values of its numbered variables.
    template_id: str | None = None
    template_variables: tuple[tuple[str, str], ...] = ()
    # The brand's own sender (a number, a messaging service), else the deployment's.
    sender: str | None = None
    # (label, url): a link shown as a button where the channel has them (Telegram).
    link: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider accepted: its id for the message and, if known, the SMS segments."""

    provider_id: str
    segments: int | None = None
    # Channels that know at once that the message reached the phone (the sandbox) say so.
    status: ProviderStatus = "sent"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message after its webhook was verified."""

    channel: str
    sender: str
    text: str
    provider_id: str
    received_at: datetime
    media_urls: tuple[str, ...] = ()
    # What it was sent to (our number or messaging service, our bot): how a reply finds
    # the brand it belongs to. Empty when the channel serves one brand only.
    recipient: str = ""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A provider's delivery report for a message we sent (matched by provider id)."""

    channel: str
    provider_id: str
    status: ProviderStatus
    error_code: str | None = None
    # Our own message id, when the provider's callback carries it back (Twilio's does).
    message_id: str | None = None


InboundSink = Callable[[InboundMessage], Awaitable[None]]
StatusSink = Callable[[StatusUpdate], Awaitable[None]]


class ChannelError(Exception):
    """Base of every error a channel raises when sending."""


class ChannelSendError(ChannelError):
    """The provider refused the message. `retryable` says whether trying again may help.

    `maybe_sent`: the request reached the provider and its answer never came (a
    timeout in flight): the provider may have accepted it, so a retry should first
    give its status report a chance to say so (most providers have no idempotency key).
    """

    def __init__(
        self, message: str, *, retryable: bool, code: str | None = None, maybe_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        self.maybe_sent = maybe_sent


class RetryAfter(ChannelSendError):
    """The provider asked us to slow down for `seconds` (HTTP 429 with Retry-After)."""

    def __init__(self, seconds: float, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry after {seconds:g}s", retryable=True, code="429")
        self.seconds = seconds


def parse_retry_after(value: str | None, default: float = 30.0) -> float:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


@runtime_checkable
class Channel(Protocol):
    """A messaging channel: a name, a sender, and the webhook routes it serves."""

    @property
    def name(self) -> str: ...

    async def send(self, message: OutboundMessage) -> SendResult:
        """Hand the message to the provider; raise `ChannelSendError` on refusal."""
        ...

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        """The webhook routes; each verifies the request before calling a sink."""
        ...

    async def start(self) -> None:
        """Open connections (called once, after the app's clients exist)."""
        ...

    async def stop(self) -> None:
        """Close connections; in-flight sends have finished by then."""
        ...


@dataclass
class ChannelRegistry:
    """Channels by name. Adding a channel is one `register()` line at start-up."""

    _channels: dict[str, Channel] = field(default_factory=dict)
    # Where channels keep customers' photos (served at /media/...), when one needs it.
    media: MediaStore | None = None

    def register(self, channel: Channel) -> None:
        if channel.name in self._channels:
            raise ValueError(f"channel {channel.name!r} registered twice")
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise KeyError(f"no channel named {name!r} is enabled") from None

    def __contains__(self, name: object) -> bool:
        return name in self._channels

    def __iter__(self) -> Iterator[Channel]:
        return iter(self._channels.values())

    def names(self) -> list[str]:
        return list(self._channels)
