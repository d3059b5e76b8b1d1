"""Time words per language: each table rewrites how customers say a time in that
language ("mañana después de las 5", "demain après 17h") into the one canonical form
the resolver reads ("tomorrow after 5:00"), so the rules of the NLU contract live once
(`bot/replies/timewindows.py`) and a language is only words.

A new language is one module here with a `WORDS` table and one line in `LANGUAGES`.
Text is compared without case or accents ("despues", "apres" and "après" are one
word), since customers type without them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Replacement = str | Callable[[re.Match[str]], str]
Rule = tuple[re.Pattern[str], Replacement]


def words(text: str) -> frozenset[str]:
    """A set of words written as one string, a table's way of listing them."""
    return frozenset(text.split())


def rules(*pairs: tuple[str, Replacement]) -> tuple[Rule, ...]:
    """Compile (pattern, replacement) pairs, applied in order on plain text."""
    return tuple((re.compile(pattern), replacement) for pattern, replacement in pairs)


def word_map(mapping: Mapping[str, str]) -> tuple[str, Replacement]:
    """One rule for a list of whole words, each with its canonical word (weekdays, months)."""
    names = "|".join(sorted(mapping, key=len, reverse=True))
    return rf"\b({names})\b", lambda m: mapping[m[1]]


@dataclass(frozen=True, slots=True)
class TimeWords:
    """One language's ways of saying a time, as rewrites into the canonical form.

    `pre` runs first (durations such as "dentro de una hora", before their number
    words become digits); then hour words become digits where an hour is meant
    (after a word of `number_before`, or before one of `number_after`); then 24-hour
    suffixes ("17h30", "18 heures") become clock times; then `rules` (parts of the
    day, after/before/between/around, days and months, and the words that mark a time
    the customer does not want: "instead", "not", "nogood").
    """

    code: str
    markers: frozenset[str]  # words that say a text is in this language (detection)
    numbers: Mapping[str, int]  # hour words: "cinco" -> 5, "dix-huit" -> 18
    number_before: str  # regex: words after which a number word is an hour
    number_after: str  # regex: what after a number word makes it an hour
    pre: tuple[Rule, ...]
    rules: tuple[Rule, ...]
    day_first: bool = False  # "3/12" is the 3rd of December, not ambiguous


def plain(text: str) -> str:
    """Lower case, no accents, one kind of apostrophe and dash, single spaces."""
    text = text.lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[’‘`´]", "'", text)
    text = re.sub(r"[–—]", "-", text)
    text = re.sub(r"[¿¡]", " ", text)
    return " ".join(text.split())


_MERIDIEM = rules(
    (r"\b([ap])\.\s?m\b\.?", r"\1m"),
    (r"\b(\d{1,2}(?::\d{2})?)\s+([ap]m)\b", r"\1\2"),
    (r"\b(\d{1,2})\.(\d{2})\b(?!\.)", r"\1:\2"),  # "5.30"
)
# "17h", "17 h 30", "18 heures", "a las 17 horas", "1700 hrs": a clock time as written.
# Durations were rewritten before ("in 2 hours"), so "in" before the number keeps them.
_SUFFIX = rules(
    (r"(?<!\bin )\b([01]?\d|2[0-3])([0-5]\d)\s*(?:hs?|hrs)\b\.?", r"\1:\2"),
    (
        r"(?<!\bin )\b(\d{1,2})\s*(?:h|hs|hrs|heures?|horas?)(?![a-z])\.?"
        r"(?:\s*(\d{2})\b(?!\s*(?:h\b|:)))?",
        lambda m: f"{m[1]}:{m[2] or '00'}",
    ),
)


def _apply(text: str, table: tuple[Rule, ...]) -> str:
    for pattern, replacement in table:
        text = pattern.sub(replacement, text)
    return text


_NUMBER_PATTERNS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {}


def _number_patterns(words: TimeWords) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A number word where an hour is meant: after a word that leads to one, or before
    a word that follows one (compiled once per language)."""
    found = _NUMBER_PATTERNS.get(words.code)
    if found is None:
        names = "|".join(sorted(map(re.escape, words.numbers), key=len, reverse=True))
        found = (
            re.compile(rf"\b({words.number_before})\s+({names})\b"),
            re.compile(rf"\b({names})(?=\s*(?:{words.number_after}))"),
        )
        _NUMBER_PATTERNS[words.code] = found
    return found


def _numbers(text: str, words: TimeWords) -> str:
    if not words.numbers:
        return text
    before, after = _number_patterns(words)
    # Twice: "between three and five" has its second hour after "and".
    for _ in range(2):
        text = before.sub(lambda m: f"{m[1]} {words.numbers[m[2]]}", text)
    return after.sub(lambda m: str(words.numbers[m[1]]), text)


def canonical(text: str, words: TimeWords) -> str:
    """`text` (already `plain`) in the canonical form, read with `words`."""
    text = _apply(text, _MERIDIEM)
    text = _apply(text, words.pre)
    text = _numbers(text, words)
    text = _apply(text, _SUFFIX)
    text = _apply(text, words.rules)
    text = _apply(text, _MERIDIEM)
    return " ".join(text.split())


def _register(*tables: TimeWords) -> dict[str, TimeWords]:
    return {t.code: t for t in tables}


def _tables() -> dict[str, TimeWords]:
    from bot.replies.timewords import en, es, fr

    return _register(en.WORDS, es.WORDS, fr.WORDS)


LANGUAGES: dict[str, TimeWords] = _tables()


def _token_weights() -> dict[str, dict[str, int]]:
    """A marker counts for a language only when no other language shares it."""
    seen: dict[str, int] = {}
    for table in LANGUAGES.values():
        for word in table.markers:
            seen[word] = seen.get(word, 0) + 1
    return {
        code: {w: 1 for w in table.markers if seen[w] == 1} for code, table in LANGUAGES.items()
    }


_WEIGHTS = _token_weights()


def language_code(locale: str | None) -> str | None:
    """ "es_MX" / "fr-CA" / "en" -> the language it names, if we ship its words."""
    if not locale:
        return None
    code = re.split(r"[_-]", locale.lower())[0]
    return code if code in LANGUAGES else None


def score(text: str, code: str) -> int:
    """How many of `text`'s words only language `code` uses."""
    weights = _WEIGHTS[code]
    return sum(weights.get(w, 0) for w in re.findall(r"[a-z']+", text))


# The canonical form's own words (what the resolver reads); any other word left in a
# text after its rewrite is a word that language did not understand.
CANONICAL = words(
    """after before from since past by until till til between and to at around about approx
    approximately this next the day today tomorrow tonight weekend week in hour hours hr hrs
    mins minutes min half an of on am pm noon midday midnight morning afternoon evening
    night lunchtime lunch monday tuesday wednesday thursday friday saturday sunday mon tue
    tues wed weds thu thur thurs fri sat sun january february march april may june july
    august september october november december jan feb mar apr jun jul aug sep sept oct nov
    dec instead not nogood but"""
)


def unknown(text: str) -> int:
    """How many words of a canonical text are not canonical (nor numbers or ordinals)."""
    return sum(
        1
        for w in re.findall(r"[a-z']+", re.sub(r"\b\d{1,2}(?:st|nd|rd|th|am|pm)\b", " ", text))
        if w not in CANONICAL
    )


def candidates(text: str, hint: str | None = None) -> list[tuple[TimeWords, str]]:
    """The languages to read plain `text` in, each with its canonical form, likeliest first.

    The language that understands most of the text comes first (fewest words left
    that its rewrite did not turn canonical: "entre 14h et 16h" is French, not
    Spanish, by "et"); then the one whose own words the text uses most; the hint
    (what the NLU detected, or the customer's locale) only breaks a tie: a
    Spanish-locale customer writing "tomorrow after 5" is read as English, "5" alone
    as Spanish. A language none of whose own words appear, and that is not the hint,
    is a reading only where its words change the text ("de 2 a 4"): "5/6" is
    ambiguous in English, not the 5th of June because French would read it so.
    """
    hinted = language_code(hint) or "en"
    scores = {code: score(text, code) for code in LANGUAGES}
    if hinted == "en" and not any(p for code, p in scores.items() if code != "en"):
        # The common case: nothing but English (or shared) words, and English is the
        # hint. English reading every word leaves no other language anything to win on.
        english = canonical(text, LANGUAGES["en"])
        if unknown(english) == 0:
            return [(LANGUAGES["en"], english)]
    bare: str | None = None
    found = []
    for code, words in LANGUAGES.items():
        canon = canonical(text, words)
        points = scores[code]
        if points == 0 and code != hinted and bare is None:
            bare = canonical(text, _NONE)
        if points > 0 or code == hinted or canon != bare:
            found.append((unknown(canon), -points, code != hinted, code != "en", code, canon))
    return [(LANGUAGES[row[4]], row[5]) for row in sorted(found)]


# No words at all: what the shared rewrites alone make of a text.
_NONE = TimeWords("", frozenset(), {}, "", "", (), ())
