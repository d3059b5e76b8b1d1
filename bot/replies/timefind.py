"""The time a customer wants, found inside a whole message when the tagger marked none.

"could the delivery come this evening instead of this morning? Thanks!" asks for this
evening: the message is read clause by clause (split at sentence marks, commas and
"but"), and a time the customer rules out is dropped before anything is read:
whatever follows "instead of" / "rather than" / "not" (and their Spanish and French
words) in its clause, and whatever comes before "doesn't work" / "no me viene bien" /
"ne me convient pas". The first clause left with a time is the request; a day in one
clause and an hour in another ("tomorrow? after 5 would be best") are read together.
A bare number ("2", "order 5") is never a time here: only the tagger may say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.replies.timewindows import (
    DeliveryHours,
    InvalidWindow,
    NotUnderstood,
    ResolvedWindow,
    day_of,
    has_duration,
    read,
    window_of,
)
from bot.replies.timewords import candidates, plain

_CLAUSES = re.compile(r"[.!?;:\n,]+(?!\d)|\bbut\b")
_DAY = DeliveryHours()
_BARE_NUMBER = re.compile(r"^\W*\d{1,2}\W*$")


@dataclass(frozen=True, slots=True)
class FoundTime:
    """The time found (in the canonical form) and its window, or why it is not one."""

    span: str
    window: ResolvedWindow | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    has_day: bool
    has_time: bool


def _wanted(clause: str) -> str:
    """The clause without the time it rules out."""
    if (m := re.search(r"\bnogood\b", clause)) is not None:
        clause = clause[m.end() :]
    if (m := re.search(r"\b(?:instead|not)\b", clause)) is not None:
        clause = clause[: m.start()]
    return clause.strip()


def _piece(clause: str, hours: DeliveryHours, today: date, day_first: bool) -> _Piece | None:
    if not clause or _BARE_NUMBER.match(clause):
        return None
    try:
        reading = read(clause, hours)
        day = day_of(reading.rest, today, day_first)
    except NotUnderstood:
        return None
    has_time = reading.window is not None or has_duration(clause)
    has_day = day is not None or reading.today
    return _Piece(clause, has_day, has_time) if has_time or has_day else None


def wanted_time(
    canon: str, hours: DeliveryHours, today: date, day_first: bool = False
) -> str | None:
    """The wanted time in a canonical message, as a span the resolver reads, or None."""
    pieces = [
        p
        for clause in _CLAUSES.split(canon)
        if (p := _piece(_wanted(clause), hours, today, day_first)) is not None
    ]
    if not pieces:
        return None
    first, parts = pieces[0], [pieces[0].text]
    if not (first.has_day and first.has_time):
        # "tomorrow? after 5 would be best": the other half of the request, once.
        other = next(
            (p for p in pieces[1:] if p.has_day != first.has_day and p.has_day != p.has_time),
            None,
        )
        if other is not None:
            parts.append(other.text)
    return " ".join(parts)


def fuller_time(
    text: str,
    span: str,
    reference: datetime,
    zone: str,
    hours: DeliveryHours = _DAY,
    lang: str | None = None,
) -> FoundTime | None:
    """The message's wanted time when it holds the tagged `span` and says more.

    The tagger sometimes marks a piece of the time ("17h" of "demain après 17h"): the
    clause it sits in is then the request. None when the message adds nothing."""
    found = find_time(text, reference, zone, hours, lang)
    if found is None:
        return None
    tagged = candidates(plain(span), lang)[0][1]
    if not tagged or tagged not in found.span or tagged == found.span:
        return None
    return found


def find_time(
    text: str,
    reference: datetime,
    zone: str,
    hours: DeliveryHours = _DAY,
    lang: str | None = None,
) -> FoundTime | None:
    """The time `text` asks for, if it names one (see the module's docstring)."""
    ref = reference.astimezone(ZoneInfo(zone))
    for words, canon in candidates(plain(text), lang):
        span = wanted_time(canon, hours, ref.date(), words.day_first)
        if span is None:
            continue
        try:
            return FoundTime(span, window_of(span, ref, hours, words.day_first))
        except InvalidWindow as exc:
            return FoundTime(span, error=str(exc))
        except NotUnderstood:
            continue
    return None
