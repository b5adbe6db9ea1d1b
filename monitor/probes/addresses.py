"""Addresses a probe never connects to on a target's say-so: link-local and cloud metadata.

A target that answers ``302 Location: http://169.254.169.254/latest/meta-data/`` would make
upwatch fetch the cloud provider's instance metadata (credentials, on some clouds) and report
what it saw. So a probe connects to an address in :data:`FORBIDDEN` only when the service's
own URL names that host; a redirect there, or a name that resolves there, fails the check as
``connect`` with a detail that says why.

The check sits where aiohttp turns a host into addresses (:class:`GuardedConnector`), so it
covers IP literals, names from DNS and names from aiohttp's DNS cache alike, on every hop of
a redirect chain. Which host the current check may reach is a :class:`~contextvars.ContextVar`
set by the probe around each request (:func:`own_host`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar, Token
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import ResolveResult

if TYPE_CHECKING:
    from aiohttp.tracing import Trace

__all__ = ["FORBIDDEN", "GuardedConnector", "RefusedAddress", "forbidden", "own_host"]

#: Link-local ranges (AWS, GCP, Azure, OpenStack metadata at 169.254.169.254; IPv6 link-local)
#: and the metadata addresses that are not link-local (Alibaba Cloud, AWS over IPv6).
Network = IPv4Network | IPv6Network

FORBIDDEN: tuple[Network, ...] = (
    ip_network("169.254.0.0/16"),
    ip_network("fe80::/10"),
    ip_network("100.100.100.200/32"),
    ip_network("fd00:ec2::254/128"),
)

_OWN_HOST: ContextVar[str | None] = ContextVar("upwatch_probe_own_host", default=None)


class RefusedAddress(aiohttp.ClientConnectionError):
    """A connection to a forbidden address that the service's URL did not name."""

    def __init__(self, host: str, address: str) -> None:
        self.host, self.address = host, address
        named = address if host == address else f"{host} ({address})"
        super().__init__(f"refused {named}: a link-local or cloud metadata address, "
                         "allowed only in the service's own URL")


def forbidden(address: str, networks: Sequence[Network] = FORBIDDEN) -> bool:
    """Whether ``address`` (an IP literal; anything else is not) lies in ``networks``."""
    try:
        ip: IPv4Address | IPv6Address = ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


class own_host:  # lower case: used like the function it was, ``with own_host(host):``
    """While inside, connections to ``host`` may use a forbidden address (the service's URL
    names it); connections to any other host may not.

    A class rather than a ``@contextmanager`` generator: it is entered once per check.
    """

    __slots__ = ("_host", "_token")

    def __init__(self, host: str | None) -> None:
        self._host = host.rstrip(".").lower() if host else None
        self._token: Token[str | None] | None = None

    def __enter__(self) -> None:
        self._token = _OWN_HOST.set(self._host)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _OWN_HOST.reset(self._token)
            self._token = None


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, refusing forbidden addresses for hosts other than the own host.

    ``forbidden_networks`` replaces :data:`FORBIDDEN` (tests use loopback addresses, so that a
    regression can never send a packet to a real metadata service).
    """

    def __init__(
        self, *, forbidden_networks: Sequence[Network] = FORBIDDEN, **options: Any
    ) -> None:
        super().__init__(**options)
        self._forbidden = tuple(forbidden_networks)

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        found = await super()._resolve_host(host, port, traces=traces)
        name = host.rstrip(".").lower()
        if name == _OWN_HOST.get():
            return found
        for result in found:
            if forbidden(result["host"], self._forbidden):
                raise RefusedAddress(host.rstrip("."), result["host"])
        return found
