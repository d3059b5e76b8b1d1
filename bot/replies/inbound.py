"""Customer replies: taken in once, kept until handled, handled in order per conversation.

A reply is appended to its conversation's inbox list before the webhook answers,
so it is never lost. Whoever holds the conversation's lock drains the inbox in
order, removing an entry only after it was handled; a crash leaves it at the head
for the sweeper. Different conversations are drained in parallel, by any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.live import announce
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import DeliveryRecord, Store
from bot.messaging.links import TelegramLinks
from bot.messaging.notify import Notice, Notifier
from bot.replies.keywords import match_keyword
from integrations.base import InboundMessage

SEEN_TTL = int(timedelta(days=7).total_seconds())
# WhatsApp's customer-service window is 24 hours from the customer's last message; ten
# minutes are kept back for a message already on its way when the window closes.
CUSTOMER_WINDOW_S = int((timedelta(hours=24) - timedelta(minutes=10)).total_seconds())
LOCK_MS = 30_000
HANDLE_ATTEMPTS = 3

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Reply:
    """A customer's message in the context the conversation engine needs."""

    brand: BrandSettings
    delivery: DeliveryRecord
    text: str
    media_urls: tuple[str, ...]
    received_at: datetime
    conversation: str
    # A choice the customer made on the tracking page, already read (intent, entities,
    # window): the same request as a typed reply, without the NLU's guess.
    tap: Mapping[str, Any] | None = None


ReplyHandler = Callable[[Reply], Awaitable[None]]


@dataclass
class HandoffToAgent:
    """Hand a conversation to a person.

    The conversation joins its brand's agent queue (once, with the reason) and the
    customer is told that a person will reply.
    """

    redis: Redis
    keys: Keys
    notifier: Notifier
    clock: Clock

    async def __call__(
        self, reply: Reply, reason: str = "nlu_unavailable", notify: bool = True
    ) -> None:
        key = self.keys.handoff(reply.conversation)
        created = await self.redis.hsetnx(key, "reason", reason)
        if not created:
            return  # already waiting for a person: the agent sees the new message
        now = self.clock.timestamp()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"since": now, "state": "waiting"})
            pipe.zadd(
                self.keys.agent_queue(reply.brand.brand_id), {reply.conversation: now}, nx=True
            )
            await pipe.execute()
        log.info("conversation.escalated", conversation=reply.conversation, reason=reason)
        await announce(
            self.redis, self.keys, reply.brand.brand_id, "escalated", reply.delivery.delivery_id
        )
        if notify:
            wait = timedelta(minutes=reply.brand.escalation_limit_min)
            notice = Notice("reply_received", {"wait": wait}, proactive=False)
            await self.notifier.send(reply.brand, [(reply.delivery, notice)])

    async def active(self, conversation: str) -> bool:
        """True while a person has (or is about to take) the conversation: the bot keeps quiet."""
        return bool(await self.redis.exists(self.keys.handoff(conversation)))


@dataclass
class InboundService:
    redis: Redis
    keys: Keys
    store: Store
    brands: BrandStore
    notifier: Notifier
    clock: Clock
    metrics: Metrics
    handler: ReplyHandler
    links: TelegramLinks | None = None
    handoff: HandoffToAgent | None = None

    def __post_init__(self) -> None:
        self._release = self.redis.register_script(_RELEASE)

    async def receive(self, message: InboundMessage) -> bool:
        """Take a verified message in. False when it was a duplicate or matches no delivery."""
        seen = self.keys.inbound_seen(message.channel, message.provider_id)
        if not await self.redis.set(seen, 1, nx=True, ex=SEEN_TTL):
            self.metrics.inbound.labels(message.channel, "duplicate").inc()
            return False
        if message.text.startswith("/start") and self.links is not None:
            return await self._link(message)
        found = await self.store.delivery_at(message.channel, message.sender)
        if found is None:
            self.metrics.inbound.labels(message.channel, "unknown_sender").inc()
            log.info("inbound.unknown_sender", channel=message.channel, sender=message.sender)
            return False
        conversation = "/".join(found)
        entry = json.dumps(
            {
                "dir": "in",
                "text": message.text,
                "media": list(message.media_urls),
                # The service's clock, like every other time it keeps (sandbox time travel).
                "at": self.clock.timestamp(),
                "provider_id": message.provider_id,
                "channel": message.channel,
                "sender": message.sender,
            }
        )
        wrote = self.keys.customer_wrote(found[0], message.channel, message.sender)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(wrote, self.clock.timestamp(), ex=CUSTOMER_WINDOW_S)
            pipe.rpush(self.keys.inbox(conversation), entry)
            pipe.zadd(self.keys.pending_inboxes(), {conversation: self.clock.timestamp()}, nx=True)
            await pipe.execute()
        self.metrics.inbound.labels(message.channel, "accepted").inc()
        await self.drain(conversation)
        return True

    async def submit(self, conversation: str, text: str, tap: Mapping[str, Any] | None) -> None:
        """A message or a choice from the tracking page: into the conversation's inbox like
        a reply (same order, same lock, same transcript), and handled now if no one else
        is handling the conversation. `text` is what the transcript shows."""
        entry = json.dumps(
            {
                "dir": "in",
                "text": text,
                "media": [],
                "at": self.clock.timestamp(),
                "provider_id": f"page-{secrets.token_hex(8)}",
                "channel": "page",
                "tap": dict(tap) if tap is not None else None,
            }
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self.keys.inbox(conversation), entry)
            pipe.zadd(self.keys.pending_inboxes(), {conversation: self.clock.timestamp()}, nx=True)
            await pipe.execute()
        self.metrics.inbound.labels("page", "accepted").inc()
        await self.drain(conversation)

    async def _link(self, message: InboundMessage) -> bool:
        """A deep link's `/start <token>`: this chat now receives the delivery's messages."""
        assert self.links is not None
        token = message.text.removeprefix("/start").strip()
        conversation = await self.links.resolve(token, now=self.clock.timestamp())
        brand_id, _, delivery_id = (conversation or "").partition("/")
        delivery = await self.store.get_delivery(brand_id, delivery_id) if conversation else None
        brand = await self.brands.get(brand_id) if delivery else None
        if delivery is None or brand is None:
            self.metrics.inbound.labels(message.channel, "bad_link").inc()
            log.info("inbound.bad_link", channel=message.channel)
            return False
        linked = delivery.model_copy(update={"channel": message.channel, "contact": message.sender})
        await self.store.put_delivery(linked)
        self.metrics.inbound.labels(message.channel, "linked").inc()
        await self._answer(brand, linked, "telegram_linked", tracking_link=True)
        return True

    async def drain(self, conversation: str) -> None:
        """Handle the conversation's waiting replies in order, if no one else is."""
        inbox = self.keys.inbox(conversation)
        lock = self.keys.conversation_lock(conversation)
        while True:
            token = secrets.token_hex(8)
            if not await self.redis.set(lock, token, nx=True, px=LOCK_MS):
                return  # the holder drains; it re-checks the inbox after releasing
            try:
                while (raw := await self.redis.lindex(inbox, 0)) is not None:
                    if not await self._handle_safely(conversation, json.loads(raw)):
                        return  # left at the head of the inbox: the sweeper tries again
                    await self.redis.lpop(inbox)
                    await self.redis.pexpire(lock, LOCK_MS)
            finally:
                await self._release(keys=[lock], args=[token])
            # A reply may have arrived between our last look and the release.
            if not await self.redis.llen(inbox):
                await self.redis.zrem(self.keys.pending_inboxes(), conversation)
                if not await self.redis.llen(inbox):
                    return

    async def _handle_safely(self, conversation: str, entry: dict[str, Any]) -> bool:
        """Handle one reply; False to try it again later.

        A reply whose handling keeps failing (a bug, a record gone missing) must not
        block the replies behind it or be lost: after `HANDLE_ATTEMPTS` it goes to a
        person, and the conversation moves on.
        """
        try:
            await self._handle(conversation, entry)
            return True
        except Exception:
            failures_key = self.keys.inbox_failures(conversation)
            attempt = int(await self.redis.hincrby(failures_key, str(entry.get("provider_id")), 1))
            await self.redis.expire(failures_key, SEEN_TTL)
            log.exception("inbound.handle_failed", conversation=conversation, attempt=attempt)
            if attempt < HANDLE_ATTEMPTS:
                return False
        await self._give_up(conversation)
        return True

    async def _give_up(self, conversation: str) -> None:
        brand_id, _, delivery_id = conversation.partition("/")
        brand = await self.brands.get(brand_id)
        delivery = await self.store.get_delivery(brand_id, delivery_id)
        if brand is None or delivery is None or self.handoff is None:
            log.error("inbound.dropped_after_failures", conversation=conversation)
            return
        now = self.clock.now()
        await self.handoff(Reply(brand, delivery, "", (), now, conversation), "bot_error")

    async def sweep(self, older_than: float = LOCK_MS / 1000) -> int:
        """Drain conversations left with replies by a crashed process."""
        cutoff = self.clock.timestamp() - older_than
        stale = await self.redis.zrangebyscore(
            self.keys.pending_inboxes(), "-inf", cutoff, start=0, num=100
        )
        for conversation in stale:
            await self.drain(str(conversation))
        return len(stale)

    async def _handle(self, conversation: str, entry: dict[str, Any]) -> None:
        brand_id, _, delivery_id = conversation.partition("/")
        brand = await self.brands.get(brand_id)
        delivery = await self.store.get_delivery(brand_id, delivery_id)
        if brand is None or delivery is None:
            log.warning("inbound.orphan", conversation=conversation)
            return
        shown = entry
        if entry.get("tap") is not None:  # the transcript keeps what was done, not an access code
            shown = {**entry, "tap": {"intent": entry["tap"].get("intent")}}
        await self.store.append_transcript(brand_id, delivery_id, json.dumps(shown))
        await announce(self.redis, self.keys, brand_id, "message", delivery_id)
        text = str(entry["text"])
        received = datetime.fromtimestamp(float(entry["at"]), UTC)
        media = tuple(entry.get("media", []))
        if entry.get("tap") is not None:  # a choice on the page, not words to read
            await self.handler(
                Reply(brand, delivery, text, media, received, conversation, entry["tap"])
            )
            return
        optout_key = self.keys.optout(brand_id, delivery.channel, delivery.contact)
        opted_out = bool(await self.redis.exists(optout_key))
        keyword = match_keyword(text, opted_out)
        if keyword == "opt_out":
            if not opted_out:
                await self.redis.set(optout_key, self.clock.timestamp())
                await self._answer(brand, delivery, "optout_confirmed")
            return
        if keyword == "opt_in":
            await self.redis.delete(optout_key)
            await self._answer(brand, delivery, "optin_confirmed")
            return
        if keyword == "help":
            await self._answer(brand, delivery, "help")
            return
        await self.handler(Reply(brand, delivery, text, media, received, conversation))

    async def _answer(
        self, brand: BrandSettings, delivery: DeliveryRecord, kind: str, tracking_link: bool = False
    ) -> None:
        notice = Notice(kind, {}, proactive=False, tracking_link=tracking_link)
        await self.notifier.send(brand, [(delivery, notice)])


async def sweeper(service: InboundService, stopping: asyncio.Event, every: float = 5.0) -> None:
    while not stopping.is_set():
        try:
            await service.sweep()
        except Exception:
            log.exception("inbound.sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)
