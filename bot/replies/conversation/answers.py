"""Answers to the question a conversation is waiting on: a photo, a pick from the
options offered, a time, a place, a yes or a no.

Read before the intent (decide.py): "2" or "the later one" means something only
against the options we offered, which the NLU cannot know. None from an answer means
the reply is not an answer; it is then read afresh as a request of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.replies.conversation import choices
from bot.replies.conversation.actions import (
    Action,
    BookReturn,
    Decision,
    Escalate,
    Facts,
    Note,
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
    if index is None and pending.kind == "pick_item":
        named = choices.by_name(turn.text, pending.items)
        if len(named) > 1:  # "the chair" with two chairs: which one?
            ask = Say("pick_item", {"items": list(pending.items)}, choices=pending.items)
            return Decision((ask,), state)
        index = named[0] if named else None
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
    if pending.kind == "ask_neighbour":
        place = with_neighbour(place, facts.delivery.locale)
    return safe_place(ConversationState(), place, facts)


# How a neighbour's name is introduced, in the customer's language ("with Sam at 14").
_WITH = {"en": "with", "es": "con", "fr": "chez"}
_SAYS_WHO = re.compile(
    r"^(?:with|neighbo|next door|con|al? (?:la )?vecin|(?:el|la|mi) vecin|vecin|chez|avec|"
    r"(?:au|aux|à la|a la|le|la|les|ma|mon|mes) voisin|voisin)",
    re.IGNORECASE,
)


def with_neighbour(place: str, locale: str) -> str:
    """ "Sam at 14" -> "with Sam at 14"; "con Marta" and "chez Julie" are left as said."""
    if _SAYS_WHO.match(place):
        return place
    return f"{_WITH.get(locale.split('_')[0].split('-')[0], 'with')} {place}"


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


def safe_place(
    state: ConversationState,
    place: str,
    facts: Facts,
    also: dict[str, object] | None = None,
    note: Note | None = None,
) -> Decision:
    """Save the place for this delivery, tell the driver, and offer to remember it.

    `also` are other changes the same message asked for (an access code, a note for
    the driver), stored in the same write; `note` says so in the same answer."""
    changes = {"safe_place": place, **(also or {})}
    actions: list[Action] = [UpdateDelivery(changes, tell_driver=True)]
    context = {
        "place": place,
        "address": facts.delivery.address.line1,
        "has_code": bool((note or {}).get("has_code")),
    }
    actions.append(Say("safe_place_saved", context))
    pending = Pending(kind="remember_place", place=place)
    return Decision(tuple(actions), state.model_copy(update={"pending": pending}))


# An access code: the tagger's, or a number after a word for a code ("gate code 1948").
_CODE_WORD = re.compile(r"\b(?:code|codes|c[oó]digo|clave|digicode)\b", re.IGNORECASE)
_CODE = re.compile(r"#?\b\d{3,8}#?(?!\w)|\b[A-Z]\d{3,6}\b")


def access_code(turn: Turn) -> str | None:
    code = turn.entities.get("access_code")
    if code is not None:
        return code
    word = _CODE_WORD.search(turn.text)
    if word is None:
        return None
    found = _CODE.search(turn.text, word.end()) or _CODE.search(turn.text)
    return found.group(0) if found else None


def other_requests(
    turn: Turn, place: bool = True, note_text: bool = False
) -> tuple[dict[str, object], Note]:
    """The changes for what else a message asks (a safe place, an access code) and the
    note that confirms them: "under the bench, and the gate code is 1948" is both.

    The note for the driver is the message with the code masked, whenever there is a
    code (or `note_text`: the message is itself instructions)."""
    changes: dict[str, object] = {}
    note: dict[str, object] = {}
    if place and (where := turn.entities.get("place")):
        changes["safe_place"] = where
        note["place"] = where
    code = access_code(turn)
    if code:
        changes["access_code"] = code
        note["has_code"] = True
    if code or note_text:
        text = turn.text.strip()
        changes["instructions"] = text.replace(code, "****") if code else text
    return changes, note
