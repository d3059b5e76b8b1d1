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

Spanish and French follow the same rules with their own words (nlu/SPAN-RULES.md):
"déjelo en [el porche]", "[detrás de los contenedores]", "[chez la voisine du 12]",
"[por la tarde]", "[a las 6]", "para [el viernes]", "pour [demain]".

The tagger also sometimes breaks one long span in two ("[with my] neighbour at [31]",
"[8 Kingsway], Hove [BN3 2RG]"): pieces of the same entity with at most two words
between them (for a time, only a comma or "to", "and", "-") are joined back into one.
"""

from __future__ import annotations

import re
from typing import Any

# What may be cut from the front of a span, by entity.
LEADING = {
    # es/fr: one plain locative preposition, the article after it kept ("en [el porche]",
    # "al [portero]" and "au [gardien]", whose article is in the preposition),
    # "sur [le paillasson]", "dans [la boîte aux lettres]"); not the first word of one
    # that changes the meaning ("à côté de", "en face de", "au-dessus de": ABSORB).
    # en: "in/on/at" and a determiner ("the", "a", "my"...); "with the" is put back by
    # ABSORB.
    "place": re.compile(
        r"(?:(?:en|sobre|a|al|sur|dans|à|au|aux)\s+(?!c[oô]t[eé]\b|face\b|dessus\b|lado\b)"
        r"|(?:(?:in|on|at|into|onto)\s+(?!front\s+of\b|top\s+of\b))?"
        r"(?:(?:the|a|an|my|our|any)\s+)?)",
        re.IGNORECASE,
    ),
    # "on [friday]", "in the [evening]", "any time [tomorrow]", "all day [thursday]",
    # "any chance of [friday before lunch]"; es/fr "para [el viernes]", "pour [demain]"
    # (never "por la"/"en la": "mañana" alone is tomorrow, "por la mañana" the morning).
    "time": re.compile(
        r"(?:on\s+|in\s+the\s+|of\s+|any\s*time\s+|all\s+day\s+|para\s+|pour\s+)?",
        re.IGNORECASE,
    ),
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
# The same for Spanish and French, tried after the English ones (their words do not
# overlap). A place takes the words that change its meaning with the article after them
# ("[detrás de los contenedores]", "[con el portero]", "[chez la voisine du 12]", "[à
# côté de la porte]"), or else the article a plain preposition left ("en [el porche]").
_ES_ARTICLE = r"(?:el|la|lo|los|las|mi|mis|tu|tus|su|sus|nuestr[oa]s?|un|una|unos|unas)\s+"
_FR_ARTICLE = (
    r"(?:(?:le|la|les|mon|ma|mes|ton|ta|tes|son|sa|ses|notre|nos|un|une|ce|cet|cette)\s+|l['’])"
)
ABSORB_ES_FR = {
    "place": [
        re.compile(
            r"(?<!\w)(?:(?:(?:detr[aá]s|delante|al\s+lado|debajo|dentro|fuera|encima|cerca|"
            r"enfrente)\s+del?|(?:junto|frente)\s+al?)\s+(?:" + _ES_ARTICLE + r")?"
            r"|con\s+(?:" + _ES_ARTICLE + r")?)$",
            re.IGNORECASE,
        ),
        re.compile(
            r"(?<!\w)(?:(?:derri[eè]re|devant|sous|chez|avec|contre)\s+"
            r"|(?:[àa]\s+c[oô]t[eé]|pr[eè]s|en\s+face|au[-\s]dessus)\s+(?:de\s+|du\s+|des\s+|d['’]))"
            r"(?:" + _FR_ARTICLE + r")?$",
            re.IGNORECASE,
        ),
        # the article (or possessive) after a plain leading preposition ("en [el porche]")
        re.compile(
            r"(?<!\w)(?:en|sobre|a|sur|dans|[àa])\s+"
            r"(?P<keep>(?:el|la|los|las|mi|mis|tu|su|sus|nuestr[oa]s?|le|les|mon|ma|mes|ton|ta|"
            r"son|sa|ses|notre|nos)\s+|l['’])$",
            re.IGNORECASE,
        ),
    ],
    # A time takes the whole expression: the words that make an hour a window ("[después
    # de las 5]", "[a las 6]", "[sobre las 5]", "[vers 18h]", "[à partir de 14h]").
    "time": [
        re.compile(
            r"(?<!\w)(?:despu[eé]s\s+de|a\s+partir\s+de|antes\s+de|a\s+eso\s+de|hacia|"
            r"sobre|a|entre|hasta|desde|para\s+antes\s+de)\s+(?:las?\s+)?$",
            re.IGNORECASE,
        ),
        re.compile(
            r"(?<!\w)(?:apr[eè]s|[àa]\s+partir\s+de|avant|vers|entre|d[eè]s|jusqu['’][àa]|"
            r"d['’]ici|[àa])\s+$",
            re.IGNORECASE,
        ),
    ],
}
# ...a Spanish/French time, only before what it fits: the day part "mañana" with "por
# la"/"en la" is the morning, without them tomorrow ("[por la mañana]", "[esta tarde]",
# "[dans la matinée]", "[ce soir]", "[l'après-midi]"); a weekday or a day number takes
# its article ("[el viernes]", "[el 28]", "[ce vendredi]", "[le 28]"); "de" is taken
# only before a range ("[de 3 a 5]", "[de 9h à 12h]").
DAY_PART = re.compile(
    r"(?:mañana|tarde|noche|madrugada|mediod[ií]a|matin[ée]?e?|après-midi|apr[eè]m|soir[ée]?e?|"
    r"midi|fin\s+d)\b",
    re.IGNORECASE,
)
BEFORE_DAY_PART = re.compile(
    r"(?<!\w)(?:(?:por|en|de|a)\s+la\s+|al\s+|a\s+|est[ae]\s+"
    r"|dans\s+(?:la\s+|l['’])|en\s+|le\s+|la\s+|l['’]|ce\s+|cet\s+|cette\s+|[àa]\s+)$",
    re.IGNORECASE,
)
WEEKDAY_OR_DAY = re.compile(
    r"(?:lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo|lundi|mardi|mercredi|"
    r"jeudi|vendredi|samedi|dimanche|pr[oó]ximo|\d{1,2}(?!\s*(?:h|:|am|pm)))\b",
    re.IGNORECASE,
)
BEFORE_WEEKDAY = re.compile(
    r"(?<!\w)(?:el|este|esta|ce|le)\s+$",
    re.IGNORECASE,
)
RANGE = re.compile(r"(?:las?\s+)?\d[\w:.]*\s+(?:a|à)\s+", re.IGNORECASE)
BEFORE_RANGE = re.compile(r"(?<!\w)(?:de|desde)\s+(?:las?\s+)?$", re.IGNORECASE)
# ...taken in only before an hour: "I'm around [tomorrow]" is not "around tomorrow", and a
# time that already starts with such a word takes no second one ("swing by [at 6]").
HOUR_START = re.compile(
    r"\d|noon\b|midday\b|midnight\b|lunch|(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve)\b(?!\s+(?:days?|weeks?|hours?|mins?|minutes?|times?)\b)|half\s+\w|las?\s+(?:\d|una\b|dos\b|tres\b|cuatro\b|cinco\b|"
    r"seis\b|siete\b|ocho\b|nueve\b|diez\b|once\b|doce\b)|mediod[ií]a\b|medianoche\b|"
    r"midi\b|minuit\b",
    re.IGNORECASE,
)
# What may stand between two pieces of one span, by entity.
GAP = {
    # "[number 12], [Mrs Patel]": a comma too
    "place": re.compile(r"[\s,]*(?:[\w'.]+[\s,]+){0,2}", re.IGNORECASE),
    "address": re.compile(r"[\s,]*(?:[\w'.]+[\s,]+){0,2}", re.IGNORECASE),
    # es/fr: "entre las 2 | y las 4", "de 3 | à 5"
    "time": re.compile(
        r"[\s,]*(?:(?:to|and|till|until|-|–)\s*|(?:y|a|et|à|hasta|jusqu['’]à)\s+(?:las?\s+)?)?",
        re.IGNORECASE,
    ),
}
EDGE_PUNCTUATION = " \t,.;:!?'\"()/¿¡«»"
# A span of nothing but such words marks nothing: the tagger now and then draws a lone
# "with", "from" or "my" beside the real span ("[with] you leaving it on the [porch]").
FUNCTION_WORDS = frozenset(
    {
        "a", "an", "the", "my", "our", "your", "his", "her", "their", "its", "me", "you",
        "it", "i", "we", "with", "from", "of", "to", "at", "in", "on", "into", "onto",
        "by", "for", "and", "or", "if", "is", "be",
        # es, fr ("mon" is not here: it is also Monday)
        "el", "la", "lo", "los", "las", "un", "una", "mi", "mis", "tu", "su", "de", "del",
        "al", "en", "con", "y", "o", "por", "para", "es", "le", "les", "l'", "une",
        "ma", "mes", "du", "des", "d'", "à", "au", "aux", "avec", "chez", "sur", "dans",
        "et", "ou", "pour", "est",
    }
)  # fmt: skip
ORDINAL = re.compile(r"\d{1,2}(?:st|nd|rd|th)\b", re.IGNORECASE)
BEFORE_ORDINAL = re.compile(r"\bthe\s+$", re.IGNORECASE)  # an ordinal day keeps "the"
# A score the words around it make plain: "5 stars", "five ⭐", "8/10", "4 out of 5".
# es/fr: "[5] estrellas", "[cinco] de 5", "un [4] sur 5", "[quatre] étoiles".
_NUMBER_WORDS = (
    r"zero|one|two|three|four|five|six|seven|eight|nine|ten"
    r"|cero|uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez"
    r"|z[ée]ro|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix"
)
RATED = re.compile(
    r"(?<![\w/])(?P<value>10|[0-9]|" + _NUMBER_WORDS + r")"
    r"\s*(?:stars?\b|⭐|/\s*(?:5|10)\b|out\s+of\s+(?:5|10|five|ten)\b"
    r"|estrellas?\b|[ée]toiles?\b|(?:de|sur)\s+(?:5|10|cinco|diez|cinq|dix)\b)",
    re.IGNORECASE,
)
# A code right after the word that names it ("gate code is 4471", "pin: 3030", "buzzer
# 302") is an access code even when the tagger misses it; a bare number is not (an order
# number, a phone number).
NAMED_CODE = re.compile(
    r"\b(?:code|pin|passcode|keypad|key\s*safe|lock\s*box|buzzer|buzz|intercom|callbox"
    r"|c[oó]digo|clave|contraseña|telefonillo|portero\s+autom[aá]tico|digicode|interphone)"
    # es/fr: "código de acceso es 4471", "le code d'entrée est le 4471", "digicode : 1290"
    r"(?:\s+(?:de\s+(?:acceso|entrada|la\s+puerta|la\s+verja|seguridad|portal|la\s+porte)"
    r"|d['’](?:acc[eè]s|entr[ée]e|immeuble)|du\s+portail|de\s+l['’]immeuble))?"
    r"\s*(?:is|:|-|=|number|no\.?|es|est|es\s+el|est\s+le|c['’]est)?"
    r"\s*(?P<value>[#*]?\d{2,8}#?)(?![\w#*])",
    re.IGNORECASE,
)
# Entities found by a rule where the tagger found none (`found_by_rule`).
FOUND_BY_RULE = (("access_code", NAMED_CODE), ("rating", RATED))
# "4 out of 5", "4/5": the scale after the score is not a rating.
# es/fr: "4 de 5", "4 sur 5" (but not "una nota de [5]").
SCALE = re.compile(
    r"(?:out\s+of|/|(?<![\w/])(?:10|[0-9]|" + _NUMBER_WORDS + r")\s+(?:de|sur))\s*$",
    re.IGNORECASE,
)


def normalise(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tagger's entities as the contract marks them: joined, trimmed, completed."""
    out = []
    for entity in join_pieces(text, entities):
        trimmed = trim(text, entity)
        if trimmed is not None:
            out.append(absorb(text, trimmed))
    # pieces that became neighbours once grown: "[mañana] [después de las 5]"
    out = join_pieces(text, out)
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
        before = None
    m = before.search(text, 0, int(entity["start"])) if before is not None else None
    if m is not None and m.end() == int(entity["start"]):
        return _moved(text, entity, m.start(), int(entity["end"]))
    return absorb_es_fr(text, entity)


def absorb_es_fr(text: str, entity: dict[str, Any]) -> dict[str, Any]:
    """`absorb` for Spanish and French: `ABSORB_ES_FR`, then a time's article ones."""
    start = int(entity["start"])
    candidates = list(ABSORB_ES_FR.get(entity["entity"], []))
    if entity["entity"] == "time":
        if not HOUR_START.match(text, start):
            candidates = []
        if RANGE.match(text, start):
            candidates.insert(0, BEFORE_RANGE)
        if DAY_PART.match(text, start):
            candidates.append(BEFORE_DAY_PART)
        if WEEKDAY_OR_DAY.match(text, start) and not RANGE.match(text, start):
            candidates.append(BEFORE_WEEKDAY)
    for pattern in candidates:
        m = pattern.search(text, 0, start)
        if m is not None and m.end() == start:
            keep = m.start("keep") if "keep" in pattern.groupindex else m.start()
            entity = _moved(text, entity, keep, int(entity["end"]))
            if entity["entity"] == "time":
                return absorb_es_fr(text, entity)  # "el | próximo viernes"
            return entity
    return entity


def _moved(text: str, entity: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    if (start, end) != (entity["start"], entity["end"]):
        # the value was the span's text (a synonym mapper runs after this component)
        if entity.get("value") == text[entity["start"] : entity["end"]]:
            entity["value"] = text[start:end]
        entity["start"], entity["end"] = start, end
    return entity
