"""Carrier keywords: opt-out, opt-in and help, matched on the whole message, in each
language we write to customers in.

English: the CTIA words US carriers and Twilio honour by default. Spanish: ALTO and
AYUDA, which US carriers require of a Spanish-language program, with BAJA, PARAR,
CANCELAR and DETENER that Spanish speakers also send (Twilio's Advanced Opt-Out lets
a Messaging Service add them). French: ARRET and AIDE, which Canadian carriers
(CWTA) require of every program, with ARRETE / ARRETER, STOP SMS, DESABONNER and
DESINSCRIRE. A language's own word is answered in that language (CWTA: a French
keyword gets a French reply); the English words, which customers of every language
use, are answered in the customer's own language.

A new language is one entry in `KEYWORDS`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Keyword = Literal["opt_out", "opt_in", "help"]


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """What the message is, and the language of the word used (None: the customer's own)."""

    keyword: Keyword
    language: str | None


_ENGLISH: dict[Keyword, frozenset[str]] = {
    # The keyword lists Twilio's Advanced Opt-Out and US carriers honour.
    "opt_out": frozenset(
        {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
         "STOP ALL", "OPT OUT"}
    ),
    "opt_in": frozenset({"START", "UNSTOP", "YES", "OPTIN", "OPT IN"}),
    "help": frozenset({"HELP", "INFO"}),
}  # fmt: skip
KEYWORDS: dict[str, dict[Keyword, frozenset[str]]] = {
    "es": {
        "opt_out": frozenset({"ALTO", "BAJA", "PARAR", "CANCELAR", "DETENER", "DAR DE BAJA"}),
        "opt_in": frozenset({"ALTA", "INICIAR", "REANUDAR", "DAR DE ALTA"}),
        "help": frozenset({"AYUDA"}),
    },
    "fr": {
        "opt_out": frozenset(
            {"ARRET", "ARRETE", "ARRETER", "STOP SMS", "DESABONNER", "DESINSCRIRE",
             "DESABONNEMENT", "ME DESABONNER"}
        ),
        "opt_in": frozenset({"REPRENDRE", "ABONNER", "REABONNER", "DEMARRER"}),
        "help": frozenset({"AIDE"}),
    },
}  # fmt: skip


def _plain(text: str) -> str:
    """Upper case, accents dropped ("ARRÊT" is ARRET), only letters and single spaces."""
    text = unicodedata.normalize("NFKD", text.upper())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[-_]", " ", text)
    return " ".join(re.sub(r"[^A-Z ]", "", text).split())


def match_keyword(text: str, opted_out: bool) -> KeywordMatch | None:
    """The keyword the whole message is, if any, with the language to answer in.

    "YES" re-subscribes only someone who opted out; otherwise it is an ordinary answer
    (and so are "ALTA" and the French opt-in words, which are ordinary words too).
    """
    word = _plain(text)
    if not word:
        return None
    tables = [(None, _ENGLISH), *KEYWORDS.items()]
    for language, table in tables:
        if word in table["opt_out"]:
            return KeywordMatch("opt_out", language)
    for language, table in tables:
        if word in table["opt_in"] and (opted_out or (language is None and word != "YES")):
            return KeywordMatch("opt_in", language)
    for language, table in tables:
        if word in table["help"]:
            return KeywordMatch("help", language)
    return None
