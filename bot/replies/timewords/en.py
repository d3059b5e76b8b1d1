"""English time words: the canonical form itself, plus how people text hours.

Hours in words ("after two", "about seven"), UK "half 9", "quarter to 6", "3ish",
AU "arvo", texting spellings ("tmrw", "2nite"), and the phrases that mark a time the
customer does not want ("instead of this morning", "tomorrow doesn't work").
"""

from __future__ import annotations

from bot.replies.timewords import TimeWords, rules, words

_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip


def _quarter_to(hour: str) -> str:
    return f"{(int(hour) - 2) % 12 + 1}:45"


WORDS = TimeWords(
    code="en",
    markers=words(
        """today tonight tonite tomorrow tmrw tmr tomoz 2moro morning afternoon arvo evening
        night noon midday lunchtime lunch after before between around about until till by
        weekend next this monday tuesday wednesday thursday friday saturday sunday mon tue
        tues wed thu thur thurs fri sat sun january february march april may june july
        august september october november december half quarter past ish o'clock oclock
        instead rather from and at the in day week"""
    ),
    numbers=_NUMBERS,
    number_before=(
        r"after|before|by|at|around|about|from|between|and|to|till|til|until|since|past|"
        r"half|quarter past|quarter to|approx|approximately|@|~"
    ),
    number_after=(
        r"o'?\s?clock|am\b|pm\b|-?ish\b|thirty\b|fifteen\b|forty[- ]?five\b|"
        r"(?:in the |this |at |tomorrow )?(?:morning|afternoon|evening|tonight|night)\b"
    ),
    pre=rules(
        (r"\bin (?:an|a|one) (hour|hr)\b", r"in 1 \1"),
        (r"\bin half an? (?:hour|hr)\b", "in half an hour"),
        (r"\bin (two|three) (hours?|hrs?)\b", lambda m: f"in {_NUMBERS[m[1]]} {m[2]}"),
        (r"\bin (\d{1,3}) ?(h|m)\b", lambda m: f"in {m[1]} {'hours' if m[2] == 'h' else 'mins'}"),
    ),
    rules=rules(
        # Hours as people say them.
        (r"\b(\d{1,2}) ?o'? ?clock\b", r"\1"),
        (r"\b(\d{1,2}) thirty\b", r"\1:30"),
        (r"\b(\d{1,2}) fifteen\b", r"\1:15"),
        (r"\b(\d{1,2}) forty[- ]?five\b", r"\1:45"),
        (r"\bhalf (?:past )?(\d{1,2})\b(?!:)", r"\1:30"),
        (r"\bquarter past (\d{1,2})\b(?!:)", r"\1:15"),
        (r"\bquarter to (\d{1,2})\b(?!:)", lambda m: _quarter_to(m[1])),
        (
            r"\b(after|before|from|by|since|until|till) (\d{1,2}(?::\d{2})?(?:am|pm)?) ?-?ish\b",
            r"\1 \2",
        ),
        (
            r"(?:\b(?:at|around|about) )?\b(\d{1,2}(?::\d{2})?(?:am|pm)?) ?-?ish\b",
            r"around \1",
        ),
        # Spellings and words for a part of the day.
        (
            r"\b(?:tmrw|tmr|tmw|tomoz|2moro|2morrow|tomorow|tommorow|tommorrow|tomorrw)\b",
            "tomorrow",
        ),
        (r"\b(?:tonite|2nite|tnite|tonigth)\b", "tonight"),
        (r"\barvo\b", "afternoon"),
        (r"\blunch ?time\b", "lunchtime"),
        (r"\bfirst thing(?: in the morning)?\b", "morning"),
        (r"\bafter work\b", "evening"),
        (r"\bany ?time (after|from|before)\b", r"\1"),
        (r"\b(?:no|not) later than\b|\bat the latest by\b", "before"),
        (r"\b(?:don'?t|do not) (?:come|deliver|arrive|bring it)(?: it)? before\b", "after"),
        # "thursday 26": a number after a weekday that cannot be an hour is its date.
        (
            r"\b((?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?) "
            r"(1[3-9]|2\d|3[01])\b(?!:)",
            r"\1 the \2th",
        ),
        # A time the customer does not want.
        (r"\binstead of\b|\brather than\b", "instead"),
        (
            r"\b(?:can'?t|cannot|can not|couldn'?t) (?:do|make)\b|"
            r"\b(?:not|won'?t be) (?:home|in|there|around|available)\b|\bi'?m busy\b|\bbusy\b",
            "not",
        ),
        (
            r"\b(?:doesn'?t|does not|won'?t|will not|wouldn'?t|isn'?t|is not) "
            r"(?:work|suit|do|good)\b|\bis no good\b|\bno good\b|\bis bad\b",
            "nogood",
        ),
    ),
)
