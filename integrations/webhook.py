"""Outbound webhooks to a brand's own systems (dispatch, driver app), signed like our API.

Sent through the outbox like any message, so a webhook is retried with backoff when
the receiver is down and dead-lettered when it refuses: `to` is the URL and `text`
the JSON body. The signature is HMAC-SHA256 over "<timestamp>." + body with the
brand's signing secret, in `X-Doorstep-Signature: v1=<hex>` with
`X-Doorstep-Timestamp`, exactly as we verify incoming events.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from integrations.base import (
    ChannelSendError,
    InboundSink,
    OutboundMessage,
    RetryAfter,
    SendResult,
    StatusSink,
    parse_retry_after,
)
from integrations.egress import EgressGuard, EgressRefused, GuardedResolver

SecretLookup = Callable[[str], Awaitable[str | None]]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return (
        "v1="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


class WebhookChannel:
    def __init__(
        self, secret_for: SecretLookup, guard: EgressGuard | None = None, timeout_s: float = 10.0
    ) -> None:
        self._secret_for = secret_for
        self._guard = guard or EgressGuard()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return "webhook"

    async def start(self) -> None:
        # The connector resolves through the guard: it connects only to checked addresses.
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._guard))
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        return []

    async def send(self, message: OutboundMessage) -> SendResult:
        assert self._session is not None, "start() first"
        try:
            self._guard.check_url(message.to)
        except EgressRefused as exc:
            raise ChannelSendError(f"webhook refused: {exc}", retryable=False) from None
        secret = await self._secret_for(message.brand_id)
        if secret is None:
            raise ChannelSendError("brand has no signing secret for webhooks", retryable=False)
        body = message.text.encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Doorstep-Timestamp": ts,
            "X-Doorstep-Signature": signature(secret, ts, body),
            "X-Doorstep-Delivery": message.message_id,
        }
        try:
            async with self._session.post(
                message.to, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if resp.status == 429:
                    raise RetryAfter(parse_retry_after(resp.headers.get("Retry-After")))
                if resp.status >= 500:
                    raise ChannelSendError(
                        f"receiver answered {resp.status}", retryable=True, code=str(resp.status)
                    )
                if resp.status >= 400:
                    raise ChannelSendError(
                        f"receiver refused: {resp.status}", retryable=False, code=str(resp.status)
                    )
                if resp.status >= 300:  # a redirect could point anywhere: not followed
                    raise ChannelSendError(
                        f"receiver redirected ({resp.status}): not followed",
                        retryable=False,
                        code=str(resp.status),
                    )
        except EgressRefused as exc:  # from the resolver: the name has a refused address
            raise ChannelSendError(f"webhook refused: {exc}", retryable=False) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChannelSendError(f"receiver unreachable: {exc!r}", retryable=True) from exc
        return SendResult(provider_id=message.message_id, status="delivered")
