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
from redis.exceptions import ClusterDownError, ClusterError, ReadOnlyError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Topology = Literal["standalone", "sentinel", "cluster"]
Purpose = Literal["commands", "blocking"]


# Redis is away for a moment (a restart, a Sentinel or Cluster failover: connection
# refused, no master yet, a demoted master, slots moving): the same command succeeds in
# a few seconds. (MasterNotFoundError and MaxConnectionsError are ConnectionErrors.)
TRANSIENT: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    ClusterDownError,
    TryAgainError,
    ClusterError,
)


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
    # Replicas that must have an event's writes before it is answered; None: 1 under
    # Sentinel (its one replica is what a failover promotes), else 0. See `acks`.
    ack_replicas: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        if self.cluster or self.url.startswith("redis+cluster://"):
            return "cluster"
        return "sentinel" if self.sentinels else "standalone"


@dataclass(frozen=True, slots=True)
class Acks:
    """`WAIT replicas timeout_ms` after a step of writes, on the connection that made them.

    Replication is asynchronous: a master killed a moment after it answered a write
    may not have passed it on, and the promoted replica never saw it. Measured in
    `tests/test_failover.py` on a loaded machine: an event's messages written, the
    master killed, its state then written on the new master; the event answered 202
    with its message gone. With WAIT in the same pipeline a master that dies first
    fails the pipeline (a connection error), which is retried whole on the new master
    (every step is idempotent). A WAIT that times out (the replica is away) lets the
    write stand: the master has it, and refusing every event while a replica resyncs
    would be worse. Not on Cluster: a cluster pipeline cannot carry WAIT to each of
    the masters it wrote to (README "Redis topologies" says what that costs)."""

    replicas: int = 0
    timeout_ms: int = 1000


def acks(config: RedisConfig) -> Acks:
    if config.topology == "cluster":
        return Acks(0)
    wanted = config.ack_replicas
    if wanted is None:
        wanted = 1 if config.topology == "sentinel" else 0
    return Acks(max(0, wanted))


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


class _Cluster(RedisCluster):
    """`RedisCluster` whose re-initialisation after a failover spares other tasks'
    connections.

    redis-py calls `aclose()` to refresh its slot map after `CLUSTER DOWN` or a failed
    pipeline; that disconnects every connection of every node, including those other
    tasks are using at that moment, and their commands then fail with errors no retry
    covers (`RuntimeError: ... the handler is closed` under uvloop, `AttributeError:
    'NoneType' object has no attribute 'writelines'`): seen in `tests/test_failover.py`
    as 500s and crashed loops for seconds after a master was killed. Here a refresh
    only marks the map stale and the connections for reconnection after their current
    command (redis-py's own lazy disconnection); `close_for_good()` closes for real."""

    _shutting_down = False

    async def aclose(self) -> None:
        if self._shutting_down:
            await super().aclose()
            return
        self._initialize = True
        for node in list(self.nodes_manager.nodes_cache.values()):
            node.update_active_connections_for_reconnect()
            await node.disconnect_free_connections()

    async def _determine_slot(self, command: str, *args: Any) -> int:
        # redis-py asks its default node (COMMAND GETKEYS) where the keys of XREADGROUP
        # and XGROUP are, outside its failover handling: with that node killed, every
        # sender failed with "connection refused" for minutes (`tests/test_failover.py`,
        # `benchmarks/scale.py`). Their keys are found here instead.
        name = command.upper()
        words = [str(a.decode() if isinstance(a, bytes) else a).upper() for a in args]
        if name == "XREADGROUP" and "STREAMS" in words:
            return self.keyslot(args[words.index("STREAMS") + 1])
        if name == "XGROUP" and len(args) > 1:
            return self.keyslot(args[1])
        slot: int = await super()._determine_slot(command, *args)
        return slot

    async def close_for_good(self) -> None:
        self._shutting_down = True
        await super().aclose()


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
        cluster = _Cluster(
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
    if isinstance(client, _Cluster):
        await client.close_for_good()
        return
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
