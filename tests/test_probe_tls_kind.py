"""The tls probe (``kind: tls``) against real loopback TLS servers with certificates from
``trustme``: valid for 30 days, expiring in 2, already expired, untrusted, for another name;
then what its results become downstream (state, metrics, the page's current state), the hourly
``probe_ssl_earliest_cert_expiry``, ``upwatch probe`` and a running ``upwatch run``.

OpenSSL checks validity on the system clock, so the certificates are made relative to the
real time, read once per test (``SystemClock``); the probe judges "expires within" on a
``FakeClock`` set to that same instant.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import trustme
from cryptography import x509
from probe_servers import FailingResolver, closed_port, serve_raw, wait_forever
from prometheus_client import CollectorRegistry
from test_run_e2e import DEADLINE, Upwatch

from monitor.config import parse_config
from monitor.core.checks import CheckResult, ErrorKind, State
from monitor.core.clock import FakeClock, SystemClock
from monitor.metrics.probes import ProbeMetrics
from monitor.probes import ServiceProbe, TlsProbe, make_session
from monitor.probes.handshake import format_span
from monitor.run.runner import Monitor, RunOptions
from monitor.store.checks import StoredCheck
from monitor.times import iso_utc
from statuspage.data import current_state

SHORT = timedelta(milliseconds=300)


@dataclass(frozen=True)
class TlsExpect:
    cert_valid_for: timedelta = timedelta(days=14)


@dataclass(frozen=True)
class TlsService:
    """The attributes of a ``kind: tls`` ServiceConfig that the probe reads."""

    port: int
    host: str = "127.0.0.1"
    name: str = "secure"
    server_name: str | None = None
    starttls: str | None = None
    timeout: timedelta = timedelta(seconds=5)
    retries: int = 0
    expect: TlsExpect = field(default_factory=TlsExpect)


@pytest.fixture(scope="module")
def now() -> datetime:
    return SystemClock().now().replace(microsecond=0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def leaf(ca: trustme.CA, now: datetime, *, lasts: timedelta,
         names: tuple[str, ...] = ("127.0.0.1", "localhost")) -> trustme.LeafCert:
    """A certificate for ``names`` valid from a day ago until ``now + lasts``."""
    return ca.issue_cert(*names, not_before=now - timedelta(days=1) + min(lasts, timedelta(0)),
                         not_after=now + lasts)


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def not_after(cert: trustme.LeafCert) -> datetime:
    return x509.load_pem_x509_certificate(
        cert.cert_chain_pems[0].bytes()).not_valid_after_utc


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


class TlsServer:
    """A loopback TLS server whose certificate the test swaps (the one in use is chosen when a
    handshake begins); it records the server names clients ask for (SNI)."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.cert = cert
        self.asked: list[str | None] = []
        self.port = 0
        self._context = server_context(cert)
        self._context.sni_callback = self._choose

    def _choose(self, sslobj: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        self.asked.append(name)
        sslobj.context = server_context(self.cert)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # until the client closes
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> TlsServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0,
                                                  ssl=self._context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
def resolver() -> FailingResolver:
    return FailingResolver()


@pytest.fixture
def probe(ca: trustme.CA, now: datetime, resolver: FailingResolver) -> TlsProbe:
    return TlsProbe(FakeClock(now), "test-lab", context=trusting(ca), resolver=resolver)


# --- certificates that verify: up, or degraded when they expire soon ---------------------------


async def test_a_certificate_valid_for_30_days_is_up(
    probe: TlsProbe, ca: trustme.CA, now: datetime
) -> None:
    async with TlsServer(leaf(ca, now, lasts=timedelta(days=30))) as srv:
        result = await probe.check(TlsService(port=srv.port))
    assert (result.ok, result.error, result.status) == (True, None, None)
    # until when, to the second (trustme writes notAfter in whole seconds)
    until = iso_utc((now + timedelta(days=30)).replace(microsecond=0))
    assert result.detail == f"certificate valid until {until}"
    assert (result.service, result.location, result.time) == ("secure", "test-lab", now)
    assert result.latency_ms == 0.0  # the FakeClock did not move
    assert result.state(None) is State.UP


async def test_a_certificate_expiring_in_2_days_is_degraded(
    probe: TlsProbe, ca: trustme.CA, now: datetime
) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=2))
    async with TlsServer(cert) as srv:
        result = await probe.check(TlsService(port=srv.port))
    assert (result.ok, result.error) == (True, ErrorKind.CERT_EXPIRING)
    assert result.detail == (f"certificate expires in 2d ({iso_utc(not_after(cert))}), "
                             "within cert_valid_for 14d")
    assert result.state(None) is State.DEGRADED
    assert result.latency_ms is not None


@pytest.mark.parametrize(("lasts", "valid_for", "error"), [
    (timedelta(days=30), timedelta(days=45), ErrorKind.CERT_EXPIRING),
    (timedelta(days=30), timedelta(days=29), None),
    (timedelta(days=2), timedelta(0), None),
], ids=["30d_within_45d", "30d_beyond_29d", "0s_never_degrades"])
async def test_cert_valid_for_sets_the_horizon(
    probe: TlsProbe, ca: trustme.CA, now: datetime, lasts: timedelta, valid_for: timedelta,
    error: ErrorKind | None
) -> None:
    async with TlsServer(leaf(ca, now, lasts=lasts)) as srv:
        result = await probe.check(TlsService(port=srv.port,
                                              expect=TlsExpect(cert_valid_for=valid_for)))
    assert (result.ok, result.error) == (True, error)


async def test_the_server_name_is_sent_and_verified(
    probe: TlsProbe, ca: trustme.CA, now: datetime
) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=30), names=("www.example.test",))
    async with TlsServer(cert) as srv:
        named = await probe.check(TlsService(port=srv.port, server_name="www.example.test"))
        by_address = await probe.check(TlsService(port=srv.port))
    assert (named.ok, named.error) == (True, None), named.detail
    assert srv.asked[0] == "www.example.test"
    assert (by_address.ok, by_address.error) == (False, ErrorKind.TLS)
    assert by_address.detail == ("certificate verify failed: IP address mismatch, certificate "
                                 "is not valid for '127.0.0.1'.")


# --- down ---------------------------------------------------------------------------------


async def test_an_expired_certificate_is_tls_and_down(
    probe: TlsProbe, ca: trustme.CA, now: datetime
) -> None:
    async with TlsServer(leaf(ca, now, lasts=-timedelta(days=1))) as srv:
        result = await probe.check(TlsService(port=srv.port))
    assert (result.ok, result.error, result.latency_ms) == (False, ErrorKind.TLS, None)
    assert result.detail == "certificate verify failed: certificate has expired"
    assert result.state(None) is State.DOWN


async def test_a_certificate_the_clock_says_has_expired_is_down(
    ca: trustme.CA, now: datetime
) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=2))
    clock = FakeClock(now + timedelta(days=3))  # OpenSSL, on the system clock, accepts it
    async with TlsServer(cert) as srv:
        result = await TlsProbe(clock, context=trusting(ca)).check(TlsService(port=srv.port))
    assert (result.ok, result.error) == (False, ErrorKind.TLS)
    assert result.detail == f"certificate expired {iso_utc(not_after(cert))} (by upwatch's clock)"


async def test_an_untrusted_certificate_is_tls(now: datetime) -> None:
    stranger = trustme.CA()  # nobody trusts it
    async with TlsServer(leaf(stranger, now, lasts=timedelta(days=30))) as srv:
        result = await TlsProbe(FakeClock(now)).check(TlsService(port=srv.port))  # system store
    assert (result.ok, result.error) == (False, ErrorKind.TLS)
    assert result.detail.startswith("certificate verify failed: "), result.detail


async def test_a_server_that_does_not_speak_tls_is_tls(probe: TlsProbe) -> None:
    async def greets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 plain text here\r\n")
        await writer.drain()
        await wait_forever()

    async with serve_raw(greets) as srv:
        result = await probe.check(TlsService(port=srv.port))
    assert (result.ok, result.error) == (False, ErrorKind.TLS)
    assert result.detail.startswith("TLS handshake failed: "), result.detail


async def test_a_silent_server_is_a_timeout(probe: TlsProbe) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await wait_forever()

    async with serve_raw(silent) as srv:
        result = await probe.check(TlsService(port=srv.port, timeout=SHORT))
    assert (result.ok, result.error, result.detail) == (False, ErrorKind.TIMEOUT,
                                                        "no answer within 0.3s")
    assert result.latency_ms is not None


async def test_a_refused_port_and_an_unknown_name(
    probe: TlsProbe, resolver: FailingResolver
) -> None:
    with closed_port() as port:
        refused = await probe.check(TlsService(port=port))
    unknown = await probe.check(TlsService(host="www.example.invalid", port=443))
    assert (refused.error, refused.detail, refused.latency_ms) == (
        ErrorKind.CONNECT, f"connection refused by 127.0.0.1:{port}", None)
    assert (unknown.error, unknown.detail) == (
        ErrorKind.DNS, "cannot resolve www.example.invalid: Name or service not known")
    assert resolver.asked == ["www.example.invalid"]


@pytest.mark.parametrize(("span", "text"), [
    (timedelta(days=14), "14d"), (timedelta(days=1, hours=23, minutes=59), "1d 23h"),
    (timedelta(days=2, minutes=5), "2d"), (timedelta(hours=5, minutes=12), "5h 12m"),
    (timedelta(minutes=3, seconds=59), "3m"), (timedelta(seconds=59), "under 1m"),
], ids=["days", "days_hours", "days_no_hours", "hours_minutes", "minutes", "seconds"])
def test_format_span(span: timedelta, text: str) -> None:
    assert format_span(span) == text


# --- downstream: a passing check with cert_expiring is degraded everywhere --------------------


def expiring(now: datetime) -> CheckResult:
    return CheckResult("secure", now, True, 12.0, None, ErrorKind.CERT_EXPIRING,
                       "certificate expires in 2d")


def test_metrics_count_it_as_a_success_of_its_own_kind(now: datetime) -> None:
    metrics = ProbeMetrics(registry := CollectorRegistry())
    metrics.observe(expiring(now))
    sample = registry.get_sample_value
    assert sample("probe_success", {"service": "secure"}) == 1.0
    assert sample("probe_duration_seconds", {"service": "secure"}) == 0.012
    assert sample("upwatch_checks_total", {"service": "secure", "result": "cert_expiring"}) == 1
    assert sample("upwatch_checks_total", {"service": "secure", "result": "ok"}) is None


def test_the_page_shows_it_degraded(now: datetime) -> None:
    config = parse_config("services:\n  - {name: secure, kind: tls, host: 127.0.0.1}\n")
    svc = config.service("secure")
    stored = StoredCheck("secure", "local", now, True, 12.0, None, ErrorKind.CERT_EXPIRING, "")
    assert current_state(stored, svc, now) is State.DEGRADED
    fine = StoredCheck("secure", "local", now, True, 12.0, None, None, "")
    assert current_state(fine, svc, now) is State.UP


# --- from probes.yaml: the probe of its kind, the hourly expiry, `upwatch probe` ------------


def tls_yaml(port: int, name: str = "secure", extra: str = "") -> str:
    return (f"  - {{name: {name}, kind: tls, host: 127.0.0.1, port: {port}, "
            f"server_name: localhost, interval: 1s, timeout: 1s, retries: 0{extra}}}\n")


async def test_a_configured_tls_service_is_checked_by_the_tls_probe(
    ca: trustme.CA, now: datetime
) -> None:
    async with TlsServer(leaf(ca, now, lasts=timedelta(days=2))) as srv:
        config = parse_config("services:\n" + tls_yaml(srv.port))
        async with make_session() as session:
            result = await ServiceProbe(session, FakeClock(now), tls_context=trusting(ca)).check(
                config.service("secure"))
    assert (result.ok, result.error) == (True, ErrorKind.CERT_EXPIRING), result.detail
    assert srv.asked == ["localhost"]


async def test_monitor_exports_the_certificate_expiry_of_tls_services(
    tmp_path: Path, ca: trustme.CA, now: datetime
) -> None:
    cert = leaf(ca, now, lasts=timedelta(days=30), names=("localhost",))
    async with TlsServer(cert) as srv:
        cfg = tmp_path / "probes.yaml"
        cfg.write_text("services:\n" + tls_yaml(srv.port) +
                       f"  - {{name: port, kind: tcp, host: 127.0.0.1, port: {srv.port}}}\n")
        monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                     schedule=False), clock=FakeClock(now))
        monitor.tls_context = trusting(ca)
        assert monitor.probe.tls_context is monitor.tls_context  # the tls probe's too
        await monitor.start()
        try:
            await monitor.check_certificates()
        finally:
            await monitor.stop()
    sample = monitor.registry.get_sample_value
    assert sample("probe_ssl_earliest_cert_expiry",
                  {"service": "secure"}) == not_after(cert).timestamp()
    assert sample("probe_ssl_earliest_cert_expiry", {"service": "port"}) is None
    assert srv.asked and set(srv.asked) == {"localhost"}  # the server_name, not the host


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Iterator[Path]:
    """The test CA as a PEM file, for a child process's ``SSL_CERT_FILE``."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield path


async def test_upwatch_probe_runs_a_tls_service(
    tmp_path: Path, ca: trustme.CA, now: datetime, ca_file: Path
) -> None:
    env = {**os.environ, "UPWATCH_CONFIG": str(tmp_path / "probes.yaml"),
           "SSL_CERT_FILE": str(ca_file)}
    async with TlsServer(leaf(ca, now, lasts=timedelta(days=2))) as srv:
        (tmp_path / "probes.yaml").write_text("services:\n" + tls_yaml(srv.port))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "probe", "secure", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode == 0, err.decode()  # degraded still passes
    lines = out.decode().splitlines()
    assert re.fullmatch(rf"secure: DEGRADED in \d+\.\d ms  tls://127\.0\.0\.1:{srv.port} "
                        r"\(server name localhost\)", lines[0])
    assert re.fullmatch(r"  cert_expiring: certificate expires in 1d 23h \(\S+Z\), within "
                        r"cert_valid_for 14d", lines[1])


# --- end to end: `upwatch run` follows a certificate that fails and recovers ---------------


@pytest.fixture
async def swappable(ca: trustme.CA, now: datetime) -> AsyncIterator[TlsServer]:
    async with TlsServer(leaf(ca, now, lasts=timedelta(days=30))) as srv:
        yield srv


async def test_run_follows_a_tls_service_down_degraded_and_back(
    tmp_path: Path, ca: trustme.CA, now: datetime, ca_file: Path, swappable: TlsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the child trusts the test CA
    valid = swappable.cert
    (tmp_path / "probes.yaml").write_text("site: {title: e2e}\nservices:\n" +
                                          tls_yaml(swappable.port))
    up = Upwatch(tmp_path)
    await up.start()
    try:
        await up.wait_metric("probe_success", "secure", 1.0)
        await up.wait_metric("probe_ssl_earliest_cert_expiry", "secure",
                             not_after(valid).timestamp())
        swappable.cert = leaf(ca, now, lasts=-timedelta(days=1))
        await up.wait_metric("probe_success", "secure", 0.0)
        await up.wait_log(r"service secure is down \(tls: certificate verify failed: "
                          r"certificate has expired\)")
        swappable.cert = leaf(ca, now, lasts=timedelta(days=2))
        await up.wait_metric("probe_success", "secure", 1.0)
        await up.wait_log(r"service secure is degraded \(cert_expiring: certificate expires in "
                          r"1d 23h")
        swappable.cert = valid
        await up.wait_log(r"service secure is up")
        async with aiohttp.ClientSession() as session:
            assert await up.metric(session, "probe_duration_seconds", "secure") is not None
    finally:
        code = await up.signal(signal.SIGTERM)
    assert code == 0, "\n".join(up.log)
