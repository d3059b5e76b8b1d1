"""The durable outbox: every outbound message goes through a Redis Stream.

Why a stream with a consumer group: a message accepted into the outbox survives a
crash of the process that created it or of the worker sending it (its entry stays
pending and is reclaimed by another worker after `reclaim_idle` seconds), several
replicas share the work without sending a message twice while they are alive, and
the provider id recorded on success makes a retry of an already-accepted message
a no-op. Deferred messages (quiet hours) and retries wait in one sorted set by due
time and are moved into the stream by a Lua script, atomically across replicas.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.metrics import Metrics
from bot.messaging.messages import (
    FINAL,
    GROUP,
    OPT_OUT_EXEMPT,
    RANK,
    MessageStatus,
    NewMessage,
    OutboxPolicy,
    hash_fields,
    new_message_id,
)
from bot.messaging.sender import Sender
from integrations.base import (
    ChannelRegistry,
    StatusUpdate,
)
from integrations.sms import gsm_friendly, sms_info

_MOVE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
"""


@dataclass
class Outbox:
    redis: Redis
    keys: Keys
    channels: ChannelRegistry
    clock: Clock
    metrics: Metrics
    policy: OutboxPolicy = field(default_factory=OutboxPolicy)
    retention_s: int = 30 * 86400
    _move_due: Any = None

    def __post_init__(self) -> None:
        self._move_due = self.redis.register_script(_MOVE_DUE)
        self.sender = Sender(
            self.redis, self.keys, self.channels, self.clock, self.metrics, self.policy,
            self.retention_s,
        )  # fmt: skip

    async def ensure_group(self) -> None:
        await self.sender.ensure_group()

    # --- consuming (bot/messaging/sender.py) -------------------------------------
    async def run_sender(self, consumer: str, stopping: asyncio.Event) -> None:
        """Read and send until `stopping` is set; the batch in hand is always finished."""
        await self.sender.run_sender(consumer, stopping)

    async def reclaim(self, consumer: str) -> int:
        """Take over entries another (dead) worker held longer than `reclaim_idle`."""
        return await self.sender.reclaim(consumer)

    # --- producing -----------------------------------------------------------
    async def submit(self, message: NewMessage, due_at: float | None = None) -> str:
        ids = await self.submit_many([(message, due_at)])
        return ids[0]

    async def submit_many(self, items: Iterable[tuple[NewMessage, float | None]]) -> list[str]:
        """Store messages and queue them (now) or defer them (due later), in one transaction."""
        async with self.redis.pipeline(transaction=True) as tx:
            ids = self.queue_submit(tx, items)
            await tx.execute()
        return ids

    def queue_submit(
        self, pipe: Pipeline, items: Iterable[tuple[NewMessage, float | None]]
    ) -> list[str]:
        """Add the messages' writes to a transaction the caller executes; return their ids."""
        now = self.clock.timestamp()
        ids: list[str] = []
        for message, due_at in items:
            message_id = new_message_id(now)
            ids.append(message_id)
            deferred = due_at is not None and due_at > now
            record = {
                "id": message_id,
                "brand_id": message.brand_id,
                "delivery_id": message.delivery_id or "",
                "type": message.type,
                "channel": message.channel,
                "to": message.to,
                "text": message.text,
                "media": json.dumps(list(message.media_urls)),
                "choices": json.dumps(list(message.choices)),
                "status": "deferred" if deferred else "queued",
                "attempts": 0,
                "created_at": now,
                "due_at": due_at if deferred else now,
                "supersede_key": message.supersede_key or "",
                "expires_at": message.expires_at or "",
                "origin_at": message.origin_at or now,
                "template_id": message.template_id or "",
                "template_variables": json.dumps(dict(message.template_variables)),
                "link": json.dumps(list(message.link)) if message.link else "",
            }
            if message.channel == "sms":  # what it will cost: encoding and billed parts
                text = gsm_friendly(message.text)
                info = sms_info(text)
                record["text"] = text
                record |= {"encoding": info.encoding, "segments": info.segments}
            key = self.keys.message(message_id)
            pipe.hset(key, mapping=hash_fields(record))
            pipe.expire(key, self.retention_s)
            if message.supersede_key:
                pipe.set(
                    self.keys.supersede(message.supersede_key), message_id, ex=self.retention_s
                )
            if message.delivery_id:
                lkey = self.keys.delivery_messages(message.brand_id, message.delivery_id)
                pipe.rpush(lkey, message_id)
                pipe.expire(lkey, self.retention_s)
            if deferred:
                assert due_at is not None
                pipe.zadd(self.keys.due(), {message_id: due_at})
            else:
                pipe.xadd(self.keys.outbox(), {"id": message_id})
        return ids

    # --- reading -------------------------------------------------------------
    async def get(self, message_id: str) -> dict[str, Any] | None:
        return (await self.sender.load([message_id]))[0]

    async def for_delivery(self, brand_id: str, delivery_id: str) -> list[dict[str, Any]]:
        ids = await self.redis.lrange(self.keys.delivery_messages(brand_id, delivery_id), 0, -1)
        return [r for r in await self.sender.load([str(i) for i in ids]) if r is not None]

    async def depth(self) -> dict[str, int]:
        ready = await self.redis.xlen(self.keys.outbox())
        try:
            pending = (await self.redis.xpending(self.keys.outbox(), GROUP))["pending"]
        except ResponseError:
            pending = 0
        due = await self.redis.zcard(self.keys.due())
        dead = await self.redis.xlen(self.keys.dead_letters())
        return {"ready": max(ready - pending, 0), "pending": pending, "due": due, "dead": dead}

    # --- scheduling ----------------------------------------------------------
    async def move_due(self, limit: int = 500) -> int:
        """Queue every deferred or retrying message whose time has come."""
        moved = await self._move_due(
            keys=[self.keys.due(), self.keys.outbox()], args=[self.clock.timestamp(), limit]
        )
        return int(moved)

    # --- provider callbacks --------------------------------------------------
    async def on_status(self, update: StatusUpdate) -> bool:
        """Record a provider's delivery report; unknown ids and regressions are ignored."""
        message_id = await self.redis.get(
            self.keys.provider_message(update.channel, update.provider_id)
        )
        if message_id is None:
            return False
        key = self.keys.message(str(message_id))
        current = await self.redis.hget(key, "status")
        if current is not None and RANK.get(update.status, 0) <= RANK.get(str(current), 0):
            return True
        status = "failed" if update.status == "undelivered" else update.status
        fields: dict[str, Any] = {"status": status, "updated_at": self.clock.timestamp()}
        if update.error_code:
            fields["error_code"] = update.error_code
        if status == "delivered":
            fields["delivered_at"] = self.clock.timestamp()
        await self.redis.hset(key, mapping=hash_fields(fields))
        return True


__all__ = [
    "FINAL",
    "GROUP",
    "OPT_OUT_EXEMPT",
    "MessageStatus",
    "NewMessage",
    "Outbox",
    "OutboxPolicy",
    "new_message_id",
]
