"""French time words (France and Québec), as the NLU contract's "Languages" table maps them.

24-hour times as written ("17h", "17h30", "18 heures"); "cinq heures et demie" is
5:30; "du matin" / "du soir" after an hour are a.m. / p.m.; Québec's "à soir" (this
evening), "en avant-midi" (the morning) and "fin de semaine" (the weekend).
"""

from __future__ import annotations

from bot.replies.timewords import TimeWords, rules, word_map, words

_NUMBERS = {
    "une": 1, "un": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
    "quinze": 15, "seize": 16, "dix-sept": 17, "dix sept": 17, "dix-huit": 18,
    "dix huit": 18, "dix-neuf": 19, "dix neuf": 19, "vingt": 20, "vingt et une": 21,
    "vingt-et-une": 21, "vingt et un": 21,
}  # fmt: skip
_DAYS = {
    "lundi": "monday", "mardi": "tuesday", "mercredi": "wednesday", "jeudi": "thursday",
    "vendredi": "friday", "samedi": "saturday", "dimanche": "sunday",
}  # fmt: skip
_MONTHS = {
    "janvier": "january", "fevrier": "february", "mars": "march", "avril": "april",
    "mai": "may", "juin": "june", "juillet": "july", "aout": "august",
    "septembre": "september", "octobre": "october", "novembre": "november",
    "decembre": "december",
}  # fmt: skip
_H = r"\d{1,2}(?::\d{2})?"
_HM = r"(?:\d{1,2}(?::\d{2})?(?:am|pm)?|noon|midnight)"
_AFTERNOON = r"apres[- ]?midi|aprem|apres-m"

WORDS = TimeWords(
    code="fr",
    markers=words(
        """demain apres avant vers matin matinee soir soiree midi aprem aujourd'hui
        aujourdhui auj lundi mardi mercredi jeudi vendredi samedi dimanche janvier fevrier
        mars avril mai juin juillet aout septembre octobre novembre decembre semaine
        prochain prochaine ce cet cette week weekend we heures heure et le du au dans
        jusqu'a d'ici plutot lieu quart demie demi moins environ alentours autour minuit
        pas mais nuit journee des depuis"""
    ),
    numbers=_NUMBERS,
    number_before=(
        r"a|vers|apres|avant|entre|et|de|des|depuis|jusqu'a|partir de|passe|environ|"
        r"sur les|sur|d'ici|pour"
    ),
    number_after=r"heures?\b|h\b|du matin|du soir|de l'apres[- ]?midi|et demie?|et quart|moins",
    pre=rules(
        # "dans 2h" is in two hours; "d'ici 15h" is by three o'clock, "d'ici une heure" not.
        (r"\bdans (?:une|1) ?(?:heure|h)\b|\bd'ici une heure\b", "in 1 hour"),
        (r"\b(?:dans|d'ici) (?:une demi[- ]?heure|30 ?(?:minutes|min|mn))\b", "in half an hour"),
        (
            r"\bdans (deux|trois|\d{1,2}) ?(?:heures|h)\b|\bd'ici (deux|trois) heures\b",
            lambda m: f"in {_NUMBERS.get(m[1] or m[2], m[1] or m[2])} hours",
        ),
        (r"\b(?:dans|d'ici) (\d{1,3}) ?(?:minutes|min|mn)\b", r"in \1 mins"),
    ),
    rules=rules(
        # Hours as people say them ("5 heures" is already "5:00" here).
        (r"\b(\d{1,2})(?::00)? et demie?\b", r"\1:30"),
        (r"\b(\d{1,2})(?::00)? et quart\b", r"\1:15"),
        (r"\b(\d{1,2})(?::00)? moins (?:le )?quart\b", lambda m: f"{(int(m[1]) - 2) % 12 + 1}:45"),
        (r"\bmidi et demie?\b", "12:30"),
        (r"\bmidi et quart\b", "12:15"),
        (rf"\b({_H}) du matin\b", r"\1am"),
        (rf"\b({_H}) (?:de l'(?:{_AFTERNOON})|du soir)\b", r"\1pm"),
        (r"\bpas avant\b", "after"),
        # Days.
        (r"\bapres[- ]demain\b", "day after tomorrow"),
        (r"\bdemain\b", "tomorrow"),
        (r"\baujourd'?hui\b|\bauj\b|\bajd\b", "today"),
        # Parts of the day ("avant-midi" and "après-midi" before "avant" and "après").
        (rf"\b(?:ce|cet|cette) (?:{_AFTERNOON})\b", "this afternoon"),
        (
            rf"\b(?:en |dans l'|l'|d'|de l'|le |en debut d'|en fin d')?(?:{_AFTERNOON})\b",
            "afternoon",
        ),
        (r"\b(?:ce|a) matin\b", "this morning"),
        (r"\b(?:a la |en |de )?premiere heure\b|\ba la premiere heure\b", "morning"),
        (r"\b(?:en |dans l'|l'|d'|cet |cette )?avant[- ]?midi\b", "morning"),
        (r"\b(?:dans la |en |le |au |du |en fin de |en debut de |de )?matin(?:ee)?\b", "morning"),
        (r"\b(?:ce|a) soir(?:-la)?\b|\bcette nuit\b", "tonight"),
        (r"\b(?:dans la |en |le |du |au |en debut de )?soir(?:ee)?\b|\bla nuit\b", "evening"),
        (r"\b(?:en )?fin de journee\b|\bapres le (?:travail|boulot|taf)\b", "evening"),
        (r"\b(?:a |a l')?heure du dej(?:euner)?\b|\b(?:au|le) dej(?:euner)?\b", "lunchtime"),
        (r"\bmidi\b", "noon"),
        (r"\bminuit\b", "midnight"),
        (
            r"\b(?:ce|le|cette|en|la|du) (?:week-?end|we|fin de semaine)\b|\bweek-?end\b|"
            r"\bfin de semaine\b",
            "this weekend",
        ),
        (r"\bprochaine?\b", "next"),
        (r"\bsemaine\b", "week"),
        word_map(_DAYS),
        word_map(_MONTHS),
        # "jeudi 26", "vendredi 5 décembre": a number after a weekday is its date.
        (rf"\b({'|'.join(_DAYS.values())}) (\d{{1,2}})\b(?!\s*(?::\d|am\b|pm\b))", r"\1 the \2th"),
        (r"\b1er\b", "1st"),
        (r"\ble (\d{1,2})\b(?!\s*(?::\d|am\b|pm\b|-))", r"the \1th"),
        # After / before / between / around.
        (rf"\bde ({_HM}) (?:a|jusqu'a) ({_HM})\b", r"from \1 to \2"),
        (r"\bentre\b", "between"),
        (rf"\b({_HM}) et (?=\d|noon)", r"\1 and "),
        (r"\ba partir (?:de|d')|\bdes\b|\bdepuis\b|\bpasse\b|\bplus tard que\b|\bapres\b", "after"),
        (
            r"\bau plus tard (?:a|vers)?|\bd'ici\b|\bjusqu'(?:a|au)\b|\bavant\b|\bpour\b(?= \d)",
            "before",
        ),
        (
            r"\baux alentours de\b|\bautour de\b|\ba peu pres (?:a|vers)?|\benviron\b|\bsur les\b|"
            r"\bvers\b",
            "around",
        ),
        (rf"\b({_H}(?:am|pm)?) around\b", r"around \1"),  # "17h environ"
        (rf"\ba (?={_HM}\b)", "at "),
        # A time the customer does not want.
        (r"\bau lieu (?:de|d')|\bplutot (?:que|qu')", "instead"),
        (
            r"\b(?:ne|n') ?(?:me |m')?(?:convient|va|marche|arrange) pas\b|\bpas possible\b|"
            r"\bimpossible\b",
            "nogood",
        ),
        (
            r"\b(?:je |on )?(?:ne|n') ?(?:peux|pourrai|pourra|serai|sera|serons) pas\b|\bet non\b|"
            r"\bpas\b|\babsente?s?\b",
            "not",
        ),
        (r"\bmais\b", "but"),
        (r"\b(?:ce|cet|cette)\b", "this"),
    ),
    day_first=True,
)
