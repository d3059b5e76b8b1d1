"""Test setup: a throwaway real Redis per session, flushed per test; apps on real sockets."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.app import create_app
from bot.base.logs import configure_logging
from bot.config import Settings
from bot.devrun import free_port, private_redis, redis_answers
from bot.nlu.model import (
    NLUBuildError,
    RasaServer,
    model_path,
    rasa_binary,
    start_server,
    wait_ready,
)
from bot.services import SERVICES, Services

configure_logging("info", json=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server on a free port when the binary exists, else REDIS_URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
        if not redis_answers(url):
            pytest.exit(f"no redis-server binary and nothing answers at {url}", 2)
        yield url
        return
    with private_redis(binary) as url:
        yield url


class _Rasa:
    """The one Rasa server of a test session, started before the first test runs.

    Loading the model takes 30-70 s (more on a busy machine): longer than the per-test
    timeout. So the server starts when collection finds a test that needs it, loads
    while the tests before it run, and each test that uses it waits for it to be ready
    *before* its own timeout starts (`pytest_runtest_protocol` below). A slow machine
    is slow, not red.
    """

    server: RasaServer | None = None
    missing: str | None = None
    error: str | None = None
    ready = False

    @classmethod
    def start(cls) -> None:
        model = model_path()
        try:
            rasa_binary()
            cls.missing = None if model.exists() else f"no trained model at {model}"
        except NLUBuildError as exc:
            cls.missing = str(exc)
        if cls.missing is None:
            log = Path(tempfile.gettempdir()) / "doorstep-test-rasa.log"
            cls.server = start_server(model, free_port(), log_path=log)

    @classmethod
    def wait(cls) -> None:
        if cls.server is None or cls.ready or cls.error:
            return
        try:
            wait_ready(cls.server, timeout_s=float(os.environ.get("DOORSTEP_RASA_WAIT", "600")))
            cls.ready = True
        except NLUBuildError as exc:
            cls.error = str(exc)


def pytest_collection_finish(session: pytest.Session) -> None:
    if any("rasa" in getattr(item, "fixturenames", ()) for item in session.items):
        _Rasa.start()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Outside (before) pytest-timeout's own wrapper: the wait is not the test's time.
    if "rasa" in getattr(item, "fixturenames", ()):
        _Rasa.wait()
    yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _Rasa.server is not None:
        _Rasa.server.stop()


@pytest.fixture(scope="session")
def rasa() -> RasaServer:
    """The real Rasa server on the trained model (one per test session).

    `make test` trains the model first and sets DOORSTEP_REQUIRE_RASA, so a missing
    model is a failure there; a bare `pytest` without Rasa installed skips these tests.
    """
    if _Rasa.missing:
        if os.environ.get("DOORSTEP_REQUIRE_RASA"):
            pytest.fail(f"Rasa is required: {_Rasa.missing}")
        pytest.skip(f"Rasa not available: {_Rasa.missing}")
    _Rasa.wait()
    if _Rasa.error or _Rasa.server is None:
        pytest.fail(f"the Rasa server did not start: {_Rasa.error}")
    return _Rasa.server


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url,
        public_base_url="http://127.0.0.1:8080",
        demo=True,
        sandbox=True,
        workers=2,
        scheduler_interval=0.05,
        outbox_backoff_base=0.05,
        outbox_backoff_cap=0.2,
        outbox_reclaim_idle=30,
        outbox_block_ms=50,
        allow_clock_control=True,
        log_json=True,
    )


async def start_client(app: web.Application) -> TestClient[web.Request, web.Application]:
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(
    redis: Redis, settings: Settings
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The whole service (HTTP and workers) on a real socket, against the test Redis."""
    app = create_app(settings)
    client = await start_client(app)
    yield client
    await client.close()


@pytest.fixture
def services(client: TestClient[web.Request, web.Application]) -> Services:
    return client.app[SERVICES]
