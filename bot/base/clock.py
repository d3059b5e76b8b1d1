"""The service's notion of now, with an offset that only the sandbox may move.

Quiet hours and deferred messages are about wall-clock time, so to let a person
see a deferral happen in the sandbox, the clock can be moved forward. The offset
lives in Redis so every replica (and worker) agrees on it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis


class Clock:
    """Wall clock plus an offset in seconds; `refresh()` re-reads a shared offset."""

    def __init__(self, redis: Redis | None = None, offset_key: str | None = None) -> None:
        self._redis = redis
        self._key = offset_key
        self.offset = 0.0

    def timestamp(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    async def refresh(self) -> None:
        if self._redis is None or self._key is None:
            return
        raw = await self._redis.get(self._key)
        self.offset = float(raw) if raw is not None else 0.0

    async def advance(self, delta: timedelta) -> None:
        """Move time forward for every replica (sandbox only: the caller checks that)."""
        if self._redis is None or self._key is None:
            self.offset += delta.total_seconds()
            return
        self.offset = float(await self._redis.incrbyfloat(self._key, delta.total_seconds()))

    async def reset(self) -> None:
        self.offset = 0.0
        if self._redis is not None and self._key is not None:
            await self._redis.delete(self._key)
