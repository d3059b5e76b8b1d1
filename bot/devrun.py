"""`make run`: start what the service needs on this machine, then the service.

Uses Redis at REDIS_URL when one answers there, otherwise starts a private
`redis-server` child on a free port (and stops it on exit).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from bot.config import Settings
from bot.nlu.model import NLUBuildError, ensure_model, start_server


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
def private_redis(binary: str) -> Iterator[str]:
    """A throwaway redis-server on a free port that keeps nothing on disk; yields its URL."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="doorstep-redis-")
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
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not redis_answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def local_redis(url: str) -> Iterator[str]:
    """Yield a Redis URL that answers: `url` itself, or a child redis-server's."""
    if redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            f"no Redis answers at {url} and redis-server is not installed; "
            "install Redis or set REDIS_URL"
        )
    with private_redis(binary) as child_url:
        yield child_url


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
    server = start_server(
        model, free_port(), log_path=Path(tempfile.gettempdir()) / "doorstep-rasa.log"
    )
    print(f"Starting the NLU server at {server.url} (ready in about 30 s)", flush=True)
    try:
        yield server.url, server.token
    finally:
        server.stop()
