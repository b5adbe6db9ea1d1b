"""The tcp probe (``kind: tcp``): a connection to a host and port, a line sent, a banner heard.

One attempt connects (:func:`monitor.probes.connection.open_stream`), writes ``send`` if the
service has one, and, with ``expect.banner``, reads what the server says: at most
:data:`BANNER_MAX_BYTES`, until the pattern is found in it, the server closes, the limit is
reached or the timeout ends. The pattern is searched (not anchored; ``^220`` anchors it) in the
bytes read so far, decoded as UTF-8, after each chunk, with the ``regex`` engine under the same
time limit as ``body_regex`` (:mod:`monitor.probes.matching`). ``send`` is written before
anything is read, so a server that speaks first (SMTP, FTP, SSH) reads it after its greeting.
The whole attempt (connect, send, banner) is bounded by ``timeout``.

Verdicts: a name that does not resolve is ``dns``; refused, reset or unreachable is ``connect``;
nothing within the timeout is ``timeout`` (also a connection that stays silent when a banner
is expected); a banner read in full (closed, at the limit, or the timeout with something read)
without the pattern in it is ``content``, its detail quoting what came
(``banner does not match /^220/: got '554 no service\\r\\n'``).

``latency_ms`` runs from the start of the final attempt to the connection (and ``send`` and the
banner, when there are); for a timeout it is the time waited; it is ``None`` when no connection
was made (dns, connect). Only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta
from typing import Protocol

from aiohttp.abc import AbstractResolver

from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import Clock
from monitor.probes.classify import classify, format_seconds
from monitor.probes.connection import EndpointSpec, close_stream, open_stream
from monitor.probes.matching import REGEX_TIME_LIMIT_S, PatternTooSlow, matches, quote, shorten
from monitor.probes.retry import with_retries

__all__ = ["BANNER_MAX_BYTES", "TcpExpectSpec", "TcpProbe", "TcpSpec"]

log = logging.getLogger(__name__)

#: The most a check reads of a banner.
BANNER_MAX_BYTES = 4096


class TcpExpectSpec(Protocol):
    @property
    def banner(self) -> str | None: ...


class TcpSpec(EndpointSpec, Protocol):
    """What the probe reads of a service (``monitor.config.ServiceConfig`` satisfies it)."""

    @property
    def send(self) -> str | None: ...

    @property
    def expect(self) -> TcpExpectSpec: ...


class TcpProbe:
    """Checks tcp services with an injected clock (and resolver, for tests)."""

    def __init__(self, clock: Clock, location: str = "local", *,
                 resolver: AbstractResolver | None = None,
                 source_address: str | None = None) -> None:
        self._clock = clock
        self._location = location
        self._resolver = resolver
        self._source_address = source_address

    async def check(self, service: TcpSpec) -> CheckResult:
        """Check ``service``, retrying at once up to ``service.retries`` times on failure
        (:func:`monitor.probes.retry.with_retries`)."""
        return await with_retries(functools.partial(self._attempt, service), service.retries,
                                  self._clock)

    async def _attempt(self, service: TcpSpec, started: datetime) -> CheckResult:
        if service.host is None or service.port is None:
            raise ValueError(f"service {service.name} has no host and port: not a tcp service")
        host, port = service.host, service.port
        banner = _Banner(service.expect.banner)
        writer: asyncio.StreamWriter | None = None
        t0 = self._clock.monotonic()
        latency: float | None
        try:
            async with asyncio.timeout(service.timeout.total_seconds()):
                reader, writer = await open_stream(
                    host, port, resolver=self._resolver, source_address=self._source_address)
                if service.send is not None:
                    writer.write(service.send.encode())
                    await writer.drain()
                error, detail = await banner.hear(reader)
            latency = self._since(t0)
        except TimeoutError:
            error, detail = banner.timed_out(service.timeout, connected=writer is not None)
            latency = self._since(t0)
        except OSError as exc:  # dns, refused, reset, unreachable
            error, detail = classify(exc, timeout=service.timeout, peer=(host, port))
            latency = None if writer is None else self._since(t0)
        except Exception as exc:
            log.exception("probe %s: unexpected error from %s:%s", service.name, host, port)
            error, detail = classify(exc, timeout=service.timeout, peer=(host, port))
            latency = self._since(t0)
        finally:
            if writer is not None:
                await close_stream(writer)
        return CheckResult(service=service.name, time=started, ok=error is None,
                           latency_ms=latency, error=error, detail=detail,
                           location=self._location)

    def _since(self, t0: float) -> float:
        return max(self._clock.monotonic() - t0, 0.0) * 1000.0


class _Banner:
    """What one attempt has heard of the server, judged against ``pattern`` (None: nothing is
    expected, and nothing is read)."""

    def __init__(self, pattern: str | None) -> None:
        self.pattern = pattern
        self.heard = bytearray()

    @property
    def text(self) -> str:
        return self.heard.decode("utf-8", errors="replace")

    async def hear(self, reader: asyncio.StreamReader) -> tuple[ErrorKind | None, str]:
        """Read until the pattern is found, the server closes or the limit is reached."""
        if self.pattern is None:
            return None, ""
        while len(self.heard) < BANNER_MAX_BYTES:
            chunk = await reader.read(BANNER_MAX_BYTES - len(self.heard))
            if not chunk:
                break
            self.heard += chunk
            try:
                if await matches(self.pattern, self.text):
                    return None, ""
            except PatternTooSlow:
                return ErrorKind.CONTENT, (
                    f"banner /{shorten(self.pattern)}/ took over {REGEX_TIME_LIMIT_S:g} s on "
                    "this banner; simplify the pattern")
        if not self.heard:
            return ErrorKind.CONTENT, (f"banner does not match /{shorten(self.pattern)}/: the "
                                       "server closed the connection without a word")
        return ErrorKind.CONTENT, self._mismatch("")

    def timed_out(self, timeout: timedelta, *, connected: bool) -> tuple[ErrorKind, str]:
        """The verdict when the timeout ended the attempt."""
        if self.heard and self.pattern is not None:
            return ErrorKind.CONTENT, self._mismatch(f" within {format_seconds(timeout)}")
        if connected and self.pattern is not None:
            return ErrorKind.TIMEOUT, f"connected, but no banner within {format_seconds(timeout)}"
        return classify(TimeoutError(), timeout=timeout)

    def _mismatch(self, when: str) -> str:
        assert self.pattern is not None
        return f"banner does not match /{shorten(self.pattern)}/{when}: got {quote(self.text)}"
