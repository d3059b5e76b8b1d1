"""A provider whose answers a test scripts: success, a 5xx, a 429 with Retry-After, a refusal.

It stands at the `Channel` boundary (where a provider's HTTP API sits), so everything
of ours from the outbox inwards runs for real.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis

from bot.base.keys import Keys
from bot.config import Settings
from integrations.base import (
    ChannelRegistry,
    ChannelSendError,
    InboundSink,
    OutboundMessage,
    SendResult,
    StatusSink,
)
from integrations.sandbox import SandboxChannel

Outcome = Exception | None


@dataclass
class ScriptedChannel:
    script: list[Outcome] = field(default_factory=list)
    sent: list[OutboundMessage] = field(default_factory=list)
    attempts: list[OutboundMessage] = field(default_factory=list)
    block: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return "scripted"

    async def send(self, message: OutboundMessage) -> SendResult:
        self.attempts.append(message)
        if self.block is not None:
            await self.block.wait()
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append(message)
        return SendResult(provider_id=f"P{secrets.token_hex(6)}", segments=1)

    def routes(self, inbound: InboundSink, status: StatusSink) -> list[web.RouteDef]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def server_error() -> ChannelSendError:
    return ChannelSendError("provider answered 500", retryable=True, code="500")


def refused() -> ChannelSendError:
    return ChannelSendError("21211: invalid 'To' number", retryable=False, code="21211")


def registry_with(channel: ScriptedChannel):  # type: ignore[no-untyped-def]
    def factory(settings: Settings, redis: Redis, keys: Keys) -> ChannelRegistry:
        registry = ChannelRegistry()
        registry.register(SandboxChannel(redis, keys.sandbox()))
        registry.register(channel)
        return registry

    return factory
