"""Quiet hours: when a proactive message may reach a customer, in their own zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.base.brands import HoursRange


def release_time(due: datetime, zone: str, quiet: HoursRange | None) -> datetime:
    """`due` itself, or the end of the quiet period it falls in (recipient local time).

    Local wall-clock arithmetic goes through zoneinfo, so a quiet period that
    spans a DST change still ends at the configured local hour.
    """
    if quiet is None:
        return due
    tz = ZoneInfo(zone)
    local = due.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return due
    end_day = (
        local.date()
        if local.time().replace(tzinfo=None) < quiet.end
        else (local.date() + timedelta(days=1))
    )
    end_local = datetime.combine(end_day, quiet.end, tzinfo=tz)
    # A wall time that does not exist (spring forward) maps forward, never backward.
    return max(end_local.astimezone(UTC), due)
