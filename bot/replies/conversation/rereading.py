"""Second readings: when the NLU's first intent cannot be what a reply means here.

- A rating counts only for a delivered order. Before that, "2" is not a verdict on a
  delivery that has not happened: the reply is read as the NLU's next-best intent
  (the pending question, read first, still takes "2" as a pick), and a reply that is
  nothing but a number gets the short help, never an escalation.
- A greeting with a question ("Hola, ¿a qué hora llega el repartidor?") is the
  question: when the NLU's first reading is `greet` but more follows the greeting,
  the best request in its ranking is taken if the model gave it at least
  `GREETING_SECOND` (chosen by measurement: benchmarks/greeting_questions.py).
- A request for another time that names one is sure enough: when the NLU's first
  reading is `reschedule` but below the brand's threshold, and the words of the
  message hold a time the resolver reads ("bring it this arvo"), the time confirms
  the reading; without this, a customer who said exactly when was told "Sorry, I
  didn't catch that".
Pure, like decide.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

from bot.replies.conversation.actions import Facts, Turn

# The smallest confidence of the request behind a greeting that is taken instead of
# the greeting (see benchmarks/greeting_questions.py for the measurement).
GREETING_SECOND = 0.05
# Intents that are not a request of their own, so never what a greeting hides.
SMALL_TALK = frozenset({"greet", "thank", "affirm", "deny", "rate_delivery", "out_of_scope"})

_GREETING = re.compile(
    r"^\W*(?:hi+|hello|hey+|hiya|yo|good (?:morning|afternoon|evening|day)|morning|evening|"
    r"hola|buen[oa]s(?: dias| tardes| noches)?|que tal|saludos|"
    r"bonjour|bonsoir|salut|coucou|allo|re)\b[\s,.!:;-]*",
)
_ONLY_A_RATING = re.compile(
    r"^\W*(?:[0-5]|one|two|three|four|five|zero|uno|dos|tres|cuatro|cinco|cero|un|une|deux|"
    r"trois|quatre|cinq|zero)(?:\s*(?:/\s*5|stars?|estrellas?|etoiles?|out of 5|sur 5|de 5))?"
    r"\W*$|^\W*[⭐★]+\W*$",
)


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _next_best(turn: Turn, skip: frozenset[str]) -> tuple[str, float] | None:
    """The best other intent of the ranking, its confidence among what is left."""
    rest = [(i, c) for i, c in turn.ranking if i not in skip]
    total = sum(c for _, c in rest)
    if not rest or total <= 0:
        return None
    return rest[0][0], rest[0][1] / total


def after_greeting(text: str) -> str:
    """What a reply says after its opening greeting (and the name after it)."""
    plain = _plain(text).strip()
    m = _GREETING.match(plain)
    return plain[m.end() :].strip() if m else plain


def reread(turn: Turn, facts: Facts) -> Turn:
    """The reply as it is meant here (see the module's docstring)."""
    if turn.intent == "rate_delivery" and facts.delivery.status != "delivered":
        entities = {k: v for k, v in turn.entities.items() if k != "rating"}
        best = _next_best(turn, frozenset({"rate_delivery"}))
        if _ONLY_A_RATING.match(_plain(turn.text)) or best is None:
            return dataclasses.replace(
                turn, intent="out_of_scope", confidence=1.0, entities=entities
            )
        return dataclasses.replace(turn, intent=best[0], confidence=best[1], entities=entities)
    if turn.intent == "greet":
        more = after_greeting(turn.text)
        if len(more.split()) >= 2 or "?" in more:
            ranked = [(i, c) for i, c in turn.ranking if i not in SMALL_TALK]
            if ranked and ranked[0][1] >= GREETING_SECOND:
                # The confidence the brand's threshold sees is the greeting's: the model
                # was sure this was a greeting, and the request is read inside it.
                return dataclasses.replace(turn, intent=ranked[0][0])
    threshold = facts.brand.low_confidence
    if turn.intent == "reschedule" and turn.confidence < threshold and _has_time(turn):
        return dataclasses.replace(turn, confidence=threshold)
    return turn


def _has_time(turn: Turn) -> bool:
    return turn.window is not None or turn.window_error is not None
