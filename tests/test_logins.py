"""Logins, accounts and API tokens through the real HTTP server (issue 18, "Logins"):
throttling per account and per address, 409 on an existing account, expiring and
revocable tokens, the websocket's Origin check and the metrics token."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from datetime import timedelta

import aiohttp
import pytest

from bot.app import create_app
from bot.config import Settings
from bot.services import Services
from tests.conftest import start_client
from tests.helpers import Client, redis_env
from tests.test_agents import PASSWORD, add_agent, agent_session


async def attempt(
    client: Client, username: str, password: str, **headers: str
) -> aiohttp.ClientResponse:
    return await client.post(
        "/console/login",
        data={"brand": "demo", "username": username, "password": password},
        headers=headers,
        allow_redirects=False,
    )


@pytest.mark.timeout(240)  # each wrong password costs an argon2 check
async def test_wrong_passwords_delay_then_lock_an_account_until_an_admin_clears_it(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await add_agent(services, "demo", "boss", role="admin")
    for _ in range(5):  # five free mistakes
        resp = await attempt(client, "sam", "wrong-password!")
        assert resp.headers["Location"] == "/console?error=login"
    # The sixth try waits a second: refused unchecked, even with the right password.
    resp = await attempt(client, "sam", PASSWORD)
    assert resp.status == 429 and (await resp.json())["error"] == "throttled"
    assert resp.headers["Retry-After"] == "1"
    delays = []
    for _ in range(5):  # each further mistake doubles the wait, the tenth locks
        await services.clock.advance(timedelta(seconds=61))
        resp = await attempt(client, "sam", "wrong-password!")
        assert resp.status == 302
        refused = await attempt(client, "sam", PASSWORD)
        assert refused.status == 429
        delays.append(int(refused.headers["Retry-After"]))
    assert delays[:4] == [2, 4, 8, 16] and delays[4] > 800, delays
    assert (await refused.json())["error"] == "locked"
    # A browser is sent back to the login box, which says how long to wait.
    resp = await attempt(client, "sam", PASSWORD, Accept="text/html")
    assert resp.headers["Location"].startswith("/console?error=throttled&retry=")
    # The admin sees the lock in the console's API and in /metrics, and clears it.
    headers = await agent_session(client, "demo", "boss")
    listed = await (await client.get("/console/api/admin/logins")).json()
    assert [(t["username"], t["how"], t["failures"]) for t in listed["throttled"]] == [
        ("sam", "locked", 10)
    ]
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_login_locks_total{kind="account"} 1.0' in metrics
    assert 'doorstep_login_refused_total{how="locked",kind="account"}' in metrics
    resp = await client.delete("/console/api/admin/logins/sam", headers=headers)
    assert resp.status == 200
    resp = await attempt(client, "sam", PASSWORD)
    assert resp.headers["Location"] == "/console"


@pytest.mark.timeout(240)  # each wrong password costs an argon2 check
async def test_one_address_guessing_many_accounts_is_throttled(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    for n in range(20):
        resp = await attempt(client, f"nobody{n}", "wrong-password!")
        assert resp.status == 302
    resp = await attempt(client, "sam", PASSWORD)
    assert resp.status == 429
    assert "address" in (await resp.json())["detail"]
    metrics = await (await client.get("/metrics")).text()
    assert 'doorstep_login_failures_total{kind="address"} 20.0' in metrics


async def test_logins_do_not_hold_up_the_event_loop(client: Client, services: Services) -> None:
    """argon2 runs in threads: /healthz answers while a burst of logins is checked."""
    await add_agent(services, "demo", "sam")
    logins = [asyncio.create_task(attempt(client, "sam", "wrong-password!")) for _ in range(4)]
    await asyncio.sleep(0.05)
    assert (await client.get("/healthz")).status == 200
    assert not all(t.done() for t in logins)  # on the loop, they would all be done first
    await asyncio.gather(*logins)


async def test_creating_an_existing_account_is_a_409_and_changes_nothing(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "boss", role="admin")
    await add_agent(services, "demo", "coadmin", role="admin")
    headers = await agent_session(client, "demo", "boss")
    taken = {"username": "coadmin", "name": "Mallory", "password": "a-new-password-1"}
    resp = await client.post("/console/api/agents", json=taken, headers=headers)
    assert resp.status == 409 and (await resp.json())["fields"][0]["field"] == "username"
    assert (await attempt(client, "coadmin", "a-new-password-1")).status == 302
    assert await services.accounts.check_password("demo", "coadmin", PASSWORD) is not None
    agent = await services.accounts.get("demo", "coadmin")
    assert agent is not None and agent.name == "Coadmin"


async def test_api_tokens_expire_and_an_admin_lists_and_revokes_them(
    client: Client, services: Services
) -> None:
    boss = await add_agent(services, "demo", "boss", role="admin")
    headers = await agent_session(client, "demo", "boss")
    resp = await client.post("/console/api/tokens", json={"expires_in_days": 0}, headers=headers)
    assert resp.status == 400 and (await resp.json())["fields"][0]["field"] == "expires_in_days"
    resp = await client.post("/console/api/tokens", json={"expires_in_days": 7}, headers=headers)
    assert resp.status == 201
    made = await resp.json()
    assert abs(made["expires_at"] - (time.time() + 7 * 86400)) < 60
    listed = (await (await client.get("/console/api/tokens")).json())["tokens"]
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0]
    bearer = {"Authorization": f"Bearer {made['token']}"}
    async with aiohttp.ClientSession() as outside:  # no cookie: the token alone
        url = client.make_url("/console/api/me")
        async with outside.get(url, headers=bearer) as me:
            assert me.status == 200
        resp = await client.delete(f"/console/api/tokens/{made['id']}", headers=headers)
        assert resp.status == 200
        async with outside.get(url, headers=bearer) as me:
            assert me.status == 401
        # A token past its lifetime stops working by itself.
        short = await services.accounts.new_token(boss, ttl_s=1)
        async with outside.get(url, headers={"Authorization": f"Bearer {short}"}) as me:
            assert me.status == 200
        await asyncio.sleep(1.5)
        async with outside.get(url, headers={"Authorization": f"Bearer {short}"}) as me:
            assert me.status == 401
    assert (await (await client.get("/console/api/tokens")).json())["tokens"] == []


async def test_the_console_websocket_refuses_another_sites_origin(
    client: Client, services: Services
) -> None:
    await add_agent(services, "demo", "sam")
    await agent_session(client, "demo", "sam")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/console/ws", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    own = services.settings.public_base_url
    ws = await client.ws_connect("/console/ws", headers={"Origin": own})
    await ws.close()


async def test_metrics_can_require_a_bearer_token(redis: object, settings: Settings) -> None:
    client = await start_client(create_app(dataclasses.replace(settings, metrics_token="m-tok")))
    try:
        assert (await client.get("/metrics")).status == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.get("/metrics", headers=wrong)).status == 401
        resp = await client.get("/metrics", headers={"Authorization": "Bearer m-tok"})
        assert resp.status == 200 and "doorstep_http_request_seconds" in await resp.text()
    finally:
        await client.close()


async def test_the_cli_creates_lists_and_revokes_tokens(
    client: Client, services: Services, settings: Settings
) -> None:
    await add_agent(services, "demo", "boss", role="admin")
    env = {**os.environ, **redis_env(settings), "DOORSTEP_SANDBOX": "false"}
    env["DOORSTEP_AGENT_PASSWORD"] = "a-long-password-1"

    def doorstep(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bot.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    made = await asyncio.to_thread(doorstep, "token-create", "demo", "boss", "--days", "3")
    assert made.returncode == 0, made.stderr
    token_id = next(t.id for t in await services.accounts.tokens("demo"))
    listed = await asyncio.to_thread(doorstep, "token-list", "demo")
    assert token_id in listed.stdout and "dsa_" not in listed.stdout
    revoked = await asyncio.to_thread(doorstep, "token-revoke", "demo", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert await services.accounts.tokens("demo") == []
    again = await asyncio.to_thread(doorstep, "agent-create", "demo", "boss", "--name", "B")
    assert again.returncode == 2 and "exists" in again.stderr


def test_the_token_commands_default_lifetime_is_the_stores() -> None:
    """`doorstep token-create` states its default without importing the store (the CLI
    imports only what a command runs); it must say what the store does."""
    from bot.agents.accounts import TOKEN_TTL_S
    from bot.agents.tokens_cli import DEFAULT_DAYS

    assert DEFAULT_DAYS * 86400 == TOKEN_TTL_S
