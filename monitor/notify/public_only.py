"""An HTTP session that reaches only public addresses: for URLs a visitor gave upwatch.

A webhook URL a visitor subscribes is theirs to choose, so it must not make upwatch POST into
the network it runs in (loopback, private, link-local, cloud metadata addresses). The check is
made on the addresses a name resolves to when the connection is made (:class:`PublicResolver`),
not only when the URL was given, so a name that later resolves somewhere private is refused
too; an IP address in the URL, which aiohttp connects to without resolving, is checked by
:func:`refusal`.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["PublicResolver", "is_public", "public_session", "refusal"]


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP address) is globally reachable."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_global
    except ValueError:
        return False


def refusal(url: str, *, private: bool = False) -> str | None:
    """Why ``url`` cannot be a webhook (None: it can, as far as its text says)."""
    if len(url) > 2000:
        return "is longer than 2,000 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if port == 0:
        return "has port 0"
    if private:
        return None
    host = parts.hostname
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "leads to this network, not a public address"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: its addresses are checked when it is resolved
    return None if is_public(host) else "leads to a private address"


class PublicResolver(AbstractResolver):
    """Resolves like aiohttp's threaded resolver, keeping only public addresses."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if is_public(r["host"])]
        if not public:
            raise OSError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def public_session(*, private: bool = False) -> aiohttp.ClientSession:
    """A session for visitors' URLs: public addresses only unless ``private``."""
    connector = aiohttp.TCPConnector(resolver=None if private else PublicResolver(), limit=20)
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 headers={"User-Agent": "upwatch subscriptions"})
