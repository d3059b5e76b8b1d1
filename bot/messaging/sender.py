"""Sending what is in the outbox: read a shard's stream, send each message once, retry or give up.

Per batch: one pipeline loads the messages, one checks supersession and opt-outs,
one marks them `sending`; the sends then record their provider ids and acknowledge
their stream entries in one transaction per group of sends finished together (in the
shard's slot, `Recorder`), so a message the provider accepted is never sent again;
the transcript and the provider-id index follow. While
a batch is in hand its entries' idle time is kept fresh, so a slow provider (seconds
per answer, one recipient's messages in order) never makes the reclaimer hand them
to a second worker. Failures wait in the shard's due set with backoff (honouring
Retry-After) until `max_attempts`, then go to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.messaging.claims import TAKE, keep_claimed, lock_ms_for
from bot.messaging.messages import GROUP, OutboxPolicy, hash_fields
from bot.messaging.recorder import Recorder, Sent
from bot.messaging.records import load_records, verdicts_for
from integrations.base import ChannelRegistry, ChannelSendError, OutboundMessage, RetryAfter

CREATE_GROUP = "return redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')"
DELETE_CONSUMER = "return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])"


@dataclass
class Sender:
    redis: Redis
    keys: Keys
    channels: ChannelRegistry
    clock: Clock
    metrics: Metrics
    policy: OutboxPolicy = field(default_factory=OutboxPolicy)
    retention_s: int = 30 * 86400
    _recorders: dict[int, Recorder] = field(default_factory=dict)

    def _recorder(self, shard: int) -> Recorder:
        recorder = self._recorders.get(shard)
        if recorder is None:
            recorder = Recorder(self.redis, self.keys, shard, self.retention_s)
            self._recorders[shard] = recorder
        return recorder

    def __post_init__(self) -> None:
        self._take = self.redis.register_script(TAKE)

    async def ensure_group(self, shard: int) -> None:
        """Create the shard's consumer group (every sender does, at each start).

        Through a script, not XGROUP CREATE: redis-py's cluster client finds the key of
        XGROUP by asking its default node (COMMAND GETKEYS), outside its failover
        handling, so when that node was the killed master every sender failed to start
        with "connection refused" for minutes (`tests/test_failover.py`). A script's
        keys are given, so it goes to the slot's master like any command."""
        try:
            await self.redis.eval(CREATE_GROUP, 1, self.keys.outbox(shard), GROUP)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run_shard(
        self, shard: int, consumer: str, reader: Redis, tick: Callable[[], None],
        stopping: asyncio.Event,
    ) -> None:  # fmt: skip
        """Read shard `shard` and send until `stopping`; the batch in hand is finished.

        `reader` is a client of its own for the blocking read (its socket waits longer
        than the block). Errors end the call: the supervisor logs them and runs it again,
        which also re-creates the group if Redis came back empty."""
        await self.ensure_group(shard)
        stream = self.keys.outbox(shard)
        while not stopping.is_set():
            tick()
            try:
                batch = await reader.xreadgroup(
                    GROUP, consumer, {stream: ">"}, count=self.policy.batch,
                    block=self.policy.block_ms,
                )  # fmt: skip
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self.ensure_group(shard)  # Redis restarted without the stream
                continue
            # RESP2 answers [[stream, entries]], RESP3 {stream: entries}.
            raw: Any = batch or []
            streams = list(raw.items()) if isinstance(raw, dict) else list(raw)
            entries = [(eid, fields) for _stream, items in streams for eid, fields in items]
            if entries:
                await self.process(shard, consumer, entries)

    async def reclaim(self, shard: int, consumer: str) -> int:
        """Take over entries another (dead) worker held longer than `reclaim_idle`."""
        idle_ms = int(self.policy.reclaim_idle * 1000)
        result = await self.redis.xautoclaim(
            self.keys.outbox(shard),
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
            log.info("outbox.reclaimed", count=len(claimed), consumer=consumer, shard=shard)
            await self.process(shard, consumer, claimed)
        return len(claimed)

    async def forget_consumer(self, shard: int, consumer: str) -> None:
        """Remove a stopping process's consumer from the group, unless it still holds
        entries (those are left for the reclaimer)."""
        stream = self.keys.outbox(shard)
        pending = await self.redis.xpending_range(
            stream, GROUP, min="-", max="+", count=1, consumername=consumer
        )
        if not pending:  # a script, for the reason given in `ensure_group`
            await self.redis.eval(DELETE_CONSUMER, 1, stream, GROUP, consumer)

    async def process(
        self, shard: int, consumer: str, entries: list[tuple[str, dict[Any, Any]]]
    ) -> None:
        """Send a batch: three Redis round trips for the batch, then one per group of sends.

        Different recipients are sent in parallel; one recipient's messages in order.
        The batch's entries are kept claimed from the moment it is read until every send
        in it has ended, even when one of them fails: a send left running unclaimed
        would be reclaimed and sent a second time."""
        done: set[str] = set()
        keeper = asyncio.create_task(
            keep_claimed(
                self.redis,
                self.keys,
                shard,
                consumer,
                {str(e): str(f.get("id", "")) for e, f in entries},
                done,
                self.policy,
            )
        )
        try:
            await self._process(shard, entries, done)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper

    async def _process(
        self, shard: int, entries: list[tuple[str, dict[Any, Any]]], done: set[str]
    ) -> None:
        pairs = [(str(entry_id), str(fields.get("id", ""))) for entry_id, fields in entries]
        records = await load_records(self.redis, self.keys, [m for _, m in pairs])
        verdicts = await verdicts_for(self.redis, self.keys, self.clock.timestamp(), shard, records)
        to_send: list[tuple[str, dict[str, Any]]] = []
        in_batch: set[str] = set()
        async with self.redis.pipeline(transaction=True) as pipe:
            for (entry_id, message_id), record, verdict in zip(
                pairs, records, verdicts, strict=True
            ):
                if verdict == "send" and message_id in in_batch:
                    verdict = "ack"  # the same message twice in one batch: sent once
                if verdict == "send":
                    assert record is not None
                    in_batch.add(message_id)
                    to_send.append((entry_id, record))
                    continue
                self._queue_ack(pipe, shard, entry_id)
                done.add(entry_id)
                if record is None or verdict == "ack":
                    continue  # unknown, or a replayed entry of a message already handled
                status = "failed" if verdict == "opted out" else "superseded"
                error = "recipient opted out" if verdict == "opted out" else verdict
                pipe.hset(
                    self.keys.message(record["id"]),
                    mapping=hash_fields(
                        {"status": status, "error": error, "updated_at": self.clock.timestamp()}
                    ),
                )
                label = "opted_out" if verdict == "opted out" else "superseded"
                self.metrics.messages.labels(record["type"], record["channel"], label).inc()
            if len(pipe):
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
                await self._send(shard, entry_id, record, attempt)
                done.add(entry_id)

        # Every recipient's sends end before an error of one of them goes up.
        results = await asyncio.gather(
            *(run(items) for items in by_recipient.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _template(self, record: dict[str, Any]) -> str | None:
        """The approved template to send instead of the text: only when the message has
        one and the customer has not written on this channel within the last day
        (decided now, not when queued: quiet hours may have held it past the window)."""
        if not record.get("template_id"):
            return None
        wrote = self.keys.customer_wrote(record["brand_id"], record["channel"], record["to"])
        return None if await self.redis.exists(wrote) else str(record["template_id"])

    def _queue_ack(self, pipe: Any, shard: int, entry_id: str) -> None:
        pipe.xack(self.keys.outbox(shard), GROUP, entry_id)
        pipe.xdel(self.keys.outbox(shard), entry_id)

    async def _send(self, shard: int, entry_id: str, record: dict[str, Any], attempt: int) -> None:
        message_id = record["id"]
        # Why a lock as well as the claimed entry: after a Redis restart or a stall, a
        # live worker's entry can look idle and be reclaimed while it is being sent.
        keys = [self.keys.message(message_id), self.keys.message_sending(message_id)]
        lock_ms = lock_ms_for(self.policy)
        taken = int(await self._take(keys=keys, args=[secrets.token_hex(8), lock_ms]))
        if taken == 0:  # sent meanwhile (by another worker, or a status report)
            async with self.redis.pipeline(transaction=True) as pipe:
                self._queue_ack(pipe, shard, entry_id)
                await pipe.execute()
            return
        if taken < 0:  # another worker is sending it: its entry is acknowledged by it
            log.info("outbox.sending_elsewhere", message_id=message_id)
            return
        try:
            channel = self.channels.get(record["channel"])
            template = await self._template(record)
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
                    sender=record.get("sender") or None,
                    template_id=template,
                    template_variables=tuple(record["template_variables"].items())
                    if template
                    else (),
                    link=tuple(record["link"]) if record["link"] else None,
                )
            )
        except KeyError as exc:
            await self._dead(shard, entry_id, record, str(exc), None)
            return
        except ChannelSendError as exc:
            await self._failed_attempt(shard, entry_id, record, attempt, exc)
            return
        except Exception as exc:  # a bug or an unexpected provider reply: retry, then dead-letter
            log.exception("outbox.send_crashed", message_id=message_id)
            await self._failed_attempt(
                shard, entry_id, record, attempt, ChannelSendError(repr(exc), retryable=True)
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
            "sent_as": "template" if template else "text",
            "error": "",
            "updated_at": now,
        }
        if result.segments is not None:
            fields["segments"] = result.segments
        if result.status == "delivered":
            fields["delivered_at"] = now
        # The provider id (so a retry is a no-op) and the ack, in the shard's slot, then
        # the provider-id index and the transcript: written with the shard's other sends
        # finished meanwhile (group commit, `Recorder`).
        await self._recorder(shard).record(Sent(entry_id, record, fields, result.provider_id, now))
        log.info(
            "outbox.sent",
            message_id=message_id,
            type=record["type"],
            channel=record["channel"],
            to=record["to"],
            attempt=attempt,
        )

    async def _failed_attempt(
        self, shard: int, entry_id: str, record: dict[str, Any], attempt: int,
        exc: ChannelSendError,
    ) -> None:  # fmt: skip
        if not exc.retryable or attempt >= self.policy.max_attempts:
            reason = str(exc) if not exc.retryable else f"gave up after {attempt} attempts: {exc}"
            await self._dead(shard, entry_id, record, reason, exc.code)
            return
        retry_after = exc.seconds if isinstance(exc, RetryAfter) else None
        if exc.maybe_sent:  # the outcome is unknown: let the status report reconcile first
            retry_after = max(retry_after or 0.0, self.policy.unknown_wait)
        delay = self.policy.backoff(attempt, retry_after)
        due = self.clock.timestamp() + delay
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.message(record["id"]),
                mapping=hash_fields(
                    {
                        "status": "retrying",
                        "error": str(exc),
                        "error_code": exc.code or "",
                        "due_at": due,
                        "updated_at": self.clock.timestamp(),
                    }
                ),
            )
            pipe.zadd(self.keys.due(shard), {record["id"]: due})
            self._queue_ack(pipe, shard, entry_id)
            pipe.delete(self.keys.message_sending(record["id"]))
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
        self, shard: int, entry_id: str, record: dict[str, Any], reason: str, code: str | None
    ) -> None:
        now = self.clock.timestamp()
        fields = {"status": "failed", "error": reason, "error_code": code or "", "updated_at": now}
        # One transaction: the dead letter, the message's final state and the ack.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.keys.dead_letters(shard),
                {"id": record["id"], "error": reason, "code": code or "", "at": now},
                maxlen=100_000,
                approximate=True,
            )
            pipe.hset(self.keys.message(record["id"]), mapping=hash_fields(fields))
            self._queue_ack(pipe, shard, entry_id)
            pipe.delete(self.keys.message_sending(record["id"]))
            await pipe.execute()
        self.metrics.messages.labels(record["type"], record["channel"], "failed").inc()
        log.error("outbox.dead_letter", message_id=record["id"], error=reason)
