"""CSAT: after an agent resolves a conversation, the customer is asked to score the help.

The question (`csat_request`) goes on the customer's own channel like any message,
so outside WhatsApp's 24-hour window the brand's approved template for it goes
instead (`whatsapp_templates.csat_request`), chosen by the sender at send time. The
conversation then waits on a `csat` answer: a reply that reads as 1-5 is recorded
here (through the executor's `CsatSink`), as the CSAT of that conversation, with the
agent who resolved it and the reason it came to a person; anything else is read as
usual and the question stays open for a few days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from bot.agents.accounts import Agent
from bot.base.brands import BrandSettings
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.live import announce
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import DeliveryRecord, Store
from bot.messaging.notify import Notice, Notifier
from bot.replies.conversation.state import ConversationState, Pending, StateStore

ASK_FOR_S = 3 * 24 * 3600  # how long a score still counts after the question
RESPONSES_KEPT = 5000
SCORES = ("1", "2", "3", "4", "5")


@dataclass
class Csat:
    redis: Redis
    keys: Keys
    store: Store
    notifier: Notifier
    states: StateStore
    clock: Clock
    metrics: Metrics

    async def ask(
        self, brand: BrandSettings, delivery: DeliveryRecord, agent: Agent, reason: str
    ) -> str | None:
        """Ask the customer to score `agent`'s help; the message id (None: CSAT is off)."""
        if not brand.desk.csat_enabled:
            return None
        conversation = f"{brand.brand_id}/{delivery.delivery_id}"
        asked = {
            "agent": agent.username,
            "agent_name": agent.name,
            "reason": reason,
            "asked_at": self.clock.timestamp(),
        }
        await self.redis.set(self.keys.csat_pending(conversation), json.dumps(asked), ex=ASK_FOR_S)
        await self.states.put(
            conversation, ConversationState(pending=Pending(kind="csat")), ASK_FOR_S
        )
        # Buttons where the channel has them; a press comes back as its number.
        notice = Notice("csat_request", {"agent": agent.name.split()[0]}, choices=SCORES)
        (message_id,) = await self.notifier.send(brand, [(delivery, notice)])
        return message_id

    async def record(self, brand_id: str, delivery_id: str, score: int) -> bool:
        """Keep a score as this conversation's CSAT; False if no question was open."""
        conversation = f"{brand_id}/{delivery_id}"
        raw = await self.redis.getdel(self.keys.csat_pending(conversation))
        if raw is None or not 1 <= score <= 5:
            log.info("csat.no_question", conversation=conversation)
            return False
        asked = json.loads(raw)
        now = self.clock.timestamp()
        response = {
            "delivery_id": delivery_id,
            "agent": asked["agent"],
            "agent_name": asked.get("agent_name", asked["agent"]),
            "reason": asked.get("reason") or "unknown",
            "score": score,
            "at": now,
        }
        totals = self.keys.csat_totals(brand_id)
        async with self.redis.pipeline(transaction=True) as tx:
            tx.lpush(self.keys.csat_responses(brand_id), json.dumps(response))
            tx.ltrim(self.keys.csat_responses(brand_id), 0, RESPONSES_KEPT - 1)
            for group in (f"agent|{response['agent']}", f"reason|{response['reason']}"):
                tx.hincrby(totals, f"{group}|n", 1)
                tx.hincrby(totals, f"{group}|sum", score)
                tx.hincrby(totals, f"{group}|{score}", 1)
            await tx.execute()
        self.metrics.csat_responses.labels(brand_id, str(score)).inc()
        entry = {
            "dir": "event",
            "event": "csat",
            "score": score,
            "agent": asked["agent"],
            "at": now,
        }
        await self.store.append_transcript(brand_id, delivery_id, json.dumps(entry))
        await announce(self.redis, self.keys, brand_id, "csat", delivery_id)
        return True

    async def report(self, brand_id: str, names: dict[str, str]) -> dict[str, Any]:
        """Scores per agent and per reason (count, average, 1-5 distribution), and the
        latest answers. `names` maps usernames to display names."""
        totals = cast(dict[str, str], await self.redis.hgetall(self.keys.csat_totals(brand_id)))
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for field, value in totals.items():
            kind, _, rest = field.partition("|")
            name, _, stat = rest.rpartition("|")
            groups.setdefault((kind, name), {})[stat] = int(value)
        rows: dict[str, list[dict[str, Any]]] = {"agent": [], "reason": []}
        for (kind, name), stats in sorted(groups.items()):
            n = stats.get("n", 0)
            if kind not in rows or not n:
                continue
            row: dict[str, Any] = {
                kind: name,
                "responses": n,
                "average": round(stats.get("sum", 0) / n, 2),
                # Share of 4s and 5s: the usual CSAT percentage.
                "satisfied": round(100 * (stats.get("4", 0) + stats.get("5", 0)) / n),
                "distribution": [stats.get(s, 0) for s in SCORES],
            }
            if kind == "agent":
                row["name"] = names.get(name, name)
            rows[kind].append(row)
        recent = [
            json.loads(r)
            for r in await self.redis.lrange(self.keys.csat_responses(brand_id), 0, 19)
        ]
        return {"agents": rows["agent"], "reasons": rows["reason"], "recent": recent}
