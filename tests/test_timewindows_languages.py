"""Every row of the NLU contract's time-window table, in English, Spanish and French.

The reference is the contract's: Tuesday 2026-11-24 09:00 America/New_York. Each row
is written the way customers write it in each language (the "Languages" table), with
and without accents, and must give the same window. No language hint is passed unless
the test says so: the language is told from the span's words.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.nlu.resolve_cli import run
from bot.replies.timefind import find_time
from bot.replies.timewindows import InvalidWindow, NotUnderstood, language_of, resolve

NY = ZoneInfo("America/New_York")
REF = datetime(2026, 11, 24, 9, 0, tzinfo=NY)  # Tuesday 09:00
ZONE = "America/New_York"


def window(span: str, ref: datetime = REF, lang: str | None = None) -> str:
    w = resolve(span, ref, ZONE, lang=lang)
    return f"{w.start:%Y-%m-%d %H:%M}-{w.end:%H:%M}"


# (contract row, expected window, en, es, fr): one expression per language per row.
ROWS = [
    ("a date alone: tomorrow", "2026-11-25 08:00-21:00", "tomorrow", "mañana", "demain"),
    ("a date alone: day after", "2026-11-26 08:00-21:00",
     "day after tomorrow", "pasado mañana", "après-demain"),
    ("a date alone: weekday", "2026-11-27 08:00-21:00", "friday", "el viernes", "vendredi"),
    ("a date alone: the 28th", "2026-11-28 08:00-21:00", "the 28th", "el 28", "le 28"),
    ("a date alone: next monday", "2026-11-30 08:00-21:00",
     "next monday", "el lunes que viene", "lundi prochain"),
    ("a date alone: month and day", "2026-12-03 08:00-21:00",
     "3rd of december", "el 3 de diciembre", "le 3 décembre"),
    ("morning", "2026-11-24 08:00-12:00", "in the morning", "por la mañana", "le matin"),
    ("morning, other words", "2026-11-24 08:00-12:00",
     "morning", "en la mañana", "dans la matinée"),
    ("morning, Québec", "2026-11-24 08:00-12:00", "morning", "en la mañana", "en avant-midi"),
    ("afternoon", "2026-11-24 12:00-17:00", "in the afternoon", "por la tarde", "l'après-midi"),
    ("this afternoon", "2026-11-24 12:00-17:00",
     "this afternoon", "esta tarde", "cet après-midi"),
    ("evening", "2026-11-24 17:00-21:00", "in the evening", "por la noche", "le soir"),
    ("tonight", "2026-11-24 17:00-21:00", "tonight", "esta noche", "ce soir"),
    ("tonight, Québec", "2026-11-24 17:00-21:00", "tonight", "esta noche", "à soir"),
    ("noon", "2026-11-24 11:00-13:00", "noon", "a mediodía", "à midi"),
    ("noon, other words", "2026-11-24 11:00-13:00", "midday", "al mediodía", "le midi"),
    ("after X", "2026-11-24 17:00-21:00", "after 5", "después de las 5", "après 17h"),
    ("from X", "2026-11-24 18:00-21:00", "from 6pm", "a partir de las 6", "à partir de 18h"),
    ("before X", "2026-11-24 08:00-15:00", "before 3", "antes de las 3", "avant 15h"),
    ("by X", "2026-11-24 08:00-11:00", "by 11am", "antes de las 11", "avant 11h"),
    ("between X and Y", "2026-11-24 14:00-16:00",
     "between 2 and 4", "entre las 2 y las 4", "entre 14h et 16h"),
    ("from X to Y", "2026-11-24 14:00-16:00", "from 2 to 4", "de 2 a 4", "de 14h à 16h"),
    ("X-Y", "2026-11-24 14:00-16:00", "2-4", "2-4", "14h-16h"),
    ("at X", "2026-11-24 17:00-19:00", "at 6", "a las 6", "à 18h"),
    ("around X", "2026-11-24 09:00-11:00", "around 10", "sobre las 10", "vers 10h"),
    ("about X", "2026-11-24 16:00-18:00", "about 5", "a eso de las 5", "vers 17h"),
    ("around X, other words", "2026-11-24 16:00-18:00",
     "around 5", "hacia las 5", "aux alentours de 17h"),
    ("a bare hour", "2026-11-24 16:00-18:00", "5", "las 5", "17h"),
    ("a day and a time", "2026-11-25 17:00-21:00",
     "tomorrow after 5", "mañana después de las 5", "demain après 17h"),
    ("a weekday and a part", "2026-11-27 08:00-12:00",
     "friday morning", "el viernes por la mañana", "vendredi matin"),
    ("tomorrow morning", "2026-11-25 08:00-12:00",
     "tomorrow morning", "mañana por la mañana", "demain matin"),
    ("tomorrow morning, Québec", "2026-11-25 08:00-12:00",
     "tomorrow morning", "mañana en la mañana", "demain en avant-midi"),
    ("this weekend", "2026-11-28 08:00-21:00", "this weekend", "este fin de semana", "ce week-end"),
    ("a weekday is the next one after today", "2026-12-01 08:00-21:00",
     "tuesday", "el martes", "mardi"),
    ("hours in words", "2026-11-24 16:30-18:30",
     "at half five", "a las cinco y media", "à cinq heures et demie"),
    ("hours in words, between", "2026-11-24 15:00-17:00",
     "between three and five", "entre las tres y las cinco", "entre quinze et dix-sept heures"),
    ("24-hour form", "2026-11-24 16:30-18:30", "at 17:30", "a las 17:30", "à 17h30"),
    ("24-hour form, words", "2026-11-24 17:00-19:00",
     "at 6pm", "a las 18 horas", "à dix-huit heures"),
    ("an hour with its part of the day", "2026-11-24 18:00-20:00",
     "at 7 tonight", "a las 7 de la tarde", "à 7h du soir"),
    ("an hour with its part of the day, am", "2026-11-25 09:00-11:00",
     "tomorrow at 10 in the morning", "mañana a las 10 de la mañana", "demain à 10h du matin"),
    ("quarter to", "2026-11-24 16:45-18:45",
     "quarter to 6", "a las seis menos cuarto", "à six heures moins le quart"),
    ("in an hour", "2026-11-24 09:00-11:00", "in an hour", "dentro de una hora", "dans une heure"),
    ("not before X is after X", "2026-11-24 17:00-21:00",
     "don't come before 5", "no antes de las 5", "pas avant 17h"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "expected", "lang", "span"),
    [
        pytest.param(row, expected, lang, span, id=f"{lang}: {row}: {span}")
        for row, expected, *spans in ROWS
        for lang, span in zip(("en", "es", "fr"), spans, strict=True)
    ],
)
def test_every_contract_row_in_every_language(
    row: str, expected: str, lang: str, span: str
) -> None:
    assert window(span) == expected
    if lang != "en" or span in ("2-4", "5"):
        return
    # Told from its words: the language the span is read in is its own.
    assert language_of(span).code == lang


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("despues de las 5", "2026-11-24 17:00-21:00"),  # no accents
        ("MAÑANA POR LA TARDE", "2026-11-25 12:00-17:00"),
        ("apres 18h", "2026-11-24 18:00-21:00"),
        ("demain apres-midi", "2026-11-25 12:00-17:00"),
        ("apres demain", "2026-11-26 08:00-21:00"),
        ("en avant midi", "2026-11-24 08:00-12:00"),
    ],
)
def test_accents_and_case_do_not_matter(span: str, expected: str) -> None:
    assert window(span) == expected


def test_manana_alone_is_tomorrow_and_la_manana_is_the_morning() -> None:
    assert window("mañana") == "2026-11-25 08:00-21:00"
    assert window("por la mañana") == "2026-11-24 08:00-12:00"
    assert window("mañana por la mañana") == "2026-11-25 08:00-12:00"
    assert window("esta mañana") == "2026-11-24 08:00-12:00"


@pytest.mark.parametrize("span", ["this morning", "esta mañana", "ce matin"])
def test_a_part_of_today_that_is_over_has_passed_in_every_language(span: str) -> None:
    # Not tomorrow morning: the customer named today.
    with pytest.raises(InvalidWindow, match="that time has passed"):
        resolve(span, REF.replace(hour=13), ZONE)
    # A part of the day without "this" is still the next one.
    assert window("morning", REF.replace(hour=13)) == "2026-11-25 08:00-12:00"


@pytest.mark.parametrize("span", ["before 8am", "antes de las 8", "avant 8h", "avant 07h"])
def test_a_window_outside_delivery_hours_is_invalid(span: str) -> None:
    # "07h" is as written; "7h" follows the contract's 1-7 pm rule like any hour
    # without am/pm ("vers 5h" for a delivery is 17h).
    assert window("avant 7h") == "2026-11-24 08:00-19:00"
    with pytest.raises(InvalidWindow):
        resolve(span, REF, ZONE)


@pytest.mark.parametrize(
    "span", ["la semana que viene", "la semaine prochaine", "cuando sea", "n'importe quand"]
)
def test_unreadable_spans_are_not_guessed_in_any_language(span: str) -> None:
    with pytest.raises(NotUnderstood):
        resolve(span, REF, ZONE)


def test_the_locale_is_a_hint_never_a_switch() -> None:
    # A Spanish-locale customer writing English is read as English...
    assert window("tomorrow after 5", lang="es") == "2026-11-25 17:00-21:00"
    assert language_of("tomorrow after 5", "es").code == "en"
    # ...and a number alone is read in the customer's language: "3/12" is day/month in
    # Spanish and French, ambiguous in English.
    assert window("3/12", lang="fr") == "2026-12-03 08:00-21:00"
    assert window("3/12", lang="es_MX") == "2026-12-03 08:00-21:00"
    with pytest.raises(NotUnderstood, match="day/month or month/day"):
        resolve("3/12", REF, ZONE)


def test_spanish_and_french_windows_keep_wall_clock_hours_across_a_dst_change() -> None:
    paris = ZoneInfo("Europe/Paris")  # clocks go forward on Sunday 2027-03-28
    w = resolve(
        "demain entre 14h et 16h", datetime(2027, 3, 27, 9, 0, tzinfo=paris), "Europe/Paris"
    )
    assert w.start.isoformat() == "2027-03-28T14:00:00+02:00"
    assert (w.end - w.start).total_seconds() == 7200
    madrid = datetime(2026, 10, 24, 12, 0, tzinfo=ZoneInfo("Europe/Madrid"))  # back on the 25th
    w = resolve("mañana", madrid, "Europe/Madrid")
    assert (w.start.hour, w.end.hour) == (8, 21)
    assert w.start.utcoffset() != madrid.utcoffset()
    mexico = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("America/Mexico_City"))
    w = resolve("el viernes por la tarde", mexico, "America/Mexico_City")
    assert w.start.isoformat() == "2026-11-27T12:00:00-06:00"


def test_english_hours_in_words_and_parts_of_the_day() -> None:
    assert window("after two") == "2026-11-24 14:00-21:00"
    assert window("about seven") == "2026-11-24 18:00-20:00"
    assert window("between three and five") == "2026-11-24 15:00-17:00"
    assert window("thursday before one") == "2026-11-26 08:00-13:00"
    assert window("before half 9") == "2026-11-24 08:00-09:30"
    assert window("at 7 tonight") == "2026-11-24 18:00-20:00"  # not 17:00-21:00
    assert window("after 8 tonight") == "2026-11-24 20:00-21:00"
    assert window("this arvo") == "2026-11-24 12:00-17:00"


def found(text: str, lang: str | None = None) -> str | None:
    f = find_time(text, REF, ZONE, lang=lang)
    if f is None:
        return None
    if f.window is None:
        return f"error: {f.error}"
    return f"{f.window.start:%Y-%m-%d %H:%M}-{f.window.end:%H:%M}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The unwanted time must not win, before or after the wanted one.
        (
            "could the delivery come this evening instead of this morning? Thanks!",
            "2026-11-24 17:00-21:00",
        ),
        ("instead of this morning, could you come this evening", "2026-11-24 17:00-21:00"),
        ("I'm not home this morning, but this evening is fine", "2026-11-24 17:00-21:00"),
        ("tomorrow doesn't work, friday would", "2026-11-27 08:00-21:00"),
        ("can you come tomorrow, not today", "2026-11-25 08:00-21:00"),
        ("bring it this arvo", "2026-11-24 12:00-17:00"),
        ("before half 9, I have to leave for work", "2026-11-24 08:00-09:30"),
        ("can you come tomorrow? after 5 would be best", "2026-11-25 17:00-21:00"),
        ("Hola, ¿pueden traerlo el viernes después de las 5? Gracias", "2026-11-27 17:00-21:00"),
        ("¿pueden venir mañana por la tarde en lugar de hoy?", "2026-11-25 12:00-17:00"),
        ("no puedo mañana, ¿el viernes?", "2026-11-27 08:00-21:00"),
        ("est-ce que vous pouvez passer demain après 18h ?", "2026-11-25 18:00-21:00"),
        ("demain ça ne me convient pas, plutôt jeudi matin", "2026-11-26 08:00-12:00"),
        ("pouvez-vous livrer samedi au lieu de vendredi ?", "2026-11-28 08:00-21:00"),
        # No time, or only numbers that are not one.
        ("I'd like to reschedule please", None),
        ("I need it rescheduled, order 1234", None),
        ("2", None),
        ("can you bring it to 16 King St instead", None),
        ("only this morning works, not this afternoon", "2026-11-24 08:00-12:00"),
    ],
)
def test_a_wanted_time_is_found_inside_a_longer_message(text: str, expected: str | None) -> None:
    assert found(text) == expected


def test_a_found_time_that_has_passed_says_so() -> None:
    f = find_time("could you come this morning instead?", REF.replace(hour=14), ZONE)
    assert f is not None and f.window is None and f.error == "that time has passed"


def test_resolve_time_reads_an_optional_lang_per_line() -> None:
    ref = "2026-11-24T09:00:00-05:00"
    lines = [
        {"span": "mañana después de las 5", "reference": ref, "timezone": ZONE},
        {"span": "3/12", "reference": ref, "timezone": ZONE, "lang": "fr"},
        {"span": "3/12", "reference": ref, "timezone": ZONE},
        {"span": "demain", "reference": ref, "timezone": ZONE, "lang": 5},
    ]
    stdout = io.StringIO()
    run(io.StringIO("\n".join(json.dumps(x) for x in lines)), stdout)
    out = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert out[0] == {"start": "2026-11-25T17:00:00-05:00", "end": "2026-11-25T21:00:00-05:00"}
    assert out[1]["start"] == "2026-12-03T08:00:00-05:00"
    assert "day/month" in out[2]["error"]
    assert "lang" in out[3]["error"]


def test_the_benchmark_spans_all_resolve_exactly() -> None:
    """benchmarks/data/time_spans.jsonl: 443 spans in three languages (its docstring)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "time_spans.jsonl"
    missed = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        ref = datetime.fromisoformat(item["reference"])
        try:
            w = resolve(item["span"], ref, item["timezone"], lang=item["lang"])
            got = f"{w.start:%Y-%m-%dT%H:%M}/{w.end:%Y-%m-%dT%H:%M}"
        except (NotUnderstood, InvalidWindow) as exc:
            got = str(exc)
        if got != f"{item['start']}/{item['end']}":
            missed.append((item["lang"], item["span"], got))
    assert not missed
