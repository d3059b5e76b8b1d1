"""Real Redis topologies for the tests: standalone, Sentinel and Cluster, from redis-server.

Each is started from the installed `redis-server` / `redis-cli` on free ports in a
temporary folder, and torn down at the end: a Cluster of 3 masters with a replica
each (`redis-cli --cluster create`), and a Sentinel set-up of a master, a replica and
three sentinels watching it. Failover tests kill their masters for real.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.devrun import free_port, redis_answers

MASTER = "doorstep"


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """kill -9: the server dies mid-whatever it was doing."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, both under 65536."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        if all(_free(p) for p in (port, port + 10000)):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_server(folder: Path, *args: str, port: int | None = None) -> Server:
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--logfile", str(folder / "redis.log"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = Server(port, process, folder)
    wait_until(lambda: redis_answers(server.url), f"redis-server on {port}")
    return server


def wait_until(check: object, what: str, timeout: float = 30.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


def cli(port: int, *args: str, timeout: float = 60.0) -> str:
    result = subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return result.stdout


@dataclass
class Cluster:
    servers: list[Server] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.servers[0].port}"

    def masters(self) -> list[Server]:
        found = []
        for server in self.servers:
            if server.process.poll() is None and "role:master" in cli(
                server.port, "info", "replication"
            ):
                found.append(server)
        return found

    def healthy(self) -> bool:
        """Slots served, and every replica holding its master's data: a master killed
        before its replica's first sync has no replica to fail over to (seen: the test
        then forced a takeover by an empty replica and the data was gone)."""
        alive = [s for s in self.servers if s.process.poll() is None]
        if not alive or "cluster_state:ok" not in cli(alive[0].port, "cluster", "info"):
            return False
        for server in alive:
            info = cli(server.port, "info", "replication")
            if "role:slave" in info and "master_link_status:up" not in info:
                return False
        return True

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@contextmanager
def cluster(nodes: int = 6) -> Iterator[Cluster]:
    """3 masters and 3 replicas; replicas take over within ~2 s of a master's death."""
    root = Path(tempfile.mkdtemp(prefix="doorstep-cluster-"))
    found = Cluster()
    try:
        for n in range(nodes):
            found.servers.append(
                start_server(
                    root / f"node{n}",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "1500",
                    # A replica's first sync starts at once, not 5 s later (Redis 7's default).
                    "--repl-diskless-sync-delay", "0",
                    "--appendonly", "yes",
                    "--save", "",
                    port=cluster_port(),
                )
            )  # fmt: skip
        addresses = [f"127.0.0.1:{s.port}" for s in found.servers]
        cli(
            found.servers[0].port,
            "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes",
        )  # fmt: skip
        wait_until(found.healthy, "the cluster")
        yield found
    finally:
        found.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class SentinelSet:
    master: Server
    replica: Server
    sentinels: list[Server]

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple(("127.0.0.1", s.port) for s in self.sentinels)

    def current_master(self) -> int:
        out = cli(self.sentinels[0].port, "sentinel", "get-master-addr-by-name", MASTER)
        return int(out.split()[1])

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            server.stop()


@contextmanager
def sentinel_set() -> Iterator[SentinelSet]:
    """A master, a replica and three sentinels (quorum 2, down after 1 s)."""
    root = Path(tempfile.mkdtemp(prefix="doorstep-sentinel-"))
    servers: list[Server] = []
    try:
        master = start_server(root / "master", "--appendonly", "yes", "--save", "")
        servers.append(master)
        replica = start_server(
            root / "replica", "--appendonly", "yes", "--save", "",
            "--replicaof", "127.0.0.1", str(master.port),
        )  # fmt: skip
        servers.append(replica)
        sentinels = []
        for n in range(3):
            folder = root / f"sentinel{n}"
            folder.mkdir()
            conf = folder / "sentinel.conf"
            conf.write_text(
                f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            port = free_port()
            process = subprocess.Popen(
                ["redis-server", str(conf), "--sentinel", "--port", str(port),
                 "--bind", "127.0.0.1", "--dir", str(folder),
                 "--logfile", str(folder / "sentinel.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            sentinel = Server(port, process, folder)
            servers.append(sentinel)
            wait_until(lambda s=sentinel: redis_answers(s.url), "a sentinel")
            sentinels.append(sentinel)
        found = SentinelSet(master, replica, sentinels)
        wait_until(
            lambda: "master_link_status:up" in cli(replica.port, "info", "replication"),
            "replication",
        )
        yield found
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
