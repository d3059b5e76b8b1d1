"""SLA arithmetic in business hours: weekends, holidays, split shifts, clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.agents.sla import (
    NeverOpen,
    add_business,
    business_seconds,
    is_open,
    next_open,
    sla_status,
)
from bot.base.desk_settings import BusinessHours, DeskSettings

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
OFFICE = {"start": "09:00", "end": "17:00"}
# Monday to Friday with a lunch break (split shifts), Saturday mornings.
SPLIT = BusinessHours.model_validate(
    {
        "weekly": {
            **{d: [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
               for d in ("mon", "tue", "wed", "thu", "fri")},
            "sat": [{"start": "10:00", "end": "14:00"}],
        },
        "holidays": ["2026-12-25"],
    }
)  # fmt: skip
WEEKDAYS_ONLY = BusinessHours.model_validate(
    {"weekly": {d: [OFFICE] for d in ("mon", "tue", "wed", "thu", "fri")}}
)
ALL_DAY = BusinessHours.model_validate(
    {"weekly": {d: [{"start": "00:00", "end": "00:00"}] for d in ("sat", "sun", "mon")}}
)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def test_a_friday_afternoon_escalation_is_due_on_monday_morning() -> None:
    # Friday 27 Nov 2026, 16:50: 10 minutes left on Friday, 20 more on Monday.
    due = add_business(WEEKDAYS_ONLY, NY, ny(2026, 11, 27, 16, 50), 30 * 60)
    assert due == ny(2026, 11, 30, 9, 20)
    assert business_seconds(WEEKDAYS_ONLY, NY, ny(2026, 11, 27, 16, 50), due) == 30 * 60
    # The weekend itself counts for nothing.
    assert business_seconds(WEEKDAYS_ONLY, NY, ny(2026, 11, 28, 0), ny(2026, 11, 30, 0)) == 0


def test_an_escalation_during_the_weekend_starts_counting_when_the_desk_opens() -> None:
    assert add_business(WEEKDAYS_ONLY, NY, ny(2026, 11, 29, 3), 15 * 60) == ny(2026, 11, 30, 9, 15)
    assert next_open(WEEKDAYS_ONLY, NY, ny(2026, 11, 28, 12)) == ny(2026, 11, 30, 9)
    assert not is_open(WEEKDAYS_ONLY, NY, ny(2026, 11, 28, 12))
    assert is_open(WEEKDAYS_ONLY, NY, ny(2026, 11, 30, 9))
    assert not is_open(WEEKDAYS_ONLY, NY, ny(2026, 11, 30, 17))  # the end is not open


def test_lunch_breaks_and_saturday_mornings_are_split_shifts() -> None:
    # Thursday 11:30 + 1 hour: 30 minutes before lunch, 30 after.
    assert add_business(SPLIT, NY, ny(2026, 12, 3, 11, 30), 3600) == ny(2026, 12, 3, 13, 30)
    # Friday 16:00 + 2 hours: 1 hour on Friday, the other on Saturday morning.
    assert add_business(SPLIT, NY, ny(2026, 12, 4, 16), 7200) == ny(2026, 12, 5, 11)
    # A whole week is 5 x 7 hours + 4 on Saturday.
    week = business_seconds(SPLIT, NY, ny(2026, 11, 30, 0), ny(2026, 12, 7, 0))
    assert week == (5 * 7 + 4) * 3600


def test_a_holiday_is_skipped() -> None:
    # Thursday 24 Dec 16:30 + 1 hour: 30 minutes that day, Christmas off, 30 on Saturday.
    assert add_business(SPLIT, NY, ny(2026, 12, 24, 16, 30), 3600) == ny(2026, 12, 26, 10, 30)
    assert business_seconds(SPLIT, NY, ny(2026, 12, 25, 0), ny(2026, 12, 26, 0)) == 0


def test_the_spring_clock_change_day_has_23_hours_and_a_shift_keeps_its_length() -> None:
    # 8 March 2026: clocks in New York go from 02:00 to 03:00.
    assert business_seconds(ALL_DAY, NY, ny(2026, 3, 8, 0), ny(2026, 3, 9, 0)) == 23 * 3600
    sunday = BusinessHours.model_validate({"weekly": {"sun": [OFFICE]}})
    assert business_seconds(sunday, NY, ny(2026, 3, 8, 0), ny(2026, 3, 9, 0)) == 8 * 3600
    # 24 open hours from Saturday noon, across the change, end at Sunday 13:00 local.
    due = add_business(ALL_DAY, NY, ny(2026, 3, 7, 12), 24 * 3600)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 13)
    assert due - ny(2026, 3, 7, 12).astimezone(UTC) == timedelta(hours=24)


def test_the_autumn_clock_change_day_has_25_hours_in_the_brands_zone() -> None:
    # 25 October 2026: clocks in Paris go back from 03:00 to 02:00.
    start = datetime(2026, 10, 25, tzinfo=PARIS)
    end = datetime(2026, 10, 26, tzinfo=PARIS)
    assert business_seconds(ALL_DAY, PARIS, start, end) == 25 * 3600
    # A night shift of six clock hours that night is seven hours long.
    night = BusinessHours.model_validate({"weekly": {"sun": [{"start": "00:00", "end": "06:00"}]}})
    assert business_seconds(night, PARIS, start, end) == 7 * 3600
    assert add_business(night, PARIS, start, 7 * 3600) == datetime(2026, 10, 25, 6, tzinfo=PARIS)


def test_a_status_knows_met_breached_and_paused() -> None:
    desk = DeskSettings(first_response_min=30, resolution_min=120, business_hours=WEEKDAYS_ONLY)
    started = ny(2026, 11, 27, 16, 50)
    # Saturday: nothing is late yet, the clock is paused until Monday 09:00.
    status = sla_status(desk, NY, started, now=ny(2026, 11, 28, 10))
    assert status.paused and status.resumes_at == ny(2026, 11, 30, 9)
    assert status.first_response.remaining_s == 20 * 60 and not status.breaches()
    # Monday 09:25 with no answer: the first response is 5 minutes late.
    status = sla_status(desk, NY, started, now=ny(2026, 11, 30, 9, 25))
    assert status.breaches() == ["first_response"] and status.first_response.remaining_s == -300
    assert status.resolution.due == ny(2026, 11, 30, 10, 50) and not status.paused
    # Answered on Monday at 09:10: met, and stays met.
    status = sla_status(
        desk, NY, started, now=ny(2026, 11, 30, 12), first_reply=ny(2026, 11, 30, 9, 10)
    )
    assert not status.first_response.breached and status.resolution.breached
    assert status.as_json()["breached"] == ["resolution"]


def test_around_the_clock_is_wall_clock_time() -> None:
    desk = DeskSettings(first_response_min=15)
    started = ny(2026, 11, 28, 23, 55)
    status = sla_status(desk, NY, started, now=started + timedelta(minutes=16))
    assert status.first_response.due == started + timedelta(minutes=15)
    assert status.breaches() == ["first_response"] and not status.paused


def test_settings_refuse_hours_that_cannot_work() -> None:
    with pytest.raises(ValidationError, match="at least one shift"):
        BusinessHours.model_validate({"weekly": {"mon": []}})
    with pytest.raises(ValidationError, match="overlap"):
        BusinessHours.model_validate(
            {"weekly": {"mon": [OFFICE, {"start": "16:00", "end": "18:00"}]}}
        )
    with pytest.raises(ValidationError, match="ends after it starts"):
        BusinessHours.model_validate({"weekly": {"mon": [{"start": "17:00", "end": "09:00"}]}})
    with pytest.raises(ValidationError):
        BusinessHours.model_validate({"weekly": {"someday": [OFFICE]}})


def test_hours_that_never_come_round_again_are_an_error_not_a_hang() -> None:
    # Open only on one holiday-covered weekday for the whole horizon is impossible to
    # write by hand, but a deadline past the last open day must still end.
    mondays = BusinessHours.model_validate(
        {"weekly": {"mon": [OFFICE]}, "holidays": [date(2026, 11, 30)]}
    )
    assert add_business(mondays, NY, ny(2026, 11, 28), 3600) == ny(2026, 12, 7, 10)
    with pytest.raises(NeverOpen):
        add_business(mondays, NY, ny(2026, 11, 28), 10**9)
