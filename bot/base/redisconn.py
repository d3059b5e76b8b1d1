"""One Redis client factory: standalone, Sentinel or Cluster, chosen by configuration.

The service, the CLI, the media store, the workers and the tests all get their clients
here, so a deployment moves from one Redis to Sentinel or Cluster by its environment
alone (README "Operations: Redis topologies"):

- standalone: `REDIS_URL` (`redis://` or `rediss://`);
- Sentinel: `REDIS_SENTINELS=host:port,...` and `REDIS_SENTINEL_MASTER`, through
  redis-py's `Sentinel.master_for`: every connection asks the sentinels where the
  master is, and a connection that meets a demoted master (`READONLY`) is dropped and
  re-resolved, so a failover costs a few failed commands, not a restart;
- Cluster: `REDIS_CLUSTER=true` or a `redis+cluster://` URL naming any node, through
  redis-py's `RedisCluster`, which follows `MOVED`/`ASK` and refreshes its slot map.

Every multi-key transaction or script of ours touches one hash slot (`keys`), so the
same code runs on all three.

Our code annotates its client as `redis.asyncio.Redis`; a `RedisCluster` answers the
same commands (pipelines, scripts, pub/sub) and is handed over as one (`as_redis`).
Blocking reads (the outbox senders' `XREADGROUP BLOCK`) get their own client
(`purpose="blocking"`) with a socket timeout longer than the block, so neither a busy
event loop nor a slow network makes a healthy read time out, and they never take a
connection the request handlers need.
"""

from __future__ import annotations

import ssl as _ssl
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlparse

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Topology = Literal["standalone", "sentinel", "cluster"]
Purpose = Literal["commands", "blocking"]


class RedisConfigError(ValueError):
    """A Redis setting is malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """Where Redis is and how to reach it (built by `bot.config.Settings`)."""

    url: str = "redis://127.0.0.1:6379/0"
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "doorstep"
    sentinel_password: str | None = None
    password: str | None = None
    tls: bool = False
    cluster: bool = False
    max_connections: int = 64
    # How long a command may wait for a free pooled connection before failing.
    pool_timeout: float = 10.0
    socket_timeout: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        if self.cluster or self.url.startswith("redis+cluster://"):
            return "cluster"
        return "sentinel" if self.sentinels else "standalone"


def parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    """'h1:26379,h2:26379' -> ((h1, 26379), (h2, 26379)); RedisConfigError otherwise."""
    found = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit():
            raise RedisConfigError(f"REDIS_SENTINELS: {part!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def _retry() -> Retry:
    # A command that meets a dropped connection (a restart, a failover) is tried again
    # a few times with jittered backoff before the caller sees the error.
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3)


def _common(config: RedisConfig, purpose: Purpose, block_s: float) -> dict[str, Any]:
    # A blocking read may legitimately wait `block_s`: its socket waits longer.
    timeout = config.socket_timeout + (block_s if purpose == "blocking" else 0.0)
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": 5.0,
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": _retry(),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
    }


class _SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel-managed pool that waits (bounded) for a free connection at its cap,
    as the standalone pool does, instead of failing the request."""


def connect(
    config: RedisConfig,
    *,
    purpose: Purpose = "commands",
    decode: bool = True,
    max_connections: int | None = None,
    block_s: float = 0.0,
) -> Redis:
    """A new client for `config`'s topology; the caller closes it (`close`)."""
    size = max_connections or config.max_connections
    common = _common(config, purpose, block_s)
    if config.topology == "cluster":
        url = config.url.replace("redis+cluster://", "redis://", 1)
        parsed = urlparse(url)
        nodes = [
            ClusterNode(host, int(port or 6379))
            for host, _, port in (
                n.rpartition(":") for n in (parsed.netloc.split("@")[-1]).split(",")
            )
        ]
        cluster = RedisCluster(
            startup_nodes=nodes,
            password=config.password or parsed.password,
            ssl=config.tls or parsed.scheme == "rediss",
            decode_responses=decode,
            max_connections=size,
            require_full_coverage=True,
            **common,
        )
        return as_redis(cluster)
    if config.topology == "sentinel":
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(config.sentinels),
            sentinel_kwargs={
                "password": config.sentinel_password,
                "socket_timeout": 2.0,
                "socket_connect_timeout": 2.0,
                **({"ssl": True} if config.tls else {}),
            },
            password=config.password,
            decode_responses=decode,
            **({"ssl": True, "ssl_cert_reqs": _ssl.CERT_REQUIRED} if config.tls else {}),
            **common,
        )
        return cast(
            Redis,
            sentinel.master_for(
                config.sentinel_master,
                redis_class=Redis,
                connection_pool_class=_SentinelBlockingPool,
                max_connections=size,
                timeout=config.pool_timeout,
                check_connection=True,
            ),
        )
    pool = BlockingConnectionPool.from_url(
        config.url,
        max_connections=size,
        timeout=config.pool_timeout,
        decode_responses=decode,
        password=config.password,
        **common,
    )
    return Redis(connection_pool=pool)


def as_redis(client: RedisCluster) -> Redis:
    """The cluster client under the type our code annotates (same commands)."""
    return cast(Redis, client)


def is_cluster(client: Redis) -> bool:
    return isinstance(client, RedisCluster)


async def close(client: Redis) -> None:
    """Close a client and its connections, whatever its topology."""
    if isinstance(client, RedisCluster):
        await client.aclose()
        return
    await client.aclose()
    pool = client.connection_pool
    await pool.disconnect()
    if isinstance(pool, SentinelConnectionPool):  # its own clients of the sentinels
        for sentinel in pool.sentinel_manager.sentinels:
            await sentinel.aclose()


async def writes_to(client: Redis, config: RedisConfig) -> str:
    """The node(s) this client writes to now, for /readyz: host:port of the master
    (standalone, Sentinel), or the cluster's masters."""
    if isinstance(client, RedisCluster):
        masters = sorted(f"{n.host}:{n.port}" for n in client.get_primaries())
        return ",".join(masters)
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        host, port = await pool.get_master_address()  # type: ignore[no-untyped-call]
        return f"{host}:{port}"
    kwargs = pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
