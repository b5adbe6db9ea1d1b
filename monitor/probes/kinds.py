"""The probe of each service's ``kind``: what ``upwatch run``, a prober and ``upwatch probe``
check services with.

:class:`ServiceProbe` holds one probe per kind and hands each service to its own:
``http`` → :class:`~monitor.probes.http.HttpProbe` (through the injected session),
``tcp`` → :class:`~monitor.probes.tcp.TcpProbe`, ``tls`` →
:class:`~monitor.probes.handshake.TlsProbe`, ``dns`` → :class:`~monitor.probes.dns.DnsProbe`,
``push`` → :class:`~monitor.probes.push.PushProbe`
(which reads the pings ``upwatch run`` took instead of the network). All return a
:class:`~monitor.core.checks.CheckResult`, so the scheduler, the ledger, the page and
``/metrics`` take them alike.
"""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver

from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import Clock
from monitor.probes.dns import DnsExpectSpec, DnsProbe, DnsSpec
from monitor.probes.handshake import TlsExpectSpec, TlsProbe, TlsSpec, judge_expiry
from monitor.probes.http import ExpectSpec, HttpProbe
from monitor.probes.http import ServiceSpec as HttpSpec
from monitor.probes.push import PushProbe, PushSpec
from monitor.probes.tcp import TcpExpectSpec, TcpProbe, TcpSpec

__all__ = ["PROBED_KINDS", "AnyExpectSpec", "AnyServiceSpec", "ServiceProbe"]

#: The kinds :class:`ServiceProbe` checks (``monitor.config`` validates the same set).
PROBED_KINDS = ("http", "tcp", "tls", "dns", "push")


class AnyExpectSpec(ExpectSpec, TcpExpectSpec, TlsExpectSpec, DnsExpectSpec, Protocol):
    """A service's ``expect`` as every kind's probe reads it."""


class AnyServiceSpec(HttpSpec, TcpSpec, TlsSpec, DnsSpec, PushSpec, Protocol):
    """A service as every kind's probe reads it (``monitor.config.ServiceConfig``)."""

    @property
    def kind(self) -> str: ...

    @property
    def expect(self) -> AnyExpectSpec: ...


class ServiceProbe:
    """Checks any service with the probe of its kind.

    ``session`` is the HTTP probe's (:func:`monitor.probes.http.make_session`); ``resolver``
    and ``source_address`` are for the tcp, tls and dns probes what the session's are for HTTP
    (the dns probe resolves a ``server`` given by name with that resolver).
    ``tls_context`` (settable) replaces the system trust store for tls services.
    """

    def __init__(self, session: aiohttp.ClientSession, clock: Clock, location: str = "local",
                 *, tls_context: ssl.SSLContext | None = None,
                 resolver: AbstractResolver | None = None,
                 source_address: str | None = None) -> None:
        self.http = HttpProbe(session, clock, location=location)
        self.tcp = TcpProbe(clock, location, resolver=resolver, source_address=source_address)
        self.tls = TlsProbe(clock, location, context=tls_context, resolver=resolver,
                            source_address=source_address)
        self.dns = DnsProbe(clock, location, resolver=resolver, source_address=source_address)
        #: reads the pings ``upwatch run`` took (:mod:`monitor.run.pings`): set its ``states``
        self.push = PushProbe(clock, location)
        #: The ``notAfter`` of https services' certificates, by service, from ``upwatch run``'s
        #: hourly certificate check: a good answer is degraded (``cert_expiring``) while its
        #: certificate expires within ``expect.cert_valid_for``, as a tls service's check is.
        self.cert_not_after: dict[str, datetime] = {}

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        return self.tls.context

    @tls_context.setter
    def tls_context(self, context: ssl.SSLContext | None) -> None:
        self.tls.context = context

    async def check(self, service: AnyServiceSpec) -> CheckResult:
        """One check of ``service`` (its probe's retries included)."""
        if service.kind == "http":
            return self._with_expiry(service, await self.http.check(service))
        if service.kind == "tcp":
            return await self.tcp.check(service)
        if service.kind == "tls":
            return await self.tls.check(service)
        if service.kind == "dns":
            return await self.dns.check(service)
        if service.kind == "push":
            return await self.push.check(service)
        raise ValueError(f"service {service.name}: no probe for kind {service.kind!r}")

    def _with_expiry(self, service: AnyServiceSpec, result: CheckResult) -> CheckResult:
        not_after = self.cert_not_after.get(service.name)
        if not_after is None or not result.ok or result.error is not None:
            return result
        error, detail = judge_expiry(not_after, service.expect.cert_valid_for, result.time)
        if error is not ErrorKind.CERT_EXPIRING:  # expired: the request itself fails as tls
            return result
        return replace(result, error=error, detail=detail)
