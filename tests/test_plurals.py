"""Every pluralised message reads right in every language, whatever the count.

The catalogs carry their own Plural-Forms, so the rule does not depend on the Babel
release installed (2.19 gives Spanish and French three CLDR forms; catalogs without
the header then fell back to English: "Sam is 2 stops away, about 14 minutos").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from babel.messages.pofile import read_po

from bot.messaging.render import DEFAULT_TEMPLATES, SHIPPED_LOCALES, Renderer, load_translations

LOCALES = DEFAULT_TEMPLATES / "locale"
COUNTS = (0, 1, 2, 5, 1_000_000)
# Which plural form a count takes: Spanish singular for 1 only, French for 0 and 1.
FORM = {"es": lambda n: 0 if n == 1 else 1, "fr": lambda n: 0 if n in (0, 1) else 1}
PLURAL_TEMPLATES = sorted(
    p.stem for p in (DEFAULT_TEMPLATES / "default").glob("*.j2") if "{% pluralize" in p.read_text()
)


def plural_messages(lang: str) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return [(m.id, m.string) for m in catalog if m.id and isinstance(m.id, tuple)]


def test_there_are_pluralised_messages_to_check() -> None:
    assert PLURAL_TEMPLATES
    for lang in FORM:
        assert plural_messages(lang)


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("lang", sorted(FORM))
def test_every_plural_message_takes_the_languages_form(lang: str, count: int) -> None:
    translations = load_translations(LOCALES, lang)
    for (singular, plural), forms in plural_messages(lang):
        got = translations.ngettext(singular, plural, count)
        assert got not in (singular, plural), f"untranslated for {count}: {singular}"
        assert got == forms[FORM[lang](count)]


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
@pytest.mark.parametrize("message_type", PLURAL_TEMPLATES)
def test_pluralised_templates_render_in_the_customers_language(
    message_type: str, locale: str, count: int
) -> None:
    context = {
        "brand": "Acme",
        "name": "Ana",
        "order_id": "A-1",
        "tz": "America/New_York",
        "now": datetime(2026, 11, 24, 14, 0, tzinfo=UTC),
        "window": None,
        "stops_away": count,
        "driver": "Sam",
        "minutes": timedelta(minutes=14),
    }
    renderer = Renderer()
    text = renderer.render(message_type, "sms", locale, context).text
    english = renderer.render(message_type, "sms", "en", context).text
    assert str(count) in text
    if locale == "en":
        assert ("stops" in text) == (count != 1)
    else:
        assert text != english
        words = set(text.lower().replace(",", " ").replace(".", " ").split())
        assert not words & {"stop", "stops", "away", "about", "from", "you"}, text
