"""Resolving a conversation: what happens when an agent hands it back to the bot.

One place for it, so that the console's button and an integration's API call do the
same things in the same order: the hand-off ends (the bot answers again), the SLA
outcome is settled and kept, the customer is asked to score the help (CSAT), and the
room the agent just got back is offered to the next waiting conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.agents.accounts import Agent
from bot.agents.assign import Assigner
from bot.agents.csat import Csat
from bot.agents.desk import Desk
from bot.agents.sla_watch import SlaWatch
from bot.base.brands import BrandSettings
from bot.base.logs import log
from bot.base.store import DeliveryRecord


@dataclass
class Resolution:
    desk: Desk
    sla: SlaWatch
    csat: Csat
    assigner: Assigner

    async def resolve(
        self, brand: BrandSettings, delivery: DeliveryRecord, agent: Agent, ask_csat: bool = True
    ) -> dict[str, Any]:
        """Hand back (raises `NotHeld` unless `agent` holds it); what followed."""
        handoff = await self.desk.hand_back(brand.brand_id, delivery.delivery_id, agent)
        status = await self.sla.resolved(brand, delivery.delivery_id, handoff, agent.username)
        csat_message = None
        if ask_csat:
            reason = handoff.get("reason", "")
            try:
                csat_message = await self.csat.ask(brand, delivery, agent, reason)
            except Exception:  # the hand-back stands; a question that cannot go is logged
                log.exception("desk.csat_not_asked", delivery_id=delivery.delivery_id)
        await self.assigner.assign_brand(brand)
        return {
            "ok": True,
            "sla": status.as_json() if status else None,
            "csat_message": csat_message,
        }
