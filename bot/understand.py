"""Reading a customer's reply with the NLU model before anything acts on it.

Every reply is parsed; the intent, entities and, for a `time` entity, the concrete
window are written to the conversation's transcript for whoever answers. When the
NLU server is unavailable the reply is kept and the conversation goes to a person,
never answered with a guess. Until the conversation engine acts on intents, an
understood reply also goes to a person, with the parse attached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import time
from typing import Any

from bot.inbound import HandoffToAgent, Reply
from bot.store import Store
from bot.timewindows import DeliveryHours, InvalidWindow, NotUnderstood, resolve
from integrations.rasa import NLUUnavailable, ParseResult, RasaClient


def time_window(
    result: ParseResult, reply_at: Any, zone: str, start: time = time(8), end: time = time(21)
) -> dict[str, str] | None:
    """The window the first `time` entity asks for, or why it cannot be one."""
    span = result.first("time")
    if span is None:
        return None
    try:
        window = resolve(span.value, reply_at, zone, DeliveryHours(start, end))
    except (NotUnderstood, InvalidWindow) as exc:
        return {"error": str(exc)}
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


@dataclass
class UnderstandThenHandoff:
    nlu: RasaClient | None
    handoff: HandoffToAgent
    store: Store

    async def __call__(self, reply: Reply) -> None:
        if self.nlu is None:
            await self.handoff(reply, "nlu_unavailable")
            return
        try:
            result = await self.nlu.parse(reply.text)
        except NLUUnavailable:
            await self.handoff(reply, "nlu_unavailable")
            return
        hours = reply.brand.delivery_hours
        entry = {
            "dir": "nlu",
            "at": reply.received_at.timestamp(),
            **result.to_json(),
            "time_window": time_window(
                result, reply.received_at, reply.delivery.customer.timezone, hours.start, hours.end
            ),
        }
        await self.store.append_transcript(
            reply.brand.brand_id, reply.delivery.delivery_id, json.dumps(entry)
        )
        await self.handoff(reply, f"customer_reply:{result.intent}")
