"""The rules: (state, reply, facts) -> actions and the next state. Pure: no I/O, no clock.

Order of precedence for a reply:
1. a photo we were waiting for;
2. a pick from options we offered ("2", "the later one") - read before the NLU,
   which cannot know what "2" means here;
3. an answer to the pending question (yes/no, a place, a time);
4. the intent, when the NLU is confident enough; otherwise ask again once, then a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.conversation import choices
from bot.conversation.actions import (
    Action,
    BookReturn,
    Decision,
    Escalate,
    Facts,
    OfferWindows,
    OpenCase,
    OptOut,
    Purpose,
    Rebook,
    RememberPlace,
    Say,
    TryWindow,
    Turn,
    UpdateDelivery,
)
from bot.conversation.followups import reprompt
from bot.conversation.state import NOT_HOME_CHOICES, ConversationState, Pending
from bot.events import Window

# Intents that are a request of their own even while we wait for an answer.
ACTIONS = frozenset(
    {
        "ask_eta", "reschedule", "request_return_pickup", "not_home", "cancel_delivery",
        "change_address", "report_damaged", "report_missing", "talk_to_human", "opt_out", "deny",
    }
)  # fmt: skip
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "zero": 0}


def decide(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    pending = state.pending
    if pending is not None:
        answered = _answer_pending(state, pending, turn, facts)
        if answered is not None:
            return answered
    if turn.confidence < facts.brand.low_confidence:
        if state.low_confidence + 1 >= 2:
            return Decision((Escalate("low_confidence"),), ConversationState())
        return Decision((Say("not_understood"),), state.model_copy(update={"low_confidence": 1}))
    handler = INTENTS.get(turn.intent, _out_of_scope)
    decision = handler(state.model_copy(update={"low_confidence": 0}), turn, facts)
    return decision


# --- pending questions ----------------------------------------------------------


def _answer_pending(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    """The decision if `turn` answers the pending question, else None (read it afresh)."""
    return ANSWERS[pending.kind](state, pending, turn, facts)


def _photo_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    if turn.media:
        return _case(pending, turn, turn.media)
    if turn.intent in ("deny", "thank") or turn.intent == pending_intent(pending):
        return _case(pending, turn, ())
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
    return _time_given(turn, facts, pending.purpose, pending.item)


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
    return _safe_place(ConversationState(), place, facts)


def _yes_no_answer(
    state: ConversationState, pending: Pending, turn: Turn, facts: Facts
) -> Decision | None:
    said = choices.yes_no(turn.text)
    if said is True or (said is None and turn.intent == "affirm"):
        return _confirmed(pending)
    if said is False or (said is None and turn.intent == "deny"):
        return Decision((Say(f"{pending.kind}_declined"),), ConversationState())
    return None


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
            return _ask_when(facts, "reschedule")
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


def _case(pending: Pending, turn: Turn, photos: tuple[str, ...]) -> Decision:
    kind = pending.case or "damaged"
    return Decision(
        (
            OpenCase(kind, photos, turn.text),
            Say("case_opened", {"kind": kind, "has_photo": bool(photos)}),
            Escalate(f"report_{kind}", notify=False),
        ),
        ConversationState(),
    )


# --- times and windows -----------------------------------------------------------


def _offer_day(facts: Facts) -> date:
    """Today while at least two hours of delivery are left, else tomorrow."""
    zone = ZoneInfo(facts.delivery.customer.timezone)
    close = datetime.combine(facts.today, facts.brand.delivery_hours.end, zone)
    has_room = close - facts.now > timedelta(hours=2)
    return facts.today if has_room else facts.today + timedelta(days=1)


def _ask_when(facts: Facts, purpose: Purpose, item: str | None = None) -> Decision:
    return Decision((OfferWindows(purpose, _offer_day(facts), item=item),), ConversationState())


def _time_given(turn: Turn, facts: Facts, purpose: Purpose, item: str | None) -> Decision:
    """The time the customer gave, or, when it cannot be a window, windows that can."""
    if turn.window is not None:
        return new_time(purpose, turn.window, facts, item)
    offer = OfferWindows(purpose, _offer_day(facts), reason="invalid", item=item)
    return Decision((offer,), ConversationState())


def new_time(purpose: Purpose, window: Window, facts: Facts, item: str | None) -> Decision:
    """A chosen time: a pickup booked, or a delivery moved on today's route or rebooked."""
    if purpose == "return":
        return Decision((BookReturn(item or "", window),), ConversationState())
    if facts.on_route and facts.day_of(window) == facts.today:
        return Decision((TryWindow(window),), ConversationState())
    return Decision((Rebook(window),), ConversationState())


# --- intents ----------------------------------------------------------------------

Handler = Callable[[ConversationState, Turn, Facts], Decision]


def _ask_eta(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    d = facts.delivery
    context: dict[str, object] = {"status": d.status}
    media: tuple[str, ...] = ()
    if d.status == "delivered":
        context |= {"delivered_at": d.completed_at, "safe_place": d.safe_place}
        media = tuple(d.photo_urls[:1])
    elif d.status == "dispatched" and d.eta_window is not None:
        context["window"] = d.eta_window
    else:
        context["window"] = d.promised_window
    return Decision((Say("eta_answer", context, media=media),), state)


def _reschedule(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    if facts.delivery.status in ("delivered", "cancelled"):
        return _ask_eta(state, turn, facts)
    if turn.window is None and turn.window_error is None:
        return _ask_when(facts, "reschedule")
    return _time_given(turn, facts, "reschedule", None)


def _safe_place(state: ConversationState, place: str, facts: Facts) -> Decision:
    actions: list[Action] = [UpdateDelivery({"safe_place": place}, tell_driver=True)]
    actions.append(
        Say("safe_place_saved", {"place": place, "address": facts.delivery.address.line1})
    )
    pending = Pending(kind="remember_place", place=place)
    return Decision(tuple(actions), state.model_copy(update={"pending": pending}))


def _set_safe_place(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    place = turn.entities.get("place")
    if not place:
        return Decision(
            (Say("ask_place"),), state.model_copy(update={"pending": Pending(kind="ask_place")})
        )
    return _safe_place(state, place, facts)


_CODE = re.compile(r"#?\b\d{3,8}#?\b|\b[A-Z]\d{3,6}\b")


def _instructions(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    code = turn.entities.get("access_code")
    if code is None:
        found = _CODE.search(turn.text)
        code = found.group(0) if found and "code" in turn.text.lower() else None
    note = turn.text.strip()
    if code:
        note = note.replace(code, "****")
    changes: dict[str, object] = {"instructions": note}
    if code:
        changes["access_code"] = code
    return Decision(
        (
            UpdateDelivery(changes, tell_driver=True),
            Say("instructions_saved", {"has_code": bool(code)}),
        ),
        state,
    )


def _return_pickup(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    names = list(dict.fromkeys(i.name for i in facts.delivery.items))
    said = turn.text.lower()
    named = [n for n in names if n.lower() in said]
    if len(names) > 1 and len(named) != 1:
        pending = Pending(kind="pick_item", purpose="return", items=tuple(names))
        return Decision(
            (Say("pick_item", {"items": names}, choices=tuple(names)),),
            state.model_copy(update={"pending": pending}),
        )
    item = named[0] if named else (names[0] if names else "")
    if turn.window is not None:
        return new_time("return", turn.window, facts, item)
    return _ask_when(facts, "return", item)


def _not_home(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    pending = Pending(kind="not_home")
    return Decision(
        (Say("not_home_options", choices=NOT_HOME_CHOICES),),
        state.model_copy(update={"pending": pending}),
    )


def _cancel(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    pending = Pending(kind="confirm_cancel")
    return Decision((Say("confirm_cancel"),), state.model_copy(update={"pending": pending}))


def _change_address(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    address = turn.entities.get("address")
    pending = Pending(kind="confirm_address", address=address)
    return Decision(
        (Say("confirm_address", {"address": address}),),
        state.model_copy(update={"pending": pending}),
    )


def _report(kind: str) -> Handler:
    def handler(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
        pending = Pending(kind="photo", case="damaged" if kind == "damaged" else "missing")
        if turn.media:
            return _case(pending, turn, turn.media)
        return Decision(
            (Say("ask_photo", {"kind": kind}),), state.model_copy(update={"pending": pending})
        )

    return handler


def _talk_to_human(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    return Decision((Escalate("talk_to_human"),), ConversationState())


def rating_of(turn: Turn) -> int | None:
    raw = turn.entities.get("rating")
    for text in (raw, turn.text) if raw else (turn.text,):
        found = re.search(r"\b([0-5])\b", text)
        if found:
            return int(found.group(1))
        for word, n in NUMBER_WORDS.items():
            if re.search(rf"\b{word}\b", text.lower()):
                return n
    return None


def _rate(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    rating = rating_of(turn)
    if rating is not None and rating <= 2:
        return Decision(
            (
                UpdateDelivery({"rating": rating}),
                Say("rating_sorry"),
                Escalate("low_rating", notify=False),
            ),
            ConversationState(),
        )
    actions: list[Action] = [Say("rating_thanks")]
    if rating is not None:
        actions.insert(0, UpdateDelivery({"rating": rating}))
    return Decision(tuple(actions), state)


def _greet(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    again = (reprompt(state.pending),) if state.pending is not None else ()
    return Decision((Say("greet_reply"), *again), state)


def _thank(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    return Decision((Say("thank_reply"),), state)


def _affirm(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    return Decision((Say("ok_reply"),), state)


def _deny(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    return Decision((Say("help_short"),), state)


def _opt_out(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    return Decision((OptOut(),), ConversationState())


def _out_of_scope(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    return Decision((Say("help_short"),), state)


INTENTS: dict[str, Handler] = {
    "ask_eta": _ask_eta,
    "reschedule": _reschedule,
    "set_safe_place": _set_safe_place,
    "delivery_instructions": _instructions,
    "request_return_pickup": _return_pickup,
    "not_home": _not_home,
    "cancel_delivery": _cancel,
    "change_address": _change_address,
    "report_damaged": _report("damaged"),
    "report_missing": _report("missing"),
    "talk_to_human": _talk_to_human,
    "rate_delivery": _rate,
    "greet": _greet,
    "thank": _thank,
    "affirm": _affirm,
    "deny": _deny,
    "opt_out": _opt_out,
    "out_of_scope": _out_of_scope,
}
