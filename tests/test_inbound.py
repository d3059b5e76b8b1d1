"""Customer replies: verified, kept, handled once and in order, keywords honoured."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.replies.inbound import Reply
from bot.services import SERVICES, Services
from integrations.base import InboundMessage
from tests import factories as f
from tests.conftest import start_client
from tests.helpers import Client, eventually, post_event

# Every test here runs on standalone Redis, on Sentinel and on Cluster.
pytestmark = pytest.mark.all_topologies

PHONE = "+12125550142"


async def reply(client: Client, text: str, phone: str = PHONE, token: str | None = None) -> int:
    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    resp = await client.post(
        f"/sandbox/api/phones/{phone}/messages",
        json={"text": text},
        headers={"X-Sandbox-Token": sandbox.token if token is None else token},
    )
    return resp.status


async def phone_texts(client: Client, phone: str = PHONE) -> list[str]:
    sandbox = client.app[SERVICES].sandbox
    assert sandbox is not None
    return [str(e["text"]) for e in await sandbox.feed(phone) if e["dir"] == "out"]


async def customer_said(services: Services, delivery_id: str = "d1") -> list[str]:
    entries = [json.loads(e) for e in await services.store.transcript("demo", delivery_id)]
    return [e["text"] for e in entries if e["dir"] == "in"]


async def _delivery(client: Client) -> None:
    await post_event(client, f.delivery_created("d1"))
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)


async def test_reply_without_the_sandbox_token_is_403_and_ignored(
    client: Client, services: Services
) -> None:
    await _delivery(client)
    assert await reply(client, "hello", token="forged") == 403
    await asyncio.sleep(0.05)
    assert await customer_said(services) == []


async def test_reply_with_no_nlu_goes_to_a_person_and_the_customer_is_told_once(
    client: Client, services: Services, redis: Redis
) -> None:
    await _delivery(client)
    assert await reply(client, "can you come after 5?") == 202
    assert await reply(client, "hello??") == 202
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert texts[1] == (
        "Thanks, we got your message. A member of our team will reply within about 15 minutes."
    )
    assert await redis.zrange(services.keys.agent_queue("demo"), 0, -1) == ["demo/d1"]
    assert await customer_said(services) == ["can you come after 5?", "hello??"]
    await asyncio.sleep(0.1)
    assert len(await phone_texts(client)) == 2


async def test_stop_confirms_once_then_silence_until_start(
    client: Client, services: Services
) -> None:
    await _delivery(client)
    await reply(client, "STOP")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert "won't get any more messages from Parcelly" in texts[1]
    await reply(client, "stop")
    _, body = await post_event(client, f.route_dispatched(["d1"]))
    blocked = await eventually(
        lambda: services.outbox.get(body["messages"][0]),
        lambda m: m is not None and m["status"] == "failed",
    )
    assert blocked is not None and blocked["error"] == "recipient opted out"
    assert len(await phone_texts(client)) == 2

    await reply(client, "Start")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 3)
    assert "receive delivery updates from Parcelly again" in texts[2]


async def test_other_ctia_keywords_opt_out_too(client: Client) -> None:
    await _delivery(client)
    await reply(client, "unsubscribe")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert "Reply START" in texts[1]


async def test_help_answers_with_the_brands_help_text(client: Client) -> None:
    await _delivery(client)
    await reply(client, "HELP")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert texts[1].startswith("Parcelly: Text us about your delivery any time.")


async def test_spanish_and_french_keywords_opt_out_and_are_answered_in_their_language(
    client: Client, services: Services
) -> None:
    # An English-speaking customer who texts ARRÊT (Canada's French STOP) gets French.
    await _delivery(client)
    await reply(client, "Arrêt")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert "Vous ne recevrez plus de messages de Parcelly" in texts[1]
    assert await services.redis.exists(services.keys.optout("demo", "sandbox", PHONE))
    # Opted out, "ALTA" opts a Spanish speaker back in, in Spanish.
    await reply(client, "alta")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 3)
    assert "Volverás a recibir avisos de entrega de Parcelly" in texts[2]
    assert not await services.redis.exists(services.keys.optout("demo", "sandbox", PHONE))


async def test_english_keywords_are_answered_in_the_customers_language(client: Client) -> None:
    await post_event(client, f.delivery_created("d1", locale="es", phone=PHONE))
    await eventually(lambda: phone_texts(client), lambda x: len(x) == 1)
    await reply(client, "STOP")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert texts[1].startswith("No recibirás más mensajes de Parcelly")
    await reply(client, "BAJA")  # already out: no second confirmation
    await asyncio.sleep(0.2)
    assert len(await phone_texts(client)) == 2


async def test_help_in_spanish_and_french(client: Client) -> None:
    await _delivery(client)
    await reply(client, "AYUDA")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert texts[1].startswith("Parcelly: Text us about your delivery any time.")
    assert texts[1].endswith("Responde BAJA o STOP para dejar de recibir mensajes.")
    await reply(client, "aide")
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 3)
    assert texts[2].endswith("Répondez ARRÊT ou STOP pour ne plus recevoir de messages.")


async def test_a_provider_message_id_is_processed_once(client: Client, services: Services) -> None:
    await _delivery(client)
    message = InboundMessage("sandbox", PHONE, "hi", "SM-same", datetime.now(UTC))
    assert await services.inbound.receive(message) is True
    assert await services.inbound.receive(message) is False
    assert await customer_said(services) == ["hi"]


async def test_unknown_sender_is_not_an_error(client: Client, services: Services) -> None:
    message = InboundMessage("sandbox", "+12125550999", "hi", "SM-x", datetime.now(UTC))
    assert await services.inbound.receive(message) is False


async def test_one_conversation_in_order_across_replicas_others_in_parallel(
    redis: Redis, settings: Settings
) -> None:
    a = await start_client(create_app(settings))
    b = await start_client(create_app(settings))
    try:
        await post_event(a, f.delivery_created("d1"))
        await post_event(a, f.delivery_created("d2", locale="es"))
        seen: list[str] = []
        active: dict[str, int] = {}
        overlaps: list[str] = []
        release = asyncio.Event()

        async def slow_handler(r: Reply) -> None:
            active[r.conversation] = active.get(r.conversation, 0) + 1
            if active[r.conversation] > 1:
                overlaps.append(r.conversation)
            seen.append(f"{r.delivery.delivery_id}:{r.text}")
            if r.text == "1":
                await release.wait()
            active[r.conversation] -= 1

        for app in (a, b):
            app.app[SERVICES].inbound.handler = slow_handler
        first = asyncio.create_task(reply(a, "1"))
        await eventually(lambda: _value(seen), lambda s: s == ["d1:1"])
        for n, client in zip(range(2, 6), (b, a, b, a), strict=True):
            assert await reply(client, str(n)) == 202
        # The other conversation is not held up by d1's slow message.
        assert await reply(b, "hola", phone="+34612345678") == 202
        await eventually(lambda: _value(seen), lambda s: s == ["d1:1", "d2:hola"])
        release.set()
        await first
        await eventually(lambda: _value(seen), lambda s: len(s) == 6)
        assert [s for s in seen if s.startswith("d1")] == [f"d1:{n}" for n in range(1, 6)]
        assert overlaps == []
    finally:
        await a.close()
        await b.close()


async def _value(x: list[str]) -> list[str]:
    return list(x)


async def test_reply_left_by_a_crashed_process_is_handled_by_the_sweeper(
    client: Client, services: Services, redis: Redis
) -> None:
    await _delivery(client)
    # What a process leaves behind if it dies after storing a reply, before handling it.
    entry = {
        "dir": "in",
        "text": "are you coming?",
        "media": [],
        "at": 1.0,
        "provider_id": "SM-orphan",
        "channel": "sandbox",
        "sender": PHONE,
    }
    await redis.rpush(services.keys.inbox("demo/d1"), json.dumps(entry))
    await redis.zadd(
        services.keys.pending_inboxes(services.keys.inbox_shard("demo/d1")), {"demo/d1": 1.0}
    )
    handled: list[str] = []
    real = services.inbound.handler

    async def recording(reply_: Reply) -> None:
        handled.append(reply_.text)
        await real(reply_)

    services.inbound.handler = recording
    assert await services.inbound.sweep() == 1
    assert handled == ["are you coming?"]
    assert await redis.llen(services.keys.inbox("demo/d1")) == 0


async def test_a_reply_that_keeps_failing_goes_to_a_person_and_does_not_block_the_next(
    client: Client, services: Services, redis: Redis
) -> None:
    await _delivery(client)
    real = services.inbound.handler
    calls: list[str] = []

    async def broken(reply_: Reply) -> None:
        calls.append(reply_.text)
        if reply_.text == "poison":
            raise RuntimeError("a bug in handling this reply")
        await real(reply_)

    services.inbound.handler = broken
    inbox = services.keys.inbox("demo/d1")
    assert await reply(client, "poison") == 202  # accepted and kept, whatever happens next
    await eventually(lambda: _value(calls), lambda c: c == ["poison"])  # handled after the 202
    await services.inbound.settle(5)
    assert await redis.llen(inbox) == 1
    await services.inbound.sweep(older_than=0)
    assert await redis.llen(inbox) == 1  # tried again, still failing: still kept
    await services.inbound.sweep(older_than=0)  # the third failure: a person takes it
    assert await redis.llen(inbox) == 0
    assert await redis.hget(services.keys.handoff("demo/d1"), "reason") == "bot_error"
    assert calls == ["poison"] * 3
    texts = await eventually(lambda: phone_texts(client), lambda x: len(x) == 2)
    assert "A member of our team will reply" in texts[-1]
    assert await reply(client, "are you there?") == 202
    # the next reply was taken in and handled, not stuck behind
    await eventually(lambda: redis.llen(inbox), lambda n: n == 0)
    assert (await customer_said(services))[-1] == "are you there?"
