"""A customer's reply, end to end: read it, decide, act, remember where we are.

Every reply is parsed and the reading (intent, entities, the resolved window) goes
into the transcript for whoever reads it later. While a person has the conversation
the bot stays silent. When the NLU server is unavailable the reply is kept and a
person takes over: never a guess.
"""

from __future__ import annotations

import json
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
from bot.replies.conversation.state import StateStore
from bot.replies.inbound import HandoffToAgent, Reply
from bot.replies.timewindows import DeliveryHours, InvalidWindow, NotUnderstood, resolve
from integrations.rasa import NLUUnavailable, ParseResult, RasaClient

# State outlives the delivery by this much (a late "where is it?" still has context).
KEEP_AFTER_DONE = timedelta(days=2)
KEEP_OPEN = timedelta(days=14)


def time_window(
    result: ParseResult, reply_at: Any, zone: str, start: time = time(8), end: time = time(21)
) -> Window | str | None:
    """The window the first `time` entity asks for, why it cannot be one, or None."""
    span = result.first("time")
    if span is None:
        return None
    try:
        window = resolve(span.value, reply_at, zone, DeliveryHours(start, end))
    except (NotUnderstood, InvalidWindow) as exc:
        return str(exc)
    return Window(start=window.start, end=window.end)


def entity_values(result: ParseResult) -> dict[str, str]:
    """One value per entity; pieces of one entity close together are read as one span.

    The model sometimes marks "with Dave at number 16" as two places, "with Dave" and
    "number 16": the driver needs the whole phrase.
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
    return values


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
        window = time_window(result, reply.received_at, zone, hours.start, hours.end)
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
        )
        facts = Facts(reply.brand, reply.delivery, reply.received_at)
        state = await self.states.get(reply.conversation)
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
