"""The dns probe (``kind: dns``): one question to a DNS server, and its answer judged.

One attempt asks for the ``record`` of ``query``. With ``server``, it asks that server at
``port`` (a name is resolved first, as a tcp ``host`` is, each address tried while it refuses)
over UDP from a *connected* socket, so that an ICMP "port unreachable" is a refusal heard at
once rather than a timeout, and again over TCP when the UDP answer is truncated
(:func:`dns.asyncquery.udp_with_fallback`; EDNS0 offers :data:`EDNS_PAYLOAD` bytes). Without
``server`` it asks the system's resolver, the nameservers of /etc/resolv.conf, read once per
probe rather than per check (an injected :class:`dns.asyncresolver.Resolver` replaces it; no
answer cache; ``port`` unused): its NXDOMAIN is that rcode, its NoAnswer NOERROR with no
records, and it drops replies that do not answer its question (so those end as timeouts). The
whole attempt is bounded by ``timeout``.

The answer's rcode is judged against ``expect.rcode``, then its records of the asked type in the
answer section (an alias's CNAME does not count for an A question) against ``expect.answers``
(exactly that set) and ``expect.answers_contain`` (each among them), all in one normal form,
the one details print: addresses canonical (``2001:db8::1``), names lower case with the
trailing dot (``mail.example.com`` = ``MAIL.example.com.``), MX ``preference exchange``, TXT
its strings joined; an expected TXT may also be quoted as ``dig +short`` prints it
(``"v=spf1 -all"``, ``"part one" "part two"``). An expected record that does not read as its
type is compared as written, so matches nothing.

Verdicts: another rcode is ``dns_answer`` (``rcode NXDOMAIN, expected NOERROR``), as are records
that are not the expected set or lack one, quoting what came and what was wanted (``A answers
'192.0.2.10', missing '192.0.2.11'``); no answer within the timeout is ``timeout``; a refusal
(ICMP unreachable, a TCP retry refused or reset) is ``connect``; a reply that is no answer to
the question (garbage, another id) is ``protocol``; a ``server`` name that does not resolve is
``dns``. A good answer's detail says what came (``A 192.0.2.10, 192.0.2.11``, ``NXDOMAIN``,
``NOERROR, no AAAA records``).

``latency_ms`` runs from sending the final attempt's question (to the address that answered)
to its answer; for a timeout it is the time waited; ``None`` when no question was sent or it
was refused (dns, connect). Only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import Protocol

import dns.asyncbackend
import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
from aiohttp.abc import AbstractResolver
from dns.rdtypes.mxbase import MXBase
from dns.rdtypes.nsbase import NSBase
from dns.rdtypes.txtbase import TXTBase

from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import Clock
from monitor.probes.classify import classify
from monitor.probes.connection import addresses
from monitor.probes.matching import quote
from monitor.probes.retry import with_retries

__all__ = ["EDNS_PAYLOAD", "DnsExpectSpec", "DnsProbe", "DnsSpec", "normalize"]

log = logging.getLogger(__name__)

#: The UDP answer size offered with EDNS0 (DNS Flag Day 2020's): larger answers come over TCP.
EDNS_PAYLOAD = 1232
_DETAIL_MAX = 160


class DnsExpectSpec(Protocol):
    @property
    def rcode(self) -> str: ...  # by name, as dns.rcode.to_text writes it: NOERROR, NXDOMAIN

    @property
    def answers(self) -> tuple[str, ...] | None: ...

    @property
    def answers_contain(self) -> tuple[str, ...]: ...


class DnsSpec(Protocol):
    """What the probe reads of a service (``monitor.config.ServiceConfig`` satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def query(self) -> str | None: ...  # None only for services of other kinds

    @property
    def record(self) -> str: ...

    @property
    def server(self) -> str | None: ...  # None: the system's resolver

    @property
    def port(self) -> int | None: ...

    @property
    def timeout(self) -> timedelta: ...

    @property
    def retries(self) -> int: ...

    @property
    def expect(self) -> DnsExpectSpec: ...


@dataclass(frozen=True, slots=True)
class _Answer:
    rcode: str
    records: frozenset[str]  # of the asked type, in normal form


class _Attempt:
    """When the question of one attempt went out, and to where (for a refusal's detail)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.sent: float | None = None
        self.peer: tuple[str, int] | None = None

    def send(self, peer: tuple[str, int] | None) -> None:
        self.sent, self.peer = self._clock.monotonic(), peer

    def latency_ms(self) -> float | None:
        if self.sent is None:
            return None
        return max(self._clock.monotonic() - self.sent, 0.0) * 1000.0


class DnsProbe:
    """Checks dns services with an injected clock; ``resolver`` resolves a ``server`` given by
    name (aiohttp's, as for tcp), ``system_resolver`` replaces the one read from
    /etc/resolv.conf (tests point it at loopback)."""

    def __init__(self, clock: Clock, location: str = "local", *,
                 resolver: AbstractResolver | None = None,
                 system_resolver: dns.asyncresolver.Resolver | None = None,
                 source_address: str | None = None) -> None:
        self._clock = clock
        self._location = location
        self._resolver = resolver
        self._system = system_resolver
        self._source_address = source_address

    async def check(self, service: DnsSpec) -> CheckResult:
        """Check ``service``, retrying at once up to ``service.retries`` times on failure
        (:func:`monitor.probes.retry.with_retries`)."""
        return await with_retries(functools.partial(self._attempt, service), service.retries,
                                  self._clock)

    async def _attempt(self, service: DnsSpec, started: datetime) -> CheckResult:
        if service.query is None:
            raise ValueError(f"service {service.name} has no query: not a dns service")
        attempt = _Attempt(self._clock)
        port = service.port if service.port is not None else 53
        asked = service.server or "the system resolver"
        error: ErrorKind | None
        try:
            async with asyncio.timeout(service.timeout.total_seconds()):
                if service.server is None:
                    answer = await self._ask_system(service.query, service, attempt)
                else:
                    answer = await self._ask_server(service.server, port, service, attempt)
            error, detail = _judge(answer, service.record, service.expect)
        except (TimeoutError, dns.exception.Timeout):
            error, detail = classify(TimeoutError(), timeout=service.timeout)
        except socket.gaierror as exc:  # the server's name
            error, detail = classify(exc, peer=(asked, port))
        except OSError as exc:  # refused, reset, unreachable
            error, detail = classify(exc, peer=attempt.peer)
        except dns.resolver.NoResolverConfiguration:
            error, detail = ErrorKind.DNS, "no system resolver: /etc/resolv.conf names none"
        except (dns.exception.DNSException, EOFError) as exc:  # not an answer to the question
            text = ("the connection closed before the answer was complete"
                    if isinstance(exc, EOFError) else " ".join(str(exc).split()))
            error, detail = ErrorKind.PROTOCOL, f"malformed DNS answer from {asked}: {text}"
        except Exception as exc:
            log.exception("probe %s: unexpected error asking %s", service.name, asked)
            error, detail = classify(exc, timeout=service.timeout)
        refused = error in (ErrorKind.DNS, ErrorKind.CONNECT)
        return CheckResult(service=service.name, time=started, ok=error is None,
                           latency_ms=None if refused else attempt.latency_ms(), error=error,
                           detail=_cut(detail), location=self._location)

    async def _ask_server(self, server: str, port: int, service: DnsSpec,
                          attempt: _Attempt) -> _Answer:
        """Ask ``server`` (each of its addresses in turn while they refuse)."""
        assert service.query is not None
        question = dns.message.make_query(service.query, service.record, use_edns=0,
                                          payload=EDNS_PAYLOAD)
        last: OSError | None = None
        for address in await addresses(server, port, self._resolver):
            try:
                reply = await self._exchange(question, address, port, attempt)
            except OSError as err:
                last = err
                continue
            return _answer(reply, service.record)
        assert last is not None  # addresses returns at least one
        raise last

    async def _exchange(self, question: dns.message.Message, address: str, port: int,
                        attempt: _Attempt) -> dns.message.Message:
        backend = dns.asyncbackend.get_backend("asyncio")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        source = None if self._source_address is None else (self._source_address, 0)
        udp = await backend.make_socket(  # type: ignore[no-untyped-call]  # (untyped in 2.9)
            family, socket.SOCK_DGRAM, 0, source, (address, port))
        async with udp:
            attempt.send((address, port))
            reply, _over_tcp = await dns.asyncquery.udp_with_fallback(
                question, address, port=port, source=self._source_address, udp_sock=udp,
                backend=backend)
        return reply

    async def _ask_system(self, query: str, service: DnsSpec, attempt: _Attempt) -> _Answer:
        """Ask the system's resolver; its exceptions for an rcode become that rcode."""
        if self._system is None:  # reads /etc/resolv.conf: once, not on every check
            self._system = dns.asyncresolver.Resolver()
        attempt.send(None)
        try:
            found = await self._system.resolve(
                dns.name.from_text(query), service.record, raise_on_no_answer=False,
                source=self._source_address, lifetime=service.timeout.total_seconds(),
                search=False)
        except dns.resolver.NXDOMAIN:
            return _Answer("NXDOMAIN", frozenset())
        except dns.resolver.YXDOMAIN:
            return _Answer("YXDOMAIN", frozenset())
        except dns.resolver.NoNameservers as exc:  # every nameserver failed: say the last's
            errors = exc.kwargs.get("errors") or []
            for _server, _tcp, _port, _err, response in reversed(errors):
                if isinstance(response, dns.message.Message):  # SERVFAIL, REFUSED …
                    return _answer(response, service.record)
            if errors and isinstance(errors[-1][3], Exception):
                attempt.peer = (str(errors[-1][0]), int(errors[-1][2]))
                raise errors[-1][3] from exc
            raise
        return _answer(found.response, service.record)


def _judge(answer: _Answer, record: str, expect: DnsExpectSpec) -> tuple[ErrorKind | None, str]:
    """An answer's verdict and detail against ``expect``."""
    if answer.rcode != expect.rcode:
        return ErrorKind.DNS_ANSWER, f"rcode {answer.rcode}, expected {expect.rcode}"
    got = answer.records
    came = f"{record} answers {quote(_listed(got))}" if got else f"no {record} records"
    if expect.answers is not None:
        wanted = frozenset(normalize(record, text) for text in expect.answers)
        if got != wanted:
            return ErrorKind.DNS_ANSWER, f"{came}, expected exactly {quote(_listed(wanted))}"
    missing = [text for text in expect.answers_contain if normalize(record, text) not in got]
    if missing:
        return ErrorKind.DNS_ANSWER, f"{came}, missing {quote(', '.join(missing))}"
    if got:
        return None, f"{record} {_listed(got)}"
    return None, answer.rcode if answer.rcode != "NOERROR" else f"NOERROR, no {record} records"


def normalize(record: str, text: str) -> str:
    """An expected record of type ``record``, as ``dig +short`` prints it, in the normal form
    answers are compared in (the module docstring); as written when it does not read."""
    text = text.strip()
    try:
        if record in ("A", "AAAA"):
            return str(ip_address(text))
        if record in ("CNAME", "NS"):
            return _name(dns.name.from_text(text))
        if record == "MX":
            preference, exchange = text.split()
            return f"{int(preference)} {_name(dns.name.from_text(exchange))}"
        if record == "TXT" and len(text) >= 2 and text[0] == text[-1] == '"':
            quoted = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text)
            if isinstance(quoted, TXTBase):
                return _text(quoted.strings)
    except (ValueError, dns.exception.DNSException):
        pass
    return text


def _answer(reply: dns.message.Message, record: str) -> _Answer:
    rdtype = dns.rdatatype.from_text(record)
    records = frozenset(_present(rdata) for rrset in reply.answer
                        if rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN
                        for rdata in rrset)
    return _Answer(dns.rcode.to_text(reply.rcode()), records)


def _present(rdata: dns.rdata.Rdata) -> str:
    """A record of an answer in normal form."""
    if rdata.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return str(ip_address(rdata.to_text()))
    if isinstance(rdata, NSBase):  # CNAME, NS
        return _name(rdata.target)
    if isinstance(rdata, MXBase):
        return f"{int(rdata.preference)} {_name(rdata.exchange)}"
    if isinstance(rdata, TXTBase):
        return _text(rdata.strings)
    return rdata.to_text()


def _name(name: dns.name.Name) -> str:
    return name.canonicalize().to_text()


def _text(strings: tuple[bytes, ...]) -> str:
    return b"".join(strings).decode("utf-8", errors="replace")


def _listed(records: frozenset[str]) -> str:
    return ", ".join(sorted(records))


def _cut(detail: str) -> str:
    return detail if len(detail) <= _DETAIL_MAX else detail[: _DETAIL_MAX - 1] + "…"
