"""SLA arithmetic in business hours: pure functions, no I/O, no clock of their own.

An SLA of "first response within 30 minutes" means 30 minutes the desk is open:
a conversation that arrives on Friday at 16:50 with hours of 09:00-17:00 is due on
Monday at 09:20, and a holiday or a lunch break in between does not count.

Open intervals are built day by day in the brand's zone from local clock times
(`datetime.combine(day, 09:00, zone)`) and compared as instants, so a day with a
clock change has the length it really has: 23 hours around the clock on the spring
change, and an 09:00-17:00 shift is still 8 hours. A shift boundary inside a
skipped hour (02:30 on the spring change) is read with the offset before the change,
as zoneinfo does; one repeated on the autumn change is its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from bot.base.brands import BrandSettings
from bot.base.desk_settings import BusinessHours, DeskSettings

# How far ahead a deadline is looked for: business hours with one shift a year still
# end; a longer search means the settings cannot be met (and is an error, not a hang).
HORIZON_DAYS = 800

Target = Literal["first_response", "resolution"]


class NeverOpen(ValueError):
    """The business hours have no open time within the horizon."""


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """Local `day` plus `minutes` of clock time, as a UTC instant (1440 is next midnight)."""
    if minutes >= 1440:
        day, minutes = day + timedelta(days=1), minutes - 1440
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=zone)
    return local.astimezone(UTC)


def day_spans(hours: BusinessHours, zone: ZoneInfo, day: date) -> list[tuple[datetime, datetime]]:
    """The open intervals of one local day, as UTC instants in order."""
    if day in hours.closed_days:
        return []
    return list(_spans(hours.shifts_by_weekday[day.weekday()], zone.key, day))


@lru_cache(maxsize=4096)
def _spans(
    minutes: tuple[tuple[int, int], ...], zone_key: str, day: date
) -> tuple[tuple[datetime, datetime], ...]:
    """Cached: a queue page works out the same few days for every row."""
    zone = ZoneInfo(zone_key)
    spans = []
    for start, end in minutes:
        a, b = _at(day, start, zone), _at(day, end, zone)
        if a < b:  # a shift wholly inside a skipped hour has no length
            spans.append((a, b))
    return tuple(spans)


def open_spans(
    hours: BusinessHours | None, zone: ZoneInfo, start: datetime, end: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals from `start` (clipped to it) up to `end`, or on and on without one.

    None for hours means open around the clock."""
    start = start.astimezone(UTC)
    if hours is None:
        yield start, (end.astimezone(UTC) if end else datetime.max.replace(tzinfo=UTC))
        return
    # The local day before too: its last shift may end after `start` in UTC terms.
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = day + timedelta(days=HORIZON_DAYS)
    while day <= last:
        if end is not None and _at(day, 0, zone) >= end:
            return
        for a, b in day_spans(hours, zone, day):
            a, b = max(a, start), min(b, end) if end is not None else b
            if a < b:
                yield a, b
        day += timedelta(days=1)


def business_seconds(
    hours: BusinessHours | None, zone: ZoneInfo, start: datetime, end: datetime
) -> float:
    """Open seconds between two instants (0 when `end` is not after `start`)."""
    if end <= start:
        return 0.0
    return sum((b - a).total_seconds() for a, b in open_spans(hours, zone, start, end))


def add_business(
    hours: BusinessHours | None, zone: ZoneInfo, start: datetime, seconds: float
) -> datetime:
    """The instant `seconds` of open time after `start` (a deadline)."""
    left = max(seconds, 0.0)
    for a, b in open_spans(hours, zone, start):
        length = (b - a).total_seconds()
        if left <= length:
            return a + timedelta(seconds=left)
        left -= length
    raise NeverOpen("the business hours have no open time ahead")


def is_open(hours: BusinessHours | None, zone: ZoneInfo, at: datetime) -> bool:
    if hours is None:
        return True
    day = at.astimezone(zone).date()
    return any(
        a <= at < b for d in (day - timedelta(days=1), day) for a, b in day_spans(hours, zone, d)
    )


def next_open(hours: BusinessHours | None, zone: ZoneInfo, at: datetime) -> datetime:
    """`at` if the desk is open then, else when it next opens."""
    for a, _ in open_spans(hours, zone, at):
        return a
    raise NeverOpen("the business hours have no open time ahead")


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """Where one SLA target of one conversation stands at `now`."""

    target: Target
    due: datetime
    met_at: datetime | None
    breached: bool
    # Open seconds left before the deadline (negative: how far past it).
    remaining_s: float

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "due": self.due.isoformat(),
            "met_at": self.met_at.isoformat() if self.met_at else None,
            "breached": self.breached,
            "remaining_s": round(self.remaining_s),
        }


@dataclass(frozen=True, slots=True)
class SlaStatus:
    first_response: TargetStatus
    resolution: TargetStatus
    # Outside business hours the clock stands still until `resumes_at`.
    paused: bool
    resumes_at: datetime | None

    def breaches(self) -> list[Target]:
        return [t.target for t in (self.first_response, self.resolution) if t.breached]

    def as_json(self) -> dict[str, object]:
        return {
            "first_response": self.first_response.as_json(),
            "resolution": self.resolution.as_json(),
            "paused": self.paused,
            "resumes_at": self.resumes_at.isoformat() if self.resumes_at else None,
            "breached": self.breaches(),
        }


def _target(
    name: Target,
    desk: DeskSettings,
    zone: ZoneInfo,
    started: datetime,
    minutes: int,
    met_at: datetime | None,
    now: datetime,
) -> TargetStatus:
    hours = desk.business_hours
    due = add_business(hours, zone, started, minutes * 60)
    until = met_at or now
    if until <= due:
        remaining = business_seconds(hours, zone, until, due)
    else:
        remaining = -business_seconds(hours, zone, due, until)
    # Met exactly on the deadline is met; any moment later is a breach (even one in
    # closed hours: a deadline at the end of Friday's shift is missed on Saturday).
    return TargetStatus(name, due, met_at, until > due, remaining)


def sla_status(
    desk: DeskSettings,
    zone: ZoneInfo,
    started: datetime,
    now: datetime,
    first_reply: datetime | None = None,
    resolved: datetime | None = None,
) -> SlaStatus:
    """Both targets of a conversation that started waiting at `started`."""
    first = _target(
        "first_response", desk, zone, started, desk.first_response_min, first_reply, now
    )
    resolution = _target("resolution", desk, zone, started, desk.resolution_min, resolved, now)
    hours = desk.business_hours
    paused = resolved is None and not is_open(hours, zone, now)
    return SlaStatus(first, resolution, paused, next_open(hours, zone, now) if paused else None)


def moment(raw: str | float | None) -> datetime | None:
    """A stored unix time (a hand-off's `since`, `first_reply_at`...) as an instant."""
    return None if raw is None or raw == "" else datetime.fromtimestamp(float(raw), UTC)


def status_of(
    brand: BrandSettings, handoff: Mapping[str, object], now: datetime
) -> SlaStatus | None:
    """Where a hand-off (its `since`, `first_reply_at`, `resolved_at`) stands against the
    brand's SLA; None for a hand-off without a start."""
    started = moment(_raw(handoff.get("since")))
    if started is None:
        return None
    return sla_status(
        brand.desk,
        ZoneInfo(brand.timezone),
        started,
        now,
        first_reply=moment(_raw(handoff.get("first_reply_at"))),
        resolved=moment(_raw(handoff.get("resolved_at"))),
    )


def _raw(value: object) -> str | float | None:
    return value if isinstance(value, (str, float, int)) else None
