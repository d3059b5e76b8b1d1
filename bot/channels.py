"""Which channels run: one registration line per channel, chosen by configuration."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.brands import BrandStore
from bot.config import Settings
from bot.keys import Keys
from integrations.base import ChannelRegistry
from integrations.sandbox import SandboxChannel
from integrations.webhook import WebhookChannel


def build_channels(settings: Settings, redis: Redis, keys: Keys) -> ChannelRegistry:
    registry = ChannelRegistry()
    brands = BrandStore(redis, keys)
    registry.register(WebhookChannel(brands.signing_secret))
    if settings.sandbox:
        registry.register(SandboxChannel(redis, keys.sandbox()))
    return registry
