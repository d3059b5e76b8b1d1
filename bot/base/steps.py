"""Writes that cross hash slots, applied in order instead of in one transaction.

On Redis Cluster one MULTI may touch one hash slot only, and an event touches many:
its deliveries (one slot each), its route, and messages in several outbox shards.
So an event's writes are applied as ordered steps, each a pipeline of idempotent
commands: first the messages (each submitted by a script that ignores an id it has
seen, and ids derived from the event), then the state (deliveries, routes: plain
SETs), then the event's "done" mark. Under Sentinel each step ends with WAIT for the
replica (`redisconn.Acks`), so a step a dying master never passed on is done again.
A crash between steps leaves the event not done; the dispatch system's retry
computes the same messages with the same ids (submitted once) and finishes the state.
Nothing accepted is lost, nothing is sent twice because of the split (README "Design").

On a standalone Redis there are no slots to respect and no replica to wait for:
`messages` and `state` are then one MULTI/EXEC with the "done" mark and the tracking
pages' notice at its end, so an event's writes are one round trip and all-or-nothing.
(Under Sentinel the steps stay apart: WAIT must follow the writes on their connection,
and it cannot wait inside a MULTI.)
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster

from bot.base.keys import Keys
from bot.base.live import execute
from bot.base.redisconn import Acks


class Steps:
    """Two ordered steps, `messages` then `state` (one transaction on a single node),
    then the optional `finish` mark."""

    def __init__(self, redis: Redis, keys: Keys, acks: Acks | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.acks = acks or Acks()
        self.split = isinstance(redis, RedisCluster) or self.acks.replicas > 0
        self.messages: Pipeline = redis.pipeline(transaction=not self.split)
        self.state: Pipeline = redis.pipeline(transaction=False) if self.split else self.messages
        self._finish: tuple[str, str, int] | None = None

    def finish(self, key: str, value: str, ex: int) -> None:
        """SET `key` once every other write is applied (the event's "done" mark)."""
        self._finish = (key, value, ex)

    async def run(self) -> None:
        try:
            if not self.split:
                if self._finish is not None:
                    key, value, ex = self._finish
                    self.messages.set(key, value, ex=ex)
                if len(self.messages):
                    await execute(self.messages, self.redis, self.keys)
                return
            for step in (self.messages, self.state):
                if len(step):
                    if self.acks.replicas:  # on the replica before the next step
                        step.execute_command("WAIT", self.acks.replicas, self.acks.timeout_ms)
                    await execute(step, self.redis, self.keys)  # tells tracking pages after
            if self._finish is not None:
                key, value, ex = self._finish
                await self.redis.set(key, value, ex=ex)
        finally:
            await self.messages.reset()  # type: ignore[no-untyped-call]
            await self.state.reset()  # type: ignore[no-untyped-call]
