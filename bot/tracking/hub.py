"""Live updates for open tracking pages: one Redis subscription per process, fanned out.

Every write of a delivery, route or transcript publishes the deliveries it touched
(`bot/base/live.py`). Each process subscribes once and wakes the pages it has open
for those deliveries; each page then reads its own view. A thousand open pages cost
one Redis connection, not a thousand, and a page that nothing changed for costs
nothing but a heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator

from redis.asyncio import Redis

from bot.base.keys import Keys
from bot.base.logs import log


class TrackingHub:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._pages: dict[str, set[asyncio.Event]] = {}
        self.closed = False

    @property
    def open_pages(self) -> int:
        return sum(len(p) for p in self._pages.values())

    @contextlib.contextmanager
    def listen(self, conversation: str) -> Iterator[asyncio.Event]:
        """An event set whenever the conversation's delivery (or its route) may have changed."""
        event = asyncio.Event()
        self._pages.setdefault(conversation, set()).add(event)
        try:
            yield event
        finally:
            pages = self._pages.get(conversation)
            if pages is not None:
                pages.discard(event)
                if not pages:
                    del self._pages[conversation]

    def close(self) -> None:
        """End every open page's stream (the server is shutting down: it waits for them)."""
        self.closed = True
        self._wake()

    def _wake(self, conversations: list[str] | None = None) -> None:
        for conversation in self._pages if conversations is None else conversations:
            for event in self._pages.get(conversation, ()):
                event.set()

    async def run(self, stopping: asyncio.Event, tick: Callable[[], None] = lambda: None) -> None:
        """Subscribe and fan out until stopping; a lost connection is logged and remade.
        `tick` says it is alive (the supervisor's health check)."""
        while not stopping.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._keys.tracking_updates())
                self._wake()  # whatever happened while we were not listening
                while not stopping.is_set():
                    tick()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    data = json.loads(message["data"])
                    self._wake([f"{data['b']}/{d}" for d in data["d"]])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tracking.hub_failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
        self.close()  # open pages end their streams
