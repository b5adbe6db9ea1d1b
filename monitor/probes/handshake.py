"""The tls probe (``kind: tls``): a verified TLS handshake, and how long its certificate lasts.

One attempt connects to the service's host and port (:mod:`monitor.probes.connection`) and
completes a TLS handshake that verifies the certificate chain against the trust store the HTTP
probe uses (the system's, :data:`monitor.probes.tls.SYSTEM_TRUST`, unless a context is
injected) and the ``server_name`` (SNI; the host unless set) against the certificate. Then it
reads the leaf's ``notAfter``, closes, and judges how long the certificate has left:

- the handshake or the verification failed (untrusted, expired, wrong name, not TLS): ``tls``,
  down; a name that does not resolve is ``dns``, a refused port ``connect``, silence
  ``timeout``, all as :func:`monitor.probes.classify.classify` words them;
- the certificate expires within ``expect.cert_valid_for``: ``ok`` with ``cert_expiring``, so
  the check is *degraded* (:data:`monitor.core.checks.DEGRADING`), still up for the SLA, its
  detail saying when (``certificate expires in 1d 23h (2026-10-03T10:00:00Z), within
  cert_valid_for 14d``);
- otherwise up, the detail saying until when (``certificate valid until 2027-01-05T00:00:00Z``).

With ``starttls`` the connection is plain until the server agrees to TLS in its protocol's
words (:mod:`monitor.probes.starttls`); a server that does not fails the check as
``protocol``, its detail quoting what the server said.

"Within" is measured on the injected clock; that the certificate has not expired yet is
OpenSSL's verdict, on the system's. ``latency_ms`` is connect plus handshake, from the start of
the final attempt; for a timeout it is the time waited, and it is ``None`` when the handshake
failed or never began (dns, connect, tls). Only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from datetime import datetime, timedelta
from typing import Protocol

from aiohttp.abc import AbstractResolver

from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import Clock
from monitor.probes.classify import classify
from monitor.probes.connection import EndpointSpec, close_stream, open_stream
from monitor.probes.retry import with_retries
from monitor.probes.starttls import StartTlsRefused, upgrade
from monitor.probes.tls import SYSTEM_TRUST, peer_not_after
from monitor.times import iso_utc

__all__ = ["TlsExpectSpec", "TlsProbe", "TlsSpec", "format_span"]

log = logging.getLogger(__name__)


class TlsExpectSpec(Protocol):
    @property
    def cert_valid_for(self) -> timedelta: ...


class TlsSpec(EndpointSpec, Protocol):
    """What the probe reads of a service (``monitor.config.ServiceConfig`` satisfies it)."""

    @property
    def server_name(self) -> str | None: ...

    @property
    def starttls(self) -> str | None: ...

    @property
    def expect(self) -> TlsExpectSpec: ...


class TlsProbe:
    """Checks tls services with an injected clock; ``context`` (settable) replaces the system
    trust store, as tests and ``Monitor.tls_context`` do."""

    def __init__(self, clock: Clock, location: str = "local", *,
                 context: ssl.SSLContext | None = None,
                 resolver: AbstractResolver | None = None,
                 source_address: str | None = None) -> None:
        self.context = context
        self._clock = clock
        self._location = location
        self._resolver = resolver
        self._source_address = source_address

    async def check(self, service: TlsSpec) -> CheckResult:
        """Check ``service``, retrying at once up to ``service.retries`` times on failure
        (:func:`monitor.probes.retry.with_retries`)."""
        return await with_retries(functools.partial(self._attempt, service), service.retries,
                                  self._clock)

    async def _attempt(self, service: TlsSpec, started: datetime) -> CheckResult:
        if service.host is None or service.port is None:
            raise ValueError(f"service {service.name} has no host and port: not a tls service")
        host, port = service.host, service.port
        context = self.context if self.context is not None else await SYSTEM_TRUST.get()
        writer: asyncio.StreamWriter | None = None
        not_after: datetime | None = None
        t0 = self._clock.monotonic()
        latency: float | None = None
        try:
            async with asyncio.timeout(service.timeout.total_seconds()):
                if service.starttls is None:
                    _reader, writer = await open_stream(
                        host, port, resolver=self._resolver, ssl_context=context,
                        server_name=service.server_name, source_address=self._source_address)
                else:  # plain first, TLS once the server agrees
                    reader, writer = await open_stream(
                        host, port, resolver=self._resolver,
                        source_address=self._source_address)
                    await upgrade(reader, writer, service.starttls, context,
                                  service.server_name or host)
            latency = self._since(t0)
            not_after = peer_not_after(writer)
            error, detail = self._judge(not_after, service.expect.cert_valid_for)
        except TimeoutError as exc:
            error, detail = classify(exc, timeout=service.timeout)
            latency = self._since(t0)
        except StartTlsRefused as exc:  # no TLS was tried
            error, detail = ErrorKind.PROTOCOL, str(exc)
        except OSError as exc:  # dns, connect, and ssl.SSLError: the handshake failed
            error, detail = classify(exc, timeout=service.timeout, peer=(host, port))
        except Exception as exc:
            log.exception("probe %s: unexpected error from %s:%s", service.name, host, port)
            error, detail = classify(exc, timeout=service.timeout, peer=(host, port))
            latency = self._since(t0)
        finally:
            if writer is not None:
                await close_stream(writer)
        return CheckResult(service=service.name, time=started,
                           ok=error is None or error is ErrorKind.CERT_EXPIRING,
                           latency_ms=latency, error=error, detail=detail,
                           location=self._location)

    def _judge(self, not_after: datetime | None,
               valid_for: timedelta) -> tuple[ErrorKind | None, str]:
        """How long a verified certificate has left, against ``cert_valid_for``."""
        if not_after is None:  # a verifying handshake always has one
            return ErrorKind.TLS, "the server presented no certificate"
        return judge_expiry(not_after, valid_for, self._clock.now())

    def _since(self, t0: float) -> float:
        return max(self._clock.monotonic() - t0, 0.0) * 1000.0


def judge_expiry(not_after: datetime, valid_for: timedelta,
                 now: datetime) -> tuple[ErrorKind | None, str]:
    """A verified certificate's ``notAfter`` against ``cert_valid_for`` at ``now``: expired is
    ``tls``, within ``valid_for`` is ``cert_expiring`` (degraded), else no error, the detail
    saying until when (the page tells visitors how long it has left from it)."""
    left = not_after - now
    if left <= timedelta(0):
        return ErrorKind.TLS, f"certificate expired {iso_utc(not_after)} (by upwatch's clock)"
    if left < valid_for:
        return ErrorKind.CERT_EXPIRING, (
            f"certificate expires in {format_span(left)} ({iso_utc(not_after)}), within "
            f"cert_valid_for {format_span(valid_for)}")
    return None, f"certificate valid until {iso_utc(not_after)}"


def format_span(span: timedelta) -> str:
    """A length of time for people, in its largest unit and the next (when not zero):
    ``14d``, ``1d 23h``, ``5h 12m``, ``3m``; under a minute, ``under 1m``."""
    minutes = max(int(span.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    units = ((days, "d"), (hours, "h")) if days else ((hours, "h"), (mins, "m")) if hours else (
        (mins, "m"),)
    return " ".join(f"{n}{unit}" for n, unit in units if n) or "under 1m"
