"""Live updates for the brand's open consoles, over Redis pub/sub.

Replies, hand-offs and the desk all change what an agent's screen shows; they
publish here, below every flow. Each process holds ONE subscription (`LiveHub`, a
supervised loop) and fans the updates out to its open websockets, so a hundred open
consoles cost one Redis connection, not a hundred pooled ones (on Cluster too:
classic pub/sub reaches a subscriber on any node).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bot.base.keys import Keys


async def announce(redis: Redis, keys: Keys, brand_id: str, kind: str, delivery_id: str) -> None:
    """Tell the brand's open consoles (live, over Redis pub/sub) that a conversation changed."""
    await redis.publish(
        keys.desk_events(brand_id), json.dumps({"type": kind, "delivery_id": delivery_id})
    )


@dataclass
class LiveHub:
    """One pattern subscription to every brand's desk events, fanned out in-process."""

    redis: Redis
    keys: Keys
    # Per brand, the queues of the websockets open on this process.
    listeners: dict[str, set[asyncio.Queue[str]]] = field(default_factory=lambda: defaultdict(set))

    @contextmanager
    def listen(self, brand_id: str, maxsize: int = 256) -> Iterator[asyncio.Queue[str]]:
        """A queue of this brand's updates while the `with` lasts (a slow reader drops
        the oldest: a console re-reads what it shows on each update anyway)."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.listeners[brand_id].add(queue)
        try:
            yield queue
        finally:
            self.listeners[brand_id].discard(queue)

    async def run(self, tick: Callable[[], None], stopping: asyncio.Event) -> None:
        """Forward updates until `stopping`; errors end it (the supervisor restarts it)."""
        pubsub = self.redis.pubsub()
        prefix = self.keys.desk_events("")
        try:
            await pubsub.psubscribe(f"{prefix}*")
            while not stopping.is_set():
                tick()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None or message.get("type") != "pmessage":
                    continue
                brand_id = str(message["channel"]).removeprefix(prefix)
                for queue in list(self.listeners.get(brand_id, ())):
                    if queue.full():
                        queue.get_nowait()
                    queue.put_nowait(str(message["data"]))
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
