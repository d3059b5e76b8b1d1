"""Templates render in the recipient's language, with CLDR dates and times in their zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.base.values import Window
from bot.messaging.render import DEFAULT_TEMPLATES, Renderer, RenderError

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 in New York
WINDOW = Window(
    start=datetime(2026, 11, 24, 19, 0, tzinfo=UTC), end=datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def ctx(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "brand": "Acme",
        "name": "Ana",
        "order_id": "A-1",
        "tz": "America/New_York",
        "now": NOW,
        "window": WINDOW,
        "tracking_url": None,
    }
    return base | extra


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "en",
            "Good news Ana: your Acme order is out for delivery and should arrive today, "
            "2:00 – 3:00\u202fPM.",
        ),
        (
            "es",
            "Buenas noticias, Ana: tu pedido de Acme ha salido a reparto y debería llegar "
            "hoy, 14:00–15:00.",
        ),
        (
            "fr",
            "Bonne nouvelle Ana : votre commande Acme est en cours de livraison et devrait "
            "arriver aujourd’hui, 14:00 – 15:00.",
        ),
    ],
)
def test_out_for_delivery_in_three_locales(renderer: Renderer, locale: str, expected: str) -> None:
    text = renderer.render("out_for_delivery", "sms", locale, ctx()).text
    normalised = text.replace("\u2009", " ").replace("'", "’")
    assert normalised.startswith(expected.replace("\u2009", " ").replace("'", "’")), text


def test_window_is_shown_in_the_recipients_zone(renderer: Renderer) -> None:
    tokyo = renderer.render("out_for_delivery", "sms", "en", ctx(tz="Asia/Tokyo")).text
    assert "4:00 – 5:00" in tokyo.replace("\u2009", " ")
    assert "tomorrow" in tokyo


def test_other_days_are_named_by_date(renderer: Renderer) -> None:
    later = Window(start=WINDOW.start + timedelta(days=3), end=WINDOW.end + timedelta(days=3))
    fr = renderer.render("out_for_delivery", "sms", "fr", ctx(window=later)).text
    assert "ven. 27 nov." in fr


@pytest.mark.parametrize(
    ("locale", "stops", "expected"),
    [
        ("en", 1, "Sam is 1 stop away, about 10 minutes from you."),
        ("en", 2, "Sam is 2 stops away, about 10 minutes from you."),
        ("es", 2, "Sam está a 2 paradas, a unos 10 minutos de ti."),
        ("fr", 1, "Sam est à 1 arrêt, à environ 10 minutes de chez vous."),
    ],
)
def test_driver_nearby_uses_plural_rules(
    renderer: Renderer, locale: str, stops: int, expected: str
) -> None:
    text = renderer.render(
        "driver_nearby", "sms", locale, ctx(stops_away=stops, driver="Sam", minutes=600)
    ).text
    assert text == expected


def test_every_message_type_renders_in_every_shipped_locale(renderer: Renderer) -> None:
    context = ctx(
        stops_away=2,
        driver="Sam",
        minutes=600,
        delivered_at=NOW,
        safe_place="",
        has_photo=True,
        reason="no_access",
        old_window=WINDOW,
        help_text="Call us.",
        telegram_link="https://t.me/doorstep_bot?start=abc",
        tracking_url="https://doorstep.example.com/t/k3vq7mzt2hxw5pda",
        status="dispatched",
        offers=[WINDOW],
        purpose="reschedule",
        item="Chair",
        items=["Chair", "Lamp"],
        place="porch",
        address="55 King St",
        kind="damaged",
        has_code=True,
        choice=WINDOW,
        key="",
        agent="Dana",
        score=4,
    )
    context["reason"] = "no_access"
    # Every template shipped, conversation replies included.
    types = sorted(p.stem for p in (DEFAULT_TEMPLATES / "default").glob("*.j2"))
    assert len(types) > 30
    english = {t: renderer.render(t, "sms", "en", context).text for t in types}
    for locale in ("es", "fr"):
        for t in types:
            text = renderer.render(t, "sms", locale, context).text
            assert text, (locale, t)
            if t != "help":  # the brand's own help text is not translated by us
                assert text != english[t], f"{t} is not translated into {locale}"


def test_a_missing_variable_is_an_error_not_a_blank(renderer: Renderer) -> None:
    context = ctx()
    del context["name"]
    with pytest.raises(RenderError, match="name"):
        renderer.render("delivery_scheduled", "sms", "en", context)
