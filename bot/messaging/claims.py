"""How a sender holds the messages it is sending, so that no other worker sends them too.

Two guards, both in the message's shard slot. The batch's stream entries are claimed
(their idle time reset) every third of `reclaim_idle` while the batch is in hand, so
the reclaimer only takes a dead worker's entries. And each send first takes the
message's short lock, checking its provider id in the same script: after a Redis
restart or a frozen process a live worker's entries can look idle, and the lock is
what keeps the reclaimer from sending them as well. The lock lasts 0.9 `reclaim_idle`
and is extended with the claims, so a dead worker's locks end with its claims.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from bot.base.keys import Keys
from bot.base.logs import log
from bot.messaging.messages import GROUP, OutboxPolicy

# Take a message to send: 0 when it was already sent (its provider id is recorded),
# -1 while another worker is sending it, 1 when it is ours to send.
# KEYS: the message hash, its sending lock; ARGV: token, lock ms.
TAKE = """
local sent = redis.call('HGET', KEYS[1], 'provider_id')
if sent and sent ~= '' then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return -1
"""


def lock_ms_for(policy: OutboxPolicy) -> int:
    """A little less than an entry may sit unclaimed: a dead worker's lock has ended by
    the time its entries can be reclaimed (every process has the same `reclaim_idle`)."""
    return max(int(policy.reclaim_idle * 900), 50)


async def keep_claimed(
    redis: Redis, keys: Keys, shard: int, consumer: str, entries: dict[str, str],
    done: set[str], policy: OutboxPolicy,
) -> None:  # fmt: skip
    """Until every entry of the batch (entry id -> message id) is `done`: reset their
    idle time and extend their messages' locks. Redis errors do not end it: the sends
    go on, and it tries again soon."""
    every = max(policy.reclaim_idle / 3, 0.05)
    wait = every
    while True:
        await asyncio.sleep(wait)
        left = [e for e in entries if e not in done]
        if not left:
            return
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.xclaim(
                    keys.outbox(shard), GROUP, consumer, min_idle_time=0,
                    message_ids=list[Any](left), justid=True,
                )  # fmt: skip
                for entry_id in left:
                    pipe.pexpire(
                        keys.message_sending(entries[entry_id]), lock_ms_for(policy), xx=True
                    )
                await pipe.execute()
            wait = every
        except Exception as exc:
            log.warning("outbox.keep_claimed_failed", shard=shard, error=repr(exc))
            wait = min(every, 0.5)
