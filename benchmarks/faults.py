"""Benchmark: what each fault costs, against real Redis, real `doorstep serve`
processes and a fake Twilio (the scenarios of tests/test_faults.py, without asserts).

    python benchmarks/faults.py [--only redis_kill,stall]

Prints per scenario: messages accepted (202), sent (at the provider, by our message
id), lost, sent more than once, and the seconds to recover (what that means is
printed beside it). Redis runs append-only with fsync always; the services use
DOORSTEP_OUTBOX_RECLAIM_IDLE=3 and a 0.2-1 s retry backoff (tests/faultkit.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.base.logs import configure_logging  # noqa: E402
from tests import fault_scenarios as sc  # noqa: E402

Scenario = tuple[str, Callable[[], Awaitable[sc.Run]], str]

SCENARIOS: list[Scenario] = [
    ("redis_kill", sc.redis_kill, "Redis back -> first send"),
    ("redis_kill_everysec", lambda: sc.redis_kill(fsync="everysec"), "Redis back -> first send"),
    ("storm_500", lambda: sc.provider_storm(500), "storm over -> first send"),
    ("storm_429", lambda: sc.provider_storm(429, retry_after=2), "storm over -> first send"),
    ("replica_kill", sc.replica_kill, "kill -> dead replica's backlog sent"),
    ("sigterm", sc.sigterm, "restarted -> backlog sent"),
    ("stall", sc.stall, "SIGCONT -> first send"),
    ("slow_provider", sc.slow_provider, "burst -> all sent"),
    (
        "slow_timeout",
        lambda: sc.slow_provider(
            settle_s=8, DOORSTEP_SEND_TIMEOUT="2", DOORSTEP_OUTBOX_UNKNOWN_WAIT="5"
        ),
        "burst -> all sent",
    ),
    (
        "slow_timeout_callbacks",
        lambda: sc.slow_provider(
            callbacks=True, settle_s=8, DOORSTEP_SEND_TIMEOUT="2", DOORSTEP_OUTBOX_UNKNOWN_WAIT="5"
        ),
        "burst -> all sent",
    ),
    ("replies", sc.replies_across_redis_kill, "Redis back -> first answer"),
]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def main(only: set[str]) -> None:
    print(f"fault benchmark: {os.cpu_count()} cores; {uptime()}", flush=True)
    header = f"{'scenario':<44} {'accepted':>8} {'sent':>6} {'lost':>5} {'dup':>5} {'recover s':>9}"
    print(header)
    for key, scenario, meaning in SCENARIOS:
        if only and key not in only:
            continue
        run = await scenario()
        o = run.outcome
        extra = (
            f"  ({meaning}; worker restarts {run.restarts:g})"
            if run.restarts
            else (f"  ({meaning})")
        )
        if o.note == "replies":
            extra += "  [replies: answered or queued; dup = handled twice]"
        print(
            f"{o.name:<44} {o.accepted:>8} {o.sent:>6} {o.lost:>5} {o.duplicated:>5} "
            f"{o.recover_s:>9.2f}{extra}",
            flush=True,
        )
    print(f"done; {uptime()}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated scenario keys")
    args = parser.parse_args()
    configure_logging("warning", json=True)
    asyncio.run(main({k for k in args.only.split(",") if k}))
