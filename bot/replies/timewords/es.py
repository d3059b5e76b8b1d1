"""Spanish time words, as the NLU contract's "Languages" table maps them.

"mañana" alone is tomorrow, "por la mañana" / "en la mañana" the morning and "de la
mañana" after an hour is a.m.; "pasado mañana" is the day after tomorrow; "el lunes
que viene" / "el próximo lunes" the coming Monday; "a las cinco y media" is 5:30.
"""

from __future__ import annotations

from bot.replies.timewords import TimeWords, rules, word_map, words

_NUMBERS = {
    "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
    "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
}  # fmt: skip
_DAYS = {
    "lunes": "monday", "martes": "tuesday", "miercoles": "wednesday", "jueves": "thursday",
    "viernes": "friday", "sabado": "saturday", "domingo": "sunday",
}  # fmt: skip
_MONTHS = {
    "enero": "january", "febrero": "february", "marzo": "march", "abril": "april",
    "mayo": "may", "junio": "june", "julio": "july", "agosto": "august",
    "septiembre": "september", "setiembre": "september", "octubre": "october",
    "noviembre": "november", "diciembre": "december",
}  # fmt: skip
_H = r"\d{1,2}(?::\d{2})?"
_ARTICLE = r"(?:las |la )?"

WORDS = TimeWords(
    code="es",
    markers=words(
        """manana pasado hoy tarde noche mediodia despues antes entre las la hasta desde
        sobre hacia eso partir lunes martes miercoles jueves viernes sabado domingo enero
        febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre
        diciembre semana fin que viene proximo proxima esta este por y media cuarto menos
        dentro horas hora el del al en lugar vez pero madrugada temprano finde"""
    ),
    numbers=_NUMBERS,
    number_before=r"las|la|de|a|y|hasta|desde|entre|sobre|hacia|tipo",
    number_after=(
        r"y media|y cuarto|menos cuarto|y pico|de la (?:manana|tarde|noche)|en punto|"
        r"horas?\b|hs?\b|pm\b|am\b"
    ),
    pre=rules(
        (r"\b(?:dentro de|en|de aqui a) (?:una|1) hora\b", "in 1 hour"),
        (r"\b(?:dentro de|en|de aqui a) (?:media hora|30 minutos)\b", "in half an hour"),
        (
            r"\b(?:dentro de|en|de aqui a) (dos|tres|\d{1,2}) (?:horas|hs?)\b",
            lambda m: f"in {_NUMBERS.get(m[1], m[1])} hours",
        ),
        (r"\b(?:dentro de|en|de aqui a) (\d{1,3}) (?:minutos|min)\b", r"in \1 mins"),
    ),
    rules=rules(
        # Hours as people say them.
        (rf"\b({_H}) en punto\b", r"\1"),
        (r"\b(\d{1,2}) y media\b", r"\1:30"),
        (r"\b(\d{1,2}) y cuarto\b", r"\1:15"),
        (r"\b(\d{1,2}) menos cuarto\b", lambda m: f"{(int(m[1]) - 2) % 12 + 1}:45"),
        (rf"\b({_H}) y pico\b", r"around \1"),
        (rf"\b({_H}) de la (?:manana|madrugada)\b", r"\1am"),
        (rf"\b({_H}) de la (?:tarde|noche)\b", r"\1pm"),
        (rf"\b({_H}) del mediodia\b", r"\1"),
        # Operators that hold a day word ("no más tarde de las 5") before the day words.
        (r"\b(?:no|como muy|a mas) tarde (?:de|a) (?:las|la)\b", "before"),
        (r"\bmas tarde de (?:las|la)\b", "after"),
        (r"\bno antes de " + _ARTICLE, "after "),
        # Days: "pasado mañana" before "mañana"; "mañana" is the day unless it is "la mañana".
        (r"\bpasado manana\b", "day after tomorrow"),
        (r"\bmanana (?:por|en|a|durante) la manana\b", "tomorrow morning"),
        (r"\bmanana temprano\b|\bmanana a primera hora\b", "tomorrow morning"),
        (r"\besta manana\b", "this morning"),
        (r"\b(?:por|en|a|durante|de) la manana\b|\bla manana\b", "morning"),
        (r"\ba primera hora\b", "morning"),
        (r"\bmanana\b", "tomorrow"),
        (r"\bhoy(?: mismo)?\b", "today"),
        (r"\besta tarde\b", "this afternoon"),
        (r"\b(?:por|en|a|durante|de) la tarde\b|\bla tarde\b|(?<!\bmas )\btarde\b", "afternoon"),
        (r"\besta noche\b", "tonight"),
        (r"\b(?:por|en|a|durante|de) la noche\b|\bla noche\b|\bnoche\b", "evening"),
        (r"\bdespues del trabajo\b|\bal salir del trabajo\b", "evening"),
        (r"\b(?:a la )?hora de (?:comer|la comida|almorzar)\b|\bhora del almuerzo\b", "lunchtime"),
        (
            r"\b(?:este|el|en el|para el) fin de semana\b|\bfin de semana\b|\bfinde\b",
            "this weekend",
        ),
        (r"\bque viene\b", ""),
        (r"\bproxim[oa]\b", "next"),
        (r"\bsemana\b", "week"),
        word_map(_DAYS),
        word_map(_MONTHS),
        # "el jueves 26": a number after a weekday is its date.
        (
            rf"\b({'|'.join(_DAYS.values())}) (\d{{1,2}})\b(?!\s*(?::\d|am\b|pm\b|y |menos))",
            r"\1 the \2th",
        ),
        (r"\b(\d{1,2}(?:th)?) de (?=[a-z]{3,10}\b)", r"\1 "),  # "3 de diciembre"
        (r"\b(?:el (?:dia )?|dia )(\d{1,2})\b(?!\s*(?::\d|am\b|pm\b))", r"the \1th"),
        # After / before / between / around.
        (rf"\bde {_ARTICLE}({_H}(?:am|pm)?) a {_ARTICLE}({_H}(?:am|pm)?)\b", r"from \1 to \2"),
        (
            rf"\bdesde {_ARTICLE}({_H}(?:am|pm)?) hasta {_ARTICLE}({_H}(?:am|pm)?)\b",
            r"from \1 to \2",
        ),
        (
            r"\b(?:despues|luego|a partir) (?:de las|de la|del|de)\b|\bdesde (?:las|la|el)\b|"
            r"\bdesde\b|\bpasadas las\b",
            "after",
        ),
        (
            r"\bantes (?:de las|de la|del|de)\b|\b(?:hasta|para) (?:las|la)\b|\bantes\b|\bhasta\b",
            "before",
        ),
        (r"\bentre (?:las |la )?", "between "),
        (rf"\b({_H}(?:am|pm)?) y {_ARTICLE}(?=\d)", r"\1 and "),
        (
            r"\b(?:a eso de|alrededor de|sobre|hacia|como a|tipo|aprox(?:imadamente)?(?: a)?) "
            r"(?:las |la )?",
            "around ",
        ),
        (r"\ba (?:las|la)\b|\blas\b(?= \d)", "at"),
        (r"\b(?:al|a|el) mediodia\b|\bmediodia\b", "noon"),
        # A time the customer does not want.
        (r"\ben (?:lugar|vez) de\b", "instead"),
        (
            r"\bno me (?:viene|va|queda|sirve)(?: bien)?\b|"
            r"\bno (?:puedo|es posible)\b(?= *(?:[.,;!?]|$))",
            "nogood",
        ),
        (r"\bno (?:puedo|podre|estoy|estare|estaremos|hay nadie)\b|\by no\b|\bno\b", "not"),
        (r"\bpero\b", "but"),
    ),
    day_first=True,
)
