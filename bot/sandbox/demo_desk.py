"""The demo brand's desk: business hours with a lunch break, SLAs, canned responses."""

from __future__ import annotations

from bot.agents.canned import CannedResponse
from bot.base.desk_settings import BusinessHours, DeskSettings

# Every day with a lunch break (a split shift), closed on two holidays: SLA clocks
# count only staffed time, and pause visibly outside it.
DEMO_HOURS = BusinessHours.model_validate(
    {
        "weekly": {
            day: [{"start": "07:00", "end": "12:30"}, {"start": "13:30", "end": "22:00"}]
            for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
        "holidays": ["2026-12-25", "2027-01-01"],
    }
)
DEMO_DESK = DeskSettings(first_response_min=10, resolution_min=60, business_hours=DEMO_HOURS)

# The demo's canned responses, typed as /hello, /window... in the console.
DEMO_CANNED = (
    CannedResponse(
        shortcut="hello",
        title="Say hello",
        texts={
            "en": "Hi {{ name }}, this is {{ agent }} at {{ brand }}. "
            "I'm looking at order {{ order_id }} now.",
            "es": "Hola {{ name }}, soy {{ agent }} de {{ brand }}. "
            "Estoy revisando tu pedido {{ order_id }}.",
            "fr": "Bonjour {{ name }}, ici {{ agent }} de {{ brand }}. "
            "Je regarde votre commande {{ order_id }}.",
        },
    ),
    CannedResponse(
        shortcut="window",
        title="When it arrives",
        texts={
            "en": "Your delivery is planned for {{ window|day }}, {{ window|window }}.",
            "es": "Tu entrega está prevista para {{ window|day }}, {{ window|window }}.",
            "fr": "Votre livraison est prévue {{ window|day }}, {{ window|window }}.",
        },
    ),
    CannedResponse(
        shortcut="eta",
        title="Where the driver is",
        texts={
            "en": "{% if driver %}{{ driver }} is on the way to {{ address }} and should be "
            "there around {{ eta|time }}.{% else %}Your parcel isn't on a van yet: it's "
            "booked for {{ window|day }}, {{ window|window }}.{% endif %}",
            "es": "{% if driver %}{{ driver }} va de camino a {{ address }} y debería llegar "
            "hacia las {{ eta|time }}.{% else %}Tu paquete aún no está en la furgoneta: "
            "está previsto para {{ window|day }}, {{ window|window }}.{% endif %}",
            "fr": "{% if driver %}{{ driver }} est en route vers le {{ address }} et devrait "
            "arriver vers {{ eta|time }}.{% else %}Votre colis n'est pas encore dans la "
            "camionnette : il est prévu {{ window|day }}, {{ window|window }}.{% endif %}",
        },
    ),
    CannedResponse(
        shortcut="sorry",
        title="Apologise",
        texts={
            "en": "I'm sorry about this, {{ name }}. I've made a note and I'll keep an eye "
            "on it until it's sorted.",
            "es": "Lo siento mucho, {{ name }}. Lo he anotado y lo seguiré de cerca hasta "
            "que esté resuelto.",
            "fr": "Je suis désolé(e), {{ name }}. J'en ai pris note et je suivrai cela "
            "jusqu'à ce que ce soit réglé.",
        },
    ),
    CannedResponse(
        shortcut="bye",
        title="Wrap up",
        texts={
            "en": "Is there anything else I can help with? If not, our assistant will take "
            "it from here: reply any time.",
            "es": "¿Puedo ayudarte en algo más? Si no, nuestro asistente seguirá contigo: "
            "escríbenos cuando quieras.",
            "fr": "Puis-je vous aider pour autre chose ? Sinon, notre assistant prend le "
            "relais : répondez quand vous voulez.",
        },
    ),
)
