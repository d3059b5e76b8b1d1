"""Automatic assignment: waiting conversations go to available agents, fairly, once.

An agent says they are available (and how many conversations they can hold at
once, else the brand's `desk.agent_capacity`). A periodic pass, and every event
that frees or adds room, offers each waiting conversation, oldest first, to the
available agent with the fewest open conversations under their capacity (a tie
goes to whoever was given one longest ago). An agent whose console has gone
(no heartbeat for `PRESENCE_S`) is passed over, so a closed laptop does not
collect conversations nobody reads.

The choice and the hand-over are one Lua script over keys that share the brand's
`{desk:<brand>}` tag: two replicas running the pass at once, or an agent claiming
by hand while the pass runs, can never give one conversation to two people or put
an agent over capacity. Transfers (to a colleague, or back to the queue) are a
script of their own for the same reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.agents.accounts import AccountStore, Agent
from bot.agents.desk import Desk
from bot.base.brands import BrandSettings, BrandStore
from bot.base.clock import Clock
from bot.base.keys import Keys
from bot.base.live import announce
from bot.base.logs import log
from bot.base.metrics import Metrics
from bot.base.store import Store

PRESENCE_S = 90
# A pass looks at this many of the oldest waiting conversations per brand.
PASS_LIMIT = 200

# KEYS: hand-off, queue, held set, available, holders, assigned-at, presence.
# ARGV: conversation, now, the brand's default capacity, presence cutoff.
_ASSIGN = """
if redis.call('HGET', KEYS[1], 'state') ~= 'waiting' then return {'gone'} end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {'gone'} end
local available = redis.call('HGETALL', KEYS[4])
local open = {}
for _, holder in ipairs(redis.call('HVALS', KEYS[5])) do
  open[holder] = (open[holder] or 0) + 1
end
local best, best_open, best_at = nil, 0, 0
for i = 1, #available, 2 do
  local agent = available[i]
  local capacity = tonumber(available[i + 1]) or 0
  if capacity <= 0 then capacity = tonumber(ARGV[3]) end
  local seen = tonumber(redis.call('HGET', KEYS[7], agent) or '0')
  local n = open[agent] or 0
  if seen >= tonumber(ARGV[4]) and n < capacity then
    local at = tonumber(redis.call('HGET', KEYS[6], agent) or '0')
    if best == nil or n < best_open or (n == best_open and (at < best_at
        or (at == best_at and agent < best))) then
      best, best_open, best_at = agent, n, at
    end
  end
end
if best == nil then return {'full'} end
redis.call('HSET', KEYS[1], 'state', 'held', 'agent', best, 'claimed_at', ARGV[2],
  'assigned', 'auto')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], best)
redis.call('HSET', KEYS[6], best, ARGV[2])
return {'ok', best}
"""

# KEYS: hand-off, queue, held set, holders. ARGV: conversation, from ('' = whoever
# holds it), to ('' = back to the queue), now.
_TRANSFER = """
if redis.call('HGET', KEYS[1], 'state') ~= 'held' then return 'not_held' end
local holder = redis.call('HGET', KEYS[1], 'agent')
if ARGV[2] ~= '' and holder ~= ARGV[2] then return 'not_yours' end
if ARGV[3] == '' then
  local since = redis.call('HGET', KEYS[1], 'since') or ARGV[4]
  redis.call('HSET', KEYS[1], 'state', 'waiting')
  redis.call('HDEL', KEYS[1], 'agent', 'claimed_at', 'assigned')
  redis.call('ZADD', KEYS[2], since, ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'agent', ARGV[3], 'claimed_at', ARGV[4], 'assigned', 'transfer')
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
end
return 'ok'
"""

Locale = Literal["en", "es", "fr"]


class Profile(BaseModel):
    """An agent's own desk settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capacity: int | None = Field(default=None, ge=1, le=50)
    locale: Locale | None = None  # the console's language; None: the browser's


@dataclass(frozen=True, slots=True)
class AgentStatus:
    username: str
    name: str
    role: str
    available: bool
    online: bool
    capacity: int
    open: int

    def as_json(self) -> dict[str, object]:
        return {
            "username": self.username,
            "name": self.name,
            "role": self.role,
            "available": self.available,
            "online": self.online,
            "capacity": self.capacity,
            "open": self.open,
        }


class TransferRefused(Exception):
    """Why a transfer did not happen: `not_held`, `not_yours` or `unknown_agent`."""


@dataclass
class Assigner:
    redis: Redis
    keys: Keys
    desk: Desk
    accounts: AccountStore
    brands: BrandStore
    store: Store
    clock: Clock
    metrics: Metrics

    def __post_init__(self) -> None:
        self._assign = self.redis.register_script(_ASSIGN)
        self._transfer = self.redis.register_script(_TRANSFER)

    # --- agents -------------------------------------------------------------------

    async def profile(self, brand_id: str, username: str) -> Profile:
        raw = await self.redis.hget(self.keys.desk_profiles(brand_id), username)
        return Profile() if raw is None else Profile.model_validate_json(raw)

    async def set_profile(self, brand_id: str, username: str, profile: Profile) -> None:
        await self.redis.hset(
            self.keys.desk_profiles(brand_id), username, profile.model_dump_json()
        )
        if await self.redis.hexists(self.keys.desk_available(brand_id), username):
            await self.redis.hset(
                self.keys.desk_available(brand_id), username, profile.capacity or 0
            )

    async def set_available(self, brand_id: str, username: str, available: bool) -> None:
        """Available for new conversations, or not (what an agent holds stays theirs)."""
        if available:
            profile = await self.profile(brand_id, username)
            async with self.redis.pipeline(transaction=True) as tx:
                tx.hset(self.keys.desk_available(brand_id), username, profile.capacity or 0)
                tx.hset(self.keys.desk_presence(brand_id), username, self.clock.timestamp())
                tx.sadd(self.keys.desk_roster(brand_id), username)
                await tx.execute()
        else:
            await self.redis.hdel(self.keys.desk_available(brand_id), username)
        await announce(self.redis, self.keys, brand_id, "agents", "")

    async def heartbeat(self, brand_id: str, username: str) -> None:
        """The agent's console is open (the live socket calls this while connected)."""
        await self.redis.hset(self.keys.desk_presence(brand_id), username, self.clock.timestamp())

    async def roster(self, brand: BrandSettings) -> list[AgentStatus]:
        """Every agent of the brand: available, online, capacity and open conversations."""
        brand_id = brand.brand_id
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self.keys.desk_roster(brand_id))
            pipe.hgetall(self.keys.desk_available(brand_id))
            pipe.hgetall(self.keys.desk_presence(brand_id))
            pipe.hvals(self.keys.desk_holders(brand_id))
            pipe.hgetall(self.keys.desk_profiles(brand_id))
            names, available, presence, holders, profiles = await pipe.execute()
        cutoff = self.clock.timestamp() - PRESENCE_S
        statuses = []
        for username in sorted(str(n) for n in names):
            agent = await self.accounts.get(brand_id, username)
            if agent is None:
                continue
            raw = profiles.get(username)
            profile = Profile() if raw is None else Profile.model_validate_json(raw)
            statuses.append(
                AgentStatus(
                    username=username,
                    name=agent.name,
                    role=agent.role,
                    available=username in available,
                    online=float(presence.get(username, 0)) >= cutoff,
                    capacity=profile.capacity or brand.desk.agent_capacity,
                    open=sum(1 for h in holders if h == username),
                )
            )
        return statuses

    # --- offering -----------------------------------------------------------------

    async def assign_waiting(self) -> int:
        """One pass over every brand that assigns automatically; how many were given."""
        given = 0
        for brand_id in sorted(str(b) for b in await self.redis.smembers(self.keys.brands())):
            brand = await self.brands.get(brand_id)
            if brand is not None and brand.desk.auto_assign:
                given += len(await self.assign_brand(brand))
        return given

    async def assign_brand(self, brand: BrandSettings) -> list[tuple[str, str]]:
        """Offer the brand's waiting conversations, oldest first, until nobody has room."""
        brand_id = brand.brand_id
        now = self.clock.timestamp()
        cutoff = now - PRESENCE_S
        presence = await self.redis.hgetall(self.keys.desk_presence(brand_id))
        available = await self.redis.hkeys(self.keys.desk_available(brand_id))
        online = [a for a in available if float(presence.get(a, 0)) >= cutoff]
        self.metrics.agents_available.labels(brand_id).set(len(online))
        if not online or not brand.desk.auto_assign:
            return []
        waiting = await self.redis.zrange(self.keys.agent_queue(brand_id), 0, PASS_LIMIT - 1)
        given: list[tuple[str, str]] = []
        for conversation in (str(c) for c in waiting):
            result = cast(
                list[str],
                await self._assign(
                    keys=[
                        self.keys.handoff(conversation),
                        self.keys.agent_queue(brand_id),
                        self.desk.held_key(brand_id),
                        self.keys.desk_available(brand_id),
                        self.keys.desk_holders(brand_id),
                        self.keys.desk_assigned_at(brand_id),
                        self.keys.desk_presence(brand_id),
                    ],
                    args=[conversation, now, brand.desk.agent_capacity, cutoff],
                ),
            )
            if result[0] == "full":
                break  # every available agent is at capacity: the rest wait too
            if result[0] != "ok":
                continue  # claimed by hand or resolved meanwhile
            agent = str(result[1])
            given.append((conversation, agent))
            self.metrics.assignments.labels(brand_id, "auto").inc()
            await self._event(brand_id, conversation, agent, "assigned")
        return given

    async def _event(self, brand_id: str, conversation: str, agent: str, event: str) -> None:
        delivery_id = conversation.partition("/")[2]
        log.info("desk.assigned", conversation=conversation, agent=agent, how=event)
        entry = {"dir": "event", "event": event, "agent": agent, "at": self.clock.timestamp()}
        await self.store.append_transcript(brand_id, delivery_id, json.dumps(entry))
        await announce(self.redis, self.keys, brand_id, event, delivery_id)

    # --- transfers ----------------------------------------------------------------

    async def transfer(
        self, brand: BrandSettings, delivery_id: str, by: Agent, to: str | None
    ) -> None:
        """Give a held conversation to another agent of the brand, or (to=None) back to
        the queue, keeping its place and its SLA clock. The holder may; an admin may
        move anyone's."""
        if to is not None and await self.accounts.get(brand.brand_id, to) is None:
            raise TransferRefused("unknown_agent")
        conversation = f"{brand.brand_id}/{delivery_id}"
        result = str(
            await self._transfer(
                keys=[
                    self.keys.handoff(conversation),
                    self.keys.agent_queue(brand.brand_id),
                    self.desk.held_key(brand.brand_id),
                    self.keys.desk_holders(brand.brand_id),
                ],
                args=[
                    conversation,
                    "" if by.role == "admin" else by.username,
                    to or "",
                    self.clock.timestamp(),
                ],
            )
        )
        if result != "ok":
            raise TransferRefused(result)
        self.metrics.assignments.labels(brand.brand_id, "transfer").inc()
        entry = {
            "dir": "event",
            "event": "transferred" if to else "returned",
            "agent": by.username,
            "to": to,
            "at": self.clock.timestamp(),
        }
        await self.store.append_transcript(brand.brand_id, delivery_id, json.dumps(entry))
        await announce(self.redis, self.keys, brand.brand_id, "transferred", delivery_id)
        if to is None:
            await self.assign_brand(brand)

    async def held_by(self, brand_id: str, username: str) -> list[str]:
        """Delivery ids of the conversations `username` holds."""
        holders = cast(dict[str, str], await self.redis.hgetall(self.keys.desk_holders(brand_id)))
        return sorted(c.partition("/")[2] for c, u in holders.items() if u == username)

    async def transfer_all(
        self, brand: BrandSettings, username: str, by: Agent, to: str | None
    ) -> int:
        """Everything `username` holds, to `to` or back to the queue (end of a shift)."""
        moved = 0
        for delivery_id in await self.held_by(brand.brand_id, username):
            try:
                await self.transfer(brand, delivery_id, by, to)
            except TransferRefused:
                continue  # resolved or moved meanwhile
            moved += 1
        return moved
