"""Sending what is in the outbox: read the stream, send each message once, retry or give up.

Per batch: one pipeline loads the messages, one checks supersession and opt-outs,
one marks them `sending`; each send then records the provider id, acknowledges the
stream entry and appends the transcript in one transaction, so a message the
provider accepted is never sent again. Failures wait in the due set with backoff
(honouring Retry-After) until `max_attempts`, then go to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import queue_transcript
from bot.messaging.messages import FINAL, GROUP, OPT_OUT_EXEMPT, OutboxPolicy, hash_fields
from integrations.base import ChannelRegistry, ChannelSendError, OutboundMessage, RetryAfter


@dataclass
class Sender:
    redis: Redis
    keys: Keys
    channels: ChannelRegistry
    clock: Clock
    metrics: Metrics
    policy: OutboxPolicy = field(default_factory=OutboxPolicy)
    retention_s: int = 30 * 86400

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.outbox(), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

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
        records = await self.load([message_id for _, message_id in pairs])
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
                    mapping=hash_fields(
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

    async def _template(self, record: dict[str, Any]) -> str | None:
        """The approved template to send instead of the text: only when the message has
        one and the customer has not written on this channel within the last day
        (decided now, not when queued: quiet hours may have held it past the window)."""
        if not record.get("template_id"):
            return None
        wrote = self.keys.customer_wrote(record["brand_id"], record["channel"], record["to"])
        return None if await self.redis.exists(wrote) else str(record["template_id"])

    async def load(self, message_ids: list[str]) -> list[dict[str, Any] | None]:
        """Message records by id (None for an unknown or expired one)."""
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
            record["template_variables"] = json.loads(record.get("template_variables") or "{}")
            record["link"] = json.loads(record.get("link") or "null")
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
            pipe.hset(self.keys.message(message_id), mapping=hash_fields(fields))
            self._queue_ack(pipe, entry_id)
            await pipe.execute()

    async def _send(self, entry_id: str, record: dict[str, Any], attempt: int) -> None:
        message_id = record["id"]
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
                    template_id=template,
                    template_variables=tuple(record["template_variables"].items())
                    if template
                    else (),
                    link=tuple(record["link"]) if record["link"] else None,
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
            "sent_as": "template" if template else "text",
            "error": "",
            "updated_at": now,
        }
        if result.segments is not None:
            fields["segments"] = result.segments
        if result.status == "delivered":
            fields["delivered_at"] = now
        # One transaction: the provider id (so a retry is a no-op), the ack, the transcript.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.message(message_id), mapping=hash_fields(fields))
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
