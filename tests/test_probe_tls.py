"""TLS certificate expiry: the leaf's notAfter from a verified handshake, or nothing."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from cryptography import x509

from monitor.core.checks import ErrorKind, State
from monitor.core.clock import FakeClock
from monitor.probes import tls
from monitor.probes.tls import cert_expiry, tls_target
from monitor.run.runner import Monitor, RunOptions
from monitor.times import iso_utc


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://example.test/x", ("example.test", 443)),
     ("https://127.0.0.1:8443/", ("127.0.0.1", 8443)),
     ("http://example.test/", None)],
    ids=["https-default-port", "https-port", "http"],
)
def test_tls_target(url: str, expected: tuple[str, int] | None) -> None:
    assert tls_target(url) == expected


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[tuple[int, datetime]]:
    leaf = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_ctx)

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    not_after = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    yield int(runner.addresses[0][1]), not_after.not_valid_after_utc.replace(microsecond=0)
    await runner.cleanup()


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def test_expiry_of_a_verified_certificate(
    ca: trustme.CA, tls_server: tuple[int, datetime]
) -> None:
    port, not_after = tls_server
    assert await cert_expiry("127.0.0.1", port, context=trusting(ca)) == not_after
    # the system trust store does not know this CA: nothing verified, nothing claimed
    assert await cert_expiry("127.0.0.1", port) is None


async def test_no_expiry_from_closed_or_silent_ports() -> None:
    assert await cert_expiry("127.0.0.1", 9) is None  # closed

    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()  # never answers the handshake
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with pytest.raises(TimeoutError):  # the caller bounds it
        async with asyncio.timeout(0.2):
            await cert_expiry("127.0.0.1", port)
    done.set()
    server.close()
    await server.wait_closed()


async def test_monitor_exports_probe_ssl_earliest_cert_expiry(
    tmp_path: Path, ca: trustme.CA, tls_server: tuple[int, datetime]
) -> None:
    port, not_after = tls_server
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(
        "services:\n"
        f"  - {{name: secure, url: 'https://127.0.0.1:{port}/', interval: 60s}}\n"
        f"  - {{name: plain, url: 'http://127.0.0.1:{port}/', interval: 60s}}\n"
        f"  - {{name: unverified, url: 'https://127.0.0.1:{port}/', tls_verify: false}}\n")
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 schedule=False),  # only the certificate check, by hand
                      clock=FakeClock(datetime(2026, 11, 1, tzinfo=UTC)))
    monitor.tls_context = trusting(ca)
    await monitor.start()
    await monitor.check_certificates()
    reg = monitor.registry
    assert reg.get_sample_value("probe_ssl_earliest_cert_expiry",
                                {"service": "secure"}) == not_after.timestamp()
    assert reg.get_sample_value("probe_ssl_earliest_cert_expiry", {"service": "plain"}) is None
    assert reg.get_sample_value("probe_ssl_earliest_cert_expiry",
                                {"service": "unverified"}) is None
    await monitor.stop()


async def test_the_system_trust_context_is_built_once_off_the_loop(
    monkeypatch: pytest.MonkeyPatch, tls_server: tuple[int, datetime]
) -> None:
    port, _ = tls_server
    built_in: list[threading.Thread] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built_in.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setattr(tls, "SYSTEM_TRUST", tls.SharedContext())  # not built yet
    # concurrent first uses, then later ones: one context, built in a worker thread
    assert await asyncio.gather(*(cert_expiry("127.0.0.1", port) for _ in range(5))) == [None] * 5
    assert await cert_expiry("127.0.0.1", port) is None  # still verifies: unknown CA refused
    assert await cert_expiry("127.0.0.1", 9) is None
    assert len(built_in) == 1 and built_in[0] is not threading.main_thread()
    shared = await tls.SYSTEM_TRUST.get()
    assert shared.verify_mode == ssl.CERT_REQUIRED and shared.check_hostname


async def test_an_https_services_checks_are_degraded_while_its_certificate_expires_soon(
    tmp_path: Path, ca: trustme.CA, tls_server: tuple[int, datetime],
    aiohttp_server: Any,
) -> None:
    """expect.cert_valid_for on an https service: the hourly certificate check finds its
    notAfter, and every good answer until the next one is cert_expiring (degraded)."""
    port, not_after = tls_server
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    plain = await aiohttp_server(app)
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(
        "services:\n"
        f"  - {{name: secure, url: 'https://127.0.0.1:{port}/', expect: {{cert_valid_for: 7d}}}}\n"
        f"  - {{name: web, url: 'http://127.0.0.1:{plain.port}/', interval: 60s}}\n")
    clock = FakeClock(not_after - timedelta(days=3))
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 schedule=False), clock=clock)
    monitor.tls_context = trusting(ca)
    await monitor.start()
    try:
        await monitor.check_certificates()
        assert monitor.probe.cert_not_after == {"secure": not_after}
        web_service = monitor.config.service("web")
        degraded = monitor.config.service("secure").model_copy(
            update={"url": f"http://127.0.0.1:{plain.port}/", "name": "secure"})
        # the https answer itself needs the test CA in the session: judge a good answer by hand
        result = await monitor.probe.check(degraded)
        assert result.ok and result.error is ErrorKind.CERT_EXPIRING
        assert result.detail == (f"certificate expires in 3d ({iso_utc(not_after)}), within "
                                 "cert_valid_for 7d")
        assert result.state(None) is State.DEGRADED
        assert (await monitor.probe.check(web_service)).error is None  # no certificate known
        clock.set(not_after - timedelta(days=8))  # renewed, or still far: a plain success
        assert (await monitor.probe.check(degraded)).error is None
    finally:
        await monitor.stop()
