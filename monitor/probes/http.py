"""The HTTP(S) probe: one check is a fresh connection, a bounded read and a verdict.

A check never raises for a target's misbehaviour; every failure becomes a
:class:`~monitor.core.checks.CheckResult` with an :class:`~monitor.core.checks.ErrorKind` chosen by
:func:`monitor.probes.classify.classify`. Only cancellation propagates.

Verdict order for an answer: status (``http_status``, body not read), then ``expect.headers``
(``content``, body not read), then the body size (``too_large``), then ``body_contains``,
``body_regex`` and ``expect.json`` (``content``; :mod:`monitor.probes.assertions`). The body is
kept in memory only when an assertion reads it; otherwise it is counted and dropped as it arrives.
``body_regex`` runs in a worker thread with the ``regex`` engine and a time limit
(:data:`REGEX_TIME_LIMIT_S`, :mod:`monitor.probes.matching`), so a pattern that backtracks
without end fails its own check (``content``) instead of stalling every other probe.

``latency_ms`` runs from the start of the final attempt to the end of its body (or to the
failure: for a timeout it is the time waited). It is ``None`` when the attempt failed before
the request could be sent: dns, connect and TLS handshake errors.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from monitor import __version__
from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import Clock
from monitor.probes.addresses import FORBIDDEN, GuardedConnector, Network, own_host
from monitor.probes.assertions import (
    HeaderSpec,
    JsonAssertionSpec,
    headers_failure,
    json_failure,
)
from monitor.probes.classify import classify
from monitor.probes.matching import REGEX_TIME_LIMIT_S, PatternTooSlow, matches, quote, shorten
from monitor.probes.retry import with_retries

__all__ = [
    "DEFAULT_USER_AGENT",
    "REGEX_TIME_LIMIT_S",
    "ExpectSpec",
    "HttpProbe",
    "ServiceSpec",
    "StatusRangeSpec",
    "make_session",
]

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"upwatch/{__version__}"
DNS_CACHE_SECONDS = 10

# aiohttp warns (an error under our test settings) when asked to clean up closed TLS
# transports on a Python that no longer needs it (fixed in 3.12.8 and 3.13.1).
_NEEDS_CLEANUP_CLOSED = sys.version_info < (3, 12, 8) or (3, 13) <= sys.version_info < (3, 13, 1)


class StatusRangeSpec(Protocol):
    """An inclusive range of accepted status codes."""

    @property
    def lo(self) -> int: ...

    @property
    def hi(self) -> int: ...


class ExpectSpec(Protocol):
    """What the probe reads of a service's ``expect`` block."""

    @property
    def status(self) -> Sequence[StatusRangeSpec]: ...

    @property
    def body_contains(self) -> str | None: ...

    @property
    def body_regex(self) -> str | None: ...

    @property
    def json_assertions(self) -> Sequence[JsonAssertionSpec]: ...  # expect.json

    @property
    def headers(self) -> Sequence[HeaderSpec]: ...

    def status_ok(self, code: int) -> bool: ...


class ServiceSpec(Protocol):
    """What the probe reads of a service (``monitor.config.ServiceConfig`` satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str | None: ...  # None only for services of other kinds

    @property
    def method(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> str | None: ...

    @property
    def timeout(self) -> timedelta: ...

    @property
    def retries(self) -> int: ...

    @property
    def tls_verify(self) -> bool: ...

    @property
    def follow_redirects(self) -> bool: ...

    @property
    def max_redirects(self) -> int: ...

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def expect(self) -> ExpectSpec: ...


def make_session(
    *,
    user_agent: str = DEFAULT_USER_AGENT,
    resolver: AbstractResolver | None = None,
    forbidden_networks: Sequence[Network] = FORBIDDEN,
    source_address: str | None = None,
) -> aiohttp.ClientSession:
    """A client session for probes; call it inside the running event loop, close it after.

    ``source_address``: the local IP address every probe connects from (a prober on a host
    with several uplinks, or several probers on one host); None lets the system choose.

    Every request opens a fresh connection (no keep-alive reuse), so connect and TLS failures
    are seen as a visitor would see them, and a dropped connection is never silently retried
    by aiohttp. Cookies are ignored. The probe asks for
    ``Accept-Encoding: identity`` and never decompresses: the bytes counted against
    ``max_body_bytes`` and matched against ``expect`` are the bytes sent. ``resolver``
    replaces aiohttp's DNS resolver (tests use it to fail lookups without the network).
    Link-local and cloud metadata addresses are refused unless the service's own URL names
    them (:mod:`monitor.probes.addresses`).
    """
    connector = GuardedConnector(
        force_close=True,
        limit=0,
        ttl_dns_cache=DNS_CACHE_SECONDS,
        enable_cleanup_closed=_NEEDS_CLEANUP_CLOSED,
        resolver=resolver,
        forbidden_networks=forbidden_networks,
        local_addr=None if source_address is None else (source_address, 0),
    )
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        auto_decompress=False,
        trust_env=False,
    )
    # aiohttp silently repeats an idempotent request once when the connection drops (meant for
    # stale keep-alive connections, which we never reuse). The probe's own `retries` must be
    # the only retries; aiohttp's test client turns it off the same way (no public switch).
    session._retry_connection = False
    return session


@dataclass(frozen=True, slots=True)
class _Request:
    """What a service's checks send, worked out once per service spec, not once per check."""

    spec: ServiceSpec  # made from this very object (a reload brings new ones) ...
    source: tuple[str, str | None, timedelta]  # ... with these url, body and timeout
    url: URL
    host: str | None
    data: bytes | None
    timeout: aiohttp.ClientTimeout

    @classmethod
    def of(cls, service: ServiceSpec) -> _Request:
        if service.url is None:
            raise ValueError(f"service {service.name} has no url: not an http service")
        url = URL(service.url)
        return cls(service, (service.url, service.body, service.timeout), url, url.host,
                   service.body.encode() if service.body is not None else None,
                   aiohttp.ClientTimeout(total=service.timeout.total_seconds()))


class HttpProbe:
    """Checks HTTP(S) services through an injected session and clock."""

    def __init__(
        self, session: aiohttp.ClientSession, clock: Clock, location: str = "local"
    ) -> None:
        self._session = session
        self._clock = clock
        self._location = location
        self._requests: dict[str, _Request] = {}  # by service name

    def _request(self, service: ServiceSpec) -> _Request:
        req = self._requests.get(service.name)
        if req is None or req.spec is not service or req.source != (
                service.url, service.body, service.timeout):
            req = self._requests[service.name] = _Request.of(service)
        return req

    async def check(self, service: ServiceSpec) -> CheckResult:
        """Check ``service``, retrying at once up to ``service.retries`` times on failure
        (:func:`monitor.probes.retry.with_retries`)."""
        return await with_retries(functools.partial(self._attempt, service), service.retries,
                                  self._clock)

    async def _attempt(self, service: ServiceSpec, started: datetime) -> CheckResult:
        req = self._request(service)
        t0 = self._clock.monotonic()
        status: int | None = None
        latency: float | None
        try:
            with own_host(req.host):
                response = self._session.request(
                    service.method,
                    req.url,
                    headers=service.headers,
                    data=req.data,
                    timeout=req.timeout,
                    ssl=service.tls_verify,  # True: default verifying context; False: none
                    allow_redirects=service.follow_redirects,
                    # aiohttp gives up on reaching its limit; ours counts redirects followed.
                    max_redirects=service.max_redirects + 1,
                )
                async with response as resp:
                    status = resp.status
                    error, detail = await _judge(resp, service)
                    latency = self._since(t0)
        except (aiohttp.ClientError, OSError) as exc:  # OSError includes TimeoutError
            error, detail = classify(exc, timeout=service.timeout, status=status)
            # A failed resolve, connect or TLS handshake never got to sending the request.
            latency = None if isinstance(exc, aiohttp.ClientConnectorError) else self._since(t0)
        except Exception as exc:
            log.exception("probe %s: unexpected error from %s", service.name, service.url)
            error, detail = classify(exc, timeout=service.timeout, status=status)
            latency = self._since(t0)
        return CheckResult(
            service=service.name,
            time=started,
            ok=error is None,
            latency_ms=latency,
            status=status,
            error=error,
            detail=detail,
            location=self._location,
        )

    def _since(self, t0: float) -> float:
        return max(self._clock.monotonic() - t0, 0.0) * 1000.0


async def _judge(
    resp: aiohttp.ClientResponse, service: ServiceSpec
) -> tuple[ErrorKind | None, str]:
    """Status first (body left unread), then size, then content; ``(None, "")`` passes."""
    expect = service.expect
    if not expect.status_ok(resp.status):
        return ErrorKind.HTTP_STATUS, (
            f"status {resp.status} not in expected {_describe(expect.status)}"
        )
    failure = await headers_failure(resp.headers, expect.headers)
    if failure is not None:
        return failure
    if service.method.upper() == "HEAD":
        return None, ""
    assertions: Sequence[JsonAssertionSpec] = expect.json_assertions
    texts = expect.body_contains is not None or expect.body_regex is not None
    body = await _read_capped(resp, service.max_body_bytes, keep=texts or bool(assertions))
    if body is None:
        resp.close()  # drop the connection instead of draining the rest
        return ErrorKind.TOO_LARGE, f"body larger than {service.max_body_bytes} bytes"
    mismatch = await _content_mismatch(body, expect) if texts else None
    if mismatch is not None:
        return ErrorKind.CONTENT, mismatch
    return await json_failure(body, assertions) or (None, "")


async def _read_capped(resp: aiohttp.ClientResponse, cap: int, *, keep: bool) -> bytes | None:
    """The whole body (``b""`` unless ``keep``: counted, not kept), or None as soon as it is
    known to exceed ``cap`` bytes."""
    declared = resp.content_length
    if declared is not None and declared > cap:
        return None
    body = bytearray()
    size = 0
    while chunk := await resp.content.readany():
        size += len(chunk)
        if size > cap:
            return None
        if keep:
            body += chunk
    return bytes(body)


async def _content_mismatch(body: bytes, expect: ExpectSpec) -> str | None:
    """Why the body fails ``expect``, or None when it passes."""
    text = body.decode("utf-8", errors="replace")
    if expect.body_contains is not None and expect.body_contains not in text:
        return f"body does not contain {quote(expect.body_contains)}"
    if expect.body_regex is not None:
        try:
            found = await matches(expect.body_regex, text)
        except PatternTooSlow:
            return (f"body_regex /{shorten(expect.body_regex)}/ took over "
                    f"{REGEX_TIME_LIMIT_S:g} s on this body; simplify the pattern")
        if not found:
            return f"body does not match /{shorten(expect.body_regex)}/"
    return None


def _describe(ranges: Sequence[StatusRangeSpec]) -> str:
    """``[(200, 399), (418, 418)]`` → ``"200-399, 418"``."""
    parts = [str(r.lo) if r.lo == r.hi else f"{r.lo}-{r.hi}" for r in ranges]
    return ", ".join(parts) or "(none)"

