"""Faults with real processes: Redis kill -9, provider storms, a replica SIGKILLed,
SIGTERM, a 6-second freeze, a slow provider, replies across a Redis kill.

Each test starts a private redis-server (append-only, fsync always), real `doorstep
serve` subprocesses and a fake Twilio on a real socket (tests/faultkit.py), breaks
something for real (tests/fault_scenarios.py) and checks what a customer would see:
every accepted message reaches the provider, duplicates only inside the README's
at-least-once window (a send the provider accepted just before the fault, whose
acknowledgement never reached Redis), and sending resumes by itself.
Select them with `-m faults`.
"""

from __future__ import annotations

import pytest

from tests import fault_scenarios as sc

pytestmark = [
    pytest.mark.faults,
    pytest.mark.timeout(240),
    # The fake Twilio's server-side sockets of a SIGKILLed client, closed by the runner.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def assert_nothing_lost(run: sc.Run) -> None:
    o = run.outcome
    assert o.accepted > 0
    assert o.lost == 0, f"{o.lost} of {o.accepted} accepted messages were never sent"


async def test_redis_kill_mid_burst_loses_nothing_and_senders_resume() -> None:
    run = await sc.redis_kill()
    assert_nothing_lost(run)
    killed, back = run.marks["kill"], run.marks["back"]
    # Only sends in flight when Redis died may go out again.
    outside = {m: t for m, t in run.duplicates_first.items() if not killed - 1.0 <= t <= back}
    assert not outside, f"sent twice outside the at-least-once window: {outside}"
    assert run.outcome.recover_s < 10.0, "the senders did not resume within 10 s"
    down = [s for t, s in run.readyz if killed + 0.5 < t < back]
    assert down and all(s != 200 for s in down), "/readyz stayed green while Redis was down"
    assert run.readyz[-1][1] == 200, "/readyz did not turn green again"
    statuses: dict[int, int] = run.extra["statuses"]  # type: ignore[assignment]
    assert 500 not in statuses, f"events got 500 while Redis was down: {statuses}"


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (429, 2)])
async def test_a_provider_storm_delays_but_loses_nothing(
    status: int, retry_after: int | None
) -> None:
    run = await sc.provider_storm(status, retry_after)
    assert_nothing_lost(run)
    assert run.outcome.duplicated == 0
    gaps: list[float] = run.extra["retry_gaps"]  # type: ignore[assignment]
    assert gaps, "the storm hit no message"
    if retry_after:
        assert min(gaps) >= retry_after - 0.05, "a retry came before the provider's Retry-After"


async def test_sigkill_of_one_replica_mid_send_the_other_finishes() -> None:
    run = await sc.replica_kill()
    assert_nothing_lost(run)
    killed = run.marks["kill"]
    late = {m: t for m, t in run.duplicates_first.items() if t > killed + 0.05}
    assert not late, f"sent twice though first sent after the kill: {late}"
    # Reclaimed after DOORSTEP_OUTBOX_RECLAIM_IDLE (3 s here) plus a reclaimer round.
    assert run.outcome.recover_s < 10.0


async def test_sigterm_mid_burst_stops_gracefully_and_loses_nothing() -> None:
    run = await sc.sigterm()
    assert run.extra["exit_code"] == 0
    # Requests drain (up to 20 s), then the loops' batches and replies in hand (15 s each).
    assert run.marks["exited"] - run.marks["term"] < 50.0
    assert_nothing_lost(run)
    assert run.outcome.duplicated == 0


async def test_a_six_second_freeze_of_the_process_and_senders_recover() -> None:
    run = await sc.stall()
    assert_nothing_lost(run)
    assert run.outcome.duplicated == 0
    assert run.outcome.recover_s < 10.0


async def test_a_slow_provider_is_not_sent_twice() -> None:
    # 3 s answers, 240 messages at once: each waits for a connection, not for a timeout.
    run = await sc.slow_provider()
    assert_nothing_lost(run)
    assert run.outcome.duplicated == 0, f"{run.outcome.duplicated} of 240 sent twice"


async def test_every_reply_across_a_redis_kill_is_answered_or_queued_once() -> None:
    run = await sc.replies_across_redis_kill()
    answers: dict[int, dict[str, int]] = run.extra["answers"]  # type: ignore[assignment]
    queued: set[int] = run.extra["queued"]  # type: ignore[assignment]
    handled: dict[int, int] = run.extra["handled"]  # type: ignore[assignment]
    for n in range(run.outcome.accepted):
        assert handled[n] == 1, f"reply {n} taken in {handled[n]} times"
        if n % 2 == 0:
            assert answers.get(n, {}).get("help") == 1, f"HELP {n}: {answers.get(n)}"
        else:
            assert n in queued, f"reply {n} is neither answered nor waiting for a person"
            assert answers.get(n, {}).get("reply_received") == 1, answers.get(n)
