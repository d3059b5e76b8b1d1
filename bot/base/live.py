"""Live updates for the brand's open consoles, over Redis pub/sub.

Replies, hand-offs and the desk all change what an agent's screen shows; they
publish here, below every flow, and the console's websocket subscribes.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis

from bot.base.keys import Keys


async def announce(redis: Redis, keys: Keys, brand_id: str, kind: str, delivery_id: str) -> None:
    """Tell the brand's open consoles (live, over Redis pub/sub) that a conversation changed."""
    await redis.publish(
        keys.desk_events(brand_id), json.dumps({"type": kind, "delivery_id": delivery_id})
    )
