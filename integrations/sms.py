"""How an SMS text is encoded and how many parts it is billed as.

GSM-7 (3GPP TS 23.038) carries 160 characters in one message and 153 per part when
concatenated; characters of the extension table (such as `€`, `[`, `{`) take two
septets. Any character outside both tables (an emoji, most non-Latin letters, `ç`'s
upper case is fine but `ő` is not) makes the whole message UCS-2: 70 characters, 67
per part, counted in UTF-16 code units (an emoji outside the BMP is two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SmsInfo:
    encoding: Encoding
    characters: int  # as the network counts them: septets for GSM-7, UTF-16 units for UCS-2
    segments: int

    def cost(self, price_per_segment: float, messages: int = 1000) -> float:
        return round(self.segments * price_per_segment * messages, 4)


def sms_info(text: str) -> SmsInfo:
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = (1 if units else 0) if units <= single else -(-units // part)
    return SmsInfo(encoding, units, segments)  # type: ignore[arg-type]


# Typography CLDR formatting and translators use, with the GSM-7 character that
# reads the same: one of these alone would make a whole message UCS-2 (70 characters
# a part instead of 160), so an SMS of two parts would cost three.
_PLAIN = str.maketrans(
    {
        "\u00a0": " ",  # no-break space
        "\u2009": " ",  # thin space (CLDR time intervals)
        "\u202f": " ",  # narrow no-break space (CLDR "4:00 PM", French "?")
        "\u2013": "-",  # en dash (CLDR intervals)
        "\u2014": "-",  # em dash
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',  # French guillemets
        "\u00bb": '"',
        "\u2026": "...",
    }
)


def gsm_friendly(text: str) -> str:
    """`text` with typographic characters that have a GSM-7 look-alike replaced by it."""
    return text.translate(_PLAIN)
