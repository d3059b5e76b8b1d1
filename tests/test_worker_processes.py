"""The service's worker processes (template checks, route solves) end with it.

A test run that was killed once left 529 template-check workers behind (22 GB): the
next process the machine started, a model's training, was killed for memory. These
tests look at the real processes in /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.services import SERVICES
from tests.conftest import start_client
from tests.test_brand_templates import admin, save

ROOT = Path(__file__).resolve().parent.parent


def pool_workers_of(pid: int) -> set[int]:
    """A process's pool workers (read from /proc, as `ps` does): its children that
    run `spawn_main`, not its resource tracker."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def left_after(pids: set[int], seconds: float) -> set[int]:
    """Those of `pids` still running after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


async def test_a_stopped_service_leaves_no_template_check_processes(
    redis: Redis, settings: Settings
) -> None:
    before = pool_workers_of(os.getpid())
    client = await start_client(create_app(settings))
    try:
        headers = await admin(client, client.app[SERVICES])
        resp = await save(client, headers, "Hi {{ name }}, it comes {{ window }}")
        assert resp.status == 201, await resp.text()
        workers = pool_workers_of(os.getpid()) - before
        assert workers, "the check ran in no process of its own"
    finally:
        await client.close()
    assert await asyncio.to_thread(left_after, workers, 10.0) == set()


CHECKER = """
import asyncio
from bot.base.brands import BrandSettings
from bot.messaging.brand_templates import CheckPool

async def main():
    pool = CheckPool()
    brand = BrandSettings(brand_id="b", display_name="B")
    await pool.run("check", brand, "delivery_scheduled", "Hi {{ name }}")
    print("ready", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_killed_service_takes_its_worker_processes_with_it() -> None:
    """SIGKILL, as the OOM killer sends: the workers go within seconds, not never."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHECKER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        workers = pool_workers_of(proc.pid)
        assert workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert left_after(workers, 10.0) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
