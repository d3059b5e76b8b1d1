"""What a conversation remembers between two replies: the question it is waiting on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.base.keys import Keys
from bot.base.values import Window

PendingKind = Literal[
    "pick_window",  # offered windows: "2", "the later one", or another time
    "ask_time",  # asked when suits them
    "remember_place",  # asked whether to keep the safe place for this address
    "pick_item",  # asked which item to collect
    "not_home",  # offered: safe place, neighbour, another time, collection
    "ask_place",  # asked where to leave it
    "ask_neighbour",  # asked which neighbour
    "confirm_cancel",
    "confirm_address",
    "photo",  # asked for a photo of the damage / of where it should be
    "csat",  # an agent resolved it and asked for a 1-5 score of the help
]


# What a customer who will not be in can choose, in the order offered.
NOT_HOME_CHOICES = ("safe_place", "neighbour", "another_time", "collect")


class Pending(BaseModel):
    """The question the bot asked last and is waiting for an answer to."""

    model_config = ConfigDict(frozen=True)

    kind: PendingKind
    purpose: Literal["reschedule", "return"] = "reschedule"
    offers: tuple[Window, ...] = ()
    items: tuple[str, ...] = ()
    item: str | None = None
    place: str | None = None
    address: str | None = None
    case: Literal["damaged", "missing"] | None = None


class ConversationState(BaseModel):
    model_config = ConfigDict(frozen=True)

    pending: Pending | None = None
    low_confidence: int = Field(default=0, ge=0)


class StateStore:
    """Conversation state in Redis; it expires `keep_s` after the last reply."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self, conversation: str) -> ConversationState:
        raw = await self._redis.get(self._keys.conversation(conversation))
        return ConversationState() if raw is None else ConversationState.model_validate_json(raw)

    async def put(self, conversation: str, state: ConversationState, keep_s: int) -> None:
        key = self._keys.conversation(conversation)
        if state == ConversationState():
            await self._redis.delete(key)
            return
        await self._redis.set(key, state.model_dump_json(), ex=max(keep_s, 60))
