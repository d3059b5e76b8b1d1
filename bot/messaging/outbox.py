"""The durable outbox: every outbound message goes through a Redis Stream.

Why a stream with a consumer group: a message accepted into the outbox survives a
crash of the process that created it or of the worker sending it (its entry stays
pending and is reclaimed by another worker after `reclaim_idle` seconds), several
replicas share the work without sending a message twice while they are alive, and
the provider id recorded on success makes a retry of an already-accepted message
a no-op. Deferred messages (quiet hours) and retries wait in a sorted set by due
time and are moved into the stream by a Lua script, atomically across replicas.

The outbox is `shards` streams, each with its own group, due set and dead letters,
all in one hash slot per shard (`keys`); a message goes to its recipient's shard, so
one customer's messages stay in order while sending spreads over a cluster's masters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

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
    answer_seed,
    derived_message_id,
    hash_fields,
    new_message_id,
)
from bot.messaging.records import load_records
from bot.messaging.sender import Sender
from integrations.base import (
    ChannelRegistry,
    StatusUpdate,
)
from integrations.sms import gsm_friendly, sms_info

# Queue every deferred or retrying message whose time has come, in one shard.
_MOVE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
"""
# Submit one message once: a message whose id exists is left alone, so submitting the
# same (derived) id again after a crash changes nothing. KEYS: the message hash, the
# shard's stream or due set, optionally its supersession mark; ARGV: ttl, 'now'|'due',
# due time, id, then the hash's fields and values.
SUBMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if ARGV[2] == 'due' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
else
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[4])
end
if #KEYS > 2 then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[1]) end
return 1
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
    # The latest depth and lag (refreshed by the gauge loop), for backpressure.
    last_depth: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sender = Sender(
            self.redis, self.keys, self.channels, self.clock, self.metrics, self.policy,
            self.retention_s,
        )  # fmt: skip

    @property
    def shards(self) -> range:
        return range(self.keys.shards)

    async def ensure_group(self) -> None:
        for shard in self.shards:
            await self.sender.ensure_group(shard)

    # --- producing -----------------------------------------------------------
    async def submit(self, message: NewMessage, due_at: float | None = None) -> str:
        ids = await self.submit_many([(message, due_at)])
        return ids[0]

    async def submit_many(self, items: Iterable[tuple[NewMessage, float | None]]) -> list[str]:
        """Store messages and queue them (now) or defer them (due later): one atomic,
        idempotent script per message, in the recipient's shard."""
        async with self.redis.pipeline(transaction=False) as pipe:
            ids = self.queue_submit(pipe, items)
            await pipe.execute()
        return ids

    def queue_submit(
        self, pipe: Pipeline, items: Iterable[tuple[NewMessage, float | None]]
    ) -> list[str]:
        """Add the messages' writes to the caller's (non-transactional) pipeline.

        Each message is one script in its own shard's slot (see SUBMIT), then its id is
        appended to the delivery's message list (the conversation's slot; a repeat is
        dropped when the list is read)."""
        now = self.clock.timestamp()
        ids: list[str] = []
        for message, due_at in items:
            shard = self.keys.shard_of(message.channel, message.to)
            seed = message.idempotency_seed or answer_seed()
            message_id = derived_message_id(seed, shard) if seed else new_message_id(now, shard)
            ids.append(message_id)
            deferred = due_at is not None and due_at > now
            record = self._record(message, message_id, now, due_at if deferred else None)
            keys = [
                self.keys.message(message_id),
                self.keys.due(shard) if deferred else self.keys.outbox(shard),
            ]
            if message.supersede_key:
                keys.append(self.keys.supersede(shard, message.supersede_key))
            args: list[Any] = [self.retention_s, "due" if deferred else "now", due_at or 0]
            args.append(message_id)
            for name, value in record.items():
                args += [name, value]
            pipe.eval(SUBMIT, len(keys), *keys, *args)
            if message.delivery_id:
                lkey = self.keys.delivery_messages(message.brand_id, message.delivery_id)
                pipe.rpush(lkey, message_id)
                pipe.expire(lkey, self.retention_s)
        return ids

    @staticmethod
    def _record(
        message: NewMessage, message_id: str, now: float, due_at: float | None
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": message_id,
            "brand_id": message.brand_id,
            "delivery_id": message.delivery_id or "",
            "type": message.type,
            "channel": message.channel,
            "to": message.to,
            "text": message.text,
            "media": json.dumps(list(message.media_urls)),
            "choices": json.dumps(list(message.choices)),
            "status": "deferred" if due_at is not None else "queued",
            "attempts": 0,
            "created_at": now,
            "due_at": due_at if due_at is not None else now,
            "supersede_key": message.supersede_key or "",
            "expires_at": message.expires_at or "",
            "origin_at": message.origin_at or now,
            "template_id": message.template_id or "",
            "template_variables": json.dumps(dict(message.template_variables)),
            "sender": message.sender or "",
            "link": json.dumps(list(message.link)) if message.link else "",
        }
        if message.channel == "sms":  # what it will cost: encoding and billed parts
            text = gsm_friendly(message.text)
            info = sms_info(text)
            record["text"] = text
            record |= {"encoding": info.encoding, "segments": info.segments}
        return record

    # --- reading -------------------------------------------------------------
    async def get(self, message_id: str) -> dict[str, Any] | None:
        return (await load_records(self.redis, self.keys, [message_id]))[0]

    async def for_delivery(self, brand_id: str, delivery_id: str) -> list[dict[str, Any]]:
        ids = await self.redis.lrange(self.keys.delivery_messages(brand_id, delivery_id), 0, -1)
        unique = list(dict.fromkeys(str(i) for i in ids))  # a re-applied event adds a repeat
        return [r for r in await load_records(self.redis, self.keys, unique) if r is not None]

    async def depth(self) -> dict[str, float]:
        """Messages ready, being sent, due later and dead, and the lag: the age in
        seconds of the oldest message not yet sent (all shards)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.shards:
                pipe.xlen(self.keys.outbox(shard))
                pipe.xpending(self.keys.outbox(shard), GROUP)
                pipe.zcard(self.keys.due(shard))
                pipe.xlen(self.keys.dead_letters(shard))
                pipe.xrange(self.keys.outbox(shard), count=1)
            raw = await pipe.execute(raise_on_error=False)
        totals = {"ready": 0.0, "pending": 0.0, "due": 0.0, "dead": 0.0, "lag_s": 0.0}
        now_ms = time.time() * 1000
        for n in range(0, len(raw), 5):
            length, pending, due, dead, first = raw[n : n + 5]
            waiting = 0 if isinstance(pending, Exception) else int(pending["pending"])
            length = 0 if isinstance(length, Exception) else int(length)
            totals["ready"] += max(length - waiting, 0)
            totals["pending"] += waiting
            totals["due"] += 0 if isinstance(due, Exception) else int(due)
            totals["dead"] += 0 if isinstance(dead, Exception) else int(dead)
            if first and not isinstance(first, Exception):
                entry_ms = int(str(first[0][0]).split("-")[0])
                totals["lag_s"] = max(totals["lag_s"], (now_ms - entry_ms) / 1000)
        self.last_depth = totals
        return totals

    def overloaded(self, max_depth: int, max_lag_s: float) -> bool:
        """Too much waiting to take more (as last measured by the gauge loop)."""
        depth = self.last_depth
        waiting = depth.get("ready", 0) + depth.get("pending", 0)
        return waiting > max_depth or depth.get("lag_s", 0) > max_lag_s

    # --- scheduling ----------------------------------------------------------
    async def move_due(self, limit: int = 500) -> int:
        """Queue every deferred or retrying message whose time has come (every shard,
        one round trip; the script is atomic per shard, so replicas never double-queue)."""
        now = self.clock.timestamp()
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.shards:
                pipe.eval(_MOVE_DUE, 2, self.keys.due(shard), self.keys.outbox(shard), now, limit)
            moved = await pipe.execute()
        return sum(int(m) for m in moved)

    async def reclaim(self, consumer: str) -> int:
        """Take over, in every shard, entries a dead worker held past `reclaim_idle`."""
        return sum([await self.sender.reclaim(shard, consumer) for shard in self.shards])

    # --- provider callbacks --------------------------------------------------
    async def on_status(self, update: StatusUpdate) -> bool:
        """Record a provider's delivery report; unknown ids and regressions are ignored.

        A report that names our own message id (Twilio's status callback carries it)
        also records the provider's id on the message: a send whose answer was lost (a
        timeout, a crash after the provider accepted) is then not sent again."""
        message_id = update.message_id or await self.redis.get(
            self.keys.provider_message(update.channel, update.provider_id)
        )
        if not message_id:
            return False
        key = self.keys.message(str(message_id))
        current, provider_id = await self.redis.hmget(key, ["status", "provider_id"])
        if current is None:
            return False
        fields: dict[str, Any] = {"updated_at": self.clock.timestamp()}
        if not provider_id:
            fields["provider_id"] = update.provider_id
        if RANK.get(update.status, 0) > RANK.get(str(current), 0):
            status = "failed" if update.status == "undelivered" else update.status
            fields["status"] = status
            if update.error_code:
                fields["error_code"] = update.error_code
            if status == "delivered":
                fields["delivered_at"] = self.clock.timestamp()
        if len(fields) == 1:
            return True
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
