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


class RasaClient:
    """One per process; the aiohttp session is injected (created once by the app).

    At most `max_in_flight` parses are sent at once; the rest wait here, up to
    `queue_timeout_s`. Why: a Rasa process parses one message at a time on the CPU, so
    fifty customers answering one dispatch notice at the same moment would otherwise
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
        self._url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retries = retries
        self.breaker = breaker or CircuitBreaker()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queue_timeout_s = queue_timeout_s

    async def close(self) -> None:
        await self._session.close()

    def _params(self) -> dict[str, str]:
        return {"token": self._token} if self._token else {}

    async def parse(self, text: str) -> ParseResult:
        if not self.breaker.allow():
            raise NLUUnavailable("NLU circuit is open after repeated failures")
        try:
            async with asyncio.timeout(self._queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise NLUUnavailable(
                f"NLU busy: no parse slot within {self._queue_timeout_s:.0f} s"
            ) from None
        try:
            return await self._parse(text)
        finally:
            self._slots.release()

    async def _parse(self, text: str) -> ParseResult:
        last: Exception | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(0.05 * 2 ** (attempt - 1))
            try:
                async with self._session.post(
                    f"{self._url}/model/parse",
                    json={"text": text},
                    params=self._params(),
                    timeout=self._timeout,
                ) as resp:
                    if resp.status in (401, 403):
                        self.breaker.failure()
                        raise NLUUnavailable(f"NLU server refused our token ({resp.status})")
                    if resp.status >= 500 or resp.status == 409:  # 409: no model loaded yet
                        last = NLUUnavailable(f"NLU server answered {resp.status}")
                        continue
                    if resp.status >= 400:
                        raise NLUUnavailable(f"NLU server answered {resp.status}")
                    body: dict[str, Any] = await resp.json()
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = exc
                continue
            self.breaker.success()
            return _result(text, body)
        self.breaker.failure()
        raise NLUUnavailable(f"NLU server unavailable: {last!r}")

    async def ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        try:
            async with self._session.get(
                f"{self._url}/status", params=self._params(), timeout=self._timeout
            ) as resp:
                if resp.status != 200:
                    return False
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False
        return bool(body.get("model_file"))


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
