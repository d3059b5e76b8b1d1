"""The rules: (state, reply, facts) -> actions and the next state. Pure: no I/O, no clock.

Order of precedence for a reply, once it is read as meant here (rereading.py: no
rating before delivery, a greeting with a question is the question):
1. a photo we were waiting for;
2. a pick from options we offered ("2", "the later one") - read before the NLU,
   which cannot know what "2" means here;
3. an answer to the pending question (yes/no, a place, a time);
4. the intent, when the NLU is confident enough; otherwise ask again once, then a person.
Steps 1-3 are answers.py; the handlers for step 4 are here. A handler also does what
else the message asks for (a place, a code, a time) and confirms it in the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.replies.conversation.actions import (
    Action,
    Decision,
    Escalate,
    Facts,
    OptOut,
    Say,
    Turn,
    UpdateDelivery,
)
from bot.replies.conversation.answers import (
    access_code,
    answer_pending,
    open_case,
    other_requests,
    safe_place,
)
from bot.replies.conversation.choices import by_name
from bot.replies.conversation.followups import reprompt
from bot.replies.conversation.rereading import reread
from bot.replies.conversation.state import NOT_HOME_CHOICES, ConversationState, Pending
from bot.replies.conversation.timing import ask_when, new_time, time_given

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "zero": 0}


def decide(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    turn = reread(turn, facts)
    pending = state.pending
    if pending is not None:
        answered = answer_pending(state, pending, turn, facts)
        if answered is not None:
            return answered
    if turn.confidence < facts.brand.low_confidence:
        if state.low_confidence + 1 >= 2:
            return Decision((Escalate("low_confidence"),), ConversationState())
        return Decision((Say("not_understood"),), state.model_copy(update={"low_confidence": 1}))
    handler = INTENTS.get(turn.intent, _out_of_scope)
    decision = handler(state.model_copy(update={"low_confidence": 0}), turn, facts)
    return decision


def tapped(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    """A choice made on the tracking page. It is as explicit as a confident reply, and
    not an answer to a question, so it goes straight to its intent's handler: the
    same rules, route changes and confirmations as the same request typed."""
    return INTENTS[turn.intent](state.model_copy(update={"low_confidence": 0}), turn, facts)


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


def _has_time(turn: Turn) -> bool:
    return turn.window is not None or turn.window_error is not None


def _reschedule(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    if facts.delivery.status in ("delivered", "cancelled"):
        return _ask_eta(state, turn, facts)
    # "tomorrow after 5, leave it on the porch if I'm out": the place (or code) too.
    changes, note = other_requests(turn)
    before = (UpdateDelivery(changes, tell_driver=True),) if changes else ()
    if not _has_time(turn):
        return ask_when(facts, "reschedule", before=before, note=note)
    return time_given(turn, facts, "reschedule", None, before, note)


def _set_safe_place(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    place = turn.entities.get("place")
    if not place:
        return Decision(
            (Say("ask_place"),), state.model_copy(update={"pending": Pending(kind="ask_place")})
        )
    also, note = other_requests(turn, place=False, note_text=turn.intent == "delivery_instructions")
    if _has_time(turn) and facts.delivery.status not in ("delivered", "cancelled"):
        # A place and a time: both done, both confirmed in the answer about the time.
        update = UpdateDelivery({"safe_place": place, **also}, tell_driver=True)
        return time_given(turn, facts, "reschedule", None, (update,), {"place": place, **note})
    return safe_place(state, place, facts, also, note)


def _instructions(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    if turn.entities.get("place"):
        return _set_safe_place(state, turn, facts)
    code = access_code(turn)
    changes, note = other_requests(turn, place=False, note_text=True)
    if _has_time(turn) and facts.delivery.status not in ("delivered", "cancelled"):
        # "bring it this arvo": a note for the driver that asks for a time too.
        before = (UpdateDelivery(changes, tell_driver=True),)
        return time_given(turn, facts, "reschedule", None, before, note)
    return Decision(
        (
            UpdateDelivery(changes, tell_driver=True),
            Say("instructions_saved", {"has_code": bool(code)}),
        ),
        state,
    )


def _return_pickup(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    names = list(dict.fromkeys(i.name for i in facts.delivery.items))
    named = [names[i] for i in by_name(turn.text, names)]
    if len(names) > 1 and len(named) != 1:
        pending = Pending(kind="pick_item", purpose="return", items=tuple(names))
        return Decision(
            (Say("pick_item", {"items": names}, choices=tuple(names)),),
            state.model_copy(update={"pending": pending}),
        )
    item = named[0] if named else (names[0] if names else "")
    if turn.window is not None:
        return new_time("return", turn.window, facts, item)
    return ask_when(facts, "return", item)


def _not_home(state: ConversationState, turn: Turn, facts: Facts) -> Decision:
    if turn.entities.get("place"):  # "I'm out, leave it with number 12": that is the answer
        return _set_safe_place(state, turn, facts)
    if _has_time(turn):  # a time they *can* take it: a reschedule (the contract's rule)
        return _reschedule(state, turn, facts)
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
            return open_case(pending, turn, turn.media)
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
