"""Answers to the question a conversation is waiting on: a photo, a pick from the
options offered, a time, a place, a yes or a no.

Read before the intent (decide.py): "2" or "the later one" means something only
against the options we offered, which the NLU cannot know. None from an answer means
the reply is not an answer; it is then read afresh as a request of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.replies.conversation import choices
from bot.replies.conversation.actions import (
    Action,
    BookReturn,
    Decision,
    Escalate,
    Facts,
    OfferWindows,
    OpenCase,
    RecordCsat,
    RememberPlace,
    Say,
    Turn,
    UpdateDelivery,
)
from bot.replies.conversation.state import NOT_HOME_CHOICES, ConversationState, Pending
from bot.replies.conversation.timing import ask_when, new_time, time_given

# Intents that are a request of their own even while we wait for an answer.
ACTIONS = frozenset(
    {
        "ask_eta", "reschedule", "request_return_pickup", "not_home", "cancel_delivery",
        "change_address", "report_damaged", "report_missing", "talk_to_human", "opt_out", "deny",
    }
)  # fmt: skip


def answer_pending(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    """The decision if `turn` answers the pending question, else None (read it afresh)."""
    return ANSWERS[pending.kind](state, pending, turn, facts)


def _photo_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    if turn.media:
        return open_case(pending, turn, turn.media)
    if turn.intent in ("deny", "thank") or turn.intent == pending_intent(pending):
        return open_case(pending, turn, ())
    return None


def _pick_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    count = len(pending.offers or pending.items or NOT_HOME_CHOICES)
    index = choices.pick(turn.text, count)
    if index is None and turn.intent == "affirm" and count == 1:
        index = 0
    if index is not None:
        return _picked(pending, index, facts)
    if pending.kind == "pick_window" and turn.window is not None:
        return new_time(pending.purpose, turn.window, facts, pending.item)
    if pending.kind == "pick_window" and turn.intent == "deny":
        asked = pending.model_copy(update={"kind": "ask_time"})
        return Decision((Say("ask_other_time"),), state.model_copy(update={"pending": asked}))
    return None


def _time_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    if turn.window is None and not turn.window_error:
        return None
    return time_given(turn, facts, pending.purpose, pending.item)


def _place_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    """A place, or the whole reply when it reads as one (we just asked where)."""
    place = turn.entities.get("place")
    if place is None and turn.intent not in ACTIONS and len(turn.text) <= 80:
        place = turn.text.strip()
    if not place:
        return None
    if pending.kind == "ask_neighbour" and not place.lower().startswith(("with", "neighbo")):
        place = f"with {place}"
    return safe_place(ConversationState(), place, facts)


def _yes_no_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    said = choices.yes_no(turn.text)
    if said is True or (said is None and turn.intent == "affirm"):
        return _confirmed(pending)
    if said is False or (said is None and turn.intent == "deny"):
        return Decision((Say(f"{pending.kind}_declined"),), ConversationState())
    return None


def _csat_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    """A score of the agent's help; anything else is read as a request of its own
    (and the question stays open, so a score sent later still counts)."""
    score = choices.score(turn.text)
    if score is None:
        return None
    return Decision((RecordCsat(score), Say("csat_thanks", {"score": score})), ConversationState())


Answer = Callable[[ConversationState, Pending, Turn, Facts], Decision | None]
ANSWERS: dict[str, Answer] = {
    "photo": _photo_answer,
    "pick_window": _pick_answer,
    "pick_item": _pick_answer,
    "not_home": _pick_answer,
    "ask_time": _time_answer,
    "ask_place": _place_answer,
    "ask_neighbour": _place_answer,
    "remember_place": _yes_no_answer,
    "confirm_cancel": _yes_no_answer,
    "confirm_address": _yes_no_answer,
    "csat": _csat_answer,
}


def pending_intent(pending: Pending) -> str:
    return "report_damaged" if pending.case == "damaged" else "report_missing"


def _picked(pending: Pending, index: int, facts: Facts) -> Decision:
    clear = ConversationState()
    if pending.kind == "pick_item":
        item = pending.items[index]
        return Decision((OfferWindows("return", facts.today, item=item),), clear)
    if pending.kind == "not_home":
        choice = NOT_HOME_CHOICES[index]
        if choice == "safe_place":
            return Decision(
                (Say("ask_place"),), ConversationState(pending=Pending(kind="ask_place"))
            )
        if choice == "neighbour":
            return Decision(
                (Say("ask_neighbour"),), ConversationState(pending=Pending(kind="ask_neighbour"))
            )
        if choice == "another_time":
            return ask_when(facts, "reschedule")
        return Decision((Escalate("collect_instead"),), clear)
    window = pending.offers[index]
    if pending.purpose == "return":
        return Decision((BookReturn(pending.item or "", window),), clear)
    return new_time("reschedule", window, facts, None)


def _confirmed(pending: Pending) -> Decision:
    clear = ConversationState()
    if pending.kind == "remember_place" and pending.place:
        return Decision((RememberPlace(pending.place), Say("place_remembered")), clear)
    if pending.kind == "confirm_cancel":
        return Decision((Escalate("cancel_delivery"),), clear)
    return Decision((Escalate("change_address"),), clear)


def open_case(pending: Pending, turn: Turn, photos: tuple[str, ...]) -> Decision:
    """A damaged or missing report becomes a case for a person, with or without a photo."""
    kind = pending.case or "damaged"
    return Decision(
        (
            OpenCase(kind, photos, turn.text),
            Say("case_opened", {"kind": kind, "has_photo": bool(photos)}),
            Escalate(f"report_{kind}", notify=False),
        ),
        ConversationState(),
    )


def safe_place(state: ConversationState, place: str, facts: Facts) -> Decision:
    """Save the place for this delivery, tell the driver, and offer to remember it."""
    actions: list[Action] = [UpdateDelivery({"safe_place": place}, tell_driver=True)]
    actions.append(
        Say("safe_place_saved", {"place": place, "address": facts.delivery.address.line1})
    )
    pending = Pending(kind="remember_place", place=place)
    return Decision(tuple(actions), state.model_copy(update={"pending": pending}))
