"""Turn a customer's `time` span ("tomorrow after 5", "mañana por la tarde", "demain
après 17h") into a delivery window.

The rules are the NLU contract's (../shared/spec/nlu-contract.md, "Time windows" and
"Languages"), written once here for the canonical form that every language's words
are rewritten into first (`bot/replies/timewords/`): a day part and a time-of-day part,
either optional, in either order; hours without am/pm read 1-7 as pm, 8-11 as am, 12
as noon, unless a part of the day says which ("at 7 tonight" is 19:00); no day means
today if the window's end is still ahead, else tomorrow, but "this morning" or
"tonight" is today even once it has passed; a weekday means the next such day after
today; every window is clipped to the delivery day. What cannot be read is reported
as not understood, never guessed.

Local times are built with zoneinfo on the customer's calendar date, so a window
on the day clocks change is still 08:00-21:00 on the wall clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.replies.timewords import TimeWords, candidates, plain

WEEKDAYS = {
    name: i
    for i, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed", "weds"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        )
    )
    for name in names
}
Meridiem = Literal["am", "pm"] | None
# Each part of the day: its window, and whether an hour said with it is am or pm.
PARTS_OF_DAY: dict[str, tuple[tuple[time, time], Meridiem]] = {
    "morning": ((time(8), time(12)), "am"),
    "afternoon": ((time(12), time(17)), "pm"),
    "evening": ((time(17), time(21)), "pm"),
    "tonight": ((time(17), time(21)), "pm"),
    "night": ((time(17), time(21)), "pm"),
    "lunchtime": ((time(11), time(13)), None),
    "lunch": ((time(11), time(13)), None),
    "noon": ((time(11), time(13)), None),
    "midday": ((time(11), time(13)), None),
}

# An hour as the canonical form writes it: "5", "5:30", "17:00", "5pm", "noon". Not a
# piece of a longer number ("1948") or of an ordinal ("5th").
_H = r"(?<![\w:/])(?:\d{1,2}(?::\d{2})?(?:am|pm)?|noon|midday|midnight)(?![\w/]|:\d)"
_PART = "|".join(PARTS_OF_DAY)
_STREET = (
    r"(?!\s+(?:[a-z]+\s+)?(?:st|street|rd|road|ave|avenue|lane|ln|drive|dr|court|ct|way|blvd)\b)"
)
_RANGE = re.compile(
    rf"(?:between\s+|from\s+)?(?P<a>{_H})\s*(?:-|to|and|til|till|until)\s*(?P<b>{_H})"
)
_AFTER = re.compile(rf"\b(?:after|from|since|past)\s+(?P<a>{_H})")
_BEFORE = re.compile(rf"\b(?:before|by|until|till|til)\s+(?P<a>{_H})")
_AROUND = re.compile(rf"(?:\b(?:at|around|about|approx(?:imately)?)|~|@)\s*(?P<a>{_H}){_STREET}")
# An hour said with its part of the day: "7 tonight", "10 in the morning".
_HOUR_PART = re.compile(
    rf"(?P<a>{_H})\s+(?:in\s+the\s+|this\s+|at\s+)?(?P<p>morning|afternoon|evening|tonight|night)\b"
)
_BARE = re.compile(rf"^(?P<a>{_H})$")
_CLOCK = re.compile(r"(?<![\w:/])(?P<a>\d{1,2}:\d{2}(?:am|pm)?|\d{1,2}(?:am|pm))(?![\w/])")
_DAYPART = re.compile(rf"\b(?:(?P<this>this)\s+|(?:in|during)\s+the\s+|at\s+)?(?P<p>{_PART})\b")
_ORDINAL = re.compile(r"(?:the\s+)?\b(?P<d>\d{1,2})(?:st|nd|rd|th)\b")
_MONTH_DAY = re.compile(r"\b(?P<m>[a-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b(?!:)")
_DAY_MONTH = re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>[a-z]{3,9})\b")
_NUMERIC_DATE = re.compile(r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})\b")
# "in an hour", "in 2 hours", "in half an hour", "in 30 mins": around that moment.
_IN_DURATION = re.compile(
    r"\bin\s+(?:(?P<half>half\s+an?)|(?P<n>an|a|one|two|three|\d{1,3}))\s+"
    r"(?P<unit>hours?|hrs?|minutes?|mins?)\b"
)
_SMALL_NUMBERS = {"an": 1, "a": 1, "one": 1, "two": 2, "three": 3}


TIME_PASSED = "that time has passed"


class NotUnderstood(ValueError):
    """The span is not a time this resolver can read; the message says what was wrong."""


class InvalidWindow(ValueError):
    """The span was read but names a window in the past or outside delivery hours."""


@dataclass(frozen=True, slots=True)
class DeliveryHours:
    start: time = time(8)
    end: time = time(21)


@dataclass(frozen=True, slots=True)
class ResolvedWindow:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Reading:
    """What a canonical text says: a time of day, a day (or today by its words), the rest."""

    window: tuple[time, time] | None
    today: bool  # "this morning", "tonight": today, even once it has passed
    rest: str


def _clock(written: str, meridiem: Meridiem = None) -> time:
    """An hour as written -> a time: am/pm as written, else as the part of the day
    says, else the contract's defaults (1-7 pm, 8-11 am); "07:00" is as written."""
    hour_text = written.strip()
    if hour_text in ("noon", "midday"):
        return time(12)
    if hour_text == "midnight":
        return time(0)
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", hour_text)
    if m is None:
        raise NotUnderstood(f"cannot read the hour {written!r}")
    hour, minute, half = int(m[1]), int(m[2] or 0), m[3] or meridiem
    if minute > 59 or hour > 23:
        raise NotUnderstood(f"cannot read the hour {written!r}")
    if half == "pm" and hour < 12:
        hour += 12
    elif half == "am" and hour == 12 and m[3]:
        hour = 0
    elif half is None and 1 <= hour <= 7 and not m[1].startswith("0"):
        hour += 12
    if hour > 23:
        raise NotUnderstood(f"cannot read the hour {written!r}")
    return time(hour, minute)


def _around(x: time) -> tuple[time, time]:
    base = datetime.combine(date(2000, 1, 1), x)
    lo, hi = base - timedelta(hours=1), base + timedelta(hours=1)
    return (
        lo.time() if lo.date() == base.date() else time(0),
        hi.time() if hi.date() == base.date() else time(23, 59),
    )


def _cut(text: str, m: re.Match[str]) -> str:
    return text[: m.start()] + " " + text[m.end() :]


def read(text: str, hours: DeliveryHours) -> Reading:
    """The time-of-day window named in canonical `text`, and the text without it.

    Explicit hours come first, so that "after noon" is noon-21:00, not lunchtime; a
    part of the day said with an hour only says whether the hour is am or pm.
    """
    kind, found = "", None
    for kind, pattern in (  # noqa: B007 (the kind of the pattern that matched)
        ("range", _RANGE),
        ("after", _AFTER),
        ("before", _BEFORE),
        ("around", _HOUR_PART),
        ("around", _AROUND),
    ):
        if found := pattern.search(text):
            break
    rest = _cut(text, found) if found else text
    part = found["p"] if found and "p" in found.groupdict() else None
    today = part == "tonight"
    if part is None and (p := _DAYPART.search(rest)):
        part, today = p["p"], bool(p["this"]) or p["p"] == "tonight"
        rest = _cut(rest, p)
    meridiem = PARTS_OF_DAY[part][1] if part else None
    window: tuple[time, time] | None = None
    if found is not None:
        a = _clock(found["a"], meridiem)
        if kind == "range":
            b = _clock(found["b"], meridiem)
            # "between 11 and 1": the second hour is later in the day than the first.
            if b <= a and b.hour + 12 < 24 and not re.search(r"[ap]m", found["b"]):
                b = b.replace(hour=b.hour + 12)
            window = (a, b)
        elif kind == "after":
            window = (a, hours.end)
        elif kind == "before":
            window = (hours.start, a)
        else:
            window = _around(a)
    elif part is not None:
        window = PARTS_OF_DAY[part][0]
    elif bare := _BARE.search(rest.strip()):
        window, rest = _around(_clock(bare["a"])), ""
    elif clock := _CLOCK.search(rest):
        window, rest = _around(_clock(clock["a"])), _cut(rest, clock)
    return Reading(window, today, rest)


def _in_duration(text: str, ref: datetime) -> str:
    """ "in an hour" said at 14:10 -> "around 15:10" (24-hour, so no am/pm guessing)."""
    m = _IN_DURATION.search(text)
    if m is None:
        return text
    if m["half"]:
        minutes = 30
    else:
        n = _SMALL_NUMBERS.get(m["n"]) or int(m["n"])
        minutes = n * 60 if m["unit"].startswith("h") else n
    at = ref + timedelta(minutes=minutes)
    if at.date() != ref.date():
        raise InvalidWindow("that time is outside today's delivery hours")
    return text[: m.start()] + f" around {at:%H:%M} " + text[m.end() :]


def has_duration(text: str) -> bool:
    """True when canonical `text` says "in an hour" or the like."""
    return _IN_DURATION.search(text) is not None


def _next_weekday(today: date, weekday: int) -> date:
    days = (weekday - today.weekday()) % 7
    return today + timedelta(days=days or 7)


def day_of(text: str, today: date, day_first: bool = False) -> date | None:
    """The calendar day named in canonical `text`, or None when no day is named."""
    text = text.strip()
    if not text:
        return None
    if re.search(r"\bday\s+after\s+tomorrow\b", text):
        return today + timedelta(days=2)
    if re.search(r"\btoday\b", text):
        return today
    if re.search(r"\btomorrow\b", text):
        return today + timedelta(days=1)
    if re.search(r"\bweekend\b", text):
        return _next_weekday(today, 5) if today.weekday() != 5 else today
    # A date said with its weekday ("vendredi 5 décembre"): the date is the more exact.
    if (on := _calendar_date(text, today, day_first)) is not None:
        return on
    for name, weekday in WEEKDAYS.items():
        if re.search(rf"\b{name}\b", text):
            return _next_weekday(today, weekday)
    return None


def _calendar_date(text: str, today: date, day_first: bool) -> date | None:
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for named in pattern.finditer(text):
            if named["m"] in MONTHS:
                return _upcoming(today, MONTHS[named["m"]], int(named["d"]))
    if m := _NUMERIC_DATE.search(text):
        a, b = int(m["a"]), int(m["b"])
        if day_first and b <= 12:
            return _upcoming(today, b, a)
        # Ambiguous d/m vs m/d in English: only when one reading is impossible.
        if a > 12 >= b:
            return _upcoming(today, b, a)
        if b > 12 >= a:
            return _upcoming(today, a, b)
        raise NotUnderstood(f"{m.group(0)!r} could be day/month or month/day")
    if m := _ORDINAL.search(text):
        day = int(m["d"])
        month, year = today.month, today.year
        if day < today.day:
            month, year = (1, year + 1) if month == 12 else (month + 1, year)
        try:
            return date(year, month, day)
        except ValueError:
            raise NotUnderstood(f"there is no {m.group(0)} that month") from None
    return None


def _upcoming(today: date, month: int, day: int) -> date:
    try:
        candidate = date(today.year, month, day)
        if candidate < today:
            candidate = date(today.year + 1, month, day)
    except ValueError:
        raise NotUnderstood(f"there is no day {day} in month {month}") from None
    return candidate


def window_of(
    text: str, ref: datetime, hours: DeliveryHours, day_first: bool = False
) -> ResolvedWindow:
    """The window a canonical `text` names, seen from `ref` (in the customer's zone)."""
    tz = ref.tzinfo
    assert tz is not None
    today = ref.date()
    reading = read(_in_duration(text, ref), hours)
    day = day_of(reading.rest, today, day_first)
    if reading.window is None and day is None:
        raise NotUnderstood(f"no day or time in {text!r}")
    start_t, end_t = reading.window or (hours.start, hours.end)
    if day is None:
        day = today
        if not reading.today and datetime.combine(today, min(end_t, hours.end), tz) <= ref:
            day = today + timedelta(days=1)
    start = datetime.combine(day, max(start_t, hours.start), tz)
    end = datetime.combine(day, min(end_t, hours.end), tz)
    if start >= end:
        raise InvalidWindow(
            f"that time is outside delivery hours ({hours.start:%H:%M}-{hours.end:%H:%M})"
        )
    if end <= ref:
        raise InvalidWindow(TIME_PASSED)
    return ResolvedWindow(start, end)


def resolve(
    span: str,
    reference: datetime,
    zone: str,
    hours: DeliveryHours = DeliveryHours(),
    lang: str | None = None,
) -> ResolvedWindow:
    """The `[start, end)` window a `time` span asks for, in the customer's zone.

    `lang` is a hint (the language the NLU detected, or the customer's locale): the
    span is read in the language whose words it uses, the hint breaking ties.
    Raises `NotUnderstood` for text it cannot read and `InvalidWindow` for a window
    in the past or outside delivery hours (the caller then offers valid ones).
    """
    text = plain(span)
    if not text:
        raise NotUnderstood("empty time")
    ref = reference.astimezone(ZoneInfo(zone))
    first: NotUnderstood | None = None
    for words, canon in candidates(text, lang):
        try:
            return window_of(canon, ref, hours, words.day_first)
        except NotUnderstood as exc:
            first = first or exc
    assert first is not None
    raise first


def language_of(span: str, lang: str | None = None) -> TimeWords:
    """The language a span is read in (the first that `resolve` tries)."""
    return candidates(plain(span), lang)[0][0]
