"""A brand's support-desk settings: assignment, SLA targets, business hours, CSAT.

They live in base, beside the rest of `BrandSettings`, because the brand's settings
are validated as one document; the arithmetic over them (`bot.agents.sla`) and the
desk that uses them sit in `agents`.
"""

from __future__ import annotations

from datetime import date, time
from functools import cached_property
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0)


class Shift(BaseModel):
    """One open stretch of a day in local clock time; an `end` of 00:00 is midnight.

    A day with a lunch break is two shifts (split shifts); a shift never wraps past
    midnight (a night shift is the evening of one day and the morning of the next)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Shift:
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError("a shift ends after it starts (00:00 as the end means midnight)")
        return self

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes since local midnight; midnight as the end is 1440."""
        end = 1440 if self.end == MIDNIGHT else self.end.hour * 60 + self.end.minute
        return self.start.hour * 60 + self.start.minute, end


class BusinessHours(BaseModel):
    """When the desk is staffed, in the brand's time zone: shifts per weekday (a day
    left out is closed) and whole days off (holidays)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weekly: dict[Weekday, list[Shift]]
    holidays: list[date] = Field(default_factory=list, max_length=400)

    @model_validator(mode="after")
    def _sensible(self) -> BusinessHours:
        if not any(self.weekly.values()):
            raise ValueError("business hours need at least one shift in the week")
        for day, shifts in self.weekly.items():
            spans = sorted(s.minutes() for s in shifts)
            for (_, end), (start, _) in pairwise(spans):
                if start < end:
                    raise ValueError(f"{day}: shifts overlap")
        return self

    @cached_property
    def shifts_by_weekday(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Monday first: each day's shifts as (start, end) minutes, in order (cached:
        a queue page works out the SLA of every row from them)."""
        return tuple(
            tuple(sorted(s.minutes() for s in self.weekly.get(day, []))) for day in WEEKDAYS
        )

    @cached_property
    def closed_days(self) -> frozenset[date]:
        return frozenset(self.holidays)


class DeskSettings(BaseModel):
    """How the brand's agent desk works (`BrandSettings.desk`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    auto_assign: bool = True
    agent_capacity: int = Field(default=3, ge=1, le=50, description="open conversations")
    first_response_min: int = Field(default=15, ge=1, le=7 * 24 * 60)
    resolution_min: int = Field(default=240, ge=1, le=30 * 24 * 60)
    # None: the desk is staffed around the clock (SLA time is wall-clock time).
    business_hours: BusinessHours | None = None
    csat_enabled: bool = True
