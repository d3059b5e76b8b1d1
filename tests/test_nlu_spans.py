"""The contract's span rules applied after Rasa's tagger (nlu/doorstep_nlu/spans.py).

The module is plain Python so it is loaded here from its file; inside Rasa the
ContractSpans component runs the same functions on every parse.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parent.parent / "nlu" / "doorstep_nlu" / "spans.py"
_SPEC = importlib.util.spec_from_file_location("doorstep_nlu_spans", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
spans = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(spans)


def tagged(text: str, *pieces: tuple[str, str]) -> list[tuple[str, str]]:
    """Run the rules on the tagger's pieces (label, text) and return (label, value)."""
    entities: list[dict[str, Any]] = []
    for label, piece in pieces:
        start = text.index(piece)
        entities.append(
            {"entity": label, "start": start, "end": start + len(piece), "value": piece}
        )
    return [(e["entity"], e["value"]) for e in spans.normalise(text, entities)]


@pytest.mark.parametrize(
    ("text", "pieces", "expected"),
    [
        # A plain leading "in/on/at the" is not part of a place...
        ("leave it on the balcony", [("place", "on the balcony")], [("place", "balcony")]),
        ("just leave it at the door", [("place", "the door")], [("place", "door")]),
        # ...but words that change the meaning are, and so is a "the" that starts a name.
        ("put it behind the bins", [("place", "behind the bins")], [("place", "behind the bins")]),
        (
            "leave it in front of the garage",
            [("place", "in front of the garage")],
            [("place", "in front of the garage")],
        ),
        # A determiner is not part of a place either, unless "with" comes before it.
        (
            "give it to the lady at number 3",
            [("place", "the lady at number 3")],
            [("place", "lady at number 3")],
        ),
        ("my neighbour can take it", [("place", "my neighbour")], [("place", "neighbour")]),
        # Words that change a place's meaning belong to it, even if the tagger left them.
        ("leave it by the back door", [("place", "back door")], [("place", "by the back door")]),
        ("leave it with the doorman", [("place", "doorman")], [("place", "with the doorman")]),
        # "on [friday]", "in the [evening]": a time without words that do not change it...
        ("can you come on friday", [("time", "on friday")], [("time", "friday")]),
        ("deliver in the evening", [("time", "in the evening")], [("time", "evening")]),
        # ...but with the word that makes it a window, once.
        ("could you come after 5", [("time", "5")], [("time", "after 5")]),
        ("could you swing by at 6", [("time", "at 6")], [("time", "at 6")]),
        ("how about friday", [("time", "friday")], [("time", "friday")]),
        # An hour written as a word takes its window word too; a count of days does not.
        ("come after two please", [("time", "two")], [("time", "after two")]),
        ("about seven would be good", [("time", "seven")], [("time", "about seven")]),
        ("before half 9, I have to leave", [("time", "half 9")], [("time", "before half 9")]),
        ("in about two days", [("time", "two days")], [("time", "two days")]),
        # A neighbour named after the house number is one place.
        (
            "leave it with number 12, Mrs Patel",
            [("place", "with number 12"), ("place", "Mrs Patel")],
            [("place", "with number 12, Mrs Patel")],
        ),
        # A span broken in two is one span again.
        (
            "you can leave it with my neighbour at 31",
            [("place", "with my"), ("place", "31")],
            [("place", "with my neighbour at 31")],
        ),
        (
            "send it to 8 Kingsway, Hove BN3 2RG instead?",
            [("address", "8 Kingsway"), ("address", "BN3 2RG")],
            [("address", "8 Kingsway, Hove BN3 2RG")],
        ),
        (
            "can you do between 1 and 3 tomorrow",
            [("time", "between 1 and 3"), ("time", "tomorrow")],
            [("time", "between 1 and 3 tomorrow")],
        ),
        # Two times joined by a word are two times.
        (
            "is it today or tomorrow?",
            [("time", "today"), ("time", "tomorrow")],
            [("time", "today"), ("time", "tomorrow")],
        ),
        # The scale after a score is not a rating; edge punctuation is not part of a span.
        ("i give it a 4 out of 5", [("rating", "4"), ("rating", "5")], [("rating", "4")]),
        ("4/5 thanks", [("rating", "4"), ("rating", "5")], [("rating", "4")]),
        ("code is 4471.", [("access_code", "4471.")], [("access_code", "4471")]),
        ("door code *4412", [("access_code", "4412")], [("access_code", "*4412")]),
        (
            "garage code 6701",
            [("access_code", "garage"), ("access_code", "6701")],
            [("access_code", "6701")],
        ),
        # A lone function word the tagger drew marks nothing; "of" is not part of a time.
        (
            "i'm ok with you leaving it on the porch",
            [("place", "with"), ("place", "porch")],
            [("place", "porch")],
        ),
        (
            "any chance of friday before lunch?",
            [("time", "of friday before lunch")],
            [("time", "friday before lunch")],
        ),
        (
            "entry code is 5150, I'm in unit 3",
            [("access_code", "5150"), ("access_code", "3")],
            [("access_code", "5150")],
        ),
        # "[the 28th]": an ordinal day keeps its "the".
        ("reschedule to the 28th please", [("time", "28th")], [("time", "the 28th")]),
        # A score the words around it make plain, found if the tagger missed it.
        ("two stars, box was wet", [], [("rating", "two")]),
        ("8/10", [("rating", "8/")], [("rating", "8")]),
        ("ten out of ten", [], [("rating", "ten")]),
        ("1 of 3 boxes came, 4 flights of stairs", [], []),
        # A code named by the word before it is found even when the tagger missed it...
        ("Hi, the gate code is 2231, go straight through", [], [("access_code", "2231")]),
        ("intercom 105 please", [], [("access_code", "105")]),
        # ...but a bare number is not a code.
        ("my mobile is 0412 345 678", [], []),
        ("where's order #50331", [], []),
        ("our postcode is 2000", [], []),
    ],
)
def test_spans_follow_the_contract(
    text: str, pieces: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    assert tagged(text, *pieces) == expected


def test_a_synonym_value_is_kept_when_the_span_is_trimmed() -> None:
    text = "five stars!"
    entity = {"entity": "rating", "start": 0, "end": 5, "value": "5"}
    assert spans.trim(text, entity) == entity


# Spanish and French (nlu/SPAN-RULES.md): the same entities, each language's words.
@pytest.mark.parametrize(
    ("text", "pieces", "expected"),
    [
        # place: one plain leading preposition is left out, the article after it kept...
        ("déjelo en el porche", [("place", "en el porche")], [("place", "el porche")]),
        ("déjalo a la vecina", [("place", "a la vecina")], [("place", "la vecina")]),
        ("laissez-le sur le paillasson", [("place", "sur le paillasson")],
         [("place", "le paillasson")]),
        ("mettez-le dans la boîte aux lettres", [("place", "dans la boîte aux lettres")],
         [("place", "la boîte aux lettres")]),
        ("laissez-le au gardien", [("place", "au gardien")], [("place", "gardien")]),
        ("dáselo al portero", [("place", "al portero")], [("place", "portero")]),
        # ...and taken back when the tagger left it out.
        ("déjelo en el porche", [("place", "porche")], [("place", "el porche")]),
        ("posez-le devant l'entrée", [("place", "entrée")], [("place", "devant l'entrée")]),
        # Words that change the meaning belong to the place, with their article.
        ("déjalo detrás de los contenedores", [("place", "contenedores")],
         [("place", "detrás de los contenedores")]),
        ("dejadlo con el portero", [("place", "portero")], [("place", "con el portero")]),
        ("déjalo al lado del garaje", [("place", "garaje")], [("place", "al lado del garaje")]),
        ("junto a la puerta está bien", [("place", "la puerta")],
         [("place", "junto a la puerta")]),
        ("laissez-le chez la voisine du 12", [("place", "la voisine du 12")],
         [("place", "chez la voisine du 12")]),
        ("mettez-le à côté de la porte", [("place", "à côté de la porte")],
         [("place", "à côté de la porte")]),
        ("mettez-le a cote de la porte", [("place", "la porte")],
         [("place", "a cote de la porte")]),
        ("en face du garage svp", [("place", "garage")], [("place", "en face du garage")]),
        ("sous le paillasson", [("place", "paillasson")], [("place", "sous le paillasson")]),
        # time: the whole expression, its articles and prepositions...
        ("¿pueden venir el viernes?", [("time", "viernes")], [("time", "el viernes")]),
        ("mejor por la tarde", [("time", "tarde")], [("time", "por la tarde")]),
        ("mejor por la mañana", [("time", "por la mañana")], [("time", "por la mañana")]),
        ("mañana después de las 5", [("time", "mañana"), ("time", "5")],
         [("time", "mañana después de las 5")]),
        ("a las 6 me va bien", [("time", "las 6")], [("time", "a las 6")]),
        ("sobre las 5", [("time", "5")], [("time", "sobre las 5")]),
        ("entre las 2 y las 4", [("time", "2"), ("time", "4")],
         [("time", "entre las 2 y las 4")]),
        ("de 3 a 5 estoy", [("time", "3 a 5")], [("time", "de 3 a 5")]),
        ("plutôt le matin", [("time", "matin")], [("time", "le matin")]),
        ("vers 18h svp", [("time", "18h")], [("time", "vers 18h")]),
        ("demain après 17h", [("time", "demain"), ("time", "17h")],
         [("time", "demain après 17h")]),
        ("ce soir c'est mieux", [("time", "soir")], [("time", "ce soir")]),
        ("dans la matinée", [("time", "matinée")], [("time", "dans la matinée")]),
        ("à partir de 14h", [("time", "14h")], [("time", "à partir de 14h")]),
        ("entre 14h et 16h", [("time", "14h"), ("time", "16h")],
         [("time", "entre 14h et 16h")]),
        # ...but not "para"/"pour", which are not part of a window.
        ("para el viernes", [("time", "para el viernes")], [("time", "el viernes")]),
        ("pour demain svp", [("time", "pour demain")], [("time", "demain")]),
        # "mañana" alone is tomorrow: nothing is taken from before it.
        ("¿mañana?", [("time", "mañana")], [("time", "mañana")]),
        # rating and access code, as in English.
        ("5 estrellas", [], [("rating", "5")]),
        ("un 4 sur 5", [("rating", "4"), ("rating", "5")], [("rating", "4")]),
        ("una nota de 5", [("rating", "5")], [("rating", "5")]),
        ("cuatro estrellas, muy amable", [], [("rating", "cuatro")]),
        ("el código es 4471", [], [("access_code", "4471")]),
        ("le code d'entrée est 1290", [], [("access_code", "1290")]),
        ("digicode : #1290", [], [("access_code", "#1290")]),
        ("¿el código? «4471»", [("access_code", "«4471»")], [("access_code", "4471")]),
    ],
)  # fmt: skip
def test_spanish_and_french_spans_follow_the_contract(
    text: str, pieces: list[tuple[str, str]], expected: list[tuple[str, str]]
) -> None:
    assert tagged(text, *pieces) == expected
