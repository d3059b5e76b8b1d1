"""A sender process that takes a message and hangs inside the provider call (to be killed)."""

from __future__ import annotations

import asyncio

from bot.base.clock import Clock
from bot.base.metrics import Metrics
from bot.base.redisconn import connect
from bot.config import Settings
from bot.messaging.outbox import Outbox, OutboxPolicy
from integrations.base import ChannelRegistry
from tests.scripted_channel import ScriptedChannel


async def main() -> None:
    settings = Settings.from_env()  # REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER: the test's
    redis = connect(settings.redis)
    keys = settings.keys
    registry = ChannelRegistry()
    registry.register(ScriptedChannel(block=asyncio.Event()))  # never set: hangs forever
    policy = OutboxPolicy(reclaim_idle=settings.outbox_reclaim_idle)
    outbox = Outbox(redis, keys, registry, Clock(redis, keys.clock_offset()), Metrics(), policy)
    print("ready", flush=True)
    stopping = asyncio.Event()
    await asyncio.gather(
        *(
            outbox.sender.run_shard(shard, "doomed-worker", redis, lambda: None, stopping)
            for shard in outbox.shards
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
