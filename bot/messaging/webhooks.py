"""Telling a brand's dispatch system what happened: one signed webhook, through the outbox.

`route.updated`, `delivery.rescheduled`, `return.requested` and `escalation.overdue`
all go out this way: an event envelope (`id`, `type`, `occurred_at`, `data`) posted
to the brand's webhook URL, signed, retried like any message (see README).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from bot.base.brands import BrandSettings
from bot.messaging.outbox import NewMessage, Outbox


async def tell_dispatch(
    outbox: Outbox,
    brand: BrandSettings,
    type_: str,
    data: dict[str, Any],
    now: datetime,
    supersede_key: str | None = None,
) -> str | None:
    """Queue the webhook; its message id, or None when the brand has no webhook URL."""
    if not brand.webhook_url:
        return None
    body = {
        "id": f"{type_.split('.')[0]}-{secrets.token_hex(8)}",
        "type": type_,
        "occurred_at": now.isoformat(),
        "data": data,
    }
    return await outbox.submit(
        NewMessage(
            brand_id=brand.brand_id,
            type=type_,
            channel="webhook",
            to=brand.webhook_url,
            text=json.dumps(body),
            supersede_key=supersede_key,
        )
    )
