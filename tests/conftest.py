"""Test setup: a throwaway real Redis per session, flushed per test; apps on real sockets."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bot.app import create_app
from bot.base.logs import configure_logging
from bot.base.redisconn import close, connect
from bot.config import Settings
from bot.devrun import private_redis, redis_answers
from bot.nlu.model import (
    NLUBuildError,
    RasaServer,
    model_path,
    rasa_binary,
    start_server,
    wait_ready,
)
from bot.services import SERVICES, Services
from tests.redis_servers import Cluster, SentinelSet, cluster, sentinel_set

configure_logging("info", json=True)


def rasa_missing() -> str | None:
    """Why no Rasa server can start here (no `rasa` to run, no trained model), or None."""
    model = model_path()
    try:
        rasa_binary()
    except NLUBuildError as exc:
        return str(exc)
    return None if model.exists() else f"no trained model at {model}"


def require_rasa(missing: str | None) -> None:
    """Skip the test when Rasa is not available (`missing` says why); fail it instead
    under DOORSTEP_REQUIRE_RASA, which `make test` sets after training the model."""
    if missing:
        if os.environ.get("DOORSTEP_REQUIRE_RASA"):
            pytest.fail(f"Rasa is required: {missing}")
        pytest.skip(f"Rasa not available: {missing}")


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
    restarted = False  # started once more after it exited

    @classmethod
    def start(cls) -> None:
        cls.missing = rasa_missing()
        if cls.missing is None:
            log = Path(tempfile.gettempdir()) / "doorstep-test-rasa.log"
            cls.server = start_server(model_path(), log_path=log)

    @classmethod
    def wait(cls) -> None:
        if cls.server is None or cls.error:
            return
        if cls.ready and cls.server.process.poll() is None:
            return
        try:
            wait_ready(cls.server, timeout_s=float(os.environ.get("DOORSTEP_RASA_WAIT", "600")))
            cls.ready = True
        except NLUBuildError as exc:
            # A server that exited (a test's process killer, the machine's OOM killer)
            # is started once more; the first failure is kept and printed either way.
            print(f"\nthe session's Rasa server failed: {exc}", file=sys.stderr, flush=True)
            if cls.restarted or cls.server.process.poll() is None:
                cls.error = str(exc)
                return
            cls.restarted = True
            cls.ready = False
            cls.server.stop()
            cls.start()
            cls.wait()


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
    require_rasa(_Rasa.missing)
    _Rasa.wait()
    if _Rasa.error or _Rasa.server is None:
        pytest.fail(f"the Rasa server did not start: {_Rasa.error}")
    return _Rasa.server


TOPOLOGIES = ("standalone", "sentinel", "cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked `all_topologies` runs each of its Redis tests on a standalone
    server, on Sentinel and on Cluster."""
    if "topology" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "all_topologies"
    ):
        metafunc.parametrize("topology", TOPOLOGIES, indirect=True)


@pytest.fixture
def topology(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "standalone"))


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A real Redis Cluster (3 masters, 3 replicas), started once per session."""
    with cluster() as found:
        yield found


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSet]:
    """A real Sentinel set-up (master, replica, 3 sentinels), started once per session."""
    with sentinel_set() as found:
        yield found


@pytest.fixture
def redis_topology(
    request: pytest.FixtureRequest, topology: str, redis_url: str
) -> dict[str, object]:
    """The Settings fields that point at the chosen topology's servers."""
    if topology == "cluster":
        found: Cluster = request.getfixturevalue("redis_cluster")
        return {"redis_url": found.url, "redis_cluster": True}
    if topology == "sentinel":
        sentinels: SentinelSet = request.getfixturevalue("redis_sentinel")
        return {"redis_url": redis_url, "redis_sentinels": sentinels.addresses}
    return {"redis_url": redis_url}


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client of the test's topology (our own factory), the data flushed first."""
    client = connect(settings.redis, max_connections=8)
    await client.flushall()
    yield client
    await close(client)


@pytest.fixture
def settings(redis_topology: dict[str, object]) -> Settings:
    return Settings(
        public_base_url="http://127.0.0.1:8080",
        demo=True,
        sandbox=True,
        workers=2,
        outbox_shards=4,
        scheduler_interval=0.05,
        outbox_backoff_base=0.05,
        outbox_backoff_cap=0.2,
        outbox_reclaim_idle=30,
        outbox_block_ms=50,
        allow_clock_control=True,
        log_json=True,
        **redis_topology,  # type: ignore[arg-type]
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
