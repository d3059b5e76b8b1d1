"""Reading a pick from a numbered offer: "2", "the second one", "the later one", "option 3"."""

from __future__ import annotations

import re
import unicodedata

_ORDINALS = {
    # English
    "first": 1, "1st": 1, "one": 1, "second": 2, "2nd": 2, "two": 2,
    "third": 3, "3rd": 3, "three": 3, "fourth": 4, "4th": 4, "four": 4,
    # Spanish
    "primero": 1, "primera": 1, "uno": 1, "una": 1, "segundo": 2, "segunda": 2, "dos": 2,
    "tercero": 3, "tercera": 3, "tres": 3, "cuarto": 4, "cuarta": 4, "cuatro": 4,
    # French
    "premier": 1, "premiere": 1, "un": 1, "deuxieme": 2, "seconde": 2, "deux": 2,
    "troisieme": 3, "trois": 3, "quatrieme": 4, "quatre": 4,
}  # fmt: skip
_FIRST = {"earlier", "earliest", "sooner", "soonest", "temprano", "antes", "plus tot"}
_LAST = {"later", "latest", "last", "ultimo", "ultima", "tarde", "dernier", "derniere", "plus tard"}
_FILLER = re.compile(
    r"\b(the|one|option|number|no|please|pls|plz|el|la|opcion|numero|le|l|choix|svp)\b|[#.!,)(:]"
)


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def pick(text: str, count: int) -> int | None:
    """The 0-based index of the option chosen among `count`, or None if this is not a pick."""
    plain = _plain(text).strip()
    if not plain or count <= 0 or len(plain) > 40:
        return None
    rest = _FILLER.sub(" ", plain).split()
    if len(rest) == 1 and rest[0].isdigit():
        n = int(rest[0])
        return n - 1 if 1 <= n <= count else None
    words = set(re.sub(r"[^\w\s]", " ", plain).split())
    phrase = " ".join(plain.split())
    if words & _LAST or any(p in phrase for p in _LAST if " " in p):
        return count - 1
    if words & _FIRST or any(p in phrase for p in _FIRST if " " in p):
        return 0
    if len(rest) == 1 and rest[0] in _ORDINALS:
        n = _ORDINALS[rest[0]]
        return n - 1 if n <= count else None
    ordinal = [w for w in words if w in _ORDINALS and not w.isdigit() and len(w) > 3]
    if len(ordinal) == 1 and len(words) <= 4:
        n = _ORDINALS[ordinal[0]]
        return n - 1 if n <= count else None
    return None


# Words that name no item: articles, politeness, and the verbs of asking for a return.
_NOT_A_NAME = frozenset(
    str.split(
        """the a an my this that one it its pls please plz thanks thank you i want to return
    collect pick up back send take of and or el la los las un una mi ese esa este esta
    por favor gracias quiero devolver recoger le les des du de mon ma mes ce cette svp
    merci je veux rendre reprendre"""
    )
)


def _name_words(text: str) -> set[str]:
    """Words of a name or a reply, singular ("chairs" -> "chair"), without filler."""
    words = re.findall(r"[a-z0-9]+", _plain(text))
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w not in _NOT_A_NAME}


def by_name(text: str, names: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """The items (0-based) a reply names by any word of their name ("the chair pls"
    for "Oak dining chair"); the one naming most words wins, a tie is every tied one
    (the caller asks again). Empty when the reply names none."""
    said = _name_words(text)
    counts = [len(said & _name_words(name)) for name in names]
    best = max(counts, default=0)
    return tuple(i for i, n in enumerate(counts) if n == best) if best else ()


_YES = {
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "ok",
    "okay",
    "sure",
    "si",
    "sí",
    "vale",
    "oui",
    "ouais",
    "d'accord",
}
_NO = {"no", "n", "nope", "nah", "non"}
# A thumbs up or a tick is a yes on every phone; skin tones and emoji variation
# selectors are dropped before reading.
_YES_EMOJI = set("👍✅👌☑✔🆗")
_NO_EMOJI = set("👎❌❎✖🚫")
_EMOJI_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f\\s]")


def yes_no(text: str) -> bool | None:
    """A bare yes or no in any shipped language ("SÍ", "oui", "nope"); None otherwise.

    The NLU is trained on English; a one-word answer to a YES/NO question must not
    depend on it.
    """
    symbols = set(_EMOJI_MODIFIERS.sub("", text))
    if symbols and symbols <= _YES_EMOJI:
        return True
    if symbols and symbols <= _NO_EMOJI:
        return False
    words = re.sub(r"[^\w\s']", " ", text.lower()).split()
    if not 1 <= len(words) <= 3:
        return None
    if words[0] in _YES or _plain(words[0]) in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


_SCORE_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "un": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5,
}  # fmt: skip
_STARS = re.compile("[\u2b50\u2605\ufe0f\\s]")
# "5", "4/5", "4 out of 5", "3 sur 5", "5 stars", then anything that is not a number.
_LEADING_SCORE = re.compile(
    r"^\s*([1-5])(?:\s*(?:/|out of|sur|de)\s*5)?(?:\s*(?:stars?|estrellas?|etoiles?))?(?![\d:.,])"
)


def score(text: str) -> int | None:
    """A 1-5 score in a short answer to "how did we do?": "5", "4/5 thanks", "five",
    "cinco", "⭐⭐⭐⭐", "I'd say 4"; None when the reply does not read as one."""
    if not text.strip() or len(text) > 80:
        return None
    if not _STARS.sub("", text):
        stars = text.count("\u2b50") + text.count("\u2605")
        return stars if 1 <= stars <= 5 else None
    plain = _plain(text)
    found = _LEADING_SCORE.match(plain)
    if found:
        return int(found.group(1))
    words = re.sub(r"[^\w\s]", " ", plain).split()
    if words and words[0] in _SCORE_WORDS:
        return _SCORE_WORDS[words[0]]
    numbers = re.findall(r"\d+", plain)
    if len(words) <= 6 and len(numbers) == 1 and 1 <= int(numbers[0]) <= 5:
        return int(numbers[0])
    return None
