"""Agent accounts per brand, their passwords (argon2) and API tokens, and login sessions.

A session is a random id in an HttpOnly, SameSite=Strict cookie, with its own CSRF
token that every state-changing request from the console must echo. API tokens
(for a helpdesk integration) are stored hashed and need no CSRF token: they are not
sent by a browser on its own. A token expires (90 days unless chosen, at most a year:
the record's Redis TTL) and an admin can list and revoke the brand's tokens.

argon2 costs ~50 ms of CPU and 64 MiB per check: it runs in a thread (the library
releases the GIL), at most `PARALLEL_HASHES` at once, so a burst of guesses queues
there instead of stalling the event loop or the memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.base.keys import Keys

Role = Literal["agent", "admin"]
Gate = Callable[[], Awaitable[None]]
SESSION_TTL_S = 12 * 3600
TOKEN_TTL_S = 90 * 86400  # the default lifetime of an API token
TOKEN_MAX_TTL_S = 365 * 86400
PARALLEL_HASHES = 2
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same.
_DUMMY = _hasher.hash("not-a-password")


class Agent(BaseModel):
    model_config = ConfigDict(frozen=True)

    brand_id: str
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,39}$")
    name: str = Field(min_length=1, max_length=80)
    role: Role = "agent"


class AccountExists(Exception):
    """Creating an account whose brand and username are taken (an admin must not
    overwrite a co-admin's password by "creating" them again)."""


class TokenInfo(BaseModel):
    """What an admin sees of an API token: never the token itself."""

    model_config = ConfigDict(frozen=True)

    id: str
    username: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    agent: Agent
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class AccountStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._hashing = asyncio.Semaphore(PARALLEL_HASHES)

    async def _verify(self, hashed: str, password: str, gate: Gate | None = None) -> bool:
        async with self._hashing:
            if gate is not None:  # asked again once a slot is free: guesses queue here
                await gate()
            try:
                return await asyncio.to_thread(_hasher.verify, hashed, password)
            except (VerifyMismatchError, InvalidHashError):
                return False

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(_hasher.hash, password)

    async def create(self, agent: Agent, password: str, *, replace: bool = False) -> None:
        """A new account; `AccountExists` if taken, unless `replace` (a password reset)."""
        if len(password) < 10:
            raise ValueError("a password needs at least 10 characters")
        if len(password) > 1024:
            raise ValueError("a password has at most 1024 characters")
        key = self._keys.agent(agent.brand_id, agent.username)
        if not replace and await self._redis.exists(key):
            raise AccountExists(f"{agent.username!r} already exists")
        record = json.dumps({**agent.model_dump(), "password": await self._hash(password)})
        if not await self._redis.set(key, record, nx=not replace):
            raise AccountExists(f"{agent.username!r} already exists")
        await self._redis.sadd(self._keys.desk_roster(agent.brand_id), agent.username)

    async def get(self, brand_id: str, username: str) -> Agent | None:
        raw = await self._redis.get(self._keys.agent(brand_id, username))
        if raw is None:
            return None
        data = json.loads(raw)
        data.pop("password", None)
        return Agent.model_validate(data)

    async def check_password(
        self, brand_id: str, username: str, password: str, gate: Gate | None = None
    ) -> Agent | None:
        """The agent if the password is right; `gate` (which may raise) runs just before
        the hash is checked, so a throttle sees the failures recorded while this waited."""
        raw = await self._redis.get(self._keys.agent(brand_id, username))
        data = json.loads(raw) if raw else None
        if not await self._verify(data["password"] if data else _DUMMY, password[:1024], gate):
            return None
        if data is None:
            return None
        data.pop("password")
        return Agent.model_validate(data)

    # --- API tokens -------------------------------------------------------------

    async def new_token(self, agent: Agent, ttl_s: int = TOKEN_TTL_S) -> str:
        """A token acting as `agent` for `ttl_s` seconds (1 s .. a year)."""
        if not 1 <= ttl_s <= TOKEN_MAX_TTL_S:
            raise ValueError(f"a token lives 1 second to {TOKEN_MAX_TTL_S // 86400} days")
        token = f"dsa_{secrets.token_urlsafe(32)}"
        await self._remember(_digest(token), agent, time.time(), ttl_s)
        return token

    async def _remember(self, digest: str, agent: Agent, created: float, ttl_s: int) -> None:
        info = TokenInfo(
            id=digest[:16], username=agent.username, created_at=created, expires_at=created + ttl_s
        )
        record = json.dumps({"agent": agent.model_dump(), "info": info.model_dump()})
        await self._redis.set(self._keys.agent_token(digest), record, ex=ttl_s)
        index = self._keys.agent_tokens(agent.brand_id)
        await self._redis.hset(index, info.id, json.dumps({**info.model_dump(), "digest": digest}))

    async def agent_for_token(self, token: str) -> Agent | None:
        digest = _digest(token)
        raw = await self._redis.get(self._keys.agent_token(digest))
        if raw is None:
            return None
        data = json.loads(raw)
        if "info" not in data:  # made before tokens expired: from now on it does
            agent = Agent.model_validate(data)
            await self._remember(digest, agent, time.time(), TOKEN_TTL_S)
            return agent
        return Agent.model_validate(data["agent"])

    async def token_info(self, token: str) -> TokenInfo | None:
        raw = await self._redis.get(self._keys.agent_token(_digest(token)))
        data = json.loads(raw) if raw else {}
        return TokenInfo.model_validate(data["info"]) if "info" in data else None

    async def tokens(self, brand_id: str) -> list[TokenInfo]:
        """The brand's live tokens, oldest first; expired ones are dropped from the index."""
        index = self._keys.agent_tokens(brand_id)
        now, live, gone = time.time(), [], []
        for token_id, raw in (await self._redis.hgetall(index)).items():
            data = json.loads(raw)
            if data["expires_at"] <= now:
                gone.append(token_id)
            else:
                live.append(TokenInfo.model_validate({k: data[k] for k in TokenInfo.model_fields}))
        if gone:
            await self._redis.hdel(index, *gone)
        return sorted(live, key=lambda t: t.created_at)

    async def revoke_token(self, brand_id: str, token_id: str) -> bool:
        """The token stops working at once; False if the brand has no such token."""
        index = self._keys.agent_tokens(brand_id)
        raw = await self._redis.hget(index, token_id)
        if raw is None:
            return False
        await self._redis.delete(self._keys.agent_token(json.loads(raw)["digest"]))
        await self._redis.hdel(index, token_id)
        return True

    # --- sessions ---------------------------------------------------------------

    async def open_session(self, agent: Agent) -> Session:
        session = Session(secrets.token_urlsafe(32), agent, secrets.token_urlsafe(24))
        body = json.dumps({"agent": agent.model_dump(), "csrf": session.csrf})
        await self._redis.set(self._keys.session(session.id), body, ex=SESSION_TTL_S)
        # Accounts made before the desk kept a roster join it when they log in.
        await self._redis.sadd(self._keys.desk_roster(agent.brand_id), agent.username)
        return session

    async def session(self, session_id: str) -> Session | None:
        raw = await self._redis.get(self._keys.session(session_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(session_id, Agent.model_validate(data["agent"]), data["csrf"])

    async def close_session(self, session_id: str) -> None:
        await self._redis.delete(self._keys.session(session_id))


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
