"""Login throttling per account and per client address: a growing delay, then a lock.

Wrong passwords are counted for the account (brand/username) and for the address the
attempt came from, each count forgotten `WINDOW_S` after its last failure. Past a few
free failures every further one makes the next attempt wait twice as long as the one
before; past the lock threshold nothing is tried for `LOCK_S`. While an account or an
address waits, its attempts are refused before the password is checked (no argon2
spent, no guess tested), with the seconds left. A right password clears the account's
count (not the address's: one valid account must not launder an attacker's address).

The counts live in Redis, so every HTTP process enforces the same limits. Time is the
service's clock (which only the sandbox can move).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.metrics import Metrics

Kind = Literal["account", "address"]
WINDOW_S = 15 * 60
LOCK_S = 15 * 60
MAX_DELAY_S = 60


@dataclass(frozen=True, slots=True)
class Policy:
    free: int  # failures before any delay
    lock_at: int  # failures that lock


POLICIES: dict[Kind, Policy] = {
    "account": Policy(free=5, lock_at=10),
    "address": Policy(free=20, lock_at=100),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an attempt is not tried now: `how` ("delay" or "locked"), for how long."""

    kind: Kind
    how: Literal["delay", "locked"]
    retry_after_s: int


@dataclass(frozen=True, slots=True)
class Throttled:
    """One throttled account or address, as an admin sees it."""

    kind: Kind
    who: str
    failures: int
    how: Literal["delay", "locked"]
    until: float


def wait_after(failures: int, policy: Policy) -> tuple[Literal["delay", "locked"], float] | None:
    """What `failures` wrong passwords in a row cost: nothing, a delay, or the lock."""
    if failures >= policy.lock_at:
        return "locked", LOCK_S
    if failures >= policy.free:
        return "delay", min(2.0 ** (failures - policy.free), MAX_DELAY_S)
    return None


class LoginThrottle:
    def __init__(self, redis: Redis, keys: Keys, metrics: Metrics, clock: Clock) -> None:
        self._redis = redis
        self._keys = keys
        self._metrics = metrics
        self._clock = clock

    def _targets(self, brand_id: str, username: str, address: str) -> list[tuple[Kind, str]]:
        return [("account", f"{brand_id}/{username}"), ("address", address)]

    async def refusal(self, brand_id: str, username: str, address: str) -> Refusal | None:
        """Why not to check this attempt's password now, if there is a reason."""
        now = self._clock.timestamp()
        for kind, who in self._targets(brand_id, username, address):
            state = await self._redis.hgetall(self._keys.login_failures(kind, who))
            until = float(state.get("until") or 0)
            if until > now:
                how: Literal["delay", "locked"] = "locked" if state.get("locked") else "delay"
                self._metrics.login_refused.labels(kind, how).inc()
                return Refusal(kind, how, max(1, math.ceil(until - now)))
        return None

    async def failed(self, brand_id: str, username: str, address: str) -> None:
        now = self._clock.timestamp()
        for kind, who in self._targets(brand_id, username, address):
            key = self._keys.login_failures(kind, who)
            self._metrics.login_failures.labels(kind).inc()
            failures = int(await self._redis.hincrby(key, "count", 1))
            wait = wait_after(failures, POLICIES[kind])
            if wait is not None:
                how, seconds = wait
                locked = "1" if how == "locked" else ""
                await self._redis.hset(key, mapping={"until": str(now + seconds), "locked": locked})
                await self._redis.zadd(self._keys.login_locks(), {f"{kind}:{who}": now + seconds})
                if how == "locked" and failures == POLICIES[kind].lock_at:
                    self._metrics.login_locks.labels(kind).inc()
            await self._redis.expire(key, WINDOW_S + LOCK_S)
        await self._publish_gauge(now)

    async def succeeded(self, brand_id: str, username: str) -> None:
        who = f"{brand_id}/{username}"
        await self._redis.delete(self._keys.login_failures("account", who))
        await self._redis.zrem(self._keys.login_locks(), f"account:{who}")

    async def unlock(self, brand_id: str, username: str) -> bool:
        """An admin lets an account try again now; False if it was not throttled."""
        who = f"{brand_id}/{username}"
        removed = await self._redis.delete(self._keys.login_failures("account", who))
        await self._redis.zrem(self._keys.login_locks(), f"account:{who}")
        await self._publish_gauge(self._clock.timestamp())
        return bool(removed)

    async def throttled(self, brand_id: str) -> list[Throttled]:
        """The brand's accounts that wait or are locked now."""
        now = self._clock.timestamp()
        names = await self._redis.zrangebyscore(self._keys.login_locks(), now, "+inf")
        found = []
        for name in names:
            kind, _, who = str(name).partition(":")
            if kind != "account" or not who.startswith(f"{brand_id}/"):
                continue
            state = await self._redis.hgetall(self._keys.login_failures("account", who))
            if float(state.get("until") or 0) > now:
                found.append(
                    Throttled(
                        "account",
                        who.split("/", 1)[1],
                        int(state.get("count") or 0),
                        "locked" if state.get("locked") else "delay",
                        float(state["until"]),
                    )
                )
        return found

    async def _publish_gauge(self, now: float) -> None:
        locks = self._keys.login_locks()
        await self._redis.zremrangebyscore(locks, "-inf", now)
        names = await self._redis.zrangebyscore(locks, now, "+inf")
        for kind in ("account", "address"):
            count = sum(1 for n in names if str(n).startswith(f"{kind}:"))
            self._metrics.login_throttled.labels(kind).set(count)
