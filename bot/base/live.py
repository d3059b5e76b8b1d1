"""Live updates over Redis pub/sub: the brand's open consoles, and customers' tracking pages.

Replies, hand-offs and the desk all change what an agent's screen shows; they
publish here, below every flow, and the console's websocket subscribes. Every write
of a delivery, a route or a transcript tells the tracking pages (`queue_tracking`),
inside the writer's own transaction, so a page hears of a change only once it is
stored, and no writer can forget to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.base.keys import Keys


async def announce(redis: Redis, keys: Keys, brand_id: str, kind: str, delivery_id: str) -> None:
    """Tell the brand's open consoles (live, over Redis pub/sub) that a conversation changed."""
    await redis.publish(
        keys.desk_events(brand_id), json.dumps({"type": kind, "delivery_id": delivery_id})
    )


def queue_tracking(pipe: Pipeline, keys: Keys, brand_id: str, delivery_ids: Iterable[str]) -> None:
    """Tell the open tracking pages of these deliveries to look again (in the caller's pipe).

    One message per write, naming the deliveries, not their data: a page reads its own
    view (what it may show depends on the page: its second factor, its language).
    """
    ids = sorted(set(delivery_ids))
    if ids:
        pipe.publish(keys.tracking_updates(), json.dumps({"b": brand_id, "d": ids}))
