"""Outbox messages as data: what is submitted, the states it goes through, retry policy."""

from __future__ import annotations

import hashlib
import itertools
import random
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, cast

from redis.typing import EncodableT, FieldT

GROUP = "senders"
MessageStatus = Literal[
    "queued", "deferred", "retrying", "sending", "sent", "delivered", "failed", "superseded"
]
FINAL = frozenset({"sent", "delivered", "failed", "superseded"})
# Sent regardless of an opt-out: the confirmation of the opt-out itself, and HELP (CTIA).
OPT_OUT_EXEMPT = frozenset({"optout_confirmed", "help"})
# Later provider callbacks must not move a message backwards ("sent" after "delivered").
RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 4, "failed": 4}


def hash_fields(fields: dict[str, Any]) -> Mapping[FieldT, EncodableT]:
    """redis-py types hash mappings narrowly; our records are str -> str/number."""
    return cast("Mapping[FieldT, EncodableT]", fields)


def new_message_id(now: float, shard: int) -> str:
    """Sortable by creation time, unique without coordination; names its outbox shard."""
    return f"m{int(now * 1000):011x}{secrets.token_hex(5)}s{shard}"


def derived_message_id(seed: str, shard: int) -> str:
    """The same id every time for the same seed (an event's id, the delivery, the message
    type): an event applied again after a crash re-submits the same messages, which the
    outbox then ignores instead of sending twice."""
    return f"m{hashlib.sha256(seed.encode()).hexdigest()[:21]}s{shard}"


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
    # The brand's approved WhatsApp template for this message, with its variables'
    # values: sent instead of the text when the customer has not written for a day.
    template_id: str | None = None
    template_variables: tuple[tuple[str, str], ...] = ()
    # The brand's own sender on this channel (its number or messaging service), if any.
    sender: str | None = None
    # A stable seed for the message's id (see `derived_message_id`); None: a new id.
    idempotency_seed: str | None = None
    # (label, url): a link a channel shows as a button (the tracking page on Telegram).
    link: tuple[str, str] | None = None


@dataclass(slots=True)
class OutboxPolicy:
    max_attempts: int = 6
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    reclaim_idle: float = 30.0
    batch: int = 64
    block_ms: int = 500
    # A send that timed out in flight may have been accepted: its retry waits this long
    # so that the provider's status report (Twilio's carries our id) can record it first.
    unknown_wait: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter; a provider's Retry-After is a floor."""
        ceiling = min(self.backoff_cap, self.backoff_base * float(2 ** max(attempt - 1, 0)))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(delay, retry_after or 0.0)


# The reply being handled, and how many messages its handling has submitted so far.
_ANSWERING: ContextVar[tuple[str, itertools.count[int]] | None] = ContextVar(
    "answering", default=None
)


@contextmanager
def answering(reply: str) -> Iterator[None]:
    """Messages submitted while one reply is handled get ids derived from the reply.

    A reply is removed from its inbox only after it was handled; when that removal
    fails (Redis failing over: seen in `tests/test_failover.py`) the reply is handled
    again, and its answers, submitted again with the same ids, are queued once
    instead of sent twice."""
    token = _ANSWERING.set((reply, itertools.count()))
    try:
        yield
    finally:
        _ANSWERING.reset(token)


def answer_seed() -> str | None:
    """The next idempotency seed within the reply being handled, if any."""
    current = _ANSWERING.get()
    return None if current is None else f"reply|{current[0]}|{next(current[1])}"
