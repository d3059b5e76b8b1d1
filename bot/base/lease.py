"""A lease in Redis: which one process runs a job that must not run twice at once.

Telegram's `getUpdates` may be long-polled by one client only (a second one gets 409
Conflict and both lose updates), so with several replicas the poller runs where the
lease is. The holder renews it well before it expires; if the holder dies, another
replica takes it over within one `ttl_s`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from redis.asyncio import Redis

# Take the lease if it is free, keep it if it is ours; 1 if we hold it now.
_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class Lease:
    redis: Redis
    key: str
    ttl_s: float
    holder: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self._hold = self.redis.register_script(_HOLD)
        self._release = self.redis.register_script(_RELEASE)

    async def hold(self) -> bool:
        """Take or renew the lease; False while another process holds it."""
        taken = await self._hold(keys=[self.key], args=[self.holder, int(self.ttl_s * 1000)])
        return bool(int(taken))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.holder])
