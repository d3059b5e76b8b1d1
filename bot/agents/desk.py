"""The escalation desk: the queue, the conversation an agent sees, claim, reply, hand back.

Claims are atomic in Redis (a Lua script): of two agents pressing "claim" at once one
wins and the other is told who has it. While a person holds a conversation the bot
sends nothing on it (the conversation engine checks the hand-off first) but keeps
reading each reply into the transcript. An escalation waiting longer than the
brand's limit is counted and announced once on the brand's webhook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.agents.accounts import Agent
from bot.agents.sla import status_of
from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.live import announce
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import Store
from bot.messaging.outbox import NewMessage, Outbox
from bot.messaging.webhooks import tell_dispatch


class QueueQuery(BaseModel):
    """What an agent asks of the queue (GET /console/api/queue's parameters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    search: str = Field("", max_length=100)
    # "mine": the conversations the asking agent holds.
    state: Literal["waiting", "held", "mine"] | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict[str, Any]]
    total: int  # rows matching the query, on every page


SEEN_KEPT_S = 30 * 24 * 3600
# How far back a row looks for the customer's last message (unread markers).
UNREAD_LOOK = 20
_SEARCHED = ("customer", "order_id", "delivery_id", "reason", "agent")


def _matches(row: dict[str, Any], needle: str) -> bool:
    return any(needle in str(row.get(field) or "").casefold() for field in _SEARCHED)


# KEYS: the hand-off, the queue, the held set, the holders (each agent's open ones).
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'gone' end
if state == 'held' then return redis.call('HGET', KEYS[1], 'agent') end
redis.call('HSET', KEYS[1], 'state', 'held', 'agent', ARGV[1], 'claimed_at', ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[1])
return 'ok'
"""


# Set a field on a hand-off only while it exists: a write racing a hand-back must not
# bring back a hand-off (the bot would stay silent on a conversation nobody holds).
_MARK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
"""


class NotHeld(Exception):
    """The agent does not hold this conversation (claim it first)."""


@dataclass
class Desk:
    redis: Redis
    keys: Keys
    store: Store
    brands: BrandStore
    outbox: Outbox
    clock: Clock
    metrics: Metrics

    def __post_init__(self) -> None:
        self._claim = self.redis.register_script(_CLAIM)
        self._mark = self.redis.register_script(_MARK)

    async def mark(self, conversation: str, field: str, value: float) -> bool:
        """Note `field` on an open hand-off the first time only; True if this set it."""
        return bool(await self._mark(keys=[self.keys.handoff(conversation)], args=[field, value]))

    async def publish(self, brand_id: str, kind: str, delivery_id: str) -> None:
        await announce(self.redis, self.keys, brand_id, kind, delivery_id)

    async def queue(
        self, brand_id: str, query: QueueQuery | None = None, viewer: str | None = None
    ) -> QueuePage:
        """One page of the queue: waiting conversations oldest first, then held ones,
        narrowed to those whose customer, order, delivery, reason or agent contains
        the search text. Each row has its SLA clock and, for a `viewer`, whether it
        has news since they last opened it.

        Without a search only the page's rows are read; a search reads every row once
        (one MGET and one pipeline, not a round trip per row)."""
        query = query or QueueQuery()
        now = self.clock.timestamp()
        entries: list[tuple[str, float | None]] = []
        if query.state in (None, "waiting"):
            waiting = cast(
                list[tuple[str, float]],
                await self.redis.zrange(self.keys.agent_queue(brand_id), 0, -1, withscores=True),
            )
            entries += [(str(c), float(since)) for c, since in waiting]
        if query.state in (None, "held"):
            entries += [(c, None) for c in await self._held(brand_id)]
        if query.state == "mine":
            holders = await self.redis.hgetall(self.keys.desk_holders(brand_id))
            entries += [(str(c), None) for c, u in sorted(holders.items()) if u == viewer]
        end = query.offset + query.limit
        needle = query.search.strip().casefold()
        if not needle:
            page = await self._rows(brand_id, entries[query.offset : end], now)
            return QueuePage(await self._enrich(brand_id, page, viewer), len(entries))
        found = [row for row in await self._rows(brand_id, entries, now) if _matches(row, needle)]
        page = await self._enrich(brand_id, found[query.offset : end], viewer)
        return QueuePage(page, len(found))

    async def _enrich(
        self, brand_id: str, rows: list[dict[str, Any]], viewer: str | None
    ) -> list[dict[str, Any]]:
        """The SLA clock of each row and, for a viewer, whether the customer wrote since
        they last opened it (the bot's readings and replies are not news)."""
        brand = await self.brands.get(brand_id)
        now = self.clock.now()
        for row in rows:
            status = status_of(brand, row, now) if brand else None
            row["sla"] = status.as_json() if status else None
        if viewer is None or not rows:
            return rows
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.desk_seen(brand_id, viewer), [r["delivery_id"] for r in rows])
            for row in rows:
                pipe.lrange(self.keys.transcript(brand_id, row["delivery_id"]), -UNREAD_LOOK, -1)
            seen, *tails = await pipe.execute()
        for row, saw, tail in zip(rows, seen, tails, strict=True):
            wrote = [float(e.get("at", 0)) for e in map(json.loads, tail) if e.get("dir") == "in"]
            row["unread"] = bool(wrote) and max(wrote) > float(saw or 0)
        return rows

    async def seen(self, brand_id: str, delivery_id: str, viewer: str) -> None:
        """`viewer` has read the conversation as it is now (its unread marker clears)."""
        key = self.keys.desk_seen(brand_id, viewer)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, delivery_id, self.clock.timestamp())
            pipe.expire(key, SEEN_KEPT_S)  # an agent gone a month forgets what they read
            await pipe.execute()

    async def _held(self, brand_id: str) -> list[str]:
        return sorted(str(c) for c in await self.redis.smembers(self.held_key(brand_id)))

    def held_key(self, brand_id: str) -> str:
        """Set: conversations an agent holds (the assignment scripts take it as a key)."""
        return self.keys.held(brand_id)

    async def _rows(
        self, brand_id: str, entries: list[tuple[str, float | None]], now: float
    ) -> list[dict[str, Any]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation, _ in entries:
                pipe.hgetall(self.keys.handoff(conversation))
            handoffs = cast(list[dict[str, str]], await pipe.execute())
        ids = [conversation.partition("/")[2] for conversation, _ in entries]
        deliveries = await self.store.get_deliveries(brand_id, ids)
        rows = []
        for (_, since), delivery_id, handoff, delivery in zip(
            entries, ids, handoffs, deliveries, strict=True
        ):
            started = float(handoff.get("since", since or now))
            rows.append(
                {
                    "delivery_id": delivery_id,
                    "customer": delivery.customer.name if delivery else "",
                    "order_id": delivery.order_id if delivery else "",
                    "reason": handoff.get("reason", ""),
                    "state": handoff.get("state", "waiting"),
                    "agent": handoff.get("agent"),
                    "waiting_s": round(now - started),
                    # Raw times for the SLA clock and the console's own formatting.
                    "since": started,
                    "first_reply_at": _float(handoff.get("first_reply_at")),
                    "claimed_at": _float(handoff.get("claimed_at")),
                    "assigned": handoff.get("assigned"),
                }
            )
        return rows

    async def conversation(
        self, brand_id: str, delivery_id: str, reveal: bool = False
    ) -> dict[str, Any] | None:
        """Everything an agent needs about one delivery, or None if it is not this brand's."""
        delivery = await self.store.get_delivery(brand_id, delivery_id)
        if delivery is None:
            return None
        conversation = f"{brand_id}/{delivery_id}"
        handoff = await self.redis.hgetall(self.keys.handoff(conversation))
        case = await self.redis.hgetall(self.keys.case(brand_id, delivery_id))
        route = (
            await self.store.get_route(brand_id, delivery.route_id) if delivery.route_id else None
        )
        body = delivery.model_dump(mode="json")
        if body.get("access_code") and not reveal:
            body["access_code"] = "••••"
        transcript = [json.loads(e) for e in await self.store.transcript(brand_id, delivery_id)]
        return {
            "delivery": body,
            "handoff": handoff or None,
            "case": {
                **case,
                "customer_photos": json.loads(case.get("customer_photos", "[]")),
                "delivery_photos": json.loads(case.get("delivery_photos", "[]")),
            }
            if case
            else None,
            "route": route.model_dump(mode="json") if route else None,
            "transcript": transcript,
        }

    async def claim(self, brand_id: str, delivery_id: str, agent: Agent) -> str:
        """'ok', 'gone' (nobody asked for a person), or the username already holding it."""
        conversation = f"{brand_id}/{delivery_id}"
        result = str(
            await self._claim(
                keys=[
                    self.keys.handoff(conversation),
                    self.keys.agent_queue(brand_id),
                    self.held_key(brand_id),
                    self.keys.desk_holders(brand_id),
                ],
                args=[agent.username, self.clock.timestamp(), conversation],
            )
        )
        if result == "ok":
            self.metrics.assignments.labels(brand_id, "claim").inc()
            await self._note(brand_id, delivery_id, agent, "claimed", kind="event")
            await self.publish(brand_id, "claimed", delivery_id)
        return result

    async def _holder(self, brand_id: str, delivery_id: str) -> str | None:
        held = await self.redis.hget(self.keys.handoff(f"{brand_id}/{delivery_id}"), "agent")
        return None if held is None else str(held)

    async def require_held(self, brand_id: str, delivery_id: str, agent: Agent) -> None:
        if await self._holder(brand_id, delivery_id) != agent.username:
            raise NotHeld(delivery_id)

    async def reply(self, brand: BrandSettings, delivery_id: str, agent: Agent, text: str) -> str:
        """Send the agent's words to the customer on their channel; the message id."""
        await self.require_held(brand.brand_id, delivery_id, agent)
        delivery = await self.store.get_delivery(brand.brand_id, delivery_id)
        assert delivery is not None
        # The first response the SLA counts (the hand-off goes when it is resolved).
        conversation = f"{brand.brand_id}/{delivery_id}"
        await self.mark(conversation, "first_reply_at", self.clock.timestamp())
        message_id = await self.outbox.submit(
            NewMessage(
                brand_id=brand.brand_id,
                type="agent_reply",
                channel=delivery.channel,
                to=delivery.contact,
                text=text,
                delivery_id=delivery_id,
            )
        )
        await self.publish(brand.brand_id, "message", delivery_id)
        return message_id

    async def _note(
        self, brand_id: str, delivery_id: str, agent: Agent, text: str, kind: str = "note"
    ) -> None:
        entry = {"dir": kind, "agent": agent.username, "text": text, "at": self.clock.timestamp()}
        await self.store.append_transcript(brand_id, delivery_id, json.dumps(entry))

    async def note(self, brand_id: str, delivery_id: str, agent: Agent, text: str) -> None:
        """An internal note: in the transcript, never sent."""
        await self._note(brand_id, delivery_id, agent, text)
        await self.publish(brand_id, "message", delivery_id)

    async def hand_back(self, brand_id: str, delivery_id: str, agent: Agent) -> dict[str, str]:
        """Resolved: the bot answers this customer again. The hand-off as it was (its
        reason and times, for the SLA record and the CSAT question)."""
        await self.require_held(brand_id, delivery_id, agent)
        conversation = f"{brand_id}/{delivery_id}"
        handoff = cast(dict[str, str], await self.redis.hgetall(self.keys.handoff(conversation)))
        async with self.redis.pipeline(transaction=True) as tx:
            tx.delete(self.keys.handoff(conversation))
            tx.zrem(self.keys.agent_queue(brand_id), conversation)
            tx.srem(self.held_key(brand_id), conversation)
            tx.hdel(self.keys.desk_holders(brand_id), conversation)
            await tx.execute()
        # The conversation's own slot: the bot starts afresh.
        await self.redis.delete(self.keys.conversation(conversation))
        await self._note(brand_id, delivery_id, agent, "handed back to the bot", kind="event")
        await self.publish(brand_id, "released", delivery_id)
        return handoff

    async def alert_overdue(self) -> int:
        """Count and announce (once) escalations waiting longer than their brand's limit."""
        now = self.clock.timestamp()
        alerted = 0
        for brand_id in sorted(str(b) for b in await self.redis.smembers(self.keys.brands())):
            try:
                alerted += await self._alert_brand(brand_id, now)
            except Exception as exc:  # one brand's bad data must not stop the others' alerts
                log.exception("desk.overdue_brand_failed", brand=brand_id, error=repr(exc))
        return alerted

    async def _alert_brand(self, brand_id: str, now: float) -> int:
        alerted = 0
        brand = await self.brands.get(brand_id)
        if brand is not None:
            cutoff = now - brand.escalation_limit_min * 60
            late = cast(
                list[tuple[str, float]],
                await self.redis.zrangebyscore(
                    self.keys.agent_queue(brand_id), "-inf", cutoff, withscores=True
                ),
            )
            self.metrics.escalations_overdue.labels(brand_id).set(len(late))
            for conversation, since in late:
                if not await self.mark(str(conversation), "alerted", now):
                    continue
                alerted += 1
                await self._alert(brand, str(conversation), float(since), now)
        return alerted

    async def _alert(
        self, brand: BrandSettings, conversation: str, since: float, now: float
    ) -> None:
        log.warning(
            "desk.escalation_overdue", conversation=conversation, waiting_s=round(now - since)
        )
        data = {
            "delivery_id": conversation.partition("/")[2],
            "waiting_since": datetime.fromtimestamp(since, UTC).isoformat(),
            "limit_min": brand.escalation_limit_min,
        }
        moment = datetime.fromtimestamp(now, UTC)
        await tell_dispatch(self.outbox, brand, "escalation.overdue", data, moment)
        await self.publish(brand.brand_id, "overdue", conversation.partition("/")[2])


def _float(raw: str | None) -> float | None:
    return None if raw is None else float(raw)
