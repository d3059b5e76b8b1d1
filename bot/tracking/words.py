"""The tracking page's words, through the same Babel catalogs as the messages.

Every string is a literal inside `_()` so that `make i18n` extracts it; the failure
reasons reuse the delivery_failed message's own strings (one translation, two places).
"""

from __future__ import annotations

from functools import lru_cache

from babel.support import NullTranslations

from bot.messaging.render import DEFAULT_TEMPLATES, load_translations

LANGUAGES = {"en": "English", "es": "Español", "fr": "Français"}


@lru_cache(maxsize=16)
def translations(locale: str) -> NullTranslations:
    """The catalog of `locale` (its language's, else none: the English msgids)."""
    return load_translations(DEFAULT_TEMPLATES / "locale", locale)


def words(locale: str) -> dict[str, str]:
    """The page's fixed labels in `locale`, for the HTML and its script."""
    _ = translations(locale).gettext
    return {
        "title": _("Your delivery"),
        "language": _("Language"),
        "loading": _("Loading your delivery…"),
        "offline": _("Reconnecting…"),
        "verify_order": _("To see your details and make changes, enter your order number."),
        "verify_postcode": _("To see your details and make changes, enter your postcode."),
        "order_number": _("Order number"),
        "postcode": _("Postcode"),
        "verify": _("Show my delivery"),
        "delivering_to": _("Delivering to"),
        "safe_place": _("Safe place"),
        "instructions": _("Instructions"),
        "access_code_saved": _("Access code saved"),
        "map": _("Map"),
        "progress": _("Your driver's progress"),
        "driver": _("Driver"),
        "you": _("You"),
        "photo": _("Photo of your delivery"),
        "change_time": _("Change the time"),
        "day": _("Day"),
        "show_times": _("Show times"),
        "no_times": _("No times are free that day. Try another day."),
        "where_leave": _("Where can we leave it?"),
        "save": _("Save"),
        "driver_note": _("Instructions for the driver"),
        "access_code": _("Access code (optional)"),
        "return_item": _("Return an item"),
        "item": _("Item"),
        "show_pickup_times": _("Show pickup times"),
        "not_home": _("I won't be home"),
        "rate": _("Rate your delivery"),
        "stars": _("%(n)s out of 5"),
        "write": _("Write to us"),
        "message": _("Message"),
        "send": _("Send"),
        "conversation": _("Conversation"),
        "offers": _("Times we can come"),
        "saved": _("Done. We've confirmed it in your messages too."),
        "sending": _("Sending…"),
        "agent": _("A person is looking after your delivery: write to them below."),
        "failed_try": _("That didn't work. Please try again."),
        "wrong_factor": _("That doesn't match. Please try again."),
        "too_many": _("Too many tries. Please wait 15 minutes and try again."),
        "help": _("Help"),
    }


def status_line(locale: str, status: str) -> str:
    _ = translations(locale).gettext
    lines = {
        "created": _("Scheduled"),
        "dispatched": _("On its way"),
        "delivered": _("Delivered"),
        "failed": _("Not delivered"),
        "cancelled": _("Cancelled"),
    }
    return lines.get(status, status)


def arriving(locale: str, day: str, window: str) -> str:
    return translations(locale).gettext("Arriving %(day)s, %(window)s") % {
        "day": day,
        "window": window,
    }


def stops_before(locale: str, count: int) -> str:
    if count == 0:
        return translations(locale).gettext("You're the next stop")
    return translations(locale).ngettext(
        "%(num)d stop before yours", "%(num)d stops before yours", count
    ) % {"num": count}


def minutes_away(locale: str, duration: str) -> str:
    return translations(locale).gettext("About %(duration)s away") % {"duration": duration}


def driver_is(locale: str, name: str) -> str:
    return translations(locale).gettext("Your driver today is %(name)s") % {"name": name}


def delivered_at(locale: str, day: str, time: str) -> str:
    return translations(locale).gettext("Delivered %(day)s at %(time)s") % {
        "day": day,
        "time": time,
    }


def failed(locale: str, brand: str, reason: str | None) -> tuple[str, str]:
    """Why it failed and what to do, in the delivery_failed message's own words."""
    _ = translations(locale).gettext
    why = {
        "not_home": _("nobody was home to take it"),
        "no_access": _("the driver couldn't get access to the building"),
        "refused": _("the delivery was refused"),
        "damaged": _("the parcel was damaged, so the driver kept it"),
        "address_not_found": _("the driver couldn't find the address"),
    }.get(reason or "", _("of a problem on the route"))
    said = _("We couldn't deliver your %(brand)s order today because %(why)s.")
    advice = _(
        "Pick another day below, set a safe place or leave instructions, and we'll rebook it."
    )
    return said % {"brand": brand, "why": why}, advice


def tapped(locale: str, what: str, **values: object) -> str:
    """How a choice on the page reads in the conversation's transcript."""
    _ = translations(locale).gettext
    lines = {
        "reschedule": _("(on the tracking page) chose %(window)s"),
        "safe_place": _("(on the tracking page) safe place: %(place)s"),
        "instructions": _("(on the tracking page) instructions: %(note)s"),
        "return": _("(on the tracking page) return %(item)s, %(window)s"),
        "not_home": _("(on the tracking page) I won't be home"),
        "rate": _("(on the tracking page) rated it %(rating)s out of 5"),
    }
    return lines[what] % values


def problem_page(locale: str, kind: str) -> tuple[str, str]:
    """The headline and the advice of a link that opens nothing."""
    _ = translations(locale).gettext
    pages = {
        "unknown": (
            _("This link isn't valid"),
            _("Check that you opened the whole link from your message."),
        ),
        "expired": (
            _("This tracking link has expired"),
            _("Tracking links stop working a few days after the delivery."),
        ),
        "revoked": (
            _("This tracking link was withdrawn"),
            _("Use the newest link in your messages, or reply to them."),
        ),
    }
    return pages[kind]
