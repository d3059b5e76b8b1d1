"""Real processes to break, for the fault tests and `benchmarks/faults.py`.

- `RedisProcess`: a private redis-server with append-only on (fsync on every write, so
  what was acknowledged survives kill -9), killed and started again on the same port
  and folder;
- `Service`: a real `doorstep serve` subprocess (its own event loop, its own Redis
  pools), stopped with real signals: SIGKILL, SIGTERM, SIGSTOP/SIGCONT;
- `Twilio`: a fake of Twilio's Messages API on a real socket that records every
  request by *our* message id (it rides on the status callback URL), and can answer
  500s or 429s with Retry-After for a while, answer slowly, and post Twilio's signed
  status callbacks back to the service;
- `Burst`: posts delivery events at a steady pace and keeps the ids of the messages
  each accepted (202) event created, whatever happens to the service meanwhile.

Nothing of ours is mocked: the service talks to these through its real clients.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from twilio.request_validator import RequestValidator

from bot.base.brands import BrandSettings, BrandStore
from bot.base.keys import Keys
from bot.devrun import free_port
from tests import factories as f
from tests.redis_servers import Server, start_server

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "AC123"
TOKEN = "secret"
API_KEY = "fault-key"
BRAND = "faults"
# fsync on every write: a 202 means the message is on disk (README "What a fault costs").
AOF = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")


class RedisProcess:
    """One redis-server that can be killed and brought back with its data."""

    def __init__(self, folder: Path | None = None, *args: str) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="doorstep-faults-"))
        self.args = args or AOF
        self.port = free_port()
        self.server: Server | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = start_server(self.folder, *self.args, port=self.port)

    def kill(self) -> None:
        assert self.server is not None
        self.server.kill()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


async def seed_brand(redis_url: str) -> None:
    """The brand the bursts write for (SMS, no quiet hours) and its API key."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        brands = BrandStore(redis, Keys())
        await brands.save(
            BrandSettings(brand_id=BRAND, display_name="Faults", channels=["sms"], quiet_hours=None)
        )
        await brands.add_api_key(BRAND, API_KEY)
    finally:
        await redis.aclose()


@dataclass
class Hit:
    """One request at the fake Twilio."""

    message_id: str
    to: str
    body: str
    at: float
    status: int = 0


@dataclass
class Twilio:
    """The fake Messages API. `storm(...)` makes it answer errors until a moment."""

    delay_s: float = 0.0
    callbacks: bool = False
    hits: list[Hit] = field(default_factory=list)
    storm_until: float = 0.0
    storm_status: int = 500
    retry_after: int | None = None
    runner: web.AppRunner | None = None
    port: int = 0
    _count: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    def storm(self, status: int, seconds: float, retry_after: int | None = None) -> None:
        self.storm_status = status
        self.retry_after = retry_after
        self.storm_until = time.monotonic() + seconds

    async def create(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        callback = form.get("StatusCallback", "")
        message_id = parse_qs(urlparse(callback).query).get("m", [""])[0]
        hit = Hit(message_id, form.get("To", ""), form.get("Body", ""), time.monotonic())
        self.hits.append(hit)
        if time.monotonic() < self.storm_until:
            hit.status = self.storm_status
            headers = {"Retry-After": str(self.retry_after)} if self.retry_after else {}
            body = {"code": 20429 if hit.status == 429 else 20500, "message": "try later"}
            return web.json_response({**body, "status": hit.status}, status=hit.status,
                                     headers=headers)  # fmt: skip
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self._count += 1
        sid = f"SM{self._count:032d}"
        hit.status = 201
        if self.callbacks and callback:
            task = asyncio.create_task(self._report(callback, sid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        body = {"sid": sid, "status": "queued", "to": hit.to, "body": hit.body,
                "num_segments": "1", "account_sid": ACCOUNT}  # fmt: skip
        return web.json_response(body, status=201)

    async def _report(self, callback: str, sid: str) -> None:
        """Twilio's status callback ("sent"), signed as Twilio signs it; tried a few times."""
        assert self._session is not None
        params = {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": ACCOUNT}
        signature = RequestValidator(TOKEN).compute_signature(callback, params)
        await asyncio.sleep(0.05)
        for _ in range(5):
            try:
                async with self._session.post(
                    callback, data=params, headers={"X-Twilio-Signature": signature}
                ) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1.0)

    # --- what arrived -----------------------------------------------------------
    def accepted(self) -> collections.Counter[str]:
        """How many times each message id was accepted (201)."""
        return collections.Counter(h.message_id for h in self.hits if h.status == 201)

    def first_accepted(self) -> dict[str, float]:
        first: dict[str, float] = {}
        for hit in self.hits:
            if hit.status == 201:
                first.setdefault(hit.message_id, hit.at)
        return first

    def last_accepted_at(self) -> float:
        return max((h.at for h in self.hits if h.status == 201), default=0.0)


def service_env(redis_url: str, port: int, twilio: Twilio, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DOORSTEP_SANDBOX": "false",
        "DOORSTEP_DEMO": "false",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TWILIO_API_URL": twilio.url,
        "DOORSTEP_OUTBOX_RECLAIM_IDLE": "3",
        "DOORSTEP_OUTBOX_BACKOFF_BASE": "0.2",
        "DOORSTEP_OUTBOX_BACKOFF_CAP": "1",
        "DOORSTEP_OUTBOX_MAX_ATTEMPTS": "50",
        "DOORSTEP_SCHEDULER_INTERVAL": "0.1",
        "DOORSTEP_ROUTING_WORKERS": "1",
        "LOG_LEVEL": "info",
        **extra,
    }


class Service:
    """A `doorstep serve` subprocess; its log goes to a file (kept for a failing test)."""

    def __init__(self, redis_url: str, twilio: Twilio, name: str = "a", **extra: str) -> None:
        self.port = free_port()
        self.env = service_env(redis_url, self.port, twilio, **extra)
        self.log_path = Path(tempfile.gettempdir()) / f"doorstep-faults-{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited; see {self.log_path}")
            if await self.ready(session) == 200:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the service was not ready within {timeout:.0f} s; {self.log_path}")

    async def ready(self, session: aiohttp.ClientSession) -> int:
        """/readyz's status; 0 when nothing answers."""
        try:
            async with session.get(
                f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def phone(n: int) -> str:
    return f"+1212555{n % 10000:04d}"


@dataclass
class Burst:
    """Posts `delivery.created` events at `rate`/s to the services, round robin."""

    urls: list[str]
    tag: str
    accepted: dict[str, float] = field(default_factory=dict)  # message id -> when
    refused: int = 0
    posted: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)

    async def run(
        self, session: aiohttp.ClientSession, count: int, rate: float, first: int = 0
    ) -> None:
        start = time.monotonic()

        async def one(n: int) -> None:
            await asyncio.sleep(max(0.0, start + (n - first) / rate - time.monotonic()))
            event = f.delivery_created(f"{self.tag}-{n}", phone=phone(n))
            url = self.urls[n % len(self.urls)]
            self.posted += 1
            try:
                async with session.post(
                    f"{url}/v1/events", json=event,
                    headers={"Authorization": f"Bearer {API_KEY}"},
                    timeout=aiohttp.ClientTimeout(total=60),
                ) as resp:  # fmt: skip
                    self.statuses[resp.status] += 1
                    if resp.status == 202:
                        body: dict[str, Any] = await resp.json()
                        for message_id in body.get("messages", []):
                            self.accepted[str(message_id)] = time.monotonic()
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.refused += 1

        await asyncio.gather(*(one(n) for n in range(first, first + count)))


async def until(check: Any, timeout: float, step: float = 0.1) -> bool:
    """Wait until `check()` is true; False at the timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


@dataclass
class Outcome:
    """What a scenario cost, as the benchmark prints it."""

    name: str
    accepted: int
    sent: int
    lost: int
    duplicated: int
    recover_s: float
    note: str = ""


def outcome(name: str, burst: Burst, twilio: Twilio, recover_s: float, note: str = "") -> Outcome:
    counts = twilio.accepted()
    sent = sum(1 for m in burst.accepted if counts[m] >= 1)
    duplicated = sum(1 for m in burst.accepted if counts[m] > 1)
    return Outcome(name, len(burst.accepted), sent, len(burst.accepted) - sent, duplicated,
                   recover_s, note)  # fmt: skip


class Watch:
    """/readyz polled every 0.1 s in the background: (when, status) pairs."""

    def __init__(self, service: Service, session: aiohttp.ClientSession) -> None:
        self.samples: list[tuple[float, int]] = []
        self._task = asyncio.create_task(self._run(service, session))

    async def _run(self, service: Service, session: aiohttp.ClientSession) -> None:
        while True:
            self.samples.append((time.monotonic(), await service.ready(session)))
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
