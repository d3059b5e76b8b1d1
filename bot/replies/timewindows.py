"""Turn a customer's `time` span ("tomorrow after 5") into a delivery window.

The rules are the NLU contract's (../shared/spec/nlu-contract.md, "Time windows"):
a day part and a time-of-day part, either optional, in either order; hours without
am/pm read 1-7 as pm, 8-11 as am, 12 as noon; no day means today if the window's end
is still ahead, else tomorrow; a weekday means the next such day after today; every
window is clipped to the delivery day. What cannot be read is reported as not
understood, never guessed.

Local times are built with zoneinfo on the customer's calendar date, so a window
on the day clocks change is still 08:00-21:00 on the wall clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
PARTS_OF_DAY = {
    "morning": (time(8), time(12)),
    "afternoon": (time(12), time(17)),
    "arvo": (time(12), time(17)),  # Australian: the afternoon
    "evening": (time(17), time(21)),
    "tonight": (time(17), time(21)),
    "lunchtime": (time(11), time(13)),
    "lunch": (time(11), time(13)),
    "noon": (time(11), time(13)),
    "midday": (time(11), time(13)),
}

_HOUR = r"(?:\d{1,2}(?:[:.]\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)?|noon|midday|midnight)"
_RANGE = re.compile(
    rf"(?:between\s+|from\s+)?(?P<a>{_HOUR})\s*(?:-|–|to|and|til|till|until)\s*(?P<b>{_HOUR})"
)
_AFTER = re.compile(rf"(?:after|from|since|any\s*time\s+after)\s+(?P<a>{_HOUR})")
_BEFORE = re.compile(rf"(?:before|by|until|till|no\s+later\s+than)\s+(?P<a>{_HOUR})")
_AROUND = re.compile(rf"(?:at|around|about|approx(?:imately)?|~|@)\s*(?P<a>{_HOUR})")
_BARE = re.compile(rf"^(?P<a>{_HOUR})$")
# An hour that is clearly a clock time (has minutes or am/pm) beside a day: "friday 10am".
_CLOCK = re.compile(r"\b(?P<a>\d{1,2}:\d{2}\s*(?:[ap]\.?m\.?)?|\d{1,2}\s*[ap]\.?m\.?)(?!\w)")
_ORDINAL = re.compile(r"(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)\b")
_MONTH_DAY = re.compile(r"(?P<m>[a-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b")
_DAY_MONTH = re.compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m>[a-z]{3,9})\b")
_NUMERIC_DATE = re.compile(r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})\b")
# Ways of writing an hour that the patterns above do not read, rewritten first:
# "half 5" / "half past 5" (UK) -> 5:30, "quarter past 5" -> 5:15, "quarter to 6" -> 5:45,
# "3ish" -> around 3.
_HALF = re.compile(r"\bhalf\s+(?:past\s+)?(?P<h>\d{1,2})\b")
_QUARTER_PAST = re.compile(r"\bquarter\s+past\s+(?P<h>\d{1,2})\b")
_QUARTER_TO = re.compile(r"\bquarter\s+to\s+(?P<h>\d{1,2})\b")
_ISH = re.compile(
    r"(?:\b(?:at|around|about)\s+)?\b(?P<h>\d{1,2}(?::\d{2})?\s*(?:am|pm)?)\s*-?ish\b"
)
# "in an hour", "in 2 hours", "in half an hour", "in 30 mins": around that moment.
_IN_DURATION = re.compile(
    r"^in\s+(?:(?P<half>half\s+an)|(?P<n>an|a|one|two|three|\d{1,3}))\s+"
    r"(?P<unit>hours?|hrs?|minutes?|mins?)$"
)
_SMALL_NUMBERS = {"an": 1, "a": 1, "one": 1, "two": 2, "three": 3}


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


def _clock(written: str) -> time:
    """An hour as written -> a time, with the contract's am/pm defaults."""
    hour_text = written.strip().lower().replace(" ", "").replace(".", ":")
    if hour_text in ("noon", "midday"):
        return time(12)
    if hour_text == "midnight":
        return time(0)
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|a:m:|pm|p:m:)?:?", hour_text)
    if m is None:
        raise NotUnderstood(f"cannot read the hour {written!r}")
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if minute > 59:
        raise NotUnderstood(f"cannot read the hour {written!r}")
    if half and half.startswith("p") and hour < 12:
        hour += 12
    elif half and half.startswith("a") and hour == 12:
        hour = 0
    elif not half and 1 <= hour <= 7:
        hour += 12
    if hour > 23:
        raise NotUnderstood(f"cannot read the hour {written!r}")
    return time(hour, minute)


def _time_part(text: str, hours: DeliveryHours) -> tuple[tuple[time, time] | None, str]:
    """The time-of-day window named in `text`, and the text with it removed.

    Explicit hours come first, so that "after noon" is noon-21:00, not lunchtime.
    """
    if m := _RANGE.search(text):
        a, b = _clock(m["a"]), _clock(m["b"])
        # "between 11 and 1": the second hour is later in the day than the first.
        if b <= a and b.hour + 12 < 24 and not re.search(r"[ap]\.?m", m["b"]):
            b = b.replace(hour=b.hour + 12)
        return (a, b), text[: m.start()] + text[m.end() :]
    if m := _AFTER.search(text):
        return (_clock(m["a"]), hours.end), text[: m.start()] + text[m.end() :]
    if m := _BEFORE.search(text):
        return (hours.start, _clock(m["a"])), text[: m.start()] + text[m.end() :]
    for name, window in PARTS_OF_DAY.items():
        m = re.search(rf"\b(?:in\s+the\s+|this\s+|at\s+)?{name}\b", text)
        if m:
            return window, text[: m.start()] + text[m.end() :]
    if m := _AROUND.search(text):
        x = _clock(m["a"])
        return _around(x), text[: m.start()] + text[m.end() :]
    stripped = text.strip()
    if m := _BARE.search(stripped):
        return _around(_clock(m["a"])), ""
    if m := _CLOCK.search(text):
        return _around(_clock(m["a"])), text[: m.start()] + text[m.end() :]
    return None, text


def _spoken_hours(text: str) -> str:
    """Rewrite colloquial hours ("half 5", "quarter to 6", "3ish") as the patterns read them."""
    text = _HALF.sub(lambda m: f"{m['h']}:30", text)
    text = _QUARTER_PAST.sub(lambda m: f"{m['h']}:15", text)
    text = _QUARTER_TO.sub(lambda m: f"{(int(m['h']) - 2) % 12 + 1}:45", text)
    return _ISH.sub(lambda m: f"around {m['h']}", text)


def _in_duration(text: str, ref: datetime) -> str | None:
    """ "in an hour" said at 14:10 -> "around 15:10" (24-hour, so no am/pm guessing)."""
    m = _IN_DURATION.match(text)
    if m is None:
        return None
    if m["half"]:
        minutes = 30
    else:
        n = _SMALL_NUMBERS.get(m["n"]) or int(m["n"])
        minutes = n * 60 if m["unit"].startswith("h") else n
    at = ref + timedelta(minutes=minutes)
    if at.date() != ref.date():
        raise InvalidWindow("that time is outside today's delivery hours")
    return f"around {at:%H:%M}"


def _around(x: time) -> tuple[time, time]:
    base = datetime.combine(date(2000, 1, 1), x)
    lo, hi = base - timedelta(hours=1), base + timedelta(hours=1)
    return (
        lo.time() if lo.date() == base.date() else time(0),
        hi.time() if hi.date() == base.date() else time(23, 59),
    )


def _next_weekday(today: date, weekday: int) -> date:
    days = (weekday - today.weekday()) % 7
    return today + timedelta(days=days or 7)


def _day_part(text: str, today: date) -> date | None:
    """The calendar day named in `text`, or None when no day is named."""
    text = text.strip()
    if not text:
        return None
    if re.search(r"\b(today|this\s+(?:morning|afternoon|evening))\b", text):
        return today
    if re.search(r"\b(tomorrow|tmrw|tmr|tomoz|2moro|tomorow|tommorow)\b", text):
        return today + timedelta(days=1)
    if re.search(r"\bday\s+after\s+tomorrow\b", text):
        return today + timedelta(days=2)
    if re.search(r"\b(this\s+)?weekend\b", text):
        return _next_weekday(today, 5) if today.weekday() != 5 else today
    for name, weekday in WEEKDAYS.items():
        if re.search(rf"\b{name}\b", text):
            return _next_weekday(today, weekday)
    return _calendar_date(text, today)


def _calendar_date(text: str, today: date) -> date | None:
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        if (m := pattern.search(text)) and m["m"] in MONTHS:
            return _upcoming(today, MONTHS[m["m"]], int(m["d"]))
    if m := _NUMERIC_DATE.search(text):
        # Ambiguous d/m vs m/d: only when one reading is impossible.
        a, b = int(m["a"]), int(m["b"])
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


def resolve(
    span: str, reference: datetime, zone: str, hours: DeliveryHours = DeliveryHours()
) -> ResolvedWindow:
    """The `[start, end)` window a `time` span asks for, in the customer's zone.

    Raises `NotUnderstood` for text it cannot read and `InvalidWindow` for a window
    in the past or outside delivery hours (the caller then offers valid ones).
    """
    tz = ZoneInfo(zone)
    text = " ".join(span.lower().replace("’", "'").split())
    if not text:
        raise NotUnderstood("empty time")
    ref = reference.astimezone(tz)
    today = ref.date()
    text = _in_duration(text, ref) or _spoken_hours(text)
    window, rest = _time_part(text, hours)
    day = _day_part(rest, today)
    if window is None and day is None:
        raise NotUnderstood(f"no day or time in {span!r}")
    start_t, end_t = window or (hours.start, hours.end)
    if day is None:
        day = today
        if datetime.combine(today, min(end_t, hours.end), tz) <= ref:
            day = today + timedelta(days=1)
    start = datetime.combine(day, max(start_t, hours.start), tz)
    end = datetime.combine(day, min(end_t, hours.end), tz)
    if start >= end:
        raise InvalidWindow(
            f"that time is outside delivery hours ({hours.start:%H:%M}-{hours.end:%H:%M})"
        )
    if end <= ref:
        raise InvalidWindow("that time has already passed")
    return ResolvedWindow(start, end)
