"""Async client for a Rasa NLU server's HTTP API (`POST /model/parse`).

Rasa runs as its own process (Rasa 3.6 needs Python <= 3.10 and pins old libraries);
this client is the only thing that talks to it. Timeouts are short because a
customer is waiting; transient failures are retried a bounded number of times; a
circuit breaker stops hammering a server that is down, so callers get
`NLUUnavailable` at once and can hand the conversation to a person instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp


class NLUUnavailable(Exception):
    """The NLU server could not give an answer (down, slow, misconfigured, circuit open)."""


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    text: str
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()
    # The language the model read the message as (en, es, fr), and how sure it is.
    language: str | None = None
    language_confidence: float = 0.0

    def first(self, entity: str) -> Entity | None:
        return next((e for e in self.entities if e.entity == entity), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "language": self.language,
            "entities": [
                {"entity": e.entity, "value": e.value, "start": e.start, "end": e.end}
                for e in self.entities
            ],
        }


@dataclass
class CircuitBreaker:
    """Open after `threshold` failures in a row; let one trial call through after `reset_s`."""

    threshold: int = 5
    reset_s: float = 15.0
    failures: int = 0
    opened_at: float | None = None
    _clock: Any = field(default=time.monotonic, repr=False)

    @property
    def state(self) -> Literal["closed", "open", "half-open"]:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self.opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.state == "half-open":
            self.opened_at = self._clock()


@dataclass
class _Server:
    """One Rasa process: its URL, its own circuit breaker and its parses in flight."""

    url: str
    breaker: CircuitBreaker
    in_flight: int = 0


class RasaClient:
    """One per process; the aiohttp session is injected (created once by the app).

    `base_url` names one Rasa server or several, comma-separated (`RASA_URL`): a Rasa
    process parses one message at a time on one core, so more throughput is more
    processes. Each parse goes to the server with the fewest parses in flight, and a
    server that fails (refused, 5xx, timeout) is left for the next one at once; each
    server has its own circuit breaker, so one that is down costs nothing until its
    trial call comes round.

    At most `max_in_flight` parses are sent to a server at once; the rest wait here, up
    to `queue_timeout_s`. Why: a Rasa process parses one message at a time on the CPU,
    so fifty customers answering one dispatch notice at the same moment would otherwise
    all wait inside Rasa, where the wait counts against the 1.5 s timeout meant for a
    stuck server: they would time out, open the circuit and go to people although the
    server was healthy (seen in benchmarks/reply.py). Waiting here costs nothing that
    sending would not, and the timeout keeps meaning "the server is not answering".
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str | None = None,
        timeout_s: float = 1.5,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
        max_in_flight: int = 4,
        queue_timeout_s: float = 10.0,
    ) -> None:
        self._session = session
        urls = [u.strip().rstrip("/") for u in base_url.split(",") if u.strip()]
        if not urls:
            raise ValueError("RASA_URL names no server")
        self._servers = [
            _Server(url, breaker if n == 0 and breaker else CircuitBreaker())
            for n, url in enumerate(urls)
        ]
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self._max_in_flight = max_in_flight
        self._changed = asyncio.Condition()
        self._queue_timeout_s = queue_timeout_s
        self._turn = 0

    @property
    def breaker(self) -> CircuitBreaker:
        """The (first) server's circuit breaker."""
        return self._servers[0].breaker

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self._servers]

    async def close(self) -> None:
        await self._session.close()

    def _params(self) -> dict[str, str]:
        return {"token": self._token} if self._token else {}

    def _allowed(self, exclude: Sequence[_Server] = ()) -> list[_Server]:
        return [s for s in self._servers if s not in exclude and s.breaker.allow()]

    def _free(self) -> _Server | None:
        """The allowed server with the fewest parses in flight, if one has room (ties
        go round, so an idle pool spreads its parses)."""
        n = len(self._servers)
        order = [self._servers[(self._turn + i) % n] for i in range(n)]
        room = [s for s in order if s.breaker.allow() and s.in_flight < self._max_in_flight]
        if not room:
            return None
        self._turn += 1
        return min(room, key=lambda s: s.in_flight)

    async def parse(self, text: str) -> ParseResult:
        if not self._allowed():
            raise NLUUnavailable("NLU circuit is open after repeated failures")
        try:
            async with asyncio.timeout(self._queue_timeout_s), self._changed:
                await self._changed.wait_for(lambda: self._free() is not None)
                server = self._free()
                assert server is not None
                server.in_flight += 1
        except TimeoutError:
            raise NLUUnavailable(
                f"NLU busy: no parse slot within {self._queue_timeout_s:.0f} s"
            ) from None
        try:
            return await self._parse(text, server)
        finally:
            server.in_flight -= 1
            async with self._changed:
                self._changed.notify_all()

    async def _parse(self, text: str, server: _Server) -> ParseResult:
        last: Exception | None = None
        failed: list[_Server] = []
        for attempt in range(self._retries + 1):
            if attempt:
                others = self._allowed(exclude=failed)
                if others:  # fail over at once to a server that has not failed
                    server = min(others, key=lambda s: s.in_flight)
                else:
                    await asyncio.sleep(0.05 * 2 ** (attempt - 1))
            try:
                async with self._session.post(
                    f"{server.url}/model/parse",
                    json={"text": text},
                    params=self._params(),
                    timeout=self._timeout,
                ) as resp:
                    if resp.status in (401, 403):
                        server.breaker.failure()
                        raise NLUUnavailable(f"NLU server refused our token ({resp.status})")
                    if resp.status >= 500 or resp.status == 409:  # 409: no model loaded yet
                        last = NLUUnavailable(f"NLU server answered {resp.status}")
                        failed.append(server)
                        continue
                    if resp.status >= 400:
                        raise NLUUnavailable(f"NLU server answered {resp.status}")
                    body: dict[str, Any] = await resp.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
                failed.append(server)
                continue
            for other in {id(s): s for s in failed if s is not server}.values():
                other.breaker.failure()
            server.breaker.success()
            return _result(text, body)
        for other in {id(s): s for s in failed}.values():
            other.breaker.failure()
        raise NLUUnavailable(f"NLU server unavailable: {last!r}")

    async def ready(self) -> bool:
        """True when a server answers and has a model loaded."""
        for server in self._servers:
            try:
                async with self._session.get(
                    f"{server.url}/status", params=self._params(), timeout=self._timeout
                ) as resp:
                    if resp.status != 200:
                        continue
                    body = await resp.json()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
            if body.get("model_file"):
                return True
        return False


def _result(text: str, body: dict[str, Any]) -> ParseResult:
    intent = body.get("intent") or {}
    entities = tuple(
        Entity(
            str(e.get("entity")),
            str(e.get("value")),
            int(e.get("start", 0)),
            int(e.get("end", 0)),
            e.get("confidence_entity"),
        )
        for e in body.get("entities") or []
    )
    ranking = tuple(
        (str(r.get("name")), float(r.get("confidence", 0.0)))
        for r in body.get("intent_ranking") or []
    )
    raw_language = body.get("language")
    language: dict[str, Any] = raw_language if isinstance(raw_language, dict) else {}
    return ParseResult(
        text=text,
        intent=str(intent.get("name") or "out_of_scope"),
        confidence=float(intent.get("confidence") or 0.0),
        entities=entities,
        ranking=ranking,
        language=str(language["name"]) if language.get("name") else None,
        language_confidence=float(language.get("confidence") or 0.0),
    )
