"""Live updates over Redis pub/sub: the brand's open consoles, and customers' tracking pages.

Replies, hand-offs and the desk all change what an agent's screen shows; they
publish here, below every flow. Each process holds ONE subscription (`LiveHub`, a
supervised loop) and fans the updates out to its open websockets, so a hundred open
consoles cost one Redis connection, not a hundred pooled ones (on Cluster too:
classic pub/sub reaches a subscriber on any node).

Every write of a delivery, a route or a transcript tells the tracking pages: the
writer notes the deliveries on its pipeline (`queue_tracking`) and `execute` runs the
pipeline, then publishes, so a page hears of a change only once it is stored. (Not
inside the pipeline: a Cluster client refuses PUBLISH there.)
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster

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


# The deliveries each pending pipeline will have changed, by brand (see `execute`).
_NOTED: weakref.WeakKeyDictionary[Pipeline, dict[str, set[str]]] = weakref.WeakKeyDictionary()


def queue_tracking(pipe: Pipeline, keys: Keys, brand_id: str, delivery_ids: Iterable[str]) -> None:
    """Note that these deliveries' tracking pages should look again once `pipe` has run.

    The update names the deliveries, not their data: a page reads its own view (what
    it may show depends on the page: its second factor, its language)."""
    _NOTED.setdefault(pipe, {}).setdefault(brand_id, set()).update(delivery_ids)


async def execute(pipe: Pipeline, redis: Redis, keys: Keys) -> list[Any]:
    """Run a pipeline, then tell the tracking pages of what it changed.

    On one Redis node the PUBLISH rides at the end of the pipeline itself (one round
    trip; a page still hears only once the writes before it are applied); a Cluster
    client refuses PUBLISH in a pipeline, so there it follows."""
    noted = {brand: ids for brand, ids in _NOTED.pop(pipe, {}).items() if ids}
    if noted and not isinstance(redis, RedisCluster):
        for brand_id, ids in sorted(noted.items()):
            pipe.publish(keys.tracking_updates(), _tracking_update(brand_id, ids))
        result: list[Any] = await pipe.execute()
        return result[: len(result) - len(noted)]
    result = await pipe.execute()
    for brand_id, ids in sorted(noted.items()):
        await tell_tracking(redis, keys, brand_id, ids)
    return result


def _tracking_update(brand_id: str, delivery_ids: Iterable[str]) -> str:
    return json.dumps({"b": brand_id, "d": sorted(set(delivery_ids))})


async def tell_tracking(
    redis: Redis, keys: Keys, brand_id: str, delivery_ids: Iterable[str]
) -> None:
    """Tell the open tracking pages of these deliveries to look again."""
    ids = sorted(set(delivery_ids))
    if ids:
        await redis.publish(keys.tracking_updates(), _tracking_update(brand_id, ids))
