"""Probers: one module per probe kind, each returning a
:class:`~monitor.core.checks.CheckResult`."""

from monitor.probes.classify import classify
from monitor.probes.http import (
    DEFAULT_USER_AGENT,
    ExpectSpec,
    HttpProbe,
    ServiceSpec,
    StatusRangeSpec,
    make_session,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "ExpectSpec",
    "HttpProbe",
    "ServiceSpec",
    "StatusRangeSpec",
    "classify",
    "make_session",
]
