"""Customer replies: taken in once, kept until handled, handled in order per conversation.

A reply is appended to its conversation's inbox list before the webhook answers,
so it is never lost. Whoever holds the conversation's lock drains the inbox in
order, removing an entry only after it was handled; a crash leaves it at the head
for the sweeper. Different conversations are drained in parallel, by any replica.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.live import announce, tell_tracking
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import TRANSCRIPT_LENGTH, DeliveryRecord, Store
from bot.messaging.links import TelegramLinks
from bot.messaging.messages import answering
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
# Take a reply in once: the "seen" mark, the inbox append and the transcript line in
# one script, in the conversation's slot. A webhook whose first write failed is taken
# in when the provider retries it; a duplicate never is. KEYS: seen set, inbox,
# transcript; ARGV: provider id, entry, seen ttl, transcript length, transcript ttl, and
# the entry as the transcript shows it (a tracking-page tap without its access code).
_TAKE_IN = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[6])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[4]), -1)
redis.call('EXPIRE', KEYS[3], ARGV[5])
return 1
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
    # Replies being handled after their webhook was answered.
    handling: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._release = self.redis.register_script(_RELEASE)
        self._take_in = self.redis.register_script(_TAKE_IN)

    def handle_soon(self, conversation: str) -> None:
        """Drain the conversation after the webhook has been answered: a slow NLU or
        route solve never makes the provider wait (Twilio gives up at 15 s and sends
        the message again). The reply is already durable in its inbox; if this process
        dies first, the sweeper handles it."""
        task = asyncio.create_task(self._drain_logged(conversation))
        self.handling.add(task)
        task.add_done_callback(self.handling.discard)

    async def _drain_logged(self, conversation: str) -> None:
        try:
            await self.drain(conversation)
        except Exception:
            log.exception("inbound.drain_failed", conversation=conversation)

    async def settle(self, grace: float) -> None:
        """Let the replies in hand finish (a graceful stop)."""
        if self.handling:
            await asyncio.wait(set(self.handling), timeout=grace)

    async def receive(self, message: InboundMessage) -> bool:
        """Take a verified message in. False when it was a duplicate or matches no delivery.

        Nothing is lost between the steps: the sweeper's index entry is written first
        (harmless if the rest fails), then the reply with its seen mark atomically,
        then the fast duplicate mark; a provider's retry finds what is missing."""
        seen = self.keys.inbound_seen(message.channel, message.provider_id)
        if await self.redis.exists(seen):
            self.metrics.inbound.labels(message.channel, "duplicate").inc()
            return False
        if message.text.startswith("/start") and self.links is not None:
            linked = await self._link(message)
            await self.redis.set(seen, 1, ex=SEEN_TTL)
            return linked
        found = await self.store.delivery_at(message.channel, message.sender, message.recipient)
        if found is None:
            self.metrics.inbound.labels(message.channel, "unknown_sender").inc()
            log.info("inbound.unknown_sender", channel=message.channel, sender=message.sender)
            return False
        conversation = self.keys.conversation_id(*found)
        now = self.clock.timestamp()
        entry = json.dumps(
            {
                "dir": "in",
                "text": message.text,
                "media": list(message.media_urls),
                # The service's clock, like every other time it keeps (sandbox time travel).
                "at": now,
                "provider_id": message.provider_id,
                "channel": message.channel,
                "sender": message.sender,
            }
        )
        taken = await self._take(found, conversation, message.provider_id, entry, entry)
        wrote = self.keys.customer_wrote(found[0], message.channel, message.sender)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(wrote, now, ex=CUSTOMER_WINDOW_S)
            pipe.set(seen, 1, ex=SEEN_TTL)
            await pipe.execute()
        if not int(taken):
            self.metrics.inbound.labels(message.channel, "duplicate").inc()
            return False
        self.metrics.inbound.labels(message.channel, "accepted").inc()
        self.handle_soon(conversation)
        return True

    async def _take(
        self, found: tuple[str, str], conversation: str, provider_id: str, entry: str, shown: str
    ) -> bool:
        """Take a reply in: the sweeper's index first (harmless if the rest fails), then
        the seen mark, inbox and transcript in one script; the consoles and the tracking
        page are told. False for a duplicate."""
        pending = self.keys.pending_inboxes(self.keys.inbox_shard(conversation))
        await self.redis.zadd(pending, {conversation: self.clock.timestamp()}, nx=True)
        taken = await self._take_in(
            keys=[
                self.keys.replies_seen(conversation),
                self.keys.inbox(conversation),
                self.keys.transcript(*found),
            ],
            args=[provider_id, entry, SEEN_TTL, TRANSCRIPT_LENGTH, self.store.ttl_s, shown],
        )
        if not int(taken):
            return False
        await announce(self.redis, self.keys, found[0], "message", found[1])
        await tell_tracking(self.redis, self.keys, found[0], [found[1]])
        return True

    async def submit(self, conversation: str, text: str, tap: Mapping[str, Any] | None) -> None:
        """A message or a choice from the tracking page: into the conversation's inbox like
        a reply (same order, same lock, same transcript), and handled now if no one else
        is handling the conversation. `text` is what the transcript shows."""
        record: dict[str, Any] = {
            "dir": "in",
            "text": text,
            "media": [],
            "at": self.clock.timestamp(),
            "provider_id": f"page-{secrets.token_hex(8)}",
            "channel": "page",
            "tap": dict(tap) if tap is not None else None,
        }
        shown = record
        if tap is not None:  # the transcript keeps what was done, not an access code
            shown = {**record, "tap": {"intent": tap.get("intent")}}
        brand_id, _, delivery_id = conversation.partition("/")
        await self._take(
            (brand_id, delivery_id), conversation, record["provider_id"], json.dumps(record),
            json.dumps(shown),
        )  # fmt: skip
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
                pending = self.keys.pending_inboxes(self.keys.inbox_shard(conversation))
                await self.redis.zrem(pending, conversation)
                if not await self.redis.llen(inbox):
                    return

    async def _handle_safely(self, conversation: str, entry: dict[str, Any]) -> bool:
        """Handle one reply; False to try it again later.

        A reply whose handling keeps failing (a bug, a record gone missing) must not
        block the replies behind it or be lost: after `HANDLE_ATTEMPTS` it goes to a
        person, and the conversation moves on.
        """
        try:
            with answering(f"{conversation}|{entry.get('provider_id')}"):
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
        """Drain conversations left with replies by a crashed process (every shard)."""
        cutoff = self.clock.timestamp() - older_than
        swept = 0
        for shard in range(self.keys.shards):
            stale = await self.redis.zrangebyscore(
                self.keys.pending_inboxes(shard), "-inf", cutoff, start=0, num=100
            )
            for conversation in stale:
                await self.drain(str(conversation))
            swept += len(stale)
        return swept

    async def _handle(self, conversation: str, entry: dict[str, Any]) -> None:
        brand_id, _, delivery_id = conversation.partition("/")
        brand = await self.brands.get(brand_id)
        delivery = await self.store.get_delivery(brand_id, delivery_id)
        if brand is None or delivery is None:
            log.warning("inbound.orphan", conversation=conversation)
            return
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
        if keyword is not None:
            # Answered in the keyword's language when it has one ("BAJA", "ARRÊT").
            answer_to = _in_language(delivery, keyword.language)
            if keyword.keyword == "opt_out":
                if not opted_out:
                    await self.redis.set(optout_key, self.clock.timestamp())
                    await self._answer(brand, answer_to, "optout_confirmed")
                return
            if keyword.keyword == "opt_in":
                await self.redis.delete(optout_key)
                await self._answer(brand, answer_to, "optin_confirmed")
                return
            await self._answer(brand, answer_to, "help")
            return
        await self.handler(Reply(brand, delivery, text, media, received, conversation))

    async def _answer(
        self, brand: BrandSettings, delivery: DeliveryRecord, kind: str, tracking_link: bool = False
    ) -> None:
        notice = Notice(kind, {}, proactive=False, tracking_link=tracking_link)
        await self.notifier.send(brand, [(delivery, notice)])


def _in_language(delivery: DeliveryRecord, language: str | None) -> DeliveryRecord:
    """The delivery as the answer to a keyword sees it: in the keyword's language."""
    if language is None or delivery.locale.split("_")[0].split("-")[0] == language:
        return delivery
    return delivery.model_copy(update={"locale": language})
