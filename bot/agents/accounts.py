"""Agent accounts per brand, their passwords (argon2) and API tokens, and login sessions.

A session is a random id in an HttpOnly, SameSite=Strict cookie, with its own CSRF
token that every state-changing request from the console must echo. API tokens
(for a helpdesk integration) are stored hashed and need no CSRF token: they are not
sent by a browser on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from bot.base.keys import Keys

Role = Literal["agent", "admin"]
SESSION_TTL_S = 12 * 3600
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same.
_DUMMY = _hasher.hash("not-a-password")


class Agent(BaseModel):
    model_config = ConfigDict(frozen=True)

    brand_id: str
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,39}$")
    name: str = Field(min_length=1, max_length=80)
    role: Role = "agent"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    agent: Agent
    csrf: str


class AccountStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def create(self, agent: Agent, password: str) -> None:
        if len(password) < 10:
            raise ValueError("a password needs at least 10 characters")
        record = {**agent.model_dump(), "password": _hasher.hash(password)}
        await self._redis.set(self._keys.agent(agent.brand_id, agent.username), json.dumps(record))
        await self._redis.sadd(self._keys.desk_roster(agent.brand_id), agent.username)

    async def get(self, brand_id: str, username: str) -> Agent | None:
        raw = await self._redis.get(self._keys.agent(brand_id, username))
        if raw is None:
            return None
        data = json.loads(raw)
        data.pop("password", None)
        return Agent.model_validate(data)

    async def check_password(self, brand_id: str, username: str, password: str) -> Agent | None:
        raw = await self._redis.get(self._keys.agent(brand_id, username))
        data = json.loads(raw) if raw else None
        try:
            _hasher.verify(data["password"] if data else _DUMMY, password)
        except (VerifyMismatchError, InvalidHashError):
            return None
        if data is None:
            return None
        data.pop("password")
        return Agent.model_validate(data)

    # --- API tokens -------------------------------------------------------------

    async def new_token(self, agent: Agent) -> str:
        token = f"dsa_{secrets.token_urlsafe(32)}"
        digest = hashlib.sha256(token.encode()).hexdigest()
        await self._redis.set(self._keys.agent_token(digest), agent.model_dump_json())
        return token

    async def agent_for_token(self, token: str) -> Agent | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        raw = await self._redis.get(self._keys.agent_token(digest))
        return None if raw is None else Agent.model_validate_json(raw)

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
