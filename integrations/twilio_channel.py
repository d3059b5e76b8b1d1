"""Twilio: SMS, MMS and WhatsApp through one Messages API, with verified webhooks.

One class serves both channels: `sms` sends to `+E164`, `whatsapp` to `whatsapp:+E164`
(Twilio's own addressing), through the twilio library's async HTTP client. Inbound
and status webhooks are verified with `X-Twilio-Signature` by the library's
`RequestValidator` against the public URL Twilio called (`PUBLIC_BASE_URL`, so that
validation works behind a proxy); a bad signature is 403 and nothing is processed.
WhatsApp allows free text only within 24 hours of the customer's last message;
outside it a message goes as the brand's approved template (Twilio Content API:
`content_sid` and `content_variables`) when the sender passes one.
A customer's photo (MMS / WhatsApp media) is fetched with the account's credentials
and kept (`MediaStore`), because Twilio's media URLs are private and do not last.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from integrations.base import (
    ChannelSendError,
    InboundMessage,
    InboundSink,
    OutboundMessage,
    ProviderStatus,
    RetryAfter,
    SendResult,
    StatusSink,
    StatusUpdate,
    parse_retry_after,
)
from integrations.media import MediaStore
from integrations.phones import e164
from integrations.wire import BodyError, header, read_form

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STATUSES: dict[str, ProviderStatus] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# Twilio error codes that will not go away by retrying (unsubscribed, invalid number...).
PERMANENT = {"21211", "21214", "21610", "21612", "21614", "63016", "30004", "30005", "30006"}


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    public_base_url: str
    messaging_service_sid: str | None = None
    from_number: str | None = None  # +E164 (SMS) or the WhatsApp sender's number
    api_url: str = "https://api.twilio.com"
    default_region: str = "US"
    timeout_s: float = 10.0
    # Requests in flight at once: the library's aiohttp session pools 100 connections.
    max_in_flight: int = 100


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # untyped library
    """The library's async client, raising `RetryAfter` on 429 (it drops the header)."""

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response = await super().request(method, url, *args, **kwargs)
        if response.status_code == 429:
            headers = response.headers or {}
            raise RetryAfter(parse_retry_after(headers.get("Retry-After"), default=5.0))
        return response


def to_e164(number: str, region: str = "US") -> str | None:
    """`number` in E.164, or None when it is not a possible phone number."""
    try:
        return e164(number, region, valid=False)
    except ValueError:
        return None


class TwilioChannel:
    """`kind` is "sms" (SMS and MMS) or "whatsapp"."""

    def __init__(self, kind: str, config: TwilioConfig, media: MediaStore | None = None) -> None:
        if kind not in ("sms", "whatsapp"):
            raise ValueError(f"unknown Twilio channel {kind!r}")
        self._kind = kind
        self._config = config
        self._media = media
        self._validator = RequestValidator(config.auth_token)
        self._client: Client | None = None
        self._http: _HttpClient | None = None
        self._slots = asyncio.Semaphore(config.max_in_flight)

    @property
    def name(self) -> str:
        return self._kind

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/twilio/{self._kind}"

    async def start(self) -> None:
        self._http = _HttpClient(timeout=self._config.timeout_s)
        self._client = Client(
            self._config.account_sid, self._config.auth_token, http_client=self._http
        )
        self._client.api.base_url = self._config.api_url

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    # --- outbound ---------------------------------------------------------------

    def _address(self, number: str) -> str:
        return f"whatsapp:{number}" if self._kind == "whatsapp" else number

    async def send(self, message: OutboundMessage) -> SendResult:
        assert self._client is not None, "channel not started"
        cfg = self._config
        params: dict[str, Any] = {
            "to": self._address(message.to),
            # Our id rides on the callback: a send whose answer we lost (a timeout, a crash)
            # is still recorded as accepted when Twilio reports it, and not sent again.
            "status_callback": f"{cfg.public_base_url}{self.webhook_path}/status"
            f"?m={quote(message.message_id)}",
        }
        if message.template_id:  # a Content API template: Twilio renders it, no body
            params["content_sid"] = message.template_id
            params["content_variables"] = json.dumps(dict(message.template_variables))
        else:
            params["body"] = message.text
        sender = message.sender or cfg.messaging_service_sid or cfg.from_number or ""
        if sender.startswith("MG"):
            params["messaging_service_sid"] = sender
        else:
            params["from_"] = self._address(sender)
        if message.media_urls and not message.template_id:
            params["media_url"] = list(message.media_urls)
        in_flight = False
        try:
            # Waiting for a free connection is not the provider being slow: only the
            # request itself is timed (the library times nothing). A burst of sends to a
            # slow provider once timed out in that queue, and sends that had reached
            # Twilio were sent again.
            async with self._slots:
                in_flight = True
                async with asyncio.timeout(self._config.timeout_s):
                    sent = await self._client.messages.create_async(**params)
        except RetryAfter:
            raise
        except TwilioRestException as exc:
            code = str(exc.code) if exc.code else str(exc.status)
            retryable = exc.status >= 500 and code not in PERMANENT
            raise ChannelSendError(
                f"twilio {exc.status}: {exc.msg}", retryable=retryable, code=code
            ) from exc
        except TimeoutError as exc:
            raise ChannelSendError(
                f"twilio did not answer within {self._config.timeout_s:g} s",
                retryable=True,
                maybe_sent=in_flight,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ChannelSendError(f"twilio unreachable: {exc!r}", retryable=True) from exc
        segments = int(sent.num_segments) if sent.num_segments else None
        return SendResult(provider_id=str(sent.sid), segments=segments)

    # --- webhooks ---------------------------------------------------------------

    async def _verified_form(self, request: web.Request) -> dict[str, str]:
        params = await read_form(request)
        url = f"{self._config.public_base_url}{request.path_qs}"
        signature = header(request, "X-Twilio-Signature")
        if not signature or not self._validator.validate(url, params, signature):
            raise web.HTTPForbidden(text="invalid X-Twilio-Signature")
        return params

    def _sender(self, raw: str) -> str | None:
        number = raw.removeprefix("whatsapp:")
        return to_e164(number, self._config.default_region)

    def _recipient(self, params: dict[str, str]) -> str:
        """What the customer wrote to: our messaging service, else our number."""
        return params.get("MessagingServiceSid") or self._sender(params.get("To", "")) or ""

    async def _fetch_media(self, params: dict[str, str]) -> tuple[str, ...]:
        count = int(params.get("NumMedia") or 0)
        if not count or self._media is None:
            return ()
        kept = []
        auth = {
            "Authorization": aiohttp.encode_basic_auth(
                self._config.account_sid, self._config.auth_token
            )
        }
        timeout = aiohttp.ClientTimeout(total=self._config.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for i in range(min(count, 10)):
                url = params.get(f"MediaUrl{i}")
                if not url:
                    continue
                async with session.get(url, headers=auth) as resp:
                    resp.raise_for_status()
                    data = await resp.read()
                    kind = params.get(f"MediaContentType{i}") or resp.content_type
                kept.append(await self._media.keep(data, kind))
        return tuple(kept)

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        async def receive(request: web.Request) -> web.Response:
            params = await self._verified_form(request)
            sender = self._sender(params.get("From", ""))
            if sender is None or not params.get("MessageSid"):
                raise web.HTTPBadRequest(text="From must be a phone number; MessageSid is required")
            if not re.fullmatch(r"[0-9]{1,2}", params.get("NumMedia") or "0"):
                raise BodyError("invalid_form", "NumMedia must be a number of attachments, 0-99")
            try:
                media = await self._fetch_media(params)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # Twilio retries a webhook that fails: the message will come again.
                raise web.HTTPServiceUnavailable(text=f"could not fetch the media: {exc}") from exc
            await inbound(
                InboundMessage(
                    channel=self._kind,
                    sender=sender,
                    text=params.get("Body", ""),
                    provider_id=params["MessageSid"],
                    received_at=datetime.now(UTC),
                    media_urls=media,
                    recipient=self._recipient(params),
                )
            )
            return web.Response(text=EMPTY_TWIML, content_type="text/xml")

        async def report(request: web.Request) -> web.Response:
            params = await self._verified_form(request)
            mapped = STATUSES.get(params.get("MessageStatus", ""))
            if mapped is not None and params.get("MessageSid"):
                await status(
                    StatusUpdate(
                        channel=self._kind,
                        provider_id=params["MessageSid"],
                        status=mapped,
                        error_code=params.get("ErrorCode") or None,
                        message_id=request.query.get("m") or None,
                    )
                )
            return web.Response(status=204)

        return [
            web.post(self.webhook_path, receive),
            web.post(f"{self.webhook_path}/status", report),
        ]
