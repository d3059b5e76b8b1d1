"""What a tracking page shows, as data: built from the stored delivery each time it changes.

Pure: the caller reads the records; this decides what may be shown. The privacy rules
live here, in one place:
- before the brand's second factor is given, only the status, the ETA window, the
  stops before this one, the driver's first name and the brand's words; no name,
  address, map, photo, safe place, instructions or conversation;
- the map (driver's position and the destination) only while the stop is pending and
  the driver is within the brand's `tracking_map_stops`; other customers' places
  never (the schematic shows how many stops, not where);
- once the stop is done, no map and no driver position at all;
- the access code never (only that one is saved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_interval, format_skeleton, format_time, format_timedelta

from bot.base.brands import BrandSettings
from bot.base.store import DeliveryRecord, RouteRecord
from bot.base.values import Window
from bot.replies.conversation.state import Pending
from bot.tracking import words

OPEN = ("created", "dispatched", "failed")
CONVERSATION_SHOWN = 30


@dataclass(frozen=True, slots=True)
class Page:
    """Everything one page's view is built from."""

    brand: BrandSettings
    delivery: DeliveryRecord
    locale: str
    now: datetime
    verified: bool
    route: RouteRecord | None = None
    transcript: list[str] = field(default_factory=list)
    pending: Pending | None = None
    held: bool = False  # a person has the conversation


class Formats:
    """Babel formatting in one locale and the customer's zone (as the messages do)."""

    def __init__(self, locale: str, zone: str, now: datetime) -> None:
        self.locale = Locale.parse(locale)
        self.zone = ZoneInfo(zone)
        self.now = now
        self._skeleton = "hm" if "h" in self.locale.time_formats["short"].pattern else "Hm"
        self._t = words.translations(locale)

    def window(self, w: Window) -> str:
        return str(
            format_interval(w.start, w.end, self._skeleton, tzinfo=self.zone, locale=self.locale)
        )

    def time(self, moment: datetime) -> str:
        return str(format_time(moment, "short", tzinfo=self.zone, locale=self.locale))

    def day(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone).date()
        today = self.now.astimezone(self.zone).date()
        if local == today:
            return self._t.gettext("today")
        if local == today + timedelta(days=1):
            return self._t.gettext("tomorrow")
        return str(format_skeleton("MMMEd", moment, tzinfo=self.zone, locale=self.locale))

    def duration(self, delta: timedelta) -> str:
        return str(format_timedelta(delta, threshold=2, locale=self.locale))

    def offer(self, w: Window) -> dict[str, str]:
        label = f"{self.day(w.start)}, {self.window(w)}"
        return {"start": w.start.isoformat(), "end": w.end.isoformat(), "label": label}


def _progress(page: Page, f: Formats) -> dict[str, Any] | None:
    """Stops before this one, minutes away, the driver; and the map when close enough."""
    d, route = page.delivery, page.route
    if d.status != "dispatched" or route is None:
        return None
    remaining = route.remaining()
    ids = [s.stop_id for s in remaining]
    if d.stop_id not in ids:
        return None
    before = ids.index(d.stop_id)
    out: dict[str, Any] = {
        "before": before,
        "stops_line": words.stops_before(page.locale, before),
        "driver_line": words.driver_is(page.locale, route.driver_name.split()[0]),
        "minutes_line": None,
        "map": None,
    }
    if d.eta is not None and d.eta > page.now:
        out["minutes_line"] = words.minutes_away(page.locale, f.duration(d.eta - page.now))
    if page.verified and before < page.brand.tracking_map_stops:
        driver = route.position
        out["map"] = {
            "driver": [driver.lat, driver.lon] if driver else None,
            "destination": [d.address.lat, d.address.lon],
        }
    return out


def _conversation(page: Page) -> list[dict[str, Any]]:
    shown = []
    for raw in page.transcript[-CONVERSATION_SHOWN * 3 :]:
        entry = json.loads(raw)
        if entry.get("dir") in ("in", "out") and entry.get("text"):
            shown.append({"dir": entry["dir"], "text": entry["text"], "at": entry.get("at")})
    return shown[-CONVERSATION_SHOWN:]


def _can(page: Page) -> dict[str, bool]:
    d = page.delivery
    acting = page.verified and not page.held
    is_open = d.status in OPEN
    return {
        "reschedule": acting and is_open,
        "safe_place": acting and is_open,
        "instructions": acting and is_open,
        "not_home": acting and d.status in ("created", "dispatched"),
        "return": acting and d.status == "delivered" and bool(d.items),
        "rate": acting and d.status == "delivered",
        "write": page.verified,
    }


def view(page: Page) -> dict[str, Any]:
    """The page's data: what the customer may see now, in the page's language."""
    d, brand, loc = page.delivery, page.brand, page.locale
    f = Formats(loc, d.customer.timezone, page.now)
    window = d.eta_window if d.status == "dispatched" and d.eta_window else d.promised_window
    out: dict[str, Any] = {
        "status": d.status,
        "status_line": words.status_line(loc, d.status),
        "eta_line": words.arriving(loc, f.day(window.start), f.window(window))
        if d.status in ("created", "dispatched")
        else None,
        "progress": _progress(page, f),
        "verified": page.verified,
        "factor": None if page.verified else brand.tracking_factor,
        "held": page.held,
        "can": _can(page),
        "delivered": None,
        "failed": None,
        "details": None,
        "pending": None,
        "conversation": [],
        "rating": d.rating,
        "items": [],
    }
    if d.status == "delivered" and d.completed_at is not None:
        at = d.completed_at
        out["delivered"] = {
            "line": words.delivered_at(loc, f.day(at), f.time(at)),
            "safe_place": d.safe_place if page.verified else None,
            "photo": d.photo_urls[0] if page.verified and d.photo_urls else None,
        }
    if d.status == "failed":
        said, advice = words.failed(loc, brand.display_name, d.failure_reason)
        out["failed"] = {"line": said, "advice": advice}
    if not page.verified:
        return out
    out["details"] = {
        "name": d.customer.name,
        "address": ", ".join(x for x in (d.address.line1, d.address.line2, d.address.city) if x),
        "safe_place": d.safe_place,
        "instructions": d.instructions,
        "has_access_code": bool(d.access_code),
    }
    out["items"] = list(dict.fromkeys(i.name for i in d.items))
    pending = page.pending
    if pending is not None and pending.kind == "pick_window" and pending.offers:
        out["pending"] = {
            "purpose": pending.purpose,
            "item": pending.item,
            "offers": [f.offer(w) for w in pending.offers],
        }
    out["conversation"] = _conversation(page)
    return out
