"""Carrier keywords (CTIA): opt-out, opt-in and help, matched on the whole message."""

from __future__ import annotations

import re
from typing import Literal

Keyword = Literal["opt_out", "opt_in", "help"]

# The keyword lists Twilio's Advanced Opt-Out and US carriers honour.
OPT_OUT = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "REVOKE",
        "STOP ALL",
        "OPT OUT",
    }
)
OPT_IN = frozenset({"START", "UNSTOP", "YES", "OPTIN", "OPT IN"})
HELP = frozenset({"HELP", "INFO"})


def match_keyword(text: str, opted_out: bool) -> Keyword | None:
    """The keyword the whole message is, if any.

    "YES" re-subscribes only someone who opted out; otherwise it is an ordinary answer.
    """
    word = re.sub(r"[^A-Z ]", "", text.upper()).strip()
    word = re.sub(r"\s+", " ", word)
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN and (opted_out or word != "YES"):
        return "opt_in"
    if word in HELP:
        return "help"
    return None
