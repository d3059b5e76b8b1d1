"""Times and windows in a conversation: the day to offer, and where a chosen time goes.

Shared by the intent handlers (decide.py), the pending-question answers (answers.py)
and the agent console, which books a window for the customer the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.base.values import Window
from bot.replies.conversation.actions import (
    Action,
    BookReturn,
    Decision,
    Facts,
    Note,
    OfferWindows,
    Purpose,
    Rebook,
    TryWindow,
    Turn,
)
from bot.replies.conversation.state import ConversationState
from bot.replies.timewindows import TIME_PASSED


def offer_day(facts: Facts) -> date:
    """Today while at least two hours of delivery are left, else tomorrow."""
    zone = ZoneInfo(facts.delivery.customer.timezone)
    close = datetime.combine(facts.today, facts.brand.delivery_hours.end, zone)
    has_room = close - facts.now > timedelta(hours=2)
    return facts.today if has_room else facts.today + timedelta(days=1)


def ask_when(
    facts: Facts,
    purpose: Purpose,
    item: str | None = None,
    before: tuple[Action, ...] = (),
    note: Note | None = None,
) -> Decision:
    offer = OfferWindows(purpose, offer_day(facts), item=item, note=note or {})
    return Decision((*before, offer), ConversationState())


def time_given(
    turn: Turn,
    facts: Facts,
    purpose: Purpose,
    item: str | None,
    before: tuple[Action, ...] = (),
    note: Note | None = None,
) -> Decision:
    """The time the customer gave, or, when it cannot be a window, windows that can
    (saying why: "that time has passed" for a part of today that is over).

    `before` are what the same message also asked for (a safe place, a code), done
    first; `note` says so in the answer about the time."""
    if turn.window is not None:
        chosen = new_time(purpose, turn.window, facts, item, note)
        return Decision((*before, *chosen.actions), chosen.state)
    reason: Literal["passed", "invalid"] = (
        "passed" if turn.window_error == TIME_PASSED else "invalid"
    )
    offer = OfferWindows(purpose, offer_day(facts), reason=reason, item=item, note=note or {})
    return Decision((*before, offer), ConversationState())


def new_time(
    purpose: Purpose, window: Window, facts: Facts, item: str | None, note: Note | None = None
) -> Decision:
    """A chosen time: a pickup booked, or a delivery moved on today's route or rebooked."""
    if purpose == "return":
        return Decision((BookReturn(item or "", window),), ConversationState())
    if facts.on_route and facts.day_of(window) == facts.today:
        return Decision((TryWindow(window, note or {}),), ConversationState())
    return Decision((Rebook(window, note or {}),), ConversationState())
