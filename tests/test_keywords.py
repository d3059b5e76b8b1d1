"""Carrier keywords in each language: what a whole message is, and the language to answer in."""

from __future__ import annotations

import pytest

from bot.replies.keywords import KeywordMatch, match_keyword


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", KeywordMatch("opt_out", None)),
        ("stop!", KeywordMatch("opt_out", None)),
        ("Opt-out", KeywordMatch("opt_out", None)),
        ("BAJA", KeywordMatch("opt_out", "es")),
        ("alto", KeywordMatch("opt_out", "es")),
        ("Parar", KeywordMatch("opt_out", "es")),
        ("cancelar", KeywordMatch("opt_out", "es")),
        ("dar de baja", KeywordMatch("opt_out", "es")),
        ("ARRÊT", KeywordMatch("opt_out", "fr")),
        ("arret", KeywordMatch("opt_out", "fr")),
        ("Arrête", KeywordMatch("opt_out", "fr")),
        ("STOP SMS", KeywordMatch("opt_out", "fr")),
        ("désabonner", KeywordMatch("opt_out", "fr")),
        ("HELP", KeywordMatch("help", None)),
        ("info", KeywordMatch("help", None)),
        ("ayuda", KeywordMatch("help", "es")),
        ("AIDE", KeywordMatch("help", "fr")),
        ("START", KeywordMatch("opt_in", None)),
        ("stop texting me", None),  # words, not a keyword: the NLU reads it (opt_out intent)
        ("baja el precio", None),
        ("arrêt de bus", None),
        ("", None),
    ],
)
def test_keywords_in_every_language(text: str, expected: KeywordMatch | None) -> None:
    assert match_keyword(text, opted_out=False) == expected


def test_ordinary_words_opt_in_only_someone_who_opted_out() -> None:
    for word, language in (("YES", None), ("alta", "es"), ("Reprendre", "fr")):
        assert match_keyword(word, opted_out=False) is None
        assert match_keyword(word, opted_out=True) == KeywordMatch("opt_in", language)
