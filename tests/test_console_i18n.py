"""The console's words: every key its pages use exists in English, Spanish and French."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parent.parent / "bot" / "web" / "static"
LOCALES = ("en", "es", "fr")


def dictionary(locale: str) -> dict[str, str]:
    return dict(json.loads((STATIC / "console" / "i18n" / f"{locale}.json").read_text()))


def used_keys() -> set[str]:
    html = (STATIC / "console.html").read_text()
    keys = set(re.findall(r'data-i18n(?:-placeholder)?="([a-z_.]+)"', html))
    for script in (STATIC / "console").glob("*.js"):
        keys |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_]+)"', script.read_text()))
        keys |= set(re.findall(r'"((?:keys|sla|nlu|queue|conv|me)\.[a-z_]+)"', script.read_text()))
    # Keys built from codes the server sends: the codes the desk knows about.
    keys |= {f"sla.{t}{s}" for t in ("first_response", "resolution") for s in ("", "_short")}
    keys |= {f"day.{d}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    keys |= {
        f"event.{e}" for e in ("claimed", "resolved", "assigned", "transferred", "returned", "csat")
    }
    return keys


def test_every_key_the_console_uses_is_in_english() -> None:
    missing = sorted(used_keys() - set(dictionary("en")))
    assert not missing


@pytest.mark.parametrize("locale", ["es", "fr"])
def test_spanish_and_french_have_every_english_word_with_the_same_placeholders(
    locale: str,
) -> None:
    english, other = dictionary("en"), dictionary(locale)
    assert set(other) == set(english)
    for key, text in english.items():
        assert set(re.findall(r"\{\w+\}", other[key])) == set(re.findall(r"\{\w+\}", text)), key


def test_every_intent_and_reason_has_words() -> None:
    english = dictionary("en")
    intents = {
        line.split("intent:")[1].strip()
        for path in (STATIC.parents[2] / "nlu" / "data").glob("*.yml")
        for line in path.read_text().splitlines()
        if line.strip().startswith("- intent:")
    }
    assert intents and all(f"intent.{i}" in english for i in intents), sorted(intents)
