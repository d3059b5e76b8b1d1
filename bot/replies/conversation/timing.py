"""Times and windows in a conversation: the day to offer, and where a chosen time goes.

Shared by the intent handlers (decide.py), the pending-question answers (answers.py)
and the agent console, which books a window for the customer the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.base.values import Window
from bot.replies.conversation.actions import (
    BookReturn,
    Decision,
    Facts,
    OfferWindows,
    Purpose,
    Rebook,
    TryWindow,
    Turn,
)
from bot.replies.conversation.state import ConversationState


def offer_day(facts: Facts) -> date:
    """Today while at least two hours of delivery are left, else tomorrow."""
    zone = ZoneInfo(facts.delivery.customer.timezone)
    close = datetime.combine(facts.today, facts.brand.delivery_hours.end, zone)
    has_room = close - facts.now > timedelta(hours=2)
    return facts.today if has_room else facts.today + timedelta(days=1)


def ask_when(facts: Facts, purpose: Purpose, item: str | None = None) -> Decision:
    return Decision((OfferWindows(purpose, offer_day(facts), item=item),), ConversationState())


def time_given(turn: Turn, facts: Facts, purpose: Purpose, item: str | None) -> Decision:
    """The time the customer gave, or, when it cannot be a window, windows that can."""
    if turn.window is not None:
        return new_time(purpose, turn.window, facts, item)
    offer = OfferWindows(purpose, offer_day(facts), reason="invalid", item=item)
    return Decision((offer,), ConversationState())


def new_time(purpose: Purpose, window: Window, facts: Facts, item: str | None) -> Decision:
    """A chosen time: a pickup booked, or a delivery moved on today's route or rebooked."""
    if purpose == "return":
        return Decision((BookReturn(item or "", window),), ConversationState())
    if facts.on_route and facts.day_of(window) == facts.today:
        return Decision((TryWindow(window),), ConversationState())
    return Decision((Rebook(window),), ConversationState())
