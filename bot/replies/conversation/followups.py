"""The rules for what follows an action that needed the outside world. Pure, like decide."""

from __future__ import annotations

from bot.base.values import Window
from bot.replies.conversation.actions import Decision, Escalate, Note, Purpose, Say
from bot.replies.conversation.state import NOT_HOME_CHOICES, ConversationState, Pending


def noted(note: Note | None) -> dict[str, object]:
    """What else the message asked for, as every answer about a time carries it."""
    note = note or {}
    return {"place": note.get("place"), "has_code": bool(note.get("has_code"))}


def offer(pending: Pending, reason: str, note: Note | None = None) -> Say:
    """The message offering `pending.offers`; choices become buttons where a channel has them."""
    return Say(
        "window_offers",
        {
            "offers": list(pending.offers),
            "reason": reason,
            "purpose": pending.purpose,
            "item": pending.item,
            **noted(note),
        },
        choices=pending.offers,
    )


def offers_made(
    purpose: Purpose,
    reason: str,
    offers: list[Window],
    item: str | None,
    note: Note | None = None,
) -> Decision:
    if not offers:
        return Decision(
            (Say("no_windows", {"purpose": purpose}), Escalate("no_window", notify=False)),
            ConversationState(),
        )
    pending = Pending(kind="pick_window", purpose=purpose, offers=tuple(offers), item=item)
    return Decision((offer(pending, reason, note),), ConversationState(pending=pending))


def window_tried(
    window: Window, fitted: bool, offers: list[Window], note: Note | None = None
) -> Decision:
    if fitted:
        return rebooked(window, note)
    return offers_made("reschedule", "not_fit", offers, None, note)


def rebooked(window: Window, note: Note | None = None) -> Decision:
    context = {"window": window, **noted(note)}
    return Decision((Say("reschedule_confirmed", context),), ConversationState())


def return_booked(item: str, window: Window, fitted: bool, offers: list[Window]) -> Decision:
    if fitted:
        return Decision(
            (Say("return_confirmed", {"item": item, "window": window}),), ConversationState()
        )
    return offers_made("return", "not_fit", offers, item)


def reprompt(pending: Pending) -> Say:
    """The pending question, asked again (after a greeting, say)."""
    if pending.kind == "pick_window":
        return offer(pending, "ask")
    if pending.kind == "pick_item":
        return Say("pick_item", {"items": list(pending.items)}, choices=pending.items)
    if pending.kind == "not_home":
        return Say("not_home_options", choices=NOT_HOME_CHOICES)
    if pending.kind == "remember_place":
        return Say("remember_place_again", {"place": pending.place})
    if pending.kind == "confirm_address":
        return Say("confirm_address", {"address": pending.address})
    if pending.kind == "photo":
        return Say("ask_photo", {"kind": pending.case})
    simple = {
        "ask_time": "ask_other_time",
        "confirm_cancel": "confirm_cancel",
        "csat": "csat_request",
    }
    return Say(simple.get(pending.kind, pending.kind))
