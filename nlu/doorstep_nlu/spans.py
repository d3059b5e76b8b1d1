"""Entity spans cut the way the NLU contract marks them, whatever the tagger drew.

Plain Python (no Rasa import), so the rules are tested in the main test suite;
`entity_spans.ContractSpans` applies them inside the Rasa pipeline.

Why: the contract leaves a plain leading "in/on/at the" out of a `place` ("leave it on
the [back porch](place)") but keeps the words that change its meaning ("[behind the
bins]", "[with Dave at 16]"); a `time` keeps the word that makes it a window ("[after
5]") and we leave out words that do not change it ("on [friday]", "in the [evening]").
DIET learns that from the data but, on a phrasing it has not seen, still draws the
article or preposition in now and then ("the door", "on the balcony"). The rule is
exact, so it is applied as a rule after the tagger rather than hoped for from more
data. The training data is kept to the same rules (tests/test_nlu_data.py).

The tagger also sometimes breaks one long span in two ("[with my] neighbour at [31]",
"[8 Kingsway], Hove [BN3 2RG]"): pieces of the same entity with at most two words
between them (for a time, only a comma or "to", "and", "-") are joined back into one.
"""

from __future__ import annotations

import re
from typing import Any

# What may be cut from the front of a span, by entity.
LEADING = {
    # "in/on/at" and a determiner ("the", "a", "my"...); "with the" is put back by ABSORB.
    "place": re.compile(
        r"(?:(?:in|on|at|into|onto)\s+(?!front\s+of\b|top\s+of\b))?"
        r"(?:(?:the|a|an|my|our|any)\s+)?",
        re.IGNORECASE,
    ),
    # "on [friday]", "in the [evening]", "any time [tomorrow]", "all day [thursday]",
    # "any chance of [friday before lunch]"
    "time": re.compile(r"(?:on\s+|in\s+the\s+|of\s+|any\s*time\s+|all\s+day\s+)?", re.IGNORECASE),
}
# Words just before a span that belong in it, by entity: for a place, the words that
# change its meaning ("[behind the bins]", "[with Dave at 16]"); for a time, the word
# that makes it a window ("[after 5]", "[around 10]").
ABSORB = {
    "place": re.compile(
        r"\b(?:with|behind|under|underneath|beneath|beside|by|next\s+to|near|inside|"
        r"outside|over|round|around|in\s+front\s+of|on\s+top\s+of|opposite)\s+"
        r"(?:the\s+|my\s+|our\s+)?$",
        re.IGNORECASE,
    ),
    "access_code": re.compile(r"[#*]$"),  # "*4412", "#1290": the symbol is typed too
    "time": re.compile(
        r"\b(?:at|around|(?<!how\s)(?<!what\s)about|after|before|by|from|between|until|till|"
        r"since)\s+$",
        re.IGNORECASE,
    ),
}
# ...taken in only before an hour: "I'm around [tomorrow]" is not "around tomorrow", and a
# time that already starts with such a word takes no second one ("swing by [at 6]").
HOUR_START = re.compile(r"\d|noon\b|midday\b|midnight\b|lunch", re.IGNORECASE)
# What may stand between two pieces of one span, by entity.
GAP = {
    "place": re.compile(r"\s*(?:[\w'.]+\s+){0,2}", re.IGNORECASE),
    "address": re.compile(r"[\s,]*(?:[\w'.]+[\s,]+){0,2}", re.IGNORECASE),
    "time": re.compile(r"[\s,]*(?:(?:to|and|till|until|-|–)\s*)?", re.IGNORECASE),
}
EDGE_PUNCTUATION = " \t,.;:!?'\"()/"
# A span of nothing but such words marks nothing: the tagger now and then draws a lone
# "with", "from" or "my" beside the real span ("[with] you leaving it on the [porch]").
FUNCTION_WORDS = frozenset(
    {
        "a", "an", "the", "my", "our", "your", "his", "her", "their", "its", "me", "you",
        "it", "i", "we", "with", "from", "of", "to", "at", "in", "on", "into", "onto",
        "by", "for", "and", "or", "if", "is", "be",
    }
)  # fmt: skip
ORDINAL = re.compile(r"\d{1,2}(?:st|nd|rd|th)\b", re.IGNORECASE)
BEFORE_ORDINAL = re.compile(r"\bthe\s+$", re.IGNORECASE)  # an ordinal day keeps "the"
# A score the words around it make plain: "5 stars", "five ⭐", "8/10", "4 out of 5".
RATED = re.compile(
    r"(?<![\w/])(?P<value>10|[0-9]|zero|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"\s*(?:stars?\b|⭐|/\s*(?:5|10)\b|out\s+of\s+(?:5|10|five|ten)\b)",
    re.IGNORECASE,
)
# A code right after the word that names it ("gate code is 4471", "pin: 3030", "buzzer
# 302") is an access code even when the tagger misses it; a bare number is not (an order
# number, a phone number).
NAMED_CODE = re.compile(
    r"\b(?:code|pin|passcode|keypad|key\s*safe|lock\s*box|buzzer|buzz|intercom|callbox)"
    r"\s*(?:is|:|-|=|number|no\.?)?\s*(?P<value>[#*]?\d{2,8}#?)(?![\w#*])",
    re.IGNORECASE,
)
# Entities found by a rule where the tagger found none (`found_by_rule`).
FOUND_BY_RULE = (("access_code", NAMED_CODE), ("rating", RATED))
# "4 out of 5", "4/5": the scale after the score is not a rating.
SCALE = re.compile(r"(?:out\s+of|/)\s*$", re.IGNORECASE)


def normalise(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tagger's entities as the contract marks them: joined, trimmed, completed."""
    out = []
    for entity in join_pieces(text, entities):
        trimmed = trim(text, entity)
        if trimmed is not None:
            out.append(absorb(text, trimmed))
    for label, pattern in FOUND_BY_RULE:
        out += found_by_rule(text, out, label, pattern)
    return out


def found_by_rule(
    text: str, entities: list[dict[str, Any]], label: str, pattern: re.Pattern[str]
) -> list[dict[str, Any]]:
    """`label` entities where `pattern`'s `value` group matches and no entity is yet."""
    found = []
    for m in pattern.finditer(text):
        start, end = m.span("value")
        if not any(int(e["start"]) < end and start < int(e["end"]) for e in entities):
            found.append({"entity": label, "start": start, "end": end, "value": m["value"]})
    return found


def join_pieces(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neighbouring pieces of one entity, joined (see the module's docstring)."""
    joined: list[dict[str, Any]] = []
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        last = joined[-1] if joined else None
        gap = GAP.get(entity["entity"])
        if (
            last is not None
            and gap is not None
            and last["entity"] == entity["entity"]
            and last.get("extractor") == entity.get("extractor")
            and int(last["end"]) <= int(entity["start"])
            and gap.fullmatch(text, int(last["end"]), int(entity["start"]))
        ):
            last["end"] = entity["end"]
            last["value"] = text[int(last["start"]) : int(last["end"])]
            if "confidence_entity" in last and "confidence_entity" in entity:
                last["confidence_entity"] = min(
                    last["confidence_entity"], entity["confidence_entity"]
                )
            continue
        joined.append(entity)
    return joined


def trim(text: str, entity: dict[str, Any]) -> dict[str, Any] | None:
    """The entity with its span cut to the contract's rule; None if nothing is left."""
    start, end = int(entity["start"]), int(entity["end"])
    if entity["entity"] == "rating" and SCALE.search(text[:start]):
        return None
    while start < end and text[start] in EDGE_PUNCTUATION:
        start += 1
    while end > start and text[end - 1] in EDGE_PUNCTUATION:
        end -= 1
    leading = LEADING.get(entity["entity"])
    if leading is not None:
        cut = leading.match(text, start, end)
        if cut and cut.end() < end:
            start = cut.end()
    if start >= end:
        return None
    if all(word in FUNCTION_WORDS for word in text[start:end].lower().split()):
        return None
    digits = sum(c.isdigit() for c in text[start:end])
    if entity["entity"] == "access_code" and digits < 2:
        return None  # a code has digits, two at least; "shed" and "unit [3]" are not one
    return _moved(text, entity, start, end)


def absorb(text: str, entity: dict[str, Any]) -> dict[str, Any]:
    """The entity grown to take in the meaning-changing words just before it."""
    before = ABSORB.get(entity["entity"])
    if before is None:
        return entity
    if entity["entity"] == "time" and ORDINAL.match(text, int(entity["start"])):
        before = BEFORE_ORDINAL
    elif entity["entity"] == "time" and not HOUR_START.match(text, int(entity["start"])):
        return entity
    m = before.search(text, 0, int(entity["start"]))
    if m is None or m.end() != int(entity["start"]):
        return entity
    return _moved(text, entity, m.start(), int(entity["end"]))


def _moved(text: str, entity: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    if (start, end) != (entity["start"], entity["end"]):
        # the value was the span's text (a synonym mapper runs after this component)
        if entity.get("value") == text[entity["start"] : entity["end"]]:
            entity["value"] = text[start:end]
        entity["start"], entity["end"] = start, end
    return entity
