"""The one load harness that the load benchmarks and the failover tests share.

`benchmarks/perf.py`, `notify.py`, `abuse.py`, `reply.py`, `perf_replies.py`,
`tracking.py` and `tests/failover_kit.py` (with it `tests/test_failover.py` and
`benchmarks/scale.py`) all put load on real Doorstep processes. They each carried a
copy of the same pieces, and the copies had begun to drift (one wait for readiness
raised, another carried on after 10 s regardless; one private Redis kept its data in
the checkout's `.data/`). Here is the one copy: the `delivery.created` event the load
posts, the customers' phone numbers, the percentile and the CPU time of a process,
the fake Twilio API that notes when each message arrived, a child process serving
HTTP (`doorstep serve` or another) and the wait until it is ready, a private
redis-server, and the brand the load is posted for. What differs between them is a
parameter. The benchmarks import from here (`tests/` imports nothing of
`benchmarks/`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from bot import devrun
from bot.base.brands import BrandSettings, BrandStore
from bot.base.keys import Keys
from tests.fake_providers import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
# The fake Twilio account (tests/fake_providers.py checks these on its media too).
TWILIO_SID = "AC123"
TWILIO_TOKEN = "secret"
# US area codes: with 10 000 numbers each, a distinct number for each n below 160 000.
AREAS = (212, 646, 718, 917, 347, 929, 332, 201, 551, 973, 415, 510, 650, 408, 312, 773)


# --- the load --------------------------------------------------------------------
def phone(n: int, areas: Sequence[int] = AREAS) -> str:
    """Customer n's valid US number: distinct for each n below 10 000 * len(areas), the
    numbering wrapping after that (`areas=(212,)`: +1212555 and `n % 10000`)."""
    return f"+1{areas[(n // 10000) % len(areas)]}555{n % 10000:04d}"


def delivery_event(
    delivery_id: str,
    customer_phone: str,
    *,
    event_id: str | None = None,
    order_id: str | None = None,
    timezone: str = "America/New_York",
    address: dict[str, Any] | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """A `delivery.created` event as the load posts it: one customer (Pat Doe, English),
    by default in New York with the promised window from this time tomorrow for four
    hours. The event's and the order's ids are the delivery's unless given."""
    if window is None:
        start = datetime.now(UTC) + timedelta(days=1)
        window = (start, start + timedelta(hours=4))
    return {
        "id": event_id or delivery_id,
        "type": "delivery.created",
        "data": {
            "delivery_id": delivery_id,
            "order_id": order_id or delivery_id,
            "customer": {
                "name": "Pat Doe",
                "phone": customer_phone,
                "locale": "en",
                "timezone": timezone,
            },
            "address": address or {"line1": "1 Main St", "lat": 40.7, "lon": -73.9},
            "promised_window": {"start": window[0].isoformat(), "end": window[1].isoformat()},
        },
    }


async def seed_brand(
    redis: Redis,
    brand_id: str,
    api_key: str,
    *,
    display_name: str,
    channels: Sequence[str] = ("sms",),
    keys: Keys | None = None,
) -> None:
    """A clean database (FLUSHALL) holding one brand, without quiet hours (the load is
    sent whatever the hour), and its API key."""
    await redis.flushall()
    brands = BrandStore(redis, keys or Keys())
    await brands.save(
        BrandSettings(
            brand_id=brand_id, display_name=display_name, channels=list(channels),
            quiet_hours=None,
        )
    )  # fmt: skip
    await brands.add_api_key(brand_id, api_key)


# --- measures --------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) of `values`, nearest rank; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class TimedTwilio(FakeTwilio):
    """The tests' fake Twilio Messages API, noting when each message arrived.

    Each request it keeps gets `at` (monotonic clock). `GET /_arrivals` hands over, and
    forgets, each message's (recipient, wall-clock time of arrival, the body's start)
    since the last call: for a fake in a process of its own (benchmarks/perf.py), which
    with `keep_requests=False` keeps no requests, its memory flat over a long run.
    """

    keep_requests: bool = True
    arrivals: list[tuple[str, float, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/_arrivals", self.take_arrivals)
        return app

    async def create(self, request: web.Request) -> web.Response:
        arrived, at = time.time(), time.monotonic()
        response = await super().create(request)
        if self.keep_requests:
            self.requests[-1]["at"] = at
        else:
            self.requests.clear()
        form = await request.post()
        self.arrivals.append((str(form.get("To", "")), arrived, str(form.get("Body", ""))[:90]))
        return response

    async def take_arrivals(self, _request: web.Request) -> web.Response:
        taken, self.arrivals = self.arrivals, []
        return web.json_response(taken)


# --- processes -------------------------------------------------------------------
@dataclass
class Child:
    """A process of the harness's own serving HTTP on `port` (a Doorstep, the bare
    reference, a fake provider), its stdout and stderr in `log`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, chars: int = 3000) -> str:
        """The end of its log: why it exited, most often."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def terminate(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> None:
        """Signal it (SIGTERM: a Doorstep finishes what it is doing and exits) and wait;
        SIGKILL after `timeout` s."""
        self.terminate(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(
    args: Sequence[str], port: int, log: Path | str, env: dict[str, str] | None = None
) -> Child:
    """`args` as a child in the checkout's root, serving on `port`; the caller stops it."""
    log = Path(log)
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(args), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    return Child(process, port, log)


def start_doorstep(
    env: dict[str, str],
    log: Path | str,
    *,
    port: int | None = None,
    python_args: Sequence[str] = (),
) -> Child:
    """This checkout's `doorstep serve` as a child on `port` (a free one by default),
    with `env` over this process's environment (`doorstep_env`). `python_args` go
    between the interpreter and `-m bot.cli` (a profiler's, say)."""
    port = port or devrun.free_port()
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **env,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    return start([sys.executable, *python_args, "-m", "bot.cli", "serve"], port, log, full)


def doorstep_env(redis: dict[str, str], twilio_url: str) -> dict[str, str]:
    """The settings of a Doorstep under load: a real deployment's (no sandbox, no demo
    brand) on the Redis of `redis` (REDIS_URL, or a topology's variables), sending
    through the real twilio library to the fake Twilio API at `twilio_url`."""
    return {
        **redis,
        "DOORSTEP_SANDBOX": "false",
        "DOORSTEP_DEMO": "false",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_URL": twilio_url,
    }


async def wait_ready(
    session: aiohttp.ClientSession, child: Child, timeout: float = 120, path: str = "/readyz"
) -> None:
    """Until `child` answers 200 at `path`. An error, with the end of its log, when it
    exits first or has not after `timeout` s (on a loaded 2-core machine importing
    Doorstep alone takes tens of seconds)."""
    deadline = time.monotonic() + timeout
    url = f"{child.base}{path}"
    while True:
        if child.process.poll() is not None:
            code = child.process.returncode
            raise RuntimeError(f"{child.log.name} exited ({code}):\n{child.tail()}")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status == 200:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready after {timeout:.0f} s:\n{child.tail()}")
        await asyncio.sleep(0.1)


@contextmanager
def private_redis(*, aof: bool = False) -> Iterator[str]:
    """A redis-server of the harness's own on a free port; yields its URL.

    With `aof`, it keeps an append-only file fsynced every second (as a deployment
    keeps its data), in a temporary folder removed afterwards; without, nothing."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is needed (install Redis)")
    if not aof:
        with devrun.private_redis(binary) as url:
            yield url
        return
    with (
        tempfile.TemporaryDirectory(prefix="doorstep-load-redis-") as folder,
        devrun.private_redis(binary, data_dir=Path(folder)) as url,
    ):
        yield url
