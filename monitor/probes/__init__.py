"""Probers: one module per probe kind, each returning a
:class:`~monitor.core.checks.CheckResult`: ``http`` (:mod:`~monitor.probes.http`), ``tcp``
(:mod:`~monitor.probes.tcp`), ``tls`` (:mod:`~monitor.probes.handshake`), ``dns``
(:mod:`~monitor.probes.dns`) and ``push`` (:mod:`~monitor.probes.push`), dispatched by a
service's kind in :mod:`~monitor.probes.kinds`."""

from monitor.probes.classify import classify
from monitor.probes.dns import DnsProbe
from monitor.probes.handshake import TlsProbe
from monitor.probes.http import (
    DEFAULT_USER_AGENT,
    ExpectSpec,
    HttpProbe,
    ServiceSpec,
    StatusRangeSpec,
    make_session,
)
from monitor.probes.kinds import ServiceProbe
from monitor.probes.push import PushProbe
from monitor.probes.tcp import TcpProbe

__all__ = [
    "DEFAULT_USER_AGENT",
    "DnsProbe",
    "ExpectSpec",
    "HttpProbe",
    "PushProbe",
    "ServiceProbe",
    "ServiceSpec",
    "StatusRangeSpec",
    "TcpProbe",
    "TlsProbe",
    "classify",
    "make_session",
]
