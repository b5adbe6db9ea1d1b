"""What a probe reports, and the states minutes are made of.

A :class:`CheckResult` is final after the probe's own retries. Its ``error`` is one of the
small documented set in :class:`ErrorKind`; that set is also the only metric label for errors.
One kind, ``cert_expiring``, is a warning rather than a failure: a check that passed with it is
degraded (:data:`DEGRADING`), as a check slower than ``expect.max_latency`` is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum


class ErrorKind(StrEnum):
    """Why a check failed. The whole set; nothing else is ever reported."""

    TIMEOUT = "timeout"  # no complete answer within the probe's timeout
    DNS = "dns"  # the host name did not resolve
    CONNECT = "connect"  # TCP connection refused, reset or unreachable
    TLS = "tls"  # TLS handshake or certificate verification failed
    HTTP_STATUS = "http_status"  # an answer arrived with a status code not expected
    CONTENT = "content"  # the body did not contain / match what was expected
    TOO_LARGE = "too_large"  # the body exceeded the read limit
    PROTOCOL = "protocol"  # not HTTP / malformed, too many redirects, cut, STARTTLS refused
    CERT_EXPIRING = "cert_expiring"  # a valid certificate that expires within cert_valid_for
    DNS_ANSWER = "dns_answer"  # a DNS answer with another response code or other records
    MISSED_PING = "missed_ping"  # a push service's ping did not come by its deadline
    JOB_FAILED = "job_failed"  # a push service reported a failure (/fail, a non-zero status)


#: Kinds a check that passed may carry: it is degraded, not down (it still counts as up).
DEGRADING = frozenset({ErrorKind.CERT_EXPIRING})


class State(IntEnum):
    """A minute's (or a check's) state. Ordered so that ``max`` is "the worst of"."""

    NODATA = 0
    UP = 1
    DEGRADED = 2
    DOWN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class NoResultYet(Exception):
    """A probe with nothing to judge yet (a push service before its first ping): no check is
    recorded, and its minutes stay *nodata*."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    service: str
    time: datetime  # UTC-aware: when the check started
    ok: bool
    latency_ms: float | None = None
    status: int | None = None  # HTTP status code, when an answer arrived
    error: ErrorKind | None = None  # why it failed; with ok, why it is degraded (DEGRADING)
    detail: str = ""  # human-readable, for logs and `upwatch probe`; never a metric label
    location: str = "local"

    def state(self, max_latency_ms: float | None) -> State:
        """This check's :func:`check_state`."""
        return check_state(self.ok, self.latency_ms, max_latency_ms, self.error)


@dataclass(frozen=True, slots=True)
class Observation:
    """A check result with the state it gives its minute and the service's interval: what the
    ledger folds into minutes."""

    result: CheckResult
    state: State
    interval_ms: int


def check_state(ok: bool, latency_ms: float | None, max_latency_ms: float | None,
                error: ErrorKind | None = None) -> State:
    """A check's state: down if not ok; degraded if ok but slower than ``max_latency_ms``
    (``expect.max_latency``) or carrying a :data:`DEGRADING` kind (``cert_expiring``); else
    up."""
    if not ok:
        return State.DOWN
    if error in DEGRADING:
        return State.DEGRADED
    if max_latency_ms is not None and latency_ms is not None and latency_ms > max_latency_ms:
        return State.DEGRADED
    return State.UP
