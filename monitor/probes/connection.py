"""A connection to a service's host and port, for the probes that speak no HTTP (tcp, tls).

:func:`open_stream` resolves the host (an IP address is used as it is; a name through the
injected aiohttp resolver, so tests fail lookups without the network), then connects to each
address in turn until one accepts, completing a TLS handshake on it when given a context. Its
failures are plain exceptions for :func:`monitor.probes.classify.classify`: ``socket.gaierror``
(dns), ``ssl.SSLError`` (tls: a handshake is never tried again on the next address), another
``OSError`` (connect: the last address's). The caller bounds it with ``asyncio.timeout``.

The address guard of the HTTP probe (:mod:`monitor.probes.addresses`) refuses link-local and
cloud metadata addresses when a *target* leads the probe there (a redirect, a name in a
``Location``), and allows them for the host the service's own configuration names
(``own_host``). A tcp or tls check connects to that host and nowhere else, so the same rule
lets it through, exactly as the HTTP probe lets through ``url: http://169.254.169.254/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from datetime import timedelta
from ipaddress import ip_address
from typing import Protocol

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver

__all__ = ["CLOSE_GRACE_S", "EndpointSpec", "addresses", "close_stream", "open_stream"]


class EndpointSpec(Protocol):
    """What the tcp and tls probes read of any service they check (each adds its own keys)."""

    @property
    def name(self) -> str: ...

    @property
    def host(self) -> str | None: ...  # None only for services of other kinds

    @property
    def port(self) -> int | None: ...

    @property
    def timeout(self) -> timedelta: ...

    @property
    def retries(self) -> int: ...

#: How long closing a connection may take (a TLS close waits for the peer's close_notify)
#: before it is aborted; never counted in a check's latency.
CLOSE_GRACE_S = 1.0


async def open_stream(
    host: str, port: int, *,
    resolver: AbstractResolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_name: str | None = None,
    source_address: str | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``host``:``port``, TLS over it with ``ssl_context`` (verifying
    ``server_name``, ``host`` unless given); from ``source_address`` when given."""
    last: OSError | None = None
    for address in await addresses(host, port, resolver):
        try:
            return await asyncio.open_connection(
                address, port, ssl=ssl_context,
                server_hostname=(server_name or host) if ssl_context is not None else None,
                local_addr=None if source_address is None else (source_address, 0))
        except ssl.SSLError:
            raise  # the handshake failed: another address of the same host would say the same
        except OSError as err:
            last = err
    assert last is not None  # addresses returns at least one
    raise last


async def addresses(host: str, port: int, resolver: AbstractResolver | None) -> list[str]:
    """The addresses to try, in the resolver's order; an IP address is its own."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return [str(ip_address(bare))]
    except ValueError:
        pass
    found = await (resolver or ThreadedResolver()).resolve(host, port, family=socket.AF_UNSPEC)
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return list(dict.fromkeys(result["host"] for result in found))


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close a probe's connection; a peer that does not finish the close within
    :data:`CLOSE_GRACE_S` has it aborted. Errors while closing are nobody's business."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE_S):
            await writer.wait_closed()
    except (OSError, TimeoutError):  # ssl.SSLError is an OSError
        with contextlib.suppress(OSError):
            writer.transport.abort()
