"""Where a brand's webhook may point: public addresses only, unless the operator allows more.

A brand sets its own webhook URL, and the service POSTs signed JSON to it; without a
guard, a brand could aim it at the deployment's own network (Redis, a cloud metadata
endpoint at 169.254.169.254, an admin port on 127.0.0.1). `EgressGuard` refuses a URL
that is not `https` (plain `http` only to loopback in demo mode) and any host that
resolves to a private, loopback, link-local, multicast or reserved address: every
address the name resolves to is checked, and `GuardedResolver` hands the connector
exactly the addresses it checked, so a name cannot resolve to a public address for
the check and a private one for the connection. The operator opens ranges with
`DOORSTEP_WEBHOOK_ALLOW=10.0.0.0/8,fd00::/8` (a dispatch system on the private network).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class EgressRefused(ValueError):
    """The URL or an address it resolves to is not one a webhook may go to."""


def parse_allow(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8,fd00::/8` -> networks; a bad entry is a start-up error naming it."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"DOORSTEP_WEBHOOK_ALLOW: {exc}") from None
    return tuple(networks)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    address = _literal(host)
    return host.lower() in LOOPBACK_NAMES if address is None else address.is_loopback


@dataclass(frozen=True)
class EgressGuard:
    """The operator's policy: extra allowed networks, and loopback in demo mode."""

    allow: tuple[Network, ...] = ()
    demo: bool = False

    def address_ok(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow):
            return True
        if address.is_loopback:
            return self.demo
        return address.is_global and not address.is_multicast

    def check_address(self, host: str, address: Address) -> None:
        if not self.address_ok(address):
            raise EgressRefused(
                f"{host} is {address}, a private, loopback or link-local address "
                "(DOORSTEP_WEBHOOK_ALLOW lets the operator allow a network)"
            )

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host and port if its form is allowed (the addresses come later)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise EgressRefused(f"not a URL: {exc}") from None
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise EgressRefused("must be an https:// URL")
        if parts.username is not None or parts.password is not None:
            raise EgressRefused("must not carry a user name or password")
        if parts.scheme == "http" and not (self.demo and is_loopback_host(host)):
            raise EgressRefused("must be https:// (plain http only to loopback in demo mode)")
        address = _literal(host)
        if address is not None:
            self.check_address(host, address)
        elif host.lower() in LOOPBACK_NAMES and not self.demo:
            raise EgressRefused(f"{host} is a loopback name")
        return host, port or (443 if parts.scheme == "https" else 80)


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, refusing a name if any of its addresses is refused."""

    def __init__(self, guard: EgressGuard) -> None:
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            self._guard.check_address(host, ipaddress.ip_address(result["host"]))
        return found

    async def close(self) -> None:
        await self._inner.close()


def check_settings_url(url: str, context: Any) -> None:
    """A webhook URL saved through the API: its form, and a literal address's kind
    (a name is resolved at delivery, where its addresses are checked every time)."""
    guard = context.get("egress") if isinstance(context, dict) else None
    if isinstance(guard, EgressGuard):
        guard.check_url(url)
    else:  # read from storage, or built in code: the form only (delivery checks the rest)
        EgressGuard(demo=True).check_url(url)
