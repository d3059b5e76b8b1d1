"""`make run`: start what the service needs on this machine, then the service.

Uses Redis at REDIS_URL when one answers there, otherwise starts a private
`redis-server` child on a free port (and stops it on exit).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from bot.config import Settings
from bot.nlu.model import ROOT, NLUBuildError, ensure_model, start_server

# Data of `make run`'s own Redis (git-ignored).
DATA_DIR = ROOT / ".data"


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout
        ) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis(
    binary: str, port: int | None = None, data_dir: Path | None = None
) -> Iterator[str]:
    """A redis-server child on `port` (a free one by default); yields its URL.

    With `data_dir` it keeps its data there (append-only file, fsync every second), so
    a restart finds the demo and any real data again; without, it keeps nothing."""
    port = port or free_port()
    workdir = str(data_dir) if data_dir else tempfile.mkdtemp(prefix="doorstep-redis-")
    persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if data_dir else []
    proc = subprocess.Popen(  # noqa: S603 - a fixed local binary with fixed arguments
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *persistence,
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while not redis_answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def local_redis(url: str, data_dir: Path = DATA_DIR / "redis") -> Iterator[str]:
    """Yield a Redis URL that answers: `url` itself, or a child redis-server's on the
    same port, keeping its data in `data_dir` (the checkout's `.data/`, git-ignored)."""
    if redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            f"no Redis answers at {url} and redis-server is not installed; "
            "install Redis or set REDIS_URL"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    port = urlparse(url).port or 6379
    with private_redis(binary, port=port, data_dir=data_dir) as child_url:
        yield child_url


@contextmanager
def worker_process(settings: Settings, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`doorstep worker` as a child, on the same Redis and NLU (`make run-split`)."""
    env = os.environ | {
        "REDIS_URL": settings.redis_url,
        "RASA_URL": settings.nlu_url or "",
        "RASA_TOKEN": settings.nlu_token or "",
    }
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "bot.cli", "worker", "--port", str(port)], env=env
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def local_nlu(settings: Settings) -> Iterator[tuple[str | None, str | None]]:
    """Yield the NLU server's URL and token: RASA_URL's, or a `rasa run` child's.

    The child loads in the background (about 30 s); until it answers, replies go to
    a person, as whenever the NLU is down. Without Rasa installed: no NLU.
    """
    if settings.nlu_url:
        yield settings.nlu_url, settings.nlu_token
        return
    try:
        model = ensure_model()
    except NLUBuildError as exc:
        print(f"NLU off: {exc}", flush=True)
        yield None, None
        return
    server = start_server(model, log_path=Path(tempfile.gettempdir()) / "doorstep-rasa.log")
    print(f"Starting the NLU server at {server.url} (ready in about 30 s)", flush=True)
    try:
        yield server.url, server.token
    finally:
        server.stop()
