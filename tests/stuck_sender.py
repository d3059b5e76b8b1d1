"""A sender process that takes a message and hangs inside the provider call (to be killed)."""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.metrics import Metrics
from bot.messaging.outbox import Outbox
from integrations.base import ChannelRegistry
from tests.scripted_channel import ScriptedChannel


async def main(url: str) -> None:
    redis = Redis.from_url(url, decode_responses=True)
    keys = Keys()
    registry = ChannelRegistry()
    registry.register(ScriptedChannel(block=asyncio.Event()))  # never set: hangs forever
    outbox = Outbox(redis, keys, registry, Clock(redis, keys.clock_offset()), Metrics())
    print("ready", flush=True)
    await outbox.run_sender("doomed-worker", asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
