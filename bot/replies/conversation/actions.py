"""What the decision functions ask for, and what they are given. Plain data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.base.brands import BrandSettings
from bot.base.store import DeliveryRecord
from bot.base.values import Window
from bot.replies.conversation.state import ConversationState

Purpose = Literal["reschedule", "return"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One customer reply as the NLU read it (a time already resolved to a window)."""

    text: str
    intent: str
    confidence: float
    entities: Mapping[str, str] = field(default_factory=dict)
    window: Window | None = None
    window_error: str | None = None  # a time was given but is not a valid window
    media: tuple[str, ...] = ()
    # The NLU's other readings, best first: what the reply is when the first reading
    # cannot be (a rating before delivery) or says too little (a greeting with a question).
    ranking: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Facts:
    """What is true outside the conversation when the reply arrives."""

    brand: BrandSettings
    delivery: DeliveryRecord
    now: datetime

    @property
    def on_route(self) -> bool:
        return self.delivery.status == "dispatched" and self.delivery.route_id is not None

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo(self.delivery.customer.timezone)).date()

    def day_of(self, window: Window) -> date:
        return window.start.astimezone(ZoneInfo(self.delivery.customer.timezone)).date()


# --- actions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Say:
    """Answer the customer with a message template."""

    type: str
    context: Mapping[str, Any] = field(default_factory=dict)
    # Windows or choice keys; the executor renders each as a label ("choice" template).
    choices: tuple[Window | str, ...] = ()
    media: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Escalate:
    """Hand the conversation to a person; `notify` tells the customer one will reply."""

    reason: str
    notify: bool = True


@dataclass(frozen=True, slots=True)
class UpdateDelivery:
    """Store changes on the delivery; `tell_driver` re-publishes the route payload."""

    changes: Mapping[str, Any]
    tell_driver: bool = False


@dataclass(frozen=True, slots=True)
class RememberPlace:
    place: str


# What else the same message asked for and was done ({"place": ..., "has_code": True}),
# confirmed in the answer about the time: one reply for one message.
Note = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TryWindow:
    """Move a dispatched stop to `window` today if the route allows, else offer windows."""

    window: Window
    note: Note = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rebook:
    """Book the delivery for `window` (another day, or not yet on a route)."""

    window: Window
    note: Note = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OfferWindows:
    """Find windows for `day` and offer them; `reason` says why we are offering."""

    purpose: Purpose
    day: date
    reason: Literal["ask", "not_fit", "invalid", "passed"] = "ask"
    item: str | None = None
    note: Note = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BookReturn:
    item: str
    window: Window


@dataclass(frozen=True, slots=True)
class OpenCase:
    kind: Literal["damaged", "missing"]
    photos: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class OptOut:
    pass


@dataclass(frozen=True, slots=True)
class RecordCsat:
    """The customer's 1-5 score of the help an agent gave (the desk's CSAT)."""

    score: int


Action = (
    Say
    | Escalate
    | UpdateDelivery
    | RememberPlace
    | TryWindow
    | Rebook
    | OfferWindows
    | BookReturn
    | OpenCase
    | OptOut
    | RecordCsat
)


@dataclass(frozen=True, slots=True)
class Decision:
    actions: tuple[Action, ...]
    state: ConversationState
