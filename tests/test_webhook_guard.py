"""A brand's webhook cannot be aimed inside the deployment: deliveries to loopback,
private and link-local addresses are refused (by literal address and by every
address a name resolves to) unless the operator allows the network; redirects are
not followed. The webhook channel posts over a real socket to a real receiver."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from integrations.base import ChannelSendError, OutboundMessage
from integrations.egress import EgressGuard, parse_allow
from integrations.webhook import WebhookChannel


async def _secret(_brand_id: str) -> str:
    return "s3cret"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, list[str]]]:
    """A webhook receiver on 127.0.0.1: what reached it, by path."""
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/moved":
            raise web.HTTPTemporaryRedirect("/hook")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, hits
    await server.close()


async def send(guard: EgressGuard, url: str) -> None:
    channel = WebhookChannel(_secret, guard, timeout_s=5.0)
    await channel.start()
    try:
        message = OutboundMessage(
            message_id="m1", channel="webhook", to=url, text="{}", brand_id="demo"
        )
        await channel.send(message)
    finally:
        await channel.stop()


async def refused(guard: EgressGuard, url: str) -> ChannelSendError:
    with pytest.raises(ChannelSendError) as caught:
        await send(guard, url)
    assert not caught.value.retryable
    assert "refused" in str(caught.value)
    return caught.value


@pytest.mark.parametrize("path", ["http://127.0.0.1:{port}/hook", "https://localhost:{port}/hook"])
async def test_loopback_is_refused_outside_demo_mode(
    receiver: tuple[TestServer, list[str]], path: str
) -> None:
    server, hits = receiver
    await refused(EgressGuard(demo=False), path.format(port=server.port))
    assert hits == []


async def test_a_name_resolving_to_an_inside_address_is_refused(
    receiver: tuple[TestServer, list[str]],
) -> None:
    """This machine's own host name: every address it resolves to is checked."""
    server, hits = receiver
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip("the host name does not resolve here")
    if all(ipaddress.ip_address(a).is_global for a in addresses):
        pytest.skip("the host name resolves to a public address here")
    error = await refused(EgressGuard(demo=False), f"https://{name}:{server.port}/hook")
    assert "private, loopback or link-local" in str(error)
    assert hits == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ],
)
async def test_inside_addresses_and_other_schemes_are_refused(url: str) -> None:
    await refused(EgressGuard(demo=False), url)


async def test_demo_mode_delivers_to_loopback_over_http(
    receiver: tuple[TestServer, list[str]],
) -> None:
    server, hits = receiver
    await send(EgressGuard(demo=True), f"http://127.0.0.1:{server.port}/hook")
    assert hits == ["/hook"]


async def test_an_operator_allowed_network_gets_through_the_guard(
    receiver: tuple[TestServer, list[str]],
) -> None:
    """127.0.0.0/8 allowed: the https connection is attempted (this receiver speaks
    plain HTTP, so it fails as unreachable, and will be retried), not refused."""
    server, _ = receiver
    guard = EgressGuard(allow=parse_allow("127.0.0.0/8, fd00::/8"), demo=False)
    with pytest.raises(ChannelSendError) as caught:
        await send(guard, f"https://127.0.0.1:{server.port}/hook")
    assert caught.value.retryable and "refused" not in str(caught.value)


async def test_a_redirect_is_not_followed(receiver: tuple[TestServer, list[str]]) -> None:
    server, hits = receiver
    with pytest.raises(ChannelSendError) as caught:
        await send(EgressGuard(demo=True), f"http://127.0.0.1:{server.port}/moved")
    assert not caught.value.retryable and "redirected" in str(caught.value)
    assert hits == ["/moved"]


def test_a_bad_allow_list_entry_is_named() -> None:
    with pytest.raises(ValueError, match="DOORSTEP_WEBHOOK_ALLOW"):
        parse_allow("10.0.0.0/8,not-a-network")
