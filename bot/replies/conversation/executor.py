"""Doing what the decision functions asked for: messages, route changes, escalations, records.

Actions run in order. An action that needs the outside world to answer (does this
window fit the route? which windows are free?) asks it, then hands the outcome to a
pure follow-up rule (`followups`), whose actions run next. The conversation state
the last rule produced is what the engine stores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.logs import log
from bot.base.store import ReturnRequest, Store, address_hash
from bot.base.values import Window
from bot.messaging.notify import Notice, Notifier
from bot.messaging.outbox import Outbox
from bot.messaging.render import Renderer
from bot.messaging.webhooks import tell_dispatch
from bot.replies.conversation import followups
from bot.replies.conversation.actions import (
    Action,
    BookReturn,
    Decision,
    Escalate,
    Facts,
    OfferWindows,
    OpenCase,
    OptOut,
    Rebook,
    RecordCsat,
    RememberPlace,
    Say,
    TryWindow,
    UpdateDelivery,
)
from bot.replies.conversation.state import ConversationState
from bot.replies.inbound import HandoffToAgent, Reply
from bot.routing.changes import RouteNotFound, RouteService
from routing_adapter.engine import InsertStop, NewWindow, RemoveStop, day_slots
from routing_adapter.plan import PlanError, PlanStop, TimeWindow

PICKUP_SERVICE_S = 180
# Actions after which the delivery record is read again for the actions that follow.
CHANGES_DELIVERY = (UpdateDelivery, TryWindow, Rebook, BookReturn)


class CsatSink(Protocol):
    """Where a CSAT score goes (the agent desk, which sits above replies)."""

    async def record(self, brand_id: str, delivery_id: str, score: int) -> bool: ...


@dataclass
class Executor:
    redis: Redis
    keys: Keys
    store: Store
    notifier: Notifier
    renderer: Renderer
    outbox: Outbox
    routes: RouteService
    handoff: HandoffToAgent
    clock: Clock
    slot_s: int = 7200
    retention_s: int = 30 * 24 * 3600
    csat: CsatSink | None = None

    async def run(self, reply: Reply, facts: Facts, decision: Decision) -> ConversationState:
        """Perform `decision` and whatever follows from it; the resulting state."""
        state = decision.state
        queue: list[Action] = list(decision.actions)
        while queue:
            action = queue.pop(0)
            follow = await self._do(reply, facts, action)
            if follow is not None:
                queue.extend(follow.actions)
                state = follow.state
            if isinstance(action, CHANGES_DELIVERY):
                facts = await self._refresh(facts)
        return state

    async def _refresh(self, facts: Facts) -> Facts:
        d = facts.delivery
        fresh = await self.store.get_delivery(d.brand_id, d.delivery_id)
        return Facts(facts.brand, fresh or d, facts.now)

    async def _do(self, reply: Reply, facts: Facts, action: Action) -> Decision | None:
        match action:
            case Say():
                await self._say(facts, action)
            case Escalate():
                await self.handoff(reply, action.reason, notify=action.notify)
            case UpdateDelivery():
                await self._update(facts, dict(action.changes), action.tell_driver)
            case RememberPlace():
                await self.redis.set(
                    self.keys.saved_place(facts.brand.brand_id, address_hash(facts.delivery)),
                    action.place,
                    ex=365 * 24 * 3600,
                )
            case OptOut():
                d = facts.delivery
                await self.redis.set(
                    self.keys.optout(d.brand_id, d.channel, d.contact), self.clock.timestamp()
                )
                await self._say(facts, Say("optout_confirmed"))
            case OpenCase():
                await self._open_case(facts, action)
            case TryWindow():
                return await self._try_window(facts, action.window, action.note)
            case Rebook():
                await self._rebook(facts, action.window)
                return followups.rebooked(action.window, action.note)
            case OfferWindows():
                offers = await self.offers(facts, action.purpose, action.day, action.item)
                if not offers and action.day == facts.today:
                    # Late in the day no whole slot is left (after 16:30 with 2-hour
                    # slots and 30 minutes' notice): the next day's, not "none left".
                    tomorrow = action.day + timedelta(days=1)
                    offers = await self.offers(facts, action.purpose, tomorrow, action.item)
                return followups.offers_made(
                    action.purpose, action.reason, offers, action.item, action.note
                )
            case BookReturn():
                return await self._book_return(facts, action.item, action.window)
            case RecordCsat():
                await self._record_csat(facts, action.score)
        return None

    async def _record_csat(self, facts: Facts, score: int) -> None:
        if self.csat is not None:
            await self.csat.record(facts.brand.brand_id, facts.delivery.delivery_id, score)

    # --- messages -------------------------------------------------------------------

    async def _say(self, facts: Facts, say: Say) -> None:
        labels = tuple(self._label(facts, value) for value in say.choices)
        notice = Notice(
            say.type, dict(say.context), media_urls=say.media, choices=labels, proactive=False
        )
        await self.notifier.send(facts.brand, [(facts.delivery, notice)])

    def _label(self, facts: Facts, value: Window | str) -> str:
        d = facts.delivery
        context = self.notifier.base_context(facts.brand, d) | {
            "choice": value if isinstance(value, Window) else None,
            "key": "" if isinstance(value, Window) else str(value),
        }
        return self.renderer.render("choice", d.channel, d.locale, context).text

    # --- the delivery ---------------------------------------------------------------

    async def _update(self, facts: Facts, changes: dict[str, Any], tell_driver: bool) -> None:
        d = facts.delivery.model_copy(update=changes)
        await self.store.put_delivery(d)
        if tell_driver and d.route_id and d.status == "dispatched":
            route = await self.store.get_route(d.brand_id, d.route_id)
            if route is not None:
                by_stop = await self.routes.deliveries_of(facts.brand, route)
                await self.routes.publish(facts.brand, route, by_stop, reason="instructions")

    async def _open_case(self, facts: Facts, case: OpenCase) -> None:
        d = facts.delivery
        key = self.keys.case(d.brand_id, d.delivery_id)
        record = {
            "kind": case.kind,
            "opened_at": self.clock.now().isoformat(),
            "customer_photos": json.dumps(list(case.photos)),
            "delivery_photos": json.dumps(d.photo_urls),
            "text": case.text,
            "status": "open",
        }
        async with self.redis.pipeline(transaction=True) as tx:
            tx.hset(key, mapping=dict(record))  # type: ignore[arg-type]
            tx.expire(key, self.retention_s)
            await tx.execute()

    # --- times -----------------------------------------------------------------------

    def _day_bounds(self, facts: Facts, day: date) -> tuple[datetime, datetime]:
        zone = ZoneInfo(facts.delivery.customer.timezone)
        hours = facts.brand.delivery_hours
        return datetime.combine(day, hours.start, zone), datetime.combine(day, hours.end, zone)

    async def _try_window(
        self, facts: Facts, window: Window, note: Mapping[str, Any] | None = None
    ) -> Decision:
        d = facts.delivery
        assert d.route_id is not None and d.stop_id is not None
        change = NewWindow(
            type="window", stop_id=d.stop_id, window=TimeWindow(start=window.start, end=window.end)
        )
        try:
            preview = await self.routes.preview(facts.brand, d.route_id, change)
        except (PlanError, RouteNotFound) as exc:
            log.warning("conversation.route_unusable", error=repr(exc))
            return Decision((Escalate("route_unusable"),), ConversationState())
        if preview.fits(d.stop_id):
            # The commit stores the new ETA and the promised window in one write.
            await self.routes.commit(facts.brand, preview, told=d.delivery_id)
            await self._webhook_window(facts, window)
            return followups.window_tried(window, True, [], note)
        offers = await self.offers(facts, "reschedule", facts.day_of(window), None)
        return followups.window_tried(window, False, offers, note)

    async def _webhook_window(self, facts: Facts, window: Window) -> None:
        d = facts.delivery
        data = {"delivery_id": d.delivery_id, "window": window.model_dump(mode="json")}
        await tell_dispatch(
            self.outbox, facts.brand, "delivery.rescheduled", data, self.clock.now()
        )

    async def _rebook(self, facts: Facts, window: Window) -> None:
        """Off today's route (the others move up), booked for `window`."""
        d = facts.delivery
        if d.route_id and d.stop_id and d.status == "dispatched":
            change = RemoveStop(type="remove", stop_id=d.stop_id)
            try:
                preview = await self.routes.preview(facts.brand, d.route_id, change)
                await self.routes.commit(facts.brand, preview)
            except (PlanError, RouteNotFound) as exc:
                log.warning("conversation.route_unusable", error=repr(exc))
        fresh = await self.store.get_delivery(d.brand_id, d.delivery_id) or d
        await self.store.put_delivery(
            fresh.model_copy(
                update={
                    "status": "created" if fresh.status == "dispatched" else fresh.status,
                    "promised_window": window,
                    "route_id": None if fresh.status == "dispatched" else fresh.route_id,
                    "stop_id": None if fresh.status == "dispatched" else fresh.stop_id,
                    "eta": None,
                    "eta_window": None,
                    "notified_window": None,
                }
            )
        )
        await self._webhook_window(facts, window)

    async def _active_route(self, facts: Facts, day: date) -> str | None:
        """The route a change for `day` can go on: the delivery's route, out today."""
        d = facts.delivery
        if d.route_id is None or day != facts.today:
            return None
        route = await self.store.get_route(d.brand_id, d.route_id)
        return d.route_id if route is not None and route.remaining() else None

    def _pickup(self, facts: Facts, item: str, window: Window | None) -> PlanStop:
        d = facts.delivery
        size = sum(i.size for i in d.items if i.name == item) or 1
        return PlanStop.model_validate(
            {
                "id": f"ret-{d.delivery_id}-{len(d.return_requests) + 1}",
                "location": {"lat": d.address.lat, "lon": d.address.lon},
                "service_s": PICKUP_SERVICE_S,
                "kind": "pickup",
                "size": size,
                "window": window.model_dump(mode="json") if window else None,
            }
        )

    async def offers(self, facts: Facts, purpose: str, day: date, item: str | None) -> list[Window]:
        """Up to three windows on `day`, in time order: from the route when it is out today."""
        start, end = self._day_bounds(facts, day)
        d = facts.delivery
        route_id = await self._active_route(facts, day)
        on_route = purpose == "reschedule" and d.status == "dispatched" and d.stop_id
        if route_id is not None and (on_route or purpose == "return"):
            route = await self.store.get_route(d.brand_id, route_id)
            assert route is not None
            try:
                plan, _ = await self.routes.plan_of(facts.brand, route)
                target: str | PlanStop = (
                    d.stop_id if on_route and d.stop_id else self._pickup(facts, item or "", None)
                )
                found = await self.routes.adapter.feasible_windows(plan, target, start, end)
            except (PlanError, RouteNotFound) as exc:
                log.warning("conversation.route_unusable", error=repr(exc))
                found = []
            windows = [
                Window(start=o.start, end=o.end)
                for o in found
                if isinstance(o.start, datetime) and isinstance(o.end, datetime)
            ]
            return sorted(windows, key=lambda w: w.start)
        # Not on a route that day: the brand's slots that are still ahead.
        earliest = facts.now + timedelta(minutes=30)
        slots = [
            Window(start=a, end=b)
            for a, b in day_slots(start, end, self.slot_s)
            if isinstance(a, datetime) and isinstance(b, datetime) and a >= earliest
        ]
        return slots[:3]

    async def _book_return(self, facts: Facts, item: str, window: Window) -> Decision:
        d = facts.delivery
        route_id = await self._active_route(facts, facts.day_of(window))
        request = ReturnRequest(item=item, window=window)
        if route_id is not None:
            stop = self._pickup(facts, item, window)
            try:
                preview = await self.routes.preview(
                    facts.brand, route_id, InsertStop(type="insert", stop=stop)
                )
            except (PlanError, RouteNotFound) as exc:
                log.warning("conversation.route_unusable", error=repr(exc))
                return Decision((Escalate("route_unusable"),), ConversationState())
            if not preview.fits(stop.id):
                offers = await self.offers(facts, "return", facts.day_of(window), item)
                return followups.return_booked(item, window, False, offers)
            # The customer is in the conversation: their own new ETA is stored, not announced.
            await self.routes.commit(
                facts.brand, preview, told=d.delivery_id, pickup_for=d.delivery_id
            )
            request = request.model_copy(update={"route_id": route_id, "stop_id": stop.id})
        fresh = await self.store.get_delivery(d.brand_id, d.delivery_id) or d
        await self.store.put_delivery(
            fresh.model_copy(update={"return_requests": [*fresh.return_requests, request]})
        )
        data = {"delivery_id": d.delivery_id, **request.model_dump(mode="json")}
        await tell_dispatch(self.outbox, facts.brand, "return.requested", data, self.clock.now())
        return followups.return_booked(item, window, True, [])
