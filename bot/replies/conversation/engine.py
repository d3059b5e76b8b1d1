"""A customer's reply, end to end: read it, decide, act, remember where we are.

Every reply is parsed and the reading (intent, entities, the resolved window) goes
into the transcript for whoever reads it later. While a person has the conversation
the bot stays silent. When the NLU server is unavailable the reply is kept and a
person takes over: never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from bot.base.logs import log
from bot.base.store import Store
from bot.base.values import Window
from bot.replies.conversation.actions import Decision, Facts, Turn
from bot.replies.conversation.decide import decide, tapped
from bot.replies.conversation.executor import Executor
from bot.replies.conversation.state import ConversationState, StateStore
from bot.replies.inbound import HandoffToAgent, Reply
from bot.replies.timefind import find_time, fuller_time
from bot.replies.timewindows import DeliveryHours, InvalidWindow, NotUnderstood, resolve
from integrations.rasa import NLUUnavailable, ParseResult, RasaClient

# State outlives the delivery by this much (a late "where is it?" still has context).
KEEP_AFTER_DONE = timedelta(days=2)
KEEP_OPEN = timedelta(days=14)


# Where a reply is about a time even when the tagger marked none: the whole message is
# then searched for one ("could you come this evening instead of this morning?").
TIME_INTENTS = frozenset({"reschedule", "request_return_pickup", "delivery_instructions"})
TIME_PENDING = frozenset({"ask_time", "pick_window"})


# How sure the model must be of a message's language for it to win over the customer's
# locale (a hint, never a switch: a Spanish-locale customer writing English is read as
# English; "ok" alone is anyone's).
LANGUAGE_SURE = 0.75


def reading_language(result: ParseResult, locale: str) -> str:
    """The language to read the message's times in: the model's, when it is sure."""
    if result.language and result.language_confidence >= LANGUAGE_SURE:
        return result.language
    return locale


def time_window(
    result: ParseResult,
    reply_at: Any,
    zone: str,
    start: time = time(8),
    end: time = time(21),
    lang: str | None = None,
    search: bool = False,
) -> Window | str | None:
    """The window the first `time` entity asks for, why it cannot be one, or None.

    `lang` is the customer's language, a hint for reading the span. With `search`,
    a message the tagger marked no time in is searched for one, and a tagged piece of
    a longer time ("17h" of "demain après 17h") is read with the rest of it."""
    hours = DeliveryHours(start, end)
    span = result.first("time")
    if span is None:
        found = find_time(result.text, reply_at, zone, hours, lang) if search else None
        if found is None:
            return None
        if found.window is None:
            return found.error
        return Window(start=found.window.start, end=found.window.end)
    fuller = fuller_time(result.text, span.value, reply_at, zone, hours, lang) if search else None
    if fuller is not None and fuller.window is not None:
        return Window(start=fuller.window.start, end=fuller.window.end)
    try:
        window = resolve(span.value, reply_at, zone, hours, lang)
    except (NotUnderstood, InvalidWindow) as exc:
        return str(exc)
    return Window(start=window.start, end=window.end)


# A house number beside a place the tagger marked ("number 12, Mrs Patel" as "Patel"):
# the driver needs the whole phrase.
_HOUSE_NUMBER = re.compile(
    r"\b(?:number|no\.?|n[º°o]\.?|num(?:ero|éro)?|nr|flat|apt|unit|house|casa|piso|puerta|"
    r"portal|appartement|appt?|maison)\s*\d{1,4}[a-z]?\b|#\s*\d{1,4}\b|\b\d{1,3}[a-z]?\b",
    re.IGNORECASE,
)
_BETWEEN = re.compile(
    r"^[\s,;:-]*(?:(?:at|in|of|from|the|mrs?|ms|miss|dr|del|de|du|la|el|le|chez|en|sr|sra|mme|m)"
    r"\.?[\s,;:-]+)*$",
    re.IGNORECASE,
)


def with_house_number(text: str, start: int, end: int) -> tuple[int, int]:
    """The place's span grown over a house number right beside it, if it has none."""
    if re.search(r"\d", text[start:end]):
        return start, end
    for m in _HOUSE_NUMBER.finditer(text):
        if m.end() <= start and _BETWEEN.match(text[m.end() : start]):
            start = m.start()
        elif m.start() >= end and _BETWEEN.match(text[end : m.start()]):
            end = m.end()
    return start, end


# Words that end a place when they follow it ("on the porch please", "...door, and").
_NOT_PLACE = frozenset(
    str.split(
        """please pls plz thanks thank thx ty if when and or but as because so then i i'm im
        we it is was will tomorrow today tonight now asap por favor gracias si cuando y o pero
        merci svp s'il si quand et ou mais"""
    )
)
_TAIL = re.compile(r"^((?:\s+[^\W\d_][\w'-]*){1,2})(?=\s*(?:[,.;:!?)]|$))")


def with_last_words(text: str, start: int, end: int, taken: list[tuple[int, int]]) -> int:
    """The end of a place the tagger cut short of its clause ("by the front| door, and"):
    at most two more words up to a comma or the end, none of them a word that ends a
    place, nor part of another entity."""
    m = _TAIL.match(text[end:])
    if m is None:
        return end
    words = m[1].lower().split()
    grown = end + m.end()
    if any(w in _NOT_PLACE for w in words) or any(a < grown and b > end for a, b in taken):
        return end
    return grown


def entity_values(result: ParseResult) -> dict[str, str]:
    """One value per entity; pieces of one entity close together are read as one span.

    The model sometimes marks "with Dave at number 16" as two places, "with Dave" and
    "number 16", only "Patel" of "number 12, Mrs Patel", or stops a word short ("by the
    front" of "by the front door, and the code is..."): the driver needs the whole
    phrase.
    """
    values: dict[str, str] = {}
    spans: dict[str, tuple[int, int]] = {}
    for e in result.entities:
        if e.entity not in spans:
            spans[e.entity] = (e.start, e.end)
            values[e.entity] = e.value
        elif 0 <= e.start - spans[e.entity][1] <= 5:
            start = spans[e.entity][0]
            spans[e.entity] = (start, e.end)
            values[e.entity] = result.text[start : e.end]
    if "place" in spans:
        others = [(e.start, e.end) for e in result.entities if e.entity != "place"]
        start, end = spans["place"]
        end = with_last_words(result.text, start, end, others)
        start, end = with_house_number(result.text, start, end)
        if (start, end) != spans["place"]:
            values["place"] = result.text[start:end]
    if "address" in spans:  # "at [King St]" of "at 55 King St": the number is the address
        start, end = with_house_number(result.text, *spans["address"])
        if (start, end) != spans["address"]:
            values["address"] = result.text[start:end]
    return values


def _about_a_time(result: ParseResult, state: ConversationState) -> bool:
    pending = state.pending.kind if state.pending else None
    return result.intent in TIME_INTENTS or pending in TIME_PENDING


def window_json(window: Window | str | None) -> dict[str, str] | None:
    if isinstance(window, Window):
        return {"start": window.start.isoformat(), "end": window.end.isoformat()}
    return None if window is None else {"error": window}


@dataclass
class ConversationEngine:
    nlu: RasaClient | None
    handoff: HandoffToAgent
    store: Store
    states: StateStore
    executor: Executor

    async def __call__(self, reply: Reply) -> None:
        if reply.tap is not None:
            await self._tapped(reply, reply.tap)
            return
        if self.nlu is None:
            await self.handoff(reply, "nlu_unavailable")
            return
        try:
            result = await self.nlu.parse(reply.text)
        except NLUUnavailable:
            await self.handoff(reply, "nlu_unavailable")
            return
        hours = reply.brand.delivery_hours
        zone = reply.delivery.customer.timezone
        state = await self.states.get(reply.conversation)
        window = time_window(
            result,
            reply.received_at,
            zone,
            hours.start,
            hours.end,
            lang=reading_language(result, reply.delivery.locale),
            search=_about_a_time(result, state),
        )
        await self._record(reply, result, window)
        if await self.handoff.active(reply.conversation):
            return  # a person answers; they see the reading above
        turn = Turn(
            text=reply.text,
            intent=result.intent,
            confidence=result.confidence,
            entities=entity_values(result),
            window=window if isinstance(window, Window) else None,
            window_error=window if isinstance(window, str) else None,
            media=reply.media_urls,
            ranking=result.ranking,
        )
        facts = Facts(reply.brand, reply.delivery, reply.received_at)
        decision = decide(state, turn, facts)
        log.info(
            "conversation.decided",
            conversation=reply.conversation,
            intent=turn.intent,
            confidence=round(turn.confidence, 3),
            pending=state.pending.kind if state.pending else None,
            actions=[type(a).__name__ for a in decision.actions],
        )
        await self._act(reply, facts, decision)

    async def _act(self, reply: Reply, facts: Facts, decision: Decision) -> None:
        new_state = await self.executor.run(reply, facts, decision)
        done = reply.delivery.status in ("delivered", "failed", "cancelled")
        keep = KEEP_AFTER_DONE if done else KEEP_OPEN
        await self.states.put(reply.conversation, new_state, int(keep.total_seconds()))

    async def _tapped(self, reply: Reply, tap: Mapping[str, Any]) -> None:
        """A choice from the tracking page: no NLU; the intent's own rules (`tapped`)."""
        if await self.handoff.active(reply.conversation):
            return  # a person answers, as for a typed reply; they see it in the transcript
        window = tap.get("window")
        turn = Turn(
            text=str(tap.get("text") or reply.text),
            intent=str(tap["intent"]),
            confidence=1.0,
            entities={str(k): str(v) for k, v in (tap.get("entities") or {}).items()},
            window=Window.model_validate(window) if window else None,
        )
        facts = Facts(reply.brand, reply.delivery, reply.received_at)
        state = await self.states.get(reply.conversation)
        decision = tapped(state, turn, facts)
        log.info(
            "conversation.tapped",
            conversation=reply.conversation,
            intent=turn.intent,
            actions=[type(a).__name__ for a in decision.actions],
        )
        await self._act(reply, facts, decision)

    async def _record(self, reply: Reply, result: ParseResult, window: Window | str | None) -> None:
        entry = {
            "dir": "nlu",
            "at": reply.received_at.timestamp(),
            **result.to_json(),
            "time_window": window_json(window),
        }
        await self.store.append_transcript(
            reply.brand.brand_id, reply.delivery.delivery_id, json.dumps(entry)
        )
