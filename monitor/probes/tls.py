"""TLS certificate expiry: when the certificate an https (or ``kind: tls``) service presents
stops being valid.

The HTTP probe cannot see the peer certificate (aiohttp releases the connection as soon as a
small answer is read), so this probe opens its own connection, completes a verifying TLS
handshake with the service's host name, reads the leaf certificate's ``notAfter`` and closes.
Certificates change rarely: ``upwatch run`` asks once an hour. A service whose handshake fails
verification reports no expiry (the HTTP probe reports the ``tls`` failure itself). The tls
probe (:mod:`monitor.probes.handshake`) reads the same ``notAfter`` with :func:`peer_not_after`.

Without a ``context``, every call shares one verifying context on the system's trust store
(:data:`SYSTEM_TRUST`), built once per process in a worker thread: building one reads the
whole store (~20 ms), which must not happen on the event loop for every service every hour.
As with aiohttp's own verifying context (the HTTP probe's), a changed trust store is read at
the next start.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from yarl import URL

from monitor.probes.starttls import StartTlsRefused, upgrade

__all__ = ["SYSTEM_TRUST", "CertSpec", "CertTarget", "SharedContext", "cert_expiry", "cert_target",
           "peer_not_after", "tls_target"]


class SharedContext:
    """One SSL context, built on first use by ``build`` (in a worker thread), then reused.

    ``build`` defaults to :func:`ssl.create_default_context`: verifying, host name checked.
    """

    def __init__(self, build: Callable[[], ssl.SSLContext] | None = None) -> None:
        self._build = build
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()  # concurrent first uses build it once

    async def get(self) -> ssl.SSLContext:
        """The context; only the first call waits for it to be built, off the event loop."""
        if self._context is not None:
            return self._context
        return await asyncio.to_thread(self._built)

    def _built(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = (self._build or ssl.create_default_context)()
            return self._context


#: The verifying context (system trust store, host name checked) of calls without ``context``.
SYSTEM_TRUST = SharedContext()


def tls_target(url: str) -> tuple[str, int] | None:
    """``(host, port)`` for an https URL, None for anything else."""
    parsed = URL(url)
    if parsed.scheme != "https" or not parsed.host:
        return None
    return parsed.host, parsed.port or 443


class CertSpec(Protocol):
    """What :func:`cert_target` reads of a service (``monitor.config.ServiceConfig``)."""

    @property
    def kind(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def tls_verify(self) -> bool: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def server_name(self) -> str | None: ...

    @property
    def starttls(self) -> str | None: ...


class CertTarget(NamedTuple):
    host: str
    port: int
    server_name: str | None  # None: the host
    starttls: str | None = None  # the protocol that upgrades the connection, if any


def cert_target(service: CertSpec) -> CertTarget | None:
    """Where the certificate is whose expiry a service reports: a tls service's, or a
    verified https service's; None for any other."""
    if service.kind == "tls" and service.host is not None and service.port is not None:
        return CertTarget(service.host, service.port, service.server_name, service.starttls)
    if service.kind != "http" or service.url is None or not service.tls_verify:
        return None
    target = tls_target(service.url)
    return None if target is None else CertTarget(*target, None)


async def cert_expiry(
    host: str, port: int, *, context: ssl.SSLContext | None = None,
    server_name: str | None = None, starttls: str | None = None,
) -> datetime | None:
    """The verified leaf certificate's ``notAfter`` (UTC), or None when there is none to trust.

    Refused or unverifiable → None. Bound it with ``asyncio.timeout`` (the target may hang).
    Without ``context``: :data:`SYSTEM_TRUST`, the system's trust store. ``server_name`` is the
    name sent (SNI) and verified, ``host`` unless given; ``starttls`` the protocol that asks
    for TLS on a plain connection first (:mod:`monitor.probes.starttls`).
    """
    ctx = context if context is not None else await SYSTEM_TRUST.get()
    try:
        if starttls is None:
            _reader, writer = await asyncio.open_connection(
                host, port, ssl=ctx, server_hostname=server_name or host)
        else:
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, ssl.SSLError):
        return None
    try:
        if starttls is not None:
            try:
                await upgrade(reader, writer, starttls, ctx, server_name or host)
            except (OSError, StartTlsRefused):  # ssl.SSLError is an OSError
                return None
        return peer_not_after(writer)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


def peer_not_after(writer: asyncio.StreamWriter) -> datetime | None:
    """The ``notAfter`` (UTC) of the certificate the peer of a TLS stream presented; None for
    a stream without TLS or a certificate."""
    ssl_object = writer.get_extra_info("ssl_object")
    cert = ssl_object.getpeercert() if isinstance(ssl_object, ssl.SSLObject) else None
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
