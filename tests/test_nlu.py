"""The NLU model through the real Rasa server, the client's failure handling, and replies."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from bot.app import create_app
from bot.config import Settings
from bot.nlu.model import RasaServer, model_path
from bot.services import SERVICES
from integrations.rasa import CircuitBreaker, NLUUnavailable, RasaClient
from tests import factories as f
from tests.conftest import start_client
from tests.helpers import eventually, post_event

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def nlu(rasa: RasaServer) -> AsyncIterator[RasaClient]:
    client = RasaClient(aiohttp.ClientSession(), rasa.url, rasa.token, timeout_s=10)
    yield client
    await client.close()


@pytest.mark.parametrize(
    ("text", "intent", "entity", "value"),
    [
        ("hey when is my parcel getting here?", "ask_eta", None, None),
        ("could you come tomorrow after 6 instead", "reschedule", "time", "tomorrow after 6"),
        ("pls leave it behind the blue bin", "set_safe_place", "place", "behind the blue bin"),
        ("the gate code is 5512", "delivery_instructions", "access_code", "5512"),
        ("I need to return the desk chair", "request_return_pickup", None, None),
        ("nobody will be home this afternoon", "not_home", None, None),
        ("please stop texting me", "opt_out", None, None),
        ("4 stars, friendly driver", "rate_delivery", "rating", "4"),
        ("the box is crushed and the glass is broken", "report_damaged", None, None),
        ("app says delivered but nothing is here", "report_missing", None, None),
        ("can I speak to a real person", "talk_to_human", None, None),
        # Spans as the contract marks them (nlu/doorstep_nlu/spans.py), synonyms mapped.
        ("leave it on the back porch", "set_safe_place", "place", "back porch"),
        ("you can leave it with the doorman", "set_safe_place", "place", "with the doorman"),
        ("five stars, great driver", "rate_delivery", "rating", "5"),
        ("could you deliver on friday instead", "reschedule", "time", "friday"),
        (
            "please send it to 14 Oak Avenue, Leeds LS6 2AB",
            "change_address",
            "address",
            "14 Oak Avenue, Leeds LS6 2AB",
        ),
        ("I'm at work all day, nobody's home", "not_home", None, None),
        # A negated safe place is a note for the driver; refusing is cancelling.
        ("pls dont leave it with the people next door", "delivery_instructions", None, None),
        ("just return it to the sender, we don't want it", "cancel_delivery", None, None),
        # Short words of other languages, none of them in the training examples: the
        # lookups (nlu/data/lookups.yml) carry them.
        ("vielen dank!", "thank", None, None),
        ("kiitos", "thank", None, None),
        ("guten tag", "greet", None, None),
        ("tschüss", "thank", None, None),
        ("ouais", "affirm", None, None),
    ],
)
async def test_the_model_reads_typical_replies(
    nlu: RasaClient, text: str, intent: str, entity: str | None, value: str | None
) -> None:
    result = await nlu.parse(text)
    assert result.intent == intent, (text, result.intent, result.ranking[:3])
    if entity is not None:
        found = result.first(entity)
        assert found is not None and found.value == value, result.entities


def test_the_trained_model_carries_the_fine_tuned_encoder(rasa: RasaServer) -> None:
    """The encoder the server runs is the one fine-tuned on our intents, stored with the
    model as an ONNX graph (a silently skipped fine-tune would say 0 epochs here)."""
    with tarfile.open(model_path()) as archive:
        members = {Path(m.name).name: m for m in archive.getmembers()}
        info_file = archive.extractfile(members["encoder.json"])
        assert info_file is not None
        info = json.loads(info_file.read())
        graph_size = members["encoder.onnx"].size
    configured = yaml.safe_load((ROOT / "nlu" / "config.yml").read_text())["pipeline"]
    (encoder,) = [c for c in configured if c["name"].endswith("SentenceEmbeddingFeaturizer")]
    assert encoder["fine_tune_epochs"] >= 1
    assert info["fine_tune_epochs"] == encoder["fine_tune_epochs"]
    # 18 intents start at ln(18) = 2.9; a fine-tune that learned ends far below.
    assert info["final_loss"] < 1.0
    # all-MiniLM-L6-v2: 22.7 M float32 parameters.
    assert 80_000_000 < graph_size < 100_000_000


async def test_parse_command_prints_intent_entities_and_window(rasa: RasaServer) -> None:
    env = {**os.environ, "RASA_URL": rasa.url, "RASA_TOKEN": rasa.token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "parse",
        "can you come tomorrow after 5 instead",
        "--at",
        "2026-11-24T09:00:00-05:00",
        "--tz",
        "America/New_York",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    body = json.loads(out)
    assert body["intent"] == "reschedule"
    assert body["time_window"] == {
        "start": "2026-11-25T17:00:00-05:00",
        "end": "2026-11-25T21:00:00-05:00",
    }


def test_parse_command_without_nlu_says_so() -> None:
    env = {**os.environ, "RASA_URL": "http://127.0.0.1:9/", "RASA_TOKEN": "x"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "parse", "hello"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "NLU unavailable" in proc.stderr


async def test_a_reply_is_parsed_and_its_reading_kept_in_the_transcript(
    redis: Redis, settings: Settings, rasa: RasaServer
) -> None:
    app = create_app(dataclasses.replace(settings, nlu_url=rasa.url, nlu_token=rasa.token))
    client = await start_client(app)
    try:
        services = client.app[SERVICES]
        await post_event(client, f.delivery_created("d1"))
        ready = await (await client.get("/readyz")).json()
        assert ready["checks"]["nlu"] == "ok"
        sandbox = services.sandbox
        assert sandbox is not None
        resp = await client.post(
            "/sandbox/api/phones/+12125550142/messages",
            json={"text": "can you come friday morning instead"},
            headers={"X-Sandbox-Token": sandbox.token},
        )
        assert resp.status == 202

        async def nlu_entries() -> list[dict[str, object]]:
            raw = await services.store.transcript("demo", "d1")
            return [e for e in map(json.loads, raw) if e["dir"] == "nlu"]

        (entry,) = await eventually(nlu_entries, lambda x: len(x) == 1, timeout=10)
        assert entry["intent"] == "reschedule"
        window = entry["time_window"]
        assert isinstance(window, dict) and window["start"].endswith("T08:00:00-05:00")
        # Understood: the bot acts on it itself, no person is needed.
        assert not await redis.exists(services.keys.handoff("demo/d1"))
    finally:
        await client.close()


async def test_when_nlu_is_down_the_reply_is_kept_and_a_person_takes_over(
    redis: Redis, settings: Settings
) -> None:
    down = dataclasses.replace(settings, nlu_url="http://127.0.0.1:9", nlu_token="x")
    client = await start_client(create_app(down))
    try:
        services = client.app[SERVICES]
        await post_event(client, f.delivery_created("d1"))
        ready = await (await client.get("/readyz")).json()
        assert ready["checks"]["nlu"] == "unreachable"
        sandbox = services.sandbox
        assert sandbox is not None
        await client.post(
            "/sandbox/api/phones/+12125550142/messages",
            json={"text": "where is it??"},
            headers={"X-Sandbox-Token": sandbox.token},
        )
        feed = await eventually(
            lambda: sandbox.feed("+12125550142"), lambda x: len(x) == 3, timeout=10
        )
        assert "A member of our team will reply within about" in feed[2]["text"]
        assert await redis.hget(services.keys.handoff("demo/d1"), "reason") == "nlu_unavailable"
        said = [
            json.loads(e)["text"]
            for e in await services.store.transcript("demo", "d1")
            if json.loads(e)["dir"] == "in"
        ]
        assert said == ["where is it??"]
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def fake_rasa(
    handler: Callable[[web.Request], Awaitable[web.Response]], **options: Any
) -> AsyncIterator[RasaClient]:
    """A RasaClient talking to a local server whose /model/parse is `handler`."""
    app = web.Application()
    app.router.add_post("/model/parse", handler)
    server = TestServer(app)
    await server.start_server()
    client = RasaClient(aiohttp.ClientSession(), str(server.make_url("/")), "t", **options)
    try:
        yield client
    finally:
        await client.close()
        await server.close()


def parsed(intent: str, confidence: float) -> web.Response:
    return web.json_response(
        {"intent": {"name": intent, "confidence": confidence}, "entities": [], "intent_ranking": []}
    )


async def test_a_burst_of_replies_waits_its_turn_instead_of_timing_out() -> None:
    """Fifty replies at once to a server that parses one at a time (20 ms each): with a
    0.3 s timeout they would all time out inside the server; queued in the client, each
    is parsed and the circuit stays closed."""
    busy = {"now": 0, "most": 0}
    lock = asyncio.Lock()  # the server parses one message at a time, like Rasa on a core

    async def parse(request: web.Request) -> web.Response:
        busy["now"] += 1
        busy["most"] = max(busy["most"], busy["now"])
        try:
            async with lock:
                await asyncio.sleep(0.02)
        finally:
            busy["now"] -= 1
        return parsed("thank", 0.9)

    async with fake_rasa(parse, timeout_s=0.3, max_in_flight=2) as client:
        results = await asyncio.gather(*(client.parse(f"thanks {n}") for n in range(50)))
        assert [r.intent for r in results] == ["thank"] * 50
        assert busy["most"] <= 2 and client.breaker.state == "closed"


async def test_client_retries_transient_errors_then_opens_the_circuit() -> None:
    calls = {"n": 0}

    async def flaky(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return web.Response(status=503)
        return parsed("greet", 0.97)

    async with fake_rasa(flaky, retries=2) as client:
        result = await client.parse("hi")
        assert result.intent == "greet" and calls["n"] == 3
        calls["n"] = -100  # from now on: always 503
        breaker = client.breaker
        for _ in range(breaker.threshold):
            with pytest.raises(NLUUnavailable):
                await client.parse("hi")
        before = calls["n"]
        with pytest.raises(NLUUnavailable, match="circuit is open"):
            await client.parse("hi")
        assert calls["n"] == before  # no request while the circuit is open


def test_circuit_breaker_lets_one_trial_through_after_the_pause() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_s=10, _clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 11
    assert breaker.state == "half-open" and breaker.allow()
    breaker.failure()  # the trial failed: open again for another pause
    assert not breaker.allow()
    now[0] = 22
    breaker.success()
    assert breaker.state == "closed"


async def test_parses_spread_over_several_servers_and_fail_over_when_one_stops() -> None:
    """RASA_URL with two servers: a burst is shared between them; when one stops
    answering, every parse is still answered (by the other), and once its circuit is
    open the stopped one is not tried again."""
    calls = {"a": 0, "b": 0}

    def server(name: str) -> web.Application:
        lock = asyncio.Lock()  # each parses one message at a time, like Rasa on a core

        async def parse(request: web.Request) -> web.Response:
            calls[name] += 1
            async with lock:
                await asyncio.sleep(0.01)
            return parsed(name, 0.9)

        app = web.Application()
        app.router.add_post("/model/parse", parse)
        return app

    a, b = TestServer(server("a")), TestServer(server("b"))
    await a.start_server()
    await b.start_server()
    urls = f"{a.make_url('/')},{b.make_url('/')}"
    client = RasaClient(aiohttp.ClientSession(), urls, "t", max_in_flight=1, timeout_s=1)
    try:
        results = await asyncio.gather(*(client.parse(f"hi {n}") for n in range(20)))
        assert {r.intent for r in results} == {"a", "b"}
        assert calls["a"] >= 5 and calls["b"] >= 5
        await b.close()  # the second server goes away
        before_a = calls["a"]
        results = [await client.parse(f"hi again {n}") for n in range(12)]
        assert [r.intent for r in results] == ["a"] * 12
        assert calls["a"] == before_a + 12
    finally:
        await client.close()
        await a.close()
