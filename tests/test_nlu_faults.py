"""The NLU server killed while replies arrive (issue 16's "Rasa killed" scenario).

A Rasa server of its own (the session's is shared by other tests), on the trained
model, is SIGKILLed in the middle of a run of customer replies. Every reply must get
exactly one answer: the bot's, when its parse finished, or a person's hand-off
("A member of our team will reply..."), with the reply kept in the agent queue.
None is lost and none is answered twice.
"""

from __future__ import annotations

import dataclasses
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.nlu.model import RasaServer, model_path, start_server, wait_ready
from bot.services import SERVICES
from tests import factories as f
from tests.conftest import rasa_missing, require_rasa, start_client
from tests.helpers import eventually, post_event

pytestmark = pytest.mark.faults

REPLIES = 8
KILL_AFTER = 3


@pytest.fixture
def own_rasa() -> Iterator[RasaServer]:
    """A Rasa server of this test's own, to kill (a missing model or Rasa skips the
    test, or fails it under `make test`, as the session's server does)."""
    require_rasa(rasa_missing())
    log = Path(tempfile.gettempdir()) / "doorstep-test-rasa-killed.log"
    server = start_server(model_path(), log_path=log)
    try:
        wait_ready(server, timeout_s=600)
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(300)
async def test_rasa_killed_while_replies_arrive_each_gets_one_answer(
    redis: Redis, settings: Settings, own_rasa: RasaServer
) -> None:
    app = create_app(dataclasses.replace(settings, nlu_url=own_rasa.url, nlu_token=own_rasa.token))
    client = await start_client(app)
    try:
        services = client.app[SERVICES]
        sandbox = services.sandbox
        assert sandbox is not None
        phones = [f"+1212555{n:04d}" for n in range(REPLIES)]
        for n, phone in enumerate(phones):
            await post_event(client, f.delivery_created(f"d{n}", phone=phone))

        async def reply(phone: str) -> None:
            resp = await client.post(
                f"/sandbox/api/phones/{phone}/messages",
                json={"text": "hi, when will my parcel arrive?"},
                headers={"X-Sandbox-Token": sandbox.token},
            )
            assert resp.status == 202

        async def answered(phone: str) -> list[dict[str, object]]:
            return await feed_of(phone, 3)

        async def feed_of(phone: str, at_least: int) -> list[dict[str, object]]:
            return await eventually(
                lambda: sandbox.feed(phone), lambda x: len(x) >= at_least, timeout=60
            )

        for phone in phones:  # the "scheduled" message reached each phone
            await feed_of(phone, 1)

        for phone in phones[:KILL_AFTER]:  # while the server is up, the bot answers
            await reply(phone)
        for phone in phones[:KILL_AFTER]:
            await answered(phone)
        own_rasa.process.send_signal(signal.SIGKILL)
        for phone in phones[KILL_AFTER:]:
            await reply(phone)
        for n, phone in enumerate(phones):
            feed = await answered(phone)
            answers = [m for m in feed[2:] if m.get("dir") != "in"]
            held = await redis.hget(services.keys.handoff(f"demo/d{n}"), "reason")
            assert len(answers) == 1, (phone, feed)
            if n < KILL_AFTER:
                assert held is None, (phone, feed)
            else:  # a person has it, and the customer was told so
                assert held == "nlu_unavailable", (phone, feed)
                assert "A member of our team" in str(answers[0]["text"])
        # Nothing more follows (no second answer to any reply).
        for phone in phones:
            assert len(await sandbox.feed(phone)) == 3
    finally:
        await client.close()
