"""Proactive notifications: render a message for a delivery and put it in the outbox.

The notifier decides *when* (quiet hours, a delay such as the rating request) and
*what replaces what* (supersession keys, expiry); the outbox decides how it gets out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio.client import Pipeline

from bot.base.brands import BrandSettings
from bot.base.clock import Clock
from bot.base.logs import log
from bot.base.store import DeliveryRecord
from bot.messaging.links import TelegramLinks
from bot.messaging.outbox import NewMessage, Outbox
from bot.messaging.quiet import release_time
from bot.messaging.render import Renderer
from bot.messaging.tracking_links import TrackingLinks

# Channels that show a link as a button (Telegram's inline URL button) rather than in
# the text; elsewhere the tracking link is part of the text.
LINK_BUTTON_CHANNELS = frozenset({"telegram"})


def eta_key(delivery: DeliveryRecord) -> str:
    """Every message about where the parcel is replaces the previous one."""
    return f"eta:{delivery.brand_id}:{delivery.delivery_id}"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to send about a delivery."""

    type: str
    context: dict[str, Any]
    media_urls: tuple[str, ...] = ()
    # Labels of the options offered (buttons where the channel has them).
    choices: tuple[str, ...] = ()
    supersede_key: str | None = None
    expires_at: datetime | None = None
    # None: as soon as quiet hours allow; else not before this moment.
    not_before: datetime | None = None
    # Proactive messages respect quiet hours; answers to a customer's own message do not.
    proactive: bool = True
    # The delivery's first message carries the tracking page's link (`tracking_url`).
    tracking_link: bool = False


@dataclass
class Notifier:
    renderer: Renderer
    outbox: Outbox
    clock: Clock
    # Telegram deep links for messages on other channels, when Telegram is connected.
    links: TelegramLinks | None = None
    # A brand's live template overrides ("type|channel|locale" -> source).
    overrides: Callable[[str], Mapping[str, str]] = lambda _brand_id: {}
    # The customer's tracking page, when it is served.
    tracking: TrackingLinks | None = None

    def telegram_link(self, brand: BrandSettings, delivery: DeliveryRecord) -> str | None:
        if self.links is None or "telegram" not in brand.channels or delivery.channel == "telegram":
            return None
        return self.links.url(delivery)

    def base_context(self, brand: BrandSettings, delivery: DeliveryRecord) -> dict[str, Any]:
        return {
            "brand": brand.display_name,
            "name": delivery.customer.first_name,
            "order_id": delivery.order_id,
            "tz": delivery.customer.timezone,
            "now": self.clock.now(),
            "window": delivery.eta_window or delivery.promised_window,
            "help_text": brand.help_text,
            "telegram_link": self.telegram_link(brand, delivery),
            "tracking_url": None,
        }

    def build(
        self,
        brand: BrandSettings,
        delivery: DeliveryRecord,
        notice: Notice,
        origin_at: float | None = None,
    ) -> tuple[NewMessage, float | None]:
        """Render a notice into an outbox message and its due time (None: now)."""
        context = self.base_context(brand, delivery) | notice.context
        link = None
        if notice.tracking_link and self.tracking is not None:
            url = self.tracking.url(delivery)
            if delivery.channel in LINK_BUTTON_CHANNELS:
                label = self.renderer.render(
                    "tracking_button",
                    delivery.channel,
                    delivery.locale,
                    context,
                    overrides=self.overrides(brand.brand_id),
                    fallback_locale=brand.default_locale,
                )
                link = (label.text, url)
            else:
                context["tracking_url"] = url
        rendered = self.renderer.render(
            notice.type,
            delivery.channel,
            delivery.locale,
            context,
            media_urls=notice.media_urls,
            choices=notice.choices,
            overrides=self.overrides(brand.brand_id),
            fallback_locale=brand.default_locale,
        )
        due: datetime | None = notice.not_before
        if notice.proactive:
            base = due or self.clock.now()
            released = release_time(base, delivery.customer.timezone, brand.quiet_hours)
            due = released if released > self.clock.now() else None
        message = NewMessage(
            brand_id=brand.brand_id,
            type=notice.type,
            channel=delivery.channel,
            to=delivery.contact,
            text=rendered.text,
            delivery_id=delivery.delivery_id,
            media_urls=rendered.media_urls,
            choices=rendered.choices,
            supersede_key=notice.supersede_key,
            expires_at=notice.expires_at.timestamp() if notice.expires_at else None,
            origin_at=origin_at,
            sender=brand.senders.get(delivery.channel),
            link=link,
        )
        if delivery.channel == "whatsapp":
            message = self._with_template(brand, delivery, notice.type, context, message)
        return message, (due.timestamp() if due else None)

    def _with_template(
        self,
        brand: BrandSettings,
        delivery: DeliveryRecord,
        message_type: str,
        context: Mapping[str, Any],
        message: NewMessage,
    ) -> NewMessage:
        """The message with the brand's WhatsApp template and its variables' values, for
        the sender to use if the customer's 24-hour window has closed by then.

        A variable that fails to render (checked on save, so only on data no sample
        had) leaves the message as free text: it is still sent inside the window."""
        template = brand.whatsapp_templates.get(message_type)
        if template is None:
            return message
        ordered = sorted(template.variables.items(), key=lambda item: int(item[0]))
        try:
            values = tuple(
                (number, self.renderer.render_source(source, delivery.locale, context))
                for number, source in ordered
            )
        except Exception as exc:  # the sandbox's SecurityError, an undefined value, ...
            log.warning("notify.whatsapp_template_failed", type=message_type, error=repr(exc))
            return message
        return replace(message, template_id=template.content_sid, template_variables=values)

    async def send(
        self,
        brand: BrandSettings,
        items: list[tuple[DeliveryRecord, Notice]],
        origin_at: float | None = None,
    ) -> list[str]:
        """Render and submit several notices (each message atomic in its shard)."""
        if not items:
            return []
        async with self.outbox.redis.pipeline(transaction=False) as pipe:
            ids = self.queue(pipe, brand, items, origin_at)
            await pipe.execute()
        return ids

    def queue(
        self,
        pipe: Pipeline,
        brand: BrandSettings,
        items: list[tuple[DeliveryRecord, Notice]],
        origin_at: float | None = None,
        seed: str | None = None,
    ) -> list[str]:
        """Render notices and add them to the caller's pipeline (e.g. an event's steps).

        With `seed` (an event's id) each message's id is derived from it, the delivery
        and the message type: applying the same event again submits nothing new."""
        built = []
        for delivery, notice in items:
            message, due = self.build(brand, delivery, notice, origin_at)
            if seed is not None:
                message = replace(
                    message,
                    idempotency_seed=f"{brand.brand_id}|{seed}|{delivery.delivery_id}|{notice.type}",
                )
            built.append((message, due))
        if self.tracking is not None:
            for delivery, notice in items:
                if notice.tracking_link:  # the page its link opens
                    self.tracking.queue_register(pipe, delivery)
        if self.links is not None:
            for delivery, _ in items:
                if self.telegram_link(brand, delivery) is not None:  # the link it may carry
                    self.links.queue_register(pipe, delivery)
        return self.outbox.queue_submit(pipe, built)


def minutes_until(moment: datetime, now: datetime) -> timedelta:
    """A positive duration for 'about N minutes' (never 0 or negative)."""
    return max(moment - now, timedelta(minutes=1))
