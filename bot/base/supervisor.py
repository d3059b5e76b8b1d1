"""Every background loop runs here: it survives any error, and its health is visible.

Why: a loop that dies takes its work with it silently (the outbox senders once died on
a 6-second Redis restart and 377 of 450 messages waited until the processes were
restarted, while /readyz stayed green). Under the supervisor an error of any kind
(redis-py's connection, timeout, read-only or cluster errors, a bug) is logged once
with the loop's name, the loop waits a jittered, growing backoff and runs again;
`/readyz` fails while a loop is dead or has not ticked for `stale_after` of its
intervals, and `/metrics` shows `doorstep_worker_up{loop}` and restarts.

A loop is either a job run every `interval` seconds (`every`), or a long-running body
(`forever`) that calls its `tick` at least every `interval` seconds to show it is
alive (a sender ticks between reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.base.logs import log
from bot.base.metrics import Metrics

Tick = Callable[[], None]
Job = Callable[[], Awaitable[object]]
Body = Callable[[Tick], Awaitable[None]]

BACKOFF_BASE = 0.2
# At most this long between tries: a loop resumes within a few seconds of Redis
# coming back, however long it was away (a 10 s cap once left senders idle up to 10 s).
BACKOFF_CAP = 3.0


@dataclass
class LoopState:
    name: str
    interval: float
    last_tick: float = field(default_factory=time.monotonic)
    restarts: int = 0
    running: bool = False
    last_error: str | None = None
    task: asyncio.Task[None] | None = None

    def tick(self) -> None:
        self.last_tick = time.monotonic()


@dataclass
class Supervisor:
    """Owns the process's background loops; `stop` ends them gracefully."""

    metrics: Metrics
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # A loop that has not ticked for this many of its intervals (and 5 s at least)
    # counts as stalled.
    stale_after: float = 3.0
    loops: dict[str, LoopState] = field(default_factory=dict)

    def every(self, name: str, interval: float, job: Job) -> None:
        """Run `job()` every `interval` seconds until stopping."""

        async def body(tick: Tick) -> None:
            while not self.stopping.is_set():
                await job()
                tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), interval)

        self.forever(name, interval, body)

    def forever(self, name: str, interval: float, body: Body) -> None:
        """Run `body(tick)`; it returns only when stopping, and ticks at least every
        `interval` seconds."""
        if name in self.loops:
            raise ValueError(f"a loop named {name!r} already runs")
        state = LoopState(name, interval)
        self.loops[name] = state
        state.task = asyncio.create_task(self._run(state, body), name=f"loop:{name}")

    async def _run(self, state: LoopState, body: Body) -> None:
        failures = 0
        up = self.metrics.worker_up.labels(state.name)
        while not self.stopping.is_set():
            state.running = True
            state.tick()
            up.set(1)
            try:
                await body(state.tick)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                state.restarts += 1
                error = f"{type(exc).__name__}: {exc}"
                self.metrics.worker_restarts.labels(state.name).inc()
                # Once per kind of error in a row, with its traceback; repeats are counted.
                if error != state.last_error:
                    log.exception("worker.failed", loop=state.name, error=error)
                else:
                    log.warning("worker.failed_again", loop=state.name, failures=failures)
                state.last_error = error
                up.set(0)
                state.running = False
                delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(failures - 1, 10))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), random.uniform(delay / 2, delay))
            else:
                state.last_error = None
        state.running = False
        up.set(0)

    def unhealthy(self) -> dict[str, str]:
        """Loops that are down or stalled, with why; empty when all is well."""
        now = time.monotonic()
        bad: dict[str, str] = {}
        for state in self.loops.values():
            if self.stopping.is_set():
                break
            if state.task is not None and state.task.done():
                bad[state.name] = "ended"
            elif not state.running:
                bad[state.name] = f"restarting after {state.last_error}"
            elif now - state.last_tick > max(self.stale_after * state.interval, 5.0):
                bad[state.name] = f"no tick for {now - state.last_tick:.0f} s"
        return bad

    async def stop(self, grace: float = 15.0) -> None:
        """Stop taking new work, let each loop finish what it holds, then cancel."""
        self.stopping.set()
        tasks = [s.task for s in self.loops.values() if s.task is not None]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
