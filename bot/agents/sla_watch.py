"""SLA breaches of open conversations: noticed once, counted, told to the brand.

A periodic pass reads every waiting and held conversation's hand-off, works out both
targets in the brand's business hours (`sla.py`), and for each target newly missed
marks the hand-off (once, even with several replicas running the pass), counts it
in `doorstep_sla_breaches_total{brand,target}`, tells the brand's webhook
(`sla.breached`) and the open consoles. A conversation resolved late between two
passes is caught when it is resolved; its outcome is kept for the desk's reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from bot.agents.desk import Desk
from bot.agents.sla import SlaStatus, Target, moment, status_of
from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.messaging.outbox import Outbox
from bot.messaging.webhooks import tell_dispatch

RESOLVED_KEPT = 1000


@dataclass
class SlaWatch:
    redis: Redis
    keys: Keys
    desk: Desk
    brands: BrandStore
    outbox: Outbox
    clock: Clock
    metrics: Metrics

    async def check(self) -> int:
        """One pass over every brand's open conversations; how many breaches were new."""
        found = 0
        for brand_id in sorted(str(b) for b in await self.redis.smembers(self.keys.brands())):
            brand = await self.brands.get(brand_id)
            if brand is not None:
                found += await self.check_brand(brand)
        return found

    async def check_brand(self, brand: BrandSettings) -> int:
        brand_id = brand.brand_id
        waiting = await self.redis.zrange(self.keys.agent_queue(brand_id), 0, -1)
        held = await self.redis.smembers(self.desk.held_key(brand_id))
        conversations = sorted({str(c) for c in (*waiting, *held)})
        if not conversations:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation in conversations:
                pipe.hgetall(self.keys.handoff(conversation))
            handoffs = cast(list[dict[str, str]], await pipe.execute())
        now = self.clock.now()
        found = 0
        for conversation, handoff in zip(conversations, handoffs, strict=True):
            status = status_of(brand, handoff, now)
            if status is None:
                continue
            for target in status.breaches():
                if await self.desk.mark(conversation, f"breached_{target}", now.timestamp()):
                    found += 1
                    await self._breached(brand, conversation, handoff, status, target)
        return found

    async def _breached(
        self,
        brand: BrandSettings,
        conversation: str,
        handoff: dict[str, str],
        status: SlaStatus,
        target: Target,
    ) -> None:
        delivery_id = conversation.partition("/")[2]
        self.metrics.sla_breaches.labels(brand.brand_id, target).inc()
        due = status.first_response.due if target == "first_response" else status.resolution.due
        log.warning("desk.sla_breached", conversation=conversation, target=target)
        data = {
            "delivery_id": delivery_id,
            "target": target,
            "due": due.isoformat(),
            "waiting_since": (moment(handoff.get("since")) or due).isoformat(),
            "reason": handoff.get("reason"),
            "agent": handoff.get("agent"),
        }
        await tell_dispatch(self.outbox, brand, "sla.breached", data, self.clock.now())
        await self.desk.publish(brand.brand_id, "sla", delivery_id)

    async def resolved(
        self, brand: BrandSettings, delivery_id: str, handoff: dict[str, str], agent: str
    ) -> SlaStatus | None:
        """The final outcome of a conversation just handed back: breaches no pass saw are
        counted now, and the outcome is kept for the reports."""
        now = self.clock.now()
        status = status_of(brand, {**handoff, "resolved_at": now.timestamp()}, now)
        if status is None:
            return None
        conversation = f"{brand.brand_id}/{delivery_id}"
        for target in status.breaches():
            if not handoff.get(f"breached_{target}"):
                await self._breached(brand, conversation, handoff, status, target)
        record = {
            "delivery_id": delivery_id,
            "agent": agent,
            "reason": handoff.get("reason"),
            "since": float(handoff.get("since") or now.timestamp()),
            "resolved_at": now.timestamp(),
            "sla": status.as_json(),
        }
        async with self.redis.pipeline(transaction=True) as tx:
            tx.lpush(self.keys.desk_resolved(brand.brand_id), json.dumps(record))
            tx.ltrim(self.keys.desk_resolved(brand.brand_id), 0, RESOLVED_KEPT - 1)
            await tx.execute()
        return status
