"""Recording sends in groups: many provider answers written in one transaction.

A send's record (its provider id, so a retry is a no-op, and the stream entry's ack)
must be written once the provider has accepted it, and before long: a crash before
it is written sends the message again. Writing each alone costs a round trip per
message; so the sends of a shard are recorded by group commit: a send that finishes
while a write is in flight waits for the next one, which takes everything finished
meanwhile. An idle sender writes at once (no added delay); a busy one writes one
transaction for many messages. The message hashes and the stream are in the shard's
slot, so the group is one MULTI/EXEC on every topology; the provider-id index and the
transcripts (other slots) follow in one pipeline (on one node, in the transaction).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from bot.base.keys import Keys
from bot.base.live import execute
from bot.base.redisconn import TRANSIENT
from bot.base.store import queue_transcript
from bot.messaging.messages import GROUP, hash_fields

# How long a sender keeps trying to record a send the provider took (a Sentinel or
# Cluster failover takes 2-10 s) before it lets the message be sent again: a master
# killed mid-burst made every send in hand a duplicate (`tests/test_failover.py`) when
# this gave up after the client's few quick retries. The new master has the entries
# pending (replicated), so the acks land there.
RECORD_PATIENCE_S = 20.0


@dataclass(frozen=True, slots=True)
class Sent:
    """A message the provider accepted: what to write about it."""

    entry_id: str
    record: dict[str, Any]
    fields: dict[str, Any]
    provider_id: str
    at: float


@dataclass
class Recorder:
    """Group commit of one shard's sends (`record` returns once the send is written)."""

    redis: Redis
    keys: Keys
    shard: int
    retention_s: int
    _pending: list[tuple[Sent, asyncio.Future[None]]] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None

    async def record(self, sent: Sent) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((sent, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await asyncio.shield(done)

    async def _write_all(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                await self._write_patiently([s for s, _ in group])
            except BaseException as exc:  # each waiting send fails as its own write would
                failure = exc if isinstance(exc, Exception) else ConnectionError("cancelled")
                for _, done in group:
                    if not done.done():
                        done.set_exception(failure)
                if not isinstance(exc, Exception):
                    raise
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _write_patiently(self, group: list[Sent]) -> None:
        """The group's transaction, tried again through a failover; what follows it in
        other slots (cluster), once: a retry after a lost answer would append the
        transcript twice."""
        deadline = time.monotonic() + RECORD_PATIENCE_S
        pause = 0.2
        while True:
            try:
                one_node = await self._commit(group)
                break
            except TRANSIENT:
                if time.monotonic() + pause > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        if not one_node:  # other slots: if the process dies before this, the messages stay sent
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_after(pipe, group)
                await execute(pipe, self.redis, self.keys)

    async def _commit(self, group: list[Sent]) -> bool:
        """The shard's slot: every provider id and the acks, all or nothing (on one node
        with the index and transcripts). Returns whether it was one node."""
        one_node = not isinstance(self.redis, RedisCluster)
        stream = self.keys.outbox(self.shard)
        entry_ids = [s.entry_id for s in group]
        async with self.redis.pipeline(transaction=True) as tx:
            for s in group:
                tx.hset(self.keys.message(s.record["id"]), mapping=hash_fields(s.fields))
                tx.delete(self.keys.message_sending(s.record["id"]))  # its send has ended
            tx.xack(stream, GROUP, *entry_ids)
            tx.xdel(stream, *entry_ids)
            if one_node:
                self._queue_after(tx, group)
                await execute(tx, self.redis, self.keys)  # and the tracking pages are told
            else:
                await tx.execute()
        return one_node

    def _queue_after(self, pipe: Any, group: list[Sent]) -> None:
        """The provider-id index (status callbacks) and what the customer received."""
        for s in group:
            record = s.record
            pipe.set(
                self.keys.provider_message(record["channel"], s.provider_id),
                record["id"],
                ex=self.retention_s,
            )
            if not record.get("delivery_id"):
                continue
            entry = json.dumps(
                {
                    "dir": "out",
                    "type": record["type"],
                    "text": record["text"],
                    "media": record["media"],
                    "at": s.at,
                    "message_id": record["id"],
                }
            )
            queue_transcript(
                pipe, self.keys, record["brand_id"], record["delivery_id"], entry,
                self.retention_s,
            )  # fmt: skip
