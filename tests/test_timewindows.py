"""Time spans to delivery windows, by every rule of the NLU contract's table."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.nlu.resolve_cli import run
from bot.replies.timewindows import DeliveryHours, InvalidWindow, NotUnderstood, resolve

NY = ZoneInfo("America/New_York")
REF = datetime(2026, 11, 24, 9, 0, tzinfo=NY)  # the contract's reference: Tuesday 09:00
ROOT = Path(__file__).resolve().parent.parent


def window(span: str, ref: datetime = REF, zone: str = "America/New_York") -> str:
    w = resolve(span, ref, zone)
    return f"{w.start:%Y-%m-%d %H:%M}-{w.end:%H:%M}"


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        # The contract's worked examples.
        ("tomorrow after 5", "2026-11-25 17:00-21:00"),
        ("friday morning", "2026-11-27 08:00-12:00"),
        ("between 2 and 4", "2026-11-24 14:00-16:00"),
        ("around 10", "2026-11-24 09:00-11:00"),
        ("tuesday", "2026-12-01 08:00-21:00"),
        # A date alone: the whole delivery day.
        ("tomorrow", "2026-11-25 08:00-21:00"),
        ("friday", "2026-11-27 08:00-21:00"),
        ("the 28th", "2026-11-28 08:00-21:00"),
        ("next monday", "2026-11-30 08:00-21:00"),
        ("Dec 3", "2026-12-03 08:00-21:00"),
        ("3rd of december", "2026-12-03 08:00-21:00"),
        # Parts of the day.
        ("morning", "2026-11-24 08:00-12:00"),
        ("afternoon", "2026-11-24 12:00-17:00"),
        ("evening", "2026-11-24 17:00-21:00"),
        ("tonight", "2026-11-24 17:00-21:00"),
        ("lunchtime", "2026-11-24 11:00-13:00"),
        ("noon", "2026-11-24 11:00-13:00"),
        ("midday tomorrow", "2026-11-25 11:00-13:00"),
        # After / from, before / by, between / X-Y / from X to Y, at / around / about.
        ("after 5", "2026-11-24 17:00-21:00"),
        ("from 6pm", "2026-11-24 18:00-21:00"),
        ("after noon", "2026-11-24 12:00-21:00"),
        ("before 3", "2026-11-24 08:00-15:00"),
        ("by 11am", "2026-11-24 08:00-11:00"),
        ("2-4", "2026-11-24 14:00-16:00"),
        ("from 2 to 4", "2026-11-24 14:00-16:00"),
        ("between 11 and 1", "2026-11-24 11:00-13:00"),
        ("at 6", "2026-11-24 17:00-19:00"),
        ("about 3:30", "2026-11-24 14:30-16:30"),
        ("5", "2026-11-24 16:00-18:00"),
        ("12", "2026-11-24 11:00-13:00"),
        ("8", "2026-11-25 08:00-09:00"),  # 07:00-09:00 clipped to 08:00; today's has passed
        # Weekends and clipping to delivery hours.
        ("this weekend", "2026-11-28 08:00-21:00"),
        ("after 7pm", "2026-11-24 19:00-21:00"),
        ("before 10pm", "2026-11-24 08:00-21:00"),
        # How people write hours: "half 5" (UK), "quarter to", "3ish", "arvo" (AU),
        # a clock time beside a day, "in an hour" (from the reference, 09:00).
        ("after half 5", "2026-11-24 17:30-21:00"),
        ("half past 4 tomorrow", "2026-11-25 15:30-17:30"),
        ("quarter to 6", "2026-11-24 16:45-18:45"),
        ("3ish", "2026-11-24 14:00-16:00"),
        ("about 10ish", "2026-11-24 09:00-11:00"),
        ("thurs arvo", "2026-11-26 12:00-17:00"),
        ("friday 10am", "2026-11-27 09:00-11:00"),
        ("tomorrow 4:30", "2026-11-25 15:30-17:30"),
        ("in an hour", "2026-11-24 09:00-11:00"),
        ("in 2 hours", "2026-11-24 10:00-12:00"),
    ],
)
def test_contract_rules(span: str, expected: str) -> None:
    assert window(span) == expected


def test_morning_is_today_while_it_is_still_ahead() -> None:
    # "no day given: today if the window's end is still ahead of the reference time".
    assert window("morning", REF.replace(hour=11)) == "2026-11-24 08:00-12:00"
    assert window("morning", REF.replace(hour=12, minute=30)) == "2026-11-25 08:00-12:00"
    assert window("around 10", REF.replace(hour=12)) == "2026-11-25 09:00-11:00"


def test_a_weekday_said_on_that_day_means_next_week() -> None:
    friday = datetime(2026, 11, 27, 9, 0, tzinfo=NY)
    assert window("friday", friday) == "2026-12-04 08:00-21:00"
    assert window("saturday", friday) == "2026-11-28 08:00-21:00"
    sunday = datetime(2026, 11, 29, 20, 0, tzinfo=NY)
    assert window("monday", sunday) == "2026-11-30 08:00-21:00"


def test_month_and_year_roll_over() -> None:
    new_years_eve = datetime(2026, 12, 31, 10, 0, tzinfo=NY)
    assert window("tomorrow", new_years_eve) == "2027-01-01 08:00-21:00"
    assert window("the 2nd", new_years_eve) == "2027-01-02 08:00-21:00"
    assert window("jan 5", new_years_eve) == "2027-01-05 08:00-21:00"


def test_windows_keep_wall_clock_hours_across_a_dst_change() -> None:
    # US clocks go back on Sunday 2026-11-01: that day has 25 hours.
    saturday = datetime(2026, 10, 31, 12, 0, tzinfo=NY)
    w = resolve("tomorrow", saturday, "America/New_York")
    assert (w.start.hour, w.end.hour) == (8, 21)
    assert w.start.utcoffset() != saturday.utcoffset()  # EST after the change, EDT before
    assert (w.end - w.start).total_seconds() == 13 * 3600
    # And in spring (2027-03-14), in Europe too (2027-03-28).
    w = resolve("sunday morning", datetime(2027, 3, 12, 9, 0, tzinfo=NY), "America/New_York")
    assert w.start.isoformat() == "2027-03-14T08:00:00-04:00"
    paris = ZoneInfo("Europe/Paris")
    w = resolve("tomorrow 2-4", datetime(2027, 3, 27, 9, 0, tzinfo=paris), "Europe/Paris")
    assert w.start.isoformat() == "2027-03-28T14:00:00+02:00"


def test_reference_in_another_zone_uses_the_customers_calendar() -> None:
    # 03:00 UTC on the 25th is still the 24th (22:00) in New York.
    utc = datetime(2026, 11, 25, 3, 0, tzinfo=ZoneInfo("UTC"))
    assert window("tomorrow", utc) == "2026-11-25 08:00-21:00"


def test_brand_delivery_hours_clip_the_window() -> None:
    hours = DeliveryHours(start=time(9), end=time(18))
    w = resolve("tomorrow after 5", REF, "America/New_York", hours)
    assert (w.start.hour, w.end.hour) == (17, 18)
    with pytest.raises(InvalidWindow, match="outside delivery hours"):
        resolve("tomorrow after 7pm", REF, "America/New_York", hours)


@pytest.mark.parametrize("span", ["today morning", "today before 8am"])
def test_a_window_in_the_past_is_invalid(span: str) -> None:
    with pytest.raises(InvalidWindow):
        resolve(span, REF.replace(hour=13), "America/New_York")


@pytest.mark.parametrize(
    "span", ["whenever", "", "soonish", "the 31st of february", "at 25", "5/6", "next week"]
)
def test_unreadable_spans_are_not_guessed(span: str) -> None:
    with pytest.raises(NotUnderstood):
        resolve(span, REF, "America/New_York")


def test_resolve_time_cli_answers_each_line_in_order() -> None:
    lines = [
        {
            "span": "tomorrow after 5",
            "reference": "2026-11-24T09:00:00-05:00",
            "timezone": "America/New_York",
        },
        {
            "span": "whenever",
            "reference": "2026-11-24T09:00:00-05:00",
            "timezone": "America/New_York",
        },
        {"span": "friday", "reference": "2026-11-24T09:00:00", "timezone": "America/New_York"},
        {"span": "friday", "reference": "2026-11-24T09:00:00-05:00", "timezone": "Mars/Base"},
    ]
    stdin = io.StringIO("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    stdout = io.StringIO()
    assert run(stdin, stdout) == 0
    out = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert out[0] == {"start": "2026-11-25T17:00:00-05:00", "end": "2026-11-25T21:00:00-05:00"}
    assert "error" in out[1] and "error" in out[2] and "error" in out[3] and "error" in out[4]
    assert len(out) == 5


def test_resolve_time_command_answers_a_thousand_lines_in_order() -> None:
    # How fast is a benchmark (benchmarks/timewindows.py prints it), not a timed test:
    # on a shared 2-core machine the wall clock of a fresh process measures the load.
    spans = [
        "tomorrow after 5",
        "friday morning",
        "between 2 and 4",
        "around 10",
        "tuesday",
        "the 28th",
        "whenever",
        "this weekend",
        "by 3",
        "noon",
    ]
    payload = "\n".join(
        json.dumps(
            {
                "span": spans[i % 10],
                "reference": "2026-11-24T09:00:00-05:00",
                "timezone": "America/New_York",
            }
        )
        for i in range(1000)
    )
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "resolve-time"],
        input=payload,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 1000
    assert json.loads(lines[0])["start"] == "2026-11-25T17:00:00-05:00"
    assert [json.loads(x).get("error") is not None for x in lines[:10]] == [
        span == "whenever" for span in spans
    ]
