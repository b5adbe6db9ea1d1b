"""``starttls:`` on a tls service: the tls probe and the hourly certificate check ask for TLS
in the service's own protocol first. SMTP against a real SMTP server (aiosmtpd, STARTTLS
with a ``trustme`` certificate); IMAP, POP3 and PostgreSQL's SSLRequest against loopback
servers that speak just enough of each and then upgrade the same connection. Servers that do
not agree fail the check as ``protocol``, quoting what they said."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import struct
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from probe_servers import FailingResolver, RawServer, serve_raw, wait_forever
from test_probe_tls_kind import TlsService, leaf, not_after, server_context, trusting
from test_run_e2e import DEADLINE

from monitor.config import ConfigError, parse_config
from monitor.core.checks import ErrorKind, State
from monitor.core.clock import FakeClock, SystemClock
from monitor.probes import TlsProbe
from monitor.probes.starttls import MAX_LINE, PROTOCOLS
from monitor.probes.tls import cert_expiry
from monitor.times import iso_utc

Conversation = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


@pytest.fixture(scope="module")
def now() -> datetime:
    return SystemClock().now().replace(microsecond=0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def probe(ca: trustme.CA, now: datetime) -> TlsProbe:
    return TlsProbe(FakeClock(now), "test-lab", context=trusting(ca), resolver=FailingResolver())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class _Quiet:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@contextmanager
def smtp_server(tls: ssl.SSLContext | None) -> Iterator[int]:
    """A real SMTP server on loopback; offering STARTTLS with ``tls``, or not at all."""
    port = _free_port()
    kwargs: dict[str, Any] = {} if tls is None else {"tls_context": tls,
                                                     "require_starttls": True}
    controller = Controller(_Quiet(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def _line(reader: asyncio.StreamReader) -> bytes:
    return (await reader.readline()).rstrip(b"\r\n")


def speaking(protocol: str, tls: ssl.SSLContext, *, agree: bool = True) -> Conversation:
    """A server side of ``protocol``'s STARTTLS that upgrades (or, not ``agree``, refuses)."""

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if protocol == "imap":
            writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
            assert await _line(reader) == b"a1 STARTTLS"
            writer.write(b"* BYE not today\r\na1 NO no TLS here\r\n" if not agree else
                         b"* NOTE untagged first\r\na1 OK begin TLS now\r\n")
        elif protocol == "pop3":
            writer.write(b"+OK POP3 ready\r\n")
            assert await _line(reader) == b"STLS"
            writer.write(b"+OK begin TLS\r\n" if agree else b"-ERR not supported\r\n")
        else:
            assert protocol == "postgres"
            assert await reader.readexactly(8) == struct.pack("!ii", 8, 80877103)
            writer.write(b"S" if agree else b"N")
        await writer.drain()
        return agree

    return talk


def serving(talk: Conversation, tls: ssl.SSLContext) -> AbstractAsyncContextManager[RawServer]:
    """A loopback server that talks ``talk``, then TLS on the same connection if it agreed."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await talk(reader, writer):
            await writer.start_tls(tls)
            await reader.read()  # until the probe closes
    return serve_raw(handler)


# --- up, degraded: the certificate read after the upgrade ----------------------------------


async def test_smtp_starttls_against_a_real_smtp_server(
        probe: TlsProbe, ca: trustme.CA, now: datetime) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=30))
    with smtp_server(server_context(cert)) as port:
        result = await probe.check(TlsService(port=port, starttls="smtp"))
    assert (result.ok, result.error) == (True, None), result.detail
    assert result.detail == f"certificate valid until {iso_utc(not_after(cert))}"


async def test_an_smtp_certificate_expiring_in_2_days_is_degraded(
        probe: TlsProbe, ca: trustme.CA, now: datetime) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=2))
    with smtp_server(server_context(cert)) as port:
        result = await probe.check(TlsService(port=port, starttls="smtp"))
    assert (result.ok, result.error) == (True, ErrorKind.CERT_EXPIRING)
    assert result.state(None) is State.DEGRADED


@pytest.mark.parametrize("protocol", ["imap", "pop3", "postgres"])
async def test_imap_pop3_and_postgres_upgrade_the_same_connection(
        probe: TlsProbe, ca: trustme.CA, now: datetime, protocol: str) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=30))
    tls = server_context(cert)
    async with serving(speaking(protocol, tls), tls) as srv:
        result = await probe.check(TlsService(port=srv.port, starttls=protocol))
    assert (result.ok, result.error) == (True, None), result.detail
    assert result.detail == f"certificate valid until {iso_utc(not_after(cert))}"


async def test_the_upgraded_handshake_verifies_like_a_direct_one(
        probe: TlsProbe, ca: trustme.CA, now: datetime) -> None:
    wrong_name = leaf(ca, now, lasts=timedelta(days=30), names=("mail.example.test",))
    with smtp_server(server_context(wrong_name)) as port:
        result = await probe.check(TlsService(port=port, starttls="smtp"))
    assert (result.ok, result.error) == (False, ErrorKind.TLS)
    assert "IP address mismatch" in result.detail


# --- servers that do not agree: protocol, with what they said -------------------------------


async def test_an_smtp_server_without_starttls_is_a_protocol_failure(probe: TlsProbe) -> None:
    with smtp_server(None) as port:
        result = await probe.check(TlsService(port=port, starttls="smtp"))
    assert (result.ok, result.error) == (False, ErrorKind.PROTOCOL)
    assert result.detail == "STARTTLS (smtp): the server does not offer STARTTLS"


@pytest.mark.parametrize(("protocol", "said"), [
    ("imap", "STARTTLS (imap): STARTTLS answered 'a1 NO no TLS here'"),
    ("pop3", "STARTTLS (pop3): STLS answered '-ERR not supported'"),
    ("postgres", "STARTTLS (postgres): the server does not take TLS (N)"),
])
async def test_a_refused_upgrade_is_a_protocol_failure_quoting_the_server(
        probe: TlsProbe, ca: trustme.CA, now: datetime, protocol: str, said: str) -> None:
    tls = server_context(leaf(ca, now, lasts=timedelta(days=30)))
    async with serving(speaking(protocol, tls, agree=False), tls) as srv:
        result = await probe.check(TlsService(port=srv.port, starttls=protocol))
    assert (result.ok, result.error, result.detail) == (False, ErrorKind.PROTOCOL, said)


async def test_a_server_of_another_protocol_is_named_for_what_it_sent(probe: TlsProbe) -> None:
    async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with serve_raw(http_like) as srv:
        result = await probe.check(TlsService(port=srv.port, starttls="smtp"))
    assert (result.error, result.detail) == (
        ErrorKind.PROTOCOL, "STARTTLS (smtp): expected a 220 greeting, got 'HTTP/1.1 400 Bad "
                            "Request'")


async def test_an_endless_line_is_cut_at_the_bound(probe: TlsProbe) -> None:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220" + b"x" * (MAX_LINE * 4))
        await writer.drain()
        await reader.read()

    async with serve_raw(flood) as srv:
        result = await probe.check(TlsService(port=srv.port, starttls="smtp"))
    assert result.error is ErrorKind.PROTOCOL
    assert result.detail.startswith(f"STARTTLS (smtp): a line longer than {MAX_LINE} bytes: "
                                    "'220xxx")
    assert len(result.detail) < 200


async def test_a_silent_server_times_out(probe: TlsProbe) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await wait_forever()

    async with serve_raw(silent) as srv:
        result = await probe.check(TlsService(port=srv.port, starttls="imap",
                                              timeout=timedelta(milliseconds=300)))
    assert (result.ok, result.error) == (False, ErrorKind.TIMEOUT)


# --- the hourly certificate check, and the config ---------------------------------------------


async def test_the_hourly_certificate_check_upgrades_too(ca: trustme.CA, now: datetime) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=30))
    tls = server_context(cert)
    with smtp_server(tls) as port:
        assert await cert_expiry("127.0.0.1", port, context=trusting(ca),
                                 starttls="smtp") == not_after(cert)
        # without the upgrade, TLS on the plain port fails: no expiry to tell
        assert await cert_expiry("127.0.0.1", port, context=trusting(ca)) is None
    async with serving(speaking("pop3", tls, agree=False), tls) as srv:
        assert await cert_expiry("127.0.0.1", srv.port, context=trusting(ca),
                                 starttls="pop3") is None


def test_starttls_sets_the_ports_default_and_is_for_tls_services_only() -> None:
    config = parse_config(
        "services:\n"
        "  - {name: mx, kind: tls, host: mx.example.com, starttls: smtp}\n"
        "  - {name: mail, kind: tls, host: mail.example.com, starttls: imap}\n"
        "  - {name: pop, kind: tls, host: mail.example.com, starttls: pop3}\n"
        "  - {name: db, kind: tls, host: db.example.com, starttls: postgres}\n"
        "  - {name: submission, kind: tls, host: mx.example.com, starttls: smtp, port: 587}\n"
        "  - {name: web, kind: tls, host: www.example.com}\n")
    assert [(s.name, s.port, s.starttls) for s in config.services] == [
        ("mx", 25, "smtp"), ("mail", 143, "imap"), ("pop", 110, "pop3"),
        ("db", 5432, "postgres"), ("submission", 587, "smtp"), ("web", 443, None)]
    with pytest.raises(ConfigError) as err:
        parse_config("services:\n  - {name: mx, kind: tcp, host: mx.example.com, port: 25, "
                     "starttls: smtp}\n")
    assert str(err.value) == ('probes.yaml: services[0].starttls: only for kind tls (service '
                              '"mx" is kind tcp)')
    with pytest.raises(ConfigError) as err:
        parse_config("services:\n  - {name: mx, kind: tls, host: mx.example.com, "
                     "starttls: ftp}\n")
    assert str(err.value) == ("probes.yaml: services[0].starttls: Input should be 'smtp', "
                              "'imap', 'pop3' or 'postgres'")


def test_the_config_names_every_protocol_the_probe_speaks() -> None:
    from typing import get_args

    from monitor.config.kinds import STARTTLS_PORTS, StartTls
    assert set(get_args(StartTls)) == set(PROTOCOLS) == set(STARTTLS_PORTS)


async def test_upwatch_probe_checks_a_starttls_service(
        tmp_path: Path, ca: trustme.CA, now: datetime) -> None:
    """Through the CLI, as a user types it: the child trusts the test CA (SSL_CERT_FILE)."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    env = {**os.environ, "UPWATCH_CONFIG": str(tmp_path / "probes.yaml"),
           "SSL_CERT_FILE": str(tmp_path / "ca.pem")}
    cert = leaf(ca, now, lasts=timedelta(days=30))
    with smtp_server(server_context(cert)) as port:
        (tmp_path / "probes.yaml").write_text(
            "services:\n"
            f"  - {{name: mx, kind: tls, host: 127.0.0.1, port: {port}, starttls: smtp}}\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "probe", "mx", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(rf"mx: UP in \d+\.\d ms  tls://127\.0\.0\.1:{port} \(starttls smtp\)",
                        lines[0]), lines
