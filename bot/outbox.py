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
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from bot.clock import Clock
from bot.keys import Keys
from bot.logs import log
from bot.metrics import Metrics
from bot.store import queue_transcript
from integrations.base import (
    ChannelRegistry,
    ChannelSendError,
    OutboundMessage,
    RetryAfter,
    StatusUpdate,
)
from integrations.sms import gsm_friendly, sms_info

GROUP = "senders"
MessageStatus = Literal[
    "queued", "deferred", "retrying", "sending", "sent", "delivered", "failed", "superseded"
]
FINAL = frozenset({"sent", "delivered", "failed", "superseded"})
# Sent regardless of an opt-out: the confirmation of the opt-out itself, and HELP (CTIA).
OPT_OUT_EXEMPT = frozenset({"optout_confirmed", "help"})
# Later provider callbacks must not move a message backwards ("sent" after "delivered").
_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 4, "failed": 4}

_MOVE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'id', id)
end
return #ids
"""


def _hash(fields: dict[str, Any]) -> Mapping[FieldT, EncodableT]:
    """redis-py types hash mappings narrowly; our records are str -> str/number."""
    return cast("Mapping[FieldT, EncodableT]", fields)


def new_message_id(now: float) -> str:
    """Sortable by creation time, unique without coordination."""
    return f"m{int(now * 1000):011x}{secrets.token_hex(5)}"


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to put in the outbox."""

    brand_id: str
    type: str
    channel: str
    to: str
    text: str
    delivery_id: str | None = None
    media_urls: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    # Messages sharing a key replace each other: only the newest may still be sent.
    supersede_key: str | None = None
    # After this moment the message is pointless (an ETA window already over).
    expires_at: float | None = None
    # When the triggering event entered the service (notify latency metric).
    origin_at: float | None = None


@dataclass(slots=True)
class OutboxPolicy:
    max_attempts: int = 6
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    reclaim_idle: float = 30.0
    batch: int = 64
    block_ms: int = 500

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter; a provider's Retry-After is a floor."""
        ceiling = min(self.backoff_cap, self.backoff_base * float(2 ** max(attempt - 1, 0)))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(delay, retry_after or 0.0)


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

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.outbox(), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

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
            }
            if message.channel == "sms":  # what it will cost: encoding and billed parts
                text = gsm_friendly(message.text)
                info = sms_info(text)
                record["text"] = text
                record |= {"encoding": info.encoding, "segments": info.segments}
            key = self.keys.message(message_id)
            pipe.hset(key, mapping=_hash(record))
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
        return (await self._load([message_id]))[0]

    async def for_delivery(self, brand_id: str, delivery_id: str) -> list[dict[str, Any]]:
        ids = await self.redis.lrange(self.keys.delivery_messages(brand_id, delivery_id), 0, -1)
        return [r for r in await self._load([str(i) for i in ids]) if r is not None]

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

    # --- consuming -----------------------------------------------------------
    async def run_sender(self, consumer: str, stopping: asyncio.Event) -> None:
        """Read and send until `stopping` is set; the batch in hand is always finished."""
        await self.ensure_group()
        while not stopping.is_set():
            try:
                batch = await self.redis.xreadgroup(
                    GROUP,
                    consumer,
                    {self.keys.outbox(): ">"},
                    count=self.policy.batch,
                    block=self.policy.block_ms,
                )
            except (ConnectionError, OSError) as exc:
                log.warning("outbox.read_failed", error=str(exc))
                await asyncio.sleep(1)
                continue
            # RESP2 answers [[stream, entries]], RESP3 {stream: entries}.
            raw: Any = batch or []
            streams = list(raw.items()) if isinstance(raw, dict) else list(raw)
            entries = [(eid, fields) for _stream, items in streams for eid, fields in items]
            if entries:
                await self.process(entries)

    async def reclaim(self, consumer: str) -> int:
        """Take over entries another (dead) worker held longer than `reclaim_idle`."""
        idle_ms = int(self.policy.reclaim_idle * 1000)
        result = await self.redis.xautoclaim(
            self.keys.outbox(),
            GROUP,
            consumer,
            min_idle_time=idle_ms,
            start_id="0-0",
            count=self.policy.batch,
        )
        # [next_start, [(entry_id, fields) ...], deleted_ids]; deleted entries have no fields.
        entries: list[tuple[str, dict[Any, Any]]] = list(result[1])
        claimed = [(eid, fields) for eid, fields in entries if fields]
        if claimed:
            log.info("outbox.reclaimed", count=len(claimed), consumer=consumer)
            await self.process(claimed)
        return len(claimed)

    async def process(self, entries: list[tuple[str, dict[Any, Any]]]) -> None:
        """Send a batch: three Redis round trips for the batch, then one per message sent.

        Different recipients are sent in parallel; one recipient's messages in order.
        """
        pairs = [(str(entry_id), str(fields.get("id", ""))) for entry_id, fields in entries]
        records = await self._load([message_id for _, message_id in pairs])
        verdicts = await self._verdicts(records)
        to_send: list[tuple[str, dict[str, Any]]] = []
        async with self.redis.pipeline(transaction=True) as pipe:
            for (entry_id, _), record, verdict in zip(pairs, records, verdicts, strict=True):
                if verdict == "send":
                    assert record is not None
                    to_send.append((entry_id, record))
                    continue
                self._queue_ack(pipe, entry_id)
                if record is None or verdict == "ack":
                    continue  # unknown, or a replayed entry of a message already handled
                status = "failed" if verdict == "opted out" else "superseded"
                error = "recipient opted out" if verdict == "opted out" else verdict
                pipe.hset(
                    self.keys.message(record["id"]),
                    mapping=_hash(
                        {"status": status, "error": error, "updated_at": self.clock.timestamp()}
                    ),
                )
                label = "opted_out" if verdict == "opted out" else "superseded"
                self.metrics.messages.labels(record["type"], record["channel"], label).inc()
            await pipe.execute()
        if not to_send:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, record in to_send:
                pipe.hincrby(self.keys.message(record["id"]), "attempts", 1)
                pipe.hset(self.keys.message(record["id"]), "status", "sending")
            counts = await pipe.execute()
        by_recipient: dict[str, list[tuple[str, dict[str, Any], int]]] = defaultdict(list)
        for n, (entry_id, record) in enumerate(to_send):
            by_recipient[record["to"]].append((entry_id, record, int(counts[2 * n])))

        async def run(items: list[tuple[str, dict[str, Any], int]]) -> None:
            for entry_id, record, attempt in items:
                await self._send(entry_id, record, attempt)

        await asyncio.gather(*(run(items) for items in by_recipient.values()))

    async def _load(self, message_ids: list[str]) -> list[dict[str, Any] | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.hgetall(self.keys.message(message_id or "-"))
            raws = await pipe.execute()
        records: list[dict[str, Any] | None] = []
        for raw in raws:
            if not raw:
                records.append(None)
                continue
            record: dict[str, Any] = {str(k): v for k, v in raw.items()}
            record["media"] = json.loads(record.get("media") or "[]")
            record["choices"] = json.loads(record.get("choices") or "[]")
            record["attempts"] = int(record.get("attempts") or 0)
            records.append(record)
        return records

    async def _verdicts(self, records: list[dict[str, Any] | None]) -> list[str]:
        """'send', 'ack' (nothing to do), 'opted out', 'outdated' or 'superseded by <id>'."""
        now = self.clock.timestamp()
        checks: list[tuple[int, str]] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for n, record in enumerate(records):
                if record is None:
                    continue
                if record.get("supersede_key"):
                    pipe.get(self.keys.supersede(record["supersede_key"]))
                    checks.append((n, "newest"))
                if record["type"] not in OPT_OUT_EXEMPT:
                    pipe.exists(
                        self.keys.optout(record["brand_id"], record["channel"], record["to"])
                    )
                    checks.append((n, "optout"))
            results = await pipe.execute() if checks else []
        newest: dict[int, Any] = {}
        opted_out: set[int] = set()
        for (n, kind), value in zip(checks, results, strict=True):
            if kind == "newest":
                newest[n] = value
            elif value:
                opted_out.add(n)
        verdicts = []
        for n, record in enumerate(records):
            if record is None or record.get("provider_id") or record["status"] in FINAL:
                verdicts.append("ack")
            elif record.get("expires_at") and float(record["expires_at"]) < now:
                verdicts.append("outdated")
            elif newest.get(n) is not None and str(newest[n]) != record["id"]:
                verdicts.append(f"superseded by {newest[n]!s}")
            elif n in opted_out:
                verdicts.append("opted out")
            else:
                verdicts.append("send")
        return verdicts

    def _queue_ack(self, pipe: Any, entry_id: str) -> None:
        pipe.xack(self.keys.outbox(), GROUP, entry_id)
        pipe.xdel(self.keys.outbox(), entry_id)

    async def _finish(self, entry_id: str, message_id: str, fields: dict[str, Any]) -> None:
        fields["updated_at"] = self.clock.timestamp()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.message(message_id), mapping=_hash(fields))
            self._queue_ack(pipe, entry_id)
            await pipe.execute()

    async def _send(self, entry_id: str, record: dict[str, Any], attempt: int) -> None:
        message_id = record["id"]
        try:
            channel = self.channels.get(record["channel"])
            started = time.perf_counter()
            result = await channel.send(
                OutboundMessage(
                    message_id=message_id,
                    channel=record["channel"],
                    to=record["to"],
                    text=record["text"],
                    media_urls=tuple(record["media"]),
                    choices=tuple(record["choices"]),
                    brand_id=record["brand_id"],
                )
            )
        except KeyError as exc:
            await self._dead(entry_id, record, str(exc), None)
            return
        except ChannelSendError as exc:
            await self._failed_attempt(entry_id, record, attempt, exc)
            return
        except Exception as exc:  # a bug or an unexpected provider reply: retry, then dead-letter
            log.exception("outbox.send_crashed", message_id=message_id)
            await self._failed_attempt(
                entry_id, record, attempt, ChannelSendError(repr(exc), retryable=True)
            )
            return
        now = self.clock.timestamp()
        self.metrics.send_latency.labels(record["channel"]).observe(time.perf_counter() - started)
        self.metrics.notify_latency.observe(max(now - float(record["origin_at"]), 0.0))
        self.metrics.messages.labels(record["type"], record["channel"], result.status).inc()
        fields: dict[str, Any] = {
            "status": result.status,
            "provider_id": result.provider_id,
            "sent_at": now,
            "error": "",
            "updated_at": now,
        }
        if result.segments is not None:
            fields["segments"] = result.segments
        if result.status == "delivered":
            fields["delivered_at"] = now
        # One transaction: the provider id (so a retry is a no-op), the ack, the transcript.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.message(message_id), mapping=_hash(fields))
            pipe.set(
                self.keys.provider_message(record["channel"], result.provider_id),
                message_id,
                ex=self.retention_s,
            )
            self._queue_ack(pipe, entry_id)
            if record.get("delivery_id"):
                self._queue_transcript(pipe, record, now)
            await pipe.execute()
        log.info(
            "outbox.sent",
            message_id=message_id,
            type=record["type"],
            channel=record["channel"],
            to=record["to"],
            attempt=attempt,
        )

    def _queue_transcript(self, pipe: Any, record: dict[str, Any], at: float) -> None:
        """What the customer actually received, for the conversation view."""
        entry = json.dumps(
            {
                "dir": "out",
                "type": record["type"],
                "text": record["text"],
                "media": record["media"],
                "at": at,
                "message_id": record["id"],
            }
        )
        queue_transcript(
            pipe, self.keys, record["brand_id"], record["delivery_id"], entry, self.retention_s
        )

    async def _failed_attempt(
        self, entry_id: str, record: dict[str, Any], attempt: int, exc: ChannelSendError
    ) -> None:
        if not exc.retryable or attempt >= self.policy.max_attempts:
            reason = str(exc) if not exc.retryable else f"gave up after {attempt} attempts: {exc}"
            await self._dead(entry_id, record, reason, exc.code)
            return
        retry_after = exc.seconds if isinstance(exc, RetryAfter) else None
        delay = self.policy.backoff(attempt, retry_after)
        due = self.clock.timestamp() + delay
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.message(record["id"]),
                mapping=_hash(
                    {
                        "status": "retrying",
                        "error": str(exc),
                        "error_code": exc.code or "",
                        "due_at": due,
                        "updated_at": self.clock.timestamp(),
                    }
                ),
            )
            pipe.zadd(self.keys.due(), {record["id"]: due})
            self._queue_ack(pipe, entry_id)
            await pipe.execute()
        self.metrics.messages.labels(record["type"], record["channel"], "retrying").inc()
        log.warning(
            "outbox.retry",
            message_id=record["id"],
            attempt=attempt,
            delay_s=round(delay, 2),
            error=str(exc),
        )

    async def _dead(
        self, entry_id: str, record: dict[str, Any], reason: str, code: str | None
    ) -> None:
        await self.redis.xadd(
            self.keys.dead_letters(),
            {
                "id": record["id"],
                "error": reason,
                "code": code or "",
                "at": self.clock.timestamp(),
            },
            maxlen=100_000,
            approximate=True,
        )
        await self._finish(
            entry_id, record["id"], {"status": "failed", "error": reason, "error_code": code or ""}
        )
        self.metrics.messages.labels(record["type"], record["channel"], "failed").inc()
        log.error("outbox.dead_letter", message_id=record["id"], error=reason)

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
        if current is not None and _RANK.get(update.status, 0) <= _RANK.get(str(current), 0):
            return True
        status = "failed" if update.status == "undelivered" else update.status
        fields: dict[str, Any] = {"status": status, "updated_at": self.clock.timestamp()}
        if update.error_code:
            fields["error_code"] = update.error_code
        if status == "delivered":
            fields["delivered_at"] = self.clock.timestamp()
        await self.redis.hset(key, mapping=_hash(fields))
        return True
