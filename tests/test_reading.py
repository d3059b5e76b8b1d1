"""How the engine reads the NLU's answer before the rules: whole places, times it was not told."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.base.values import Window
from bot.replies.conversation.engine import entity_values, time_window
from integrations.rasa import Entity, ParseResult

NY = ZoneInfo("America/New_York")
AT = datetime(2026, 11, 24, 9, 0, tzinfo=NY)


def place_of(text: str, marked: str) -> str:
    start = text.index(marked)
    entity = Entity("place", marked, start, start + len(marked))
    return entity_values(ParseResult(text, "set_safe_place", 0.9, (entity,)))["place"]


def test_a_neighbours_house_number_stays_with_the_place() -> None:
    assert place_of("number 12, Mrs Patel", "Patel") == "number 12, Mrs Patel"
    assert place_of("number 12, Mrs Patel", "Mrs Patel") == "number 12, Mrs Patel"
    assert place_of("leave it with Sam, flat 3 please", "with Sam") == "with Sam, flat 3"
    assert place_of("chez la voisine du 12", "chez la voisine") == "chez la voisine du 12"
    # A code further on is not a house number; a place with its number is left alone.
    text = "under the bench by the front door, and the gate code is 1948"
    assert (
        place_of(text, "under the bench by the front door") == "under the bench by the front door"
    )
    assert place_of("with Dave at 16", "with Dave at 16") == "with Dave at 16"


def address_of(text: str, marked: str) -> str:
    start = text.index(marked)
    entity = Entity("address", marked, start, start + len(marked))
    return entity_values(ParseResult(text, "change_address", 0.9, (entity,)))["address"]


def test_an_address_keeps_its_house_number() -> None:
    text = "can you bring it to my office at 55 King St instead"
    assert address_of(text, "King St") == "55 King St"
    assert address_of(text, "55 King St") == "55 King St"
    assert address_of("send it to 221B Baker Street", "Baker Street") == "221B Baker Street"
    assert address_of("envoyez-le au 12 rue de la Paix", "rue de la Paix") == "12 rue de la Paix"


def hhmm(value: Window | str | None) -> str | None:
    if isinstance(value, Window):
        return f"{value.start.astimezone(NY):%m-%d %H:%M}-{value.end.astimezone(NY):%H:%M}"
    return value


def test_a_time_the_tagger_missed_is_found_when_the_reply_is_about_a_time() -> None:
    text = "could the delivery come this evening instead of this morning? Thanks!"
    missed = ParseResult(text, "reschedule", 0.9)
    assert time_window(missed, AT, "America/New_York") is None  # not asked to search
    assert hhmm(time_window(missed, AT, "America/New_York", search=True)) == "11-24 17:00-21:00"
    passed = ParseResult("can you come this morning instead", "reschedule", 0.9)
    later = AT.replace(hour=14)
    assert time_window(passed, later, "America/New_York", search=True) == "that time has passed"


def test_a_tagged_span_is_read_in_the_language_of_its_words_with_the_locale_as_hint() -> None:
    span = "mañana por la tarde"
    text = f"¿pueden venir {span}?"
    result = ParseResult(text, "reschedule", 0.9, (Entity("time", span, 14, 14 + len(span)),))
    assert hhmm(time_window(result, AT, "America/New_York", lang="en")) == "11-25 12:00-17:00"
    bare = ParseResult("3/12", "reschedule", 0.9, (Entity("time", "3/12", 0, 4),))
    assert hhmm(time_window(bare, AT, "America/New_York", lang="fr")) == "12-03 08:00-21:00"


def test_a_place_cut_a_word_short_of_its_clause_is_completed() -> None:
    text = "under the bench by the front door, and the gate code is 1948"
    assert place_of(text, "under the bench by the front") == "under the bench by the front door"
    assert place_of("leave it on the back porch please", "back porch") == "back porch"
    assert place_of("with Dave next door", "with Dave") == "with Dave next door"
    assert place_of("leave it in the garage thanks", "garage") == "garage"


def test_a_tagged_piece_of_a_longer_time_is_read_with_the_rest() -> None:
    text = "pouvez-vous livrer demain après 17h ?"
    piece = ParseResult(text, "reschedule", 0.9, (Entity("time", "17h", 31, 34),))
    assert hhmm(time_window(piece, AT, "America/New_York")) == "11-24 16:00-18:00"
    assert hhmm(time_window(piece, AT, "America/New_York", search=True)) == "11-25 17:00-21:00"
