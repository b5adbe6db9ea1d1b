"""The dns probe against real loopback DNS servers: one with a small zone (UDP and TCP on the
same port), one that never answers, one that answers garbage or another query's id, a closed
port; the system-resolver path with a resolver pointed at loopback. Then ``/metrics``, the
same through ``upwatch probe`` and a running ``upwatch run``.

Nothing here leaves loopback: services name their server by address, names resolve through a
resolver that fails every lookup (or maps a test name to loopback), and the system-resolver
path is always given a resolver whose nameserver is the test server. Services are built from
YAML through ``monitor.config``, so config and probe agree. A short timeout is what ends the
checks that expect none; everything else is timed on the fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import signal
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from probe_servers import FailingResolver
from prometheus_client import CollectorRegistry
from test_probe_tcp import run_cli
from test_run_e2e import Upwatch, poll

from monitor.config import ServiceConfig, parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.metrics.probes import ProbeMetrics
from monitor.probes import ServiceProbe, make_session
from monitor.probes.dns import DnsProbe, normalize
from monitor.run.scheduler import ProbeScheduler

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)

#: The test zone: name → record type → records in zone-file form.
ZONE: dict[str, dict[str, tuple[str, ...]]] = {
    "example.test.": {
        "MX": ("10 mail.example.test.", "20 Backup.Example.TEST."),
        "NS": ("ns1.example.test.", "ns2.example.test."),
        "TXT": ('"v=spf1 -all"', '"part one " "part two"'),
    },
    "www.example.test.": {"A": ("192.0.2.10", "192.0.2.11"), "AAAA": ("2001:db8::10",)},
    "alias.example.test.": {"CNAME": ("www.example.test.",)},
    # ten 200-byte strings: more than EDNS_PAYLOAD, so UDP answers it truncated
    "big.example.test.": {"TXT": tuple(f'"{i:02} {"x" * 196}"' for i in range(10))},
}


def answer(query: dns.message.Message,
           rcode: dns.rcode.Rcode | None = None) -> dns.message.Message:
    """The zone's answer to ``query``: following a CNAME within the zone, NOERROR with no
    records for a name without that type, NXDOMAIN for a name not in the zone."""
    response = dns.message.make_response(query)
    if rcode is not None:
        response.set_rcode(rcode)
        return response
    question = query.question[0]
    name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
    if name not in ZONE:
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    while "CNAME" in ZONE[name] and rdtype != "CNAME":
        target = ZONE[name]["CNAME"][0]
        response.answer.append(dns.rrset.from_text_list(name, 300, "IN", "CNAME", [target]))
        name = target
    if rdtype in ZONE[name]:
        response.answer.append(
            dns.rrset.from_text_list(name, 300, "IN", rdtype, list(ZONE[name][rdtype])))
    return response


class DnsServer:
    """The zone on 127.0.0.1, UDP and TCP on one port. ``rcode`` (settable) answers every
    question with that code instead; ``failing`` answers the next questions SERVFAIL;
    ``before_answer`` runs before each answer (tests move the fake clock there)."""

    def __init__(self) -> None:
        self.rcode: dns.rcode.Rcode | None = None
        self.failing = 0
        self.before_answer: Callable[[], None] | None = None
        self.asked: list[tuple[str, str, str]] = []  # (transport, name, type)
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def reply(self, wire: bytes, transport: str) -> dns.message.Message:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        self.asked.append((transport, question.name.to_text(),
                           dns.rdatatype.to_text(question.rdtype)))
        if self.before_answer is not None:
            self.before_answer()
        if self.failing:
            self.failing -= 1
            return answer(query, dns.rcode.SERVFAIL)
        return answer(query, self.rcode)

    def udp_reply(self, wire: bytes) -> bytes:
        response = self.reply(wire, "udp")
        try:
            return response.to_wire()  # at most the size the question offered
        except dns.exception.TooBig:  # truncated, as servers do: the client asks over TCP
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (size,) = struct.unpack("!H", await reader.readexactly(2))
            out = self.reply(await reader.readexactly(size), "tcp").to_wire(max_size=65535)
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._on_tcp(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DnsServer]:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the UDP port picked may be taken for TCP: pick again
            udp, _ = await loop.create_datagram_endpoint(
                lambda: Replier(self.udp_reply), local_addr=("127.0.0.1", 0))
            self.port = udp.get_extra_info("sockname")[1]
            try:
                tcp = await asyncio.start_server(
                    lambda r, w: self._track(r, w), "127.0.0.1", self.port)
            except OSError as err:
                udp.close()
                if err.errno != errno.EADDRINUSE:
                    raise
                continue
            break
        else:
            raise AssertionError("no free port for UDP and TCP")
        try:
            yield self
        finally:
            udp.close()
            tcp.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await tcp.wait_closed()


class Replier(asyncio.DatagramProtocol):
    """Sends back ``reply(datagram)`` for each datagram (nothing when it returns None)."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self._reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        out = self._reply(data)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


@contextlib.asynccontextmanager
async def serve_udp(reply: Callable[[bytes], bytes | None]) -> AsyncIterator[int]:
    """A UDP-only server on 127.0.0.1 answering with ``reply``; yields its port."""
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Replier(reply), local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@contextlib.contextmanager
def silent_udp() -> Iterator[int]:
    """A bound UDP port nobody reads: questions queue in the kernel, unanswered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_udp_port() -> int:
    """A UDP port nobody listens on (bound, then closed): the kernel answers ICMP unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class NameResolver(AbstractResolver):
    """Resolves the names it is given to their addresses; fails any other, as getaddrinfo."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET,
                              proto=0, flags=0) for address in self.names[host]]

    async def close(self) -> None:
        return None


def loopback_resolver(port: int) -> dns.asyncresolver.Resolver:
    """A system-style resolver whose one nameserver is 127.0.0.1:``port``."""
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    return resolver


def dns_yaml(port: int | None = None, *, name: str = "resolver", query: str = "www.example.test",
             record: str = "A", server: str | None = "127.0.0.1", timeout: str = "1s",
             retries: int = 0, expect: str = "") -> str:
    where = "" if server is None else f", server: '{server}'"
    where += "" if port is None else f", port: {port}"
    wanted = f", expect: {{{expect}}}" if expect else ""
    return (f"  - {{name: {name}, kind: dns, query: {query}, record: {record}{where}, "
            f"interval: 1s, timeout: {timeout}, retries: {retries}{wanted}}}\n")


def service(port: int | None = None, **kwargs: Any) -> ServiceConfig:
    """A dns service as probes.yaml gives it (see :func:`dns_yaml`)."""
    config = parse_config("services:\n" + dns_yaml(port, **kwargs))
    return config.service(kwargs.get("name", "resolver"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def probe(clock: FakeClock) -> DnsProbe:
    return DnsProbe(clock, "test-lab", resolver=FailingResolver())


@pytest.fixture
async def server() -> AsyncIterator[DnsServer]:
    async with DnsServer().running() as srv:
        yield srv


# --- up -----------------------------------------------------------------------------------


async def test_an_a_record_answer_is_up_saying_what_came(
    probe: DnsProbe, server: DnsServer
) -> None:
    result = await probe.check(service(server.port))
    assert (result.ok, result.error, result.status) == (True, None, None)
    assert result.detail == "A 192.0.2.10, 192.0.2.11"
    assert (result.service, result.location, result.time) == ("resolver", "test-lab", T0)
    assert result.latency_ms == 0.0  # the fake clock did not move
    assert server.asked == [("udp", "www.example.test.", "A")]


@pytest.mark.parametrize(("query", "record", "expect", "detail"), [
    ("www.example.test", "A", "answers: ['192.0.2.11', '192.0.2.10']",
     "A 192.0.2.10, 192.0.2.11"),
    ("www.example.test", "AAAA", "answers: ['2001:DB8:0:0::10']", "AAAA 2001:db8::10"),
    ("alias.example.test", "CNAME", "answers: [WWW.Example.Test]", "CNAME www.example.test."),
    ("example.test", "MX", "answers: ['10 MAIL.example.test', '20 backup.example.test.']",
     "MX 10 mail.example.test., 20 backup.example.test."),
    ("example.test", "NS", "answers_contain: [ns2.example.test]",
     "NS ns1.example.test., ns2.example.test."),
    ("example.test", "TXT", "answers: ['v=spf1 -all', 'part one part two']",
     "TXT part one part two, v=spf1 -all"),
    ("example.test", "TXT", """answers_contain: ['"part one " "part two"', '"v=spf1 -all"']""",
     "TXT part one part two, v=spf1 -all"),
], ids=["a_set_in_any_order", "aaaa_canonical", "cname_case_and_dot", "mx_pref_exchange",
        "ns_contains", "txt_unquoted_joined", "txt_quoted_as_dig_prints"])
async def test_expected_records_are_compared_in_normal_form(
    probe: DnsProbe, server: DnsServer, query: str, record: str, expect: str, detail: str
) -> None:
    result = await probe.check(service(server.port, query=query, record=record, expect=expect))
    assert (result.ok, result.error, result.detail) == (True, None, detail)


async def test_an_alias_s_cname_does_not_count_among_its_a_records(
    probe: DnsProbe, server: DnsServer
) -> None:
    result = await probe.check(service(server.port, query="alias.example.test",
                                       expect="answers: [192.0.2.10, 192.0.2.11]"))
    assert (result.ok, result.detail) == (True, "A 192.0.2.10, 192.0.2.11")


async def test_nxdomain_is_up_when_expected(probe: DnsProbe, server: DnsServer) -> None:
    result = await probe.check(service(server.port, query="gone.example.test",
                                       expect="rcode: nxdomain"))
    assert (result.ok, result.error, result.detail) == (True, None, "NXDOMAIN")


async def test_a_name_without_the_record_is_noerror_with_none(
    probe: DnsProbe, server: DnsServer
) -> None:
    result = await probe.check(service(server.port, record="MX"))
    assert (result.ok, result.detail) == (True, "NOERROR, no MX records")


async def test_a_truncated_udp_answer_is_asked_again_over_tcp(
    probe: DnsProbe, server: DnsServer
) -> None:
    result = await probe.check(service(server.port, query="big.example.test", record="TXT",
                                       expect="answers_contain: ['09 " + "x" * 196 + "']"))
    assert (result.ok, result.error) == (True, None), result.detail
    assert [transport for transport, _, _ in server.asked] == ["udp", "tcp"]


async def test_a_retry_after_a_bad_answer_can_pass(probe: DnsProbe, server: DnsServer) -> None:
    server.failing = 1
    result = await probe.check(service(server.port, retries=1))
    assert (result.ok, result.time, len(server.asked)) == (True, T0, 2)


async def test_a_slow_answer_is_degraded_by_max_latency(
    probe: DnsProbe, server: DnsServer, clock: FakeClock
) -> None:
    server.before_answer = lambda: clock.advance(0.5)
    svc = service(server.port, expect="max_latency: 200ms")
    result = await probe.check(svc)
    assert (result.ok, result.latency_ms) == (True, 500.0)
    assert result.state(svc.expect.max_latency_ms) is State.DEGRADED


async def test_a_server_given_by_name_is_resolved_and_its_refusing_address_skipped(
    clock: FakeClock, server: DnsServer
) -> None:
    # 127.0.0.2 is loopback too, with nothing on the port: refused, so 127.0.0.1 is asked
    probe = DnsProbe(clock, resolver=NameResolver({"ns.test": ["127.0.0.2", "127.0.0.1"]}))
    result = await probe.check(service(server.port, server="ns.test"))
    assert (result.ok, result.detail) == (True, "A 192.0.2.10, 192.0.2.11")


# --- down ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "record", "expect", "detail"), [
    ("gone.example.test", "A", "", "rcode NXDOMAIN, expected NOERROR"),
    ("www.example.test", "A", "rcode: NXDOMAIN", "rcode NOERROR, expected NXDOMAIN"),
    ("www.example.test", "A", "answers: [192.0.2.10]",
     "A answers '192.0.2.10, 192.0.2.11', expected exactly '192.0.2.10'"),
    ("www.example.test", "A", "answers_contain: [192.0.2.10, 192.0.2.99, 192.0.2.98]",
     "A answers '192.0.2.10, 192.0.2.11', missing '192.0.2.99, 192.0.2.98'"),
    ("www.example.test", "MX", "answers: ['10 mail.example.test']",
     "no MX records, expected exactly '10 mail.example.test.'"),
    # the alias's CNAME record is not among an A query's answers: only its A records are
    ("alias.example.test", "A", "answers: [192.0.2.10]",
     "A answers '192.0.2.10, 192.0.2.11', expected exactly '192.0.2.10'"),
    ("example.test", "TXT", "answers: ['" + "y" * 50 + "']",
     "TXT answers 'part one part two, v=spf1 -all', expected exactly '" + "y" * 39 + "…'"),
], ids=["nxdomain", "other_rcode", "more_than_expected", "missing", "none", "cname_not_a",
        "long_quoted_shortened"])
async def test_an_answer_not_as_expected_is_dns_answer(
    probe: DnsProbe, server: DnsServer, query: str, record: str, expect: str, detail: str
) -> None:
    result = await probe.check(service(server.port, query=query, record=record, expect=expect))
    assert (result.ok, result.error, result.detail) == (False, ErrorKind.DNS_ANSWER, detail)
    assert result.latency_ms == 0.0  # an answer came
    assert result.state(None) is State.DOWN


async def test_a_server_that_never_answers_is_a_timeout(probe: DnsProbe) -> None:
    with silent_udp() as port:
        result = await probe.check(service(port, timeout="300ms"))
    assert (result.ok, result.error, result.detail) == (False, ErrorKind.TIMEOUT,
                                                        "no answer within 0.3s")
    assert result.latency_ms is not None  # the time waited (on the fake clock: none)


async def test_a_closed_port_is_connect_with_no_latency(probe: DnsProbe) -> None:
    port = closed_udp_port()
    result = await probe.check(service(port))  # ICMP port unreachable, heard at once
    assert (result.ok, result.error, result.latency_ms) == (False, ErrorKind.CONNECT, None)
    assert result.detail == f"connection refused by 127.0.0.1:{port}"


def truncated_empty(wire: bytes) -> bytes:
    response = dns.message.make_response(dns.message.from_wire(wire))
    response.flags |= dns.flags.TC
    return response.to_wire()


async def test_a_truncated_answer_whose_tcp_retry_is_refused_is_connect(
    probe: DnsProbe
) -> None:
    async with serve_udp(truncated_empty) as port:  # nothing listens on TCP
        result = await probe.check(service(port))
    assert (result.ok, result.error) == (False, ErrorKind.CONNECT)
    assert result.detail == f"connection refused by 127.0.0.1:{port}"


#: A header that claims one question and one answer (no TC bit), then bytes that are neither.
GARBAGE = bytes.fromhex("1234 8180 0001 0001 0000 0000") + b"\xff\xfe not DNS \x00"


def another_id(wire: bytes) -> bytes:
    response = answer(dns.message.from_wire(wire))
    response.id ^= 1
    return response.to_wire()


@pytest.mark.parametrize(("reply", "reason"), [
    (lambda wire: GARBAGE, "compression pointer points forward"),
    (lambda wire: b"\x00", "too short"),
    (another_id, "does not respond to the question asked"),
], ids=["garbage", "short", "another_id"])
async def test_a_reply_that_is_not_an_answer_is_protocol(
    probe: DnsProbe, reply: Callable[[bytes], bytes], reason: str
) -> None:
    async with serve_udp(reply) as port:
        result = await probe.check(service(port))
    assert (result.ok, result.error) == (False, ErrorKind.PROTOCOL)
    assert result.detail.startswith("malformed DNS answer from 127.0.0.1: ")
    assert reason in result.detail
    assert result.latency_ms is not None


async def test_a_server_name_that_does_not_resolve_is_dns(probe: DnsProbe) -> None:
    result = await probe.check(service(53, server="ns.example.invalid"))
    assert (result.ok, result.error, result.latency_ms) == (False, ErrorKind.DNS, None)
    assert result.detail == "cannot resolve ns.example.invalid: Name or service not known"


# --- the system's resolver (never the real one: always pointed at loopback) -----------------


@pytest.mark.parametrize(("query", "record", "expect", "verdict"), [
    ("www.example.test", "A", "", (True, None, "A 192.0.2.10, 192.0.2.11")),
    ("gone.example.test", "A", "rcode: NXDOMAIN", (True, None, "NXDOMAIN")),
    ("gone.example.test", "A", "", (False, ErrorKind.DNS_ANSWER,
                                     "rcode NXDOMAIN, expected NOERROR")),
    ("www.example.test", "TXT", "", (True, None, "NOERROR, no TXT records")),
    ("alias.example.test", "A", "answers: [192.0.2.10]", (
        False, ErrorKind.DNS_ANSWER,
        "A answers '192.0.2.10, 192.0.2.11', expected exactly '192.0.2.10'")),
], ids=["answer", "nxdomain_expected", "nxdomain", "no_answer", "mismatch"])
async def test_without_a_server_the_system_resolver_is_asked(
    clock: FakeClock, server: DnsServer, query: str, record: str, expect: str,
    verdict: tuple[bool, ErrorKind | None, str],
) -> None:
    probe = DnsProbe(clock, system_resolver=loopback_resolver(server.port))
    svc = service(query=query, record=record, server=None, expect=expect)
    assert svc.server is None
    result = await probe.check(svc)
    assert (result.ok, result.error, result.detail) == verdict


async def test_the_system_resolver_s_servfail_is_that_rcode(
    clock: FakeClock, server: DnsServer
) -> None:
    server.failing = 10
    probe = DnsProbe(clock, system_resolver=loopback_resolver(server.port))
    result = await probe.check(service(server=None))
    assert (result.ok, result.error, result.detail) == (
        False, ErrorKind.DNS_ANSWER, "rcode SERVFAIL, expected NOERROR")


@pytest.mark.parametrize("reply", [None, lambda wire: GARBAGE, another_id],
                         ids=["silent", "garbage", "another_id"])
async def test_the_system_resolver_waits_out_silence_and_replies_that_are_not_answers(
    clock: FakeClock, reply: Callable[[bytes], bytes | None] | None
) -> None:
    """dnspython's resolver drops what does not answer its question (as spoofing would look)
    and waits on: for the system resolver, those are timeouts, not ``protocol``."""
    async with serve_udp(reply or (lambda wire: None)) as port:
        probe = DnsProbe(clock, system_resolver=loopback_resolver(port))
        result = await probe.check(service(server=None, timeout="300ms"))
    assert (result.ok, result.error, result.detail) == (False, ErrorKind.TIMEOUT,
                                                        "no answer within 0.3s")


async def test_the_system_resolver_is_built_once_and_again_only_after_failing(
    clock: FakeClock, server: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    loopback = loopback_resolver(server.port)

    def resolver() -> dns.asyncresolver.Resolver:  # stands in for reading /etc/resolv.conf
        built.append("built")
        if len(built) == 1:
            raise dns.resolver.NoResolverConfiguration()  # type: ignore[no-untyped-call]
        return loopback

    monkeypatch.setattr(dns.asyncresolver, "Resolver", resolver)
    probe = DnsProbe(clock)
    first = await probe.check(service(server=None))
    assert (first.ok, first.error, first.latency_ms) == (False, ErrorKind.DNS, None)
    assert first.detail == "no system resolver: /etc/resolv.conf names none"
    for _ in range(3):
        assert (await probe.check(service(server=None))).ok
    assert built == ["built", "built"]


# --- normal form --------------------------------------------------------------------------


@pytest.mark.parametrize(("record", "text", "normal"), [
    ("A", " 192.0.2.1 ", "192.0.2.1"),
    ("A", "not-an-address", "not-an-address"),
    ("AAAA", "2001:0DB8::0001", "2001:db8::1"),
    ("CNAME", "Mail.Example.COM", "mail.example.com."),
    ("NS", "ns1.example.com.", "ns1.example.com."),
    ("MX", "010  MAIL.example.com", "10 mail.example.com."),
    ("MX", "mail.example.com", "mail.example.com"),
    ("TXT", "v=spf1 -all", "v=spf1 -all"),
    ("TXT", '"v=spf1 -all"', "v=spf1 -all"),
    ("TXT", '"a" "b c"', "ab c"),
    ("TXT", '"unclosed', '"unclosed'),
])
def test_normal_form_of_expected_records(record: str, text: str, normal: str) -> None:
    assert normalize(record, text) == normal


# --- through the probe of its kind, and /metrics ---------------------------------------------


async def test_a_configured_dns_service_is_checked_by_the_dns_probe(server: DnsServer) -> None:
    config = parse_config("services:\n" + dns_yaml(server.port))
    async with make_session() as session:
        result = await ServiceProbe(session, FakeClock(T0)).check(config.service("resolver"))
    assert (result.ok, result.detail) == (True, "A 192.0.2.10, 192.0.2.11")


def lookup_time(registry: CollectorRegistry, service: str, **labels: str) -> float | None:
    return registry.get_sample_value("probe_dns_lookup_time_seconds",
                                     {"service": service, **labels})


@pytest.mark.parametrize("locations", [False, True])
def test_probe_dns_lookup_time_follows_dns_checks_and_goes_with_the_service(
    locations: bool
) -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry, locations=locations)
    labels = {"location": "local"} if locations else {}

    def check(latency_ms: float | None, ok: bool = True) -> CheckResult:
        return CheckResult("resolver", T0, ok, latency_ms,
                           error=None if ok else ErrorKind.CONNECT)

    metrics.observe(check(12.5), "dns")
    assert lookup_time(registry, "resolver", **labels) == 0.0125
    metrics.observe(check(40.0), None)  # a caller that does not know the kind: unchanged
    assert lookup_time(registry, "resolver", **labels) == 0.0125
    metrics.observe(check(None, ok=False), "dns")  # refused: nothing answered
    assert lookup_time(registry, "resolver", **labels) is None
    metrics.observe(check(7.0), "dns")
    metrics.observe(check(9.0), "http")  # the service became another kind
    assert lookup_time(registry, "resolver", **labels) is None
    metrics.observe(check(7.0), "dns")
    metrics.forget("resolver")
    assert lookup_time(registry, "resolver", **labels) is None
    assert registry.get_sample_value("probe_success", {"service": "resolver", **labels}) is None


class Sink:
    def __init__(self) -> None:
        self.observations: list[Observation] = []

    def submit(self, obs: Observation) -> None:
        self.observations.append(obs)


async def test_the_scheduler_sets_probe_dns_lookup_time_and_drops_it_with_the_service(
    clock: FakeClock, server: DnsServer
) -> None:
    server.before_answer = lambda: clock.advance(0.02)
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    config = parse_config("services:\n" + dns_yaml(server.port))
    async with make_session() as session:
        scheduler = ProbeScheduler(ServiceProbe(session, clock), Sink(), metrics, clock)
        scheduler.start(config.services, schedule=False)
        try:
            result = await scheduler.run_check("resolver")
            assert result is not None and result.ok
            assert lookup_time(registry, "resolver") == pytest.approx(0.02)
            scheduler.apply([])
            assert lookup_time(registry, "resolver") is None
        finally:
            await scheduler.stop(grace=1.0)


# --- upwatch probe, and upwatch run following a dns target down and back -------------------


async def test_upwatch_probe_runs_a_dns_service(tmp_path: Path, server: DnsServer) -> None:
    (tmp_path / "probes.yaml").write_text(
        "services:\n" + dns_yaml(server.port)
        + dns_yaml(server.port, name="other", query="gone.example.test"))
    assert await run_cli(tmp_path, "check-config") == (0, "OK: 2 services\n", "")
    code, out, _ = await run_cli(tmp_path, "probe", "resolver")
    assert code == 0
    assert re.fullmatch(
        rf"resolver: UP in \d+\.\d ms  dns:www\.example\.test A @127\.0\.0\.1:{server.port}\n",
        out)
    code, out, _ = await run_cli(tmp_path, "probe", "other")
    assert code == 1
    assert out.startswith("other: DOWN in ")
    assert out.endswith(f"  dns:gone.example.test A @127.0.0.1:{server.port}\n"
                        "  dns_answer: rcode NXDOMAIN, expected NOERROR\n")


async def test_run_follows_a_dns_service_down_and_back(tmp_path: Path, server: DnsServer) -> None:
    (tmp_path / "probes.yaml").write_text("site: {title: e2e}\nservices:\n"
                                          + dns_yaml(server.port))
    up = Upwatch(tmp_path)
    await up.start()
    try:
        await up.wait_metric("probe_success", "resolver", 1.0)
        async with aiohttp.ClientSession() as session:
            async def page_says_resolved() -> bool:  # rebuilt after every service's 1st check
                async with session.get(f"{up.base}/") as resp:
                    return re.search(r"Resolved in \d", await resp.text()) is not None

            await poll(page_says_resolved, "the page saying 'Resolved in'", up.log)
            async with session.get(f"{up.base}/status.json") as resp:
                summary = await resp.json()
            assert [c["name"] for c in summary["components"]] == ["resolver"]
            assert [(s["id"], s["kind"], s["state"]) for s in summary["upwatch"]["services"]] == [
                ("resolver", "dns", "up")]
            assert await up.metric(session, "probe_duration_seconds", "resolver") is not None
            assert await up.metric(session, "probe_http_status_code", "resolver") == 0.0
            server.rcode = dns.rcode.NXDOMAIN
            await up.wait_metric("probe_success", "resolver", 0.0)
            await up.wait_log(r"service resolver is down \(dns_answer: rcode NXDOMAIN, "
                              r"expected NOERROR\)")
            server.rcode = None
            await up.wait_metric("probe_success", "resolver", 1.0)
            await up.wait_log(r"service resolver is up")
        assert ("udp", "www.example.test.", "A") in server.asked
    finally:
        code = await up.signal(signal.SIGTERM)
    assert code == 0, "\n".join(up.log)
