"""Which channels run: one registration line per channel, chosen by configuration."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.config import Settings
from bot.keys import Keys
from integrations.base import ChannelRegistry
from integrations.sandbox import SandboxChannel


def build_channels(settings: Settings, redis: Redis, keys: Keys) -> ChannelRegistry:
    registry = ChannelRegistry()
    if settings.sandbox:
        registry.register(SandboxChannel(redis, keys.sandbox()))
    return registry
