"""The HTTP probe against real loopback servers: well-behaved, wrong, slow, huge and hostile."""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
from probe_servers import (
    Expect,
    FailingResolver,
    Firehose,
    Handler,
    Range,
    Service,
    close_without_answer,
    closed_port,
    cut_mid_body,
    exact_body,
    garbage,
    hang_mid_body,
    reset_after_request,
    self_signed_context,
    serve_raw,
    silent,
    untrusted_cert_context,
)
from pytest_aiohttp import AiohttpServer

from monitor import __version__
from monitor.core.checks import ErrorKind
from monitor.core.clock import FakeClock, SystemClock
from monitor.probes import HttpProbe, classify, make_session

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
#: Only for checks whose expected outcome is a timeout (a silent or stalling server): short so
#: the suite stays fast. Every other check keeps Service's generous 5 s default, so a loaded
#: runner cannot turn an expected connect/protocol/TLS answer into a timeout.
SHORT = timedelta(milliseconds=300)


@pytest.fixture
def resolver() -> FailingResolver:
    return FailingResolver()


@pytest.fixture
async def session(resolver: FailingResolver) -> AsyncIterator[aiohttp.ClientSession]:
    # Every test resolves through the failing resolver: nothing here can reach real DNS.
    s = make_session(resolver=resolver)
    yield s
    await s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def probe(session: aiohttp.ClientSession, clock: FakeClock) -> HttpProbe:
    return HttpProbe(session, clock, location="test-lab")


def app_with(*routes: web.RouteDef) -> web.Application:
    app = web.Application()
    app.add_routes(list(routes))
    return app


def text(
    body: str | bytes, status: int = 200
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, status=status)

    return handler


# --- answers judged by expect ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expect", "ok", "error", "detail"),
    [
        (200, "all ok", Expect(), True, None, ""),
        (503, "down", Expect(), False, ErrorKind.HTTP_STATUS, "status 503 not in expected 200-399"),
        (404, "gone", Expect(status=(Range(200, 299), Range(404, 404))), True, None, ""),
        (
            500,
            "x",
            Expect(status=(Range(200, 299), Range(404, 404))),
            False,
            ErrorKind.HTTP_STATUS,
            "status 500 not in expected 200-299, 404",
        ),
        (200, "status: ok", Expect(body_contains="ok"), True, None, ""),
        (
            200,
            "status: fail",
            Expect(body_contains="ok"),
            False,
            ErrorKind.CONTENT,
            "body does not contain 'ok'",
        ),
        (200, "version 1.24.3", Expect(body_regex=r"version \d+\.\d+"), True, None, ""),
        (
            200,
            "version unknown",
            Expect(body_regex=r"version \d+\.\d+"),
            False,
            ErrorKind.CONTENT,
            r"body does not match /version \d+\.\d+/",
        ),
        (200, b"\xff\xfe caf\xc3\xa9 ok", Expect(body_contains="café ok"), True, None, ""),
        (
            503,
            "ok",
            Expect(body_contains="nope"),
            False,
            ErrorKind.HTTP_STATUS,
            "status 503 not in expected 200-399",
        ),
    ],
    ids=[
        "up_200",
        "503_http_status",
        "404_accepted_by_list",
        "500_outside_list",
        "contains_ok",
        "contains_missing",
        "regex_match",
        "regex_mismatch",
        "invalid_utf8_replaced",
        "status_judged_before_body",
    ],
)
async def test_answer_is_judged_by_expect(
    aiohttp_server: AiohttpServer,
    probe: HttpProbe,
    status: int,
    body: str | bytes,
    expect: Expect,
    ok: bool,
    error: ErrorKind | None,
    detail: str,
) -> None:
    server = await aiohttp_server(app_with(web.get("/", text(body, status))))
    result = await probe.check(Service(url=str(server.make_url("/")), expect=expect))
    assert (result.ok, result.status, result.error, result.detail) == (ok, status, error, detail)
    assert result.service == "api"
    assert result.location == "test-lab"
    assert result.time == T0
    assert result.latency_ms == 0.0  # the FakeClock did not move


# --- hostile servers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "error", "detail", "status"),
    [
        (silent, ErrorKind.TIMEOUT, "no answer within 0.3s", None),
        (hang_mid_body, ErrorKind.TIMEOUT, "status 200 but body not complete within 0.3s", 200),
        (cut_mid_body, ErrorKind.PROTOCOL, "body cut short: ", 200),
        (
            close_without_answer,
            ErrorKind.PROTOCOL,
            "server closed the connection without a complete answer",
            None,
        ),
        # Decision: an RST is a connect failure even after the request went out (ErrorKind
        # documents resets under connect); an orderly close mid-answer is protocol.
        (reset_after_request, ErrorKind.CONNECT, "connection reset by the server", None),
        (garbage, ErrorKind.PROTOCOL, "malformed HTTP answer: ", None),
    ],
    ids=["slow_headers", "hang_mid_body", "cut_mid_body", "close_no_answer", "reset", "garbage"],
)
async def test_hostile_server_is_classified(
    probe: HttpProbe, handler: Handler, error: ErrorKind, detail: str, status: int | None
) -> None:
    timeout = SHORT if error is ErrorKind.TIMEOUT else Service.timeout
    async with serve_raw(handler) as srv:
        result = await probe.check(Service(url=srv.url, timeout=timeout))
    assert (result.ok, result.error, result.status) == (False, error, status)
    assert result.detail.startswith(detail), result.detail
    assert "\n" not in result.detail and len(result.detail) <= 160
    assert result.latency_ms is not None  # the request was sent


async def test_closed_port_is_connect_without_latency(probe: HttpProbe) -> None:
    with closed_port() as port:
        result = await probe.check(Service(url=f"http://127.0.0.1:{port}/"))
    assert (result.ok, result.error) == (False, ErrorKind.CONNECT)
    assert result.detail == f"connection refused by 127.0.0.1:{port}"
    assert result.latency_ms is None and result.status is None


async def test_dns_failure_is_dns(probe: HttpProbe, resolver: FailingResolver) -> None:
    # The resolver here forwards `.invalid` to a network DNS server, so the session's
    # resolver is replaced by one that fails like getaddrinfo does (see the fixture).
    result = await probe.check(Service(url="http://upwatch-test.invalid/"))
    assert (result.ok, result.error, result.latency_ms) == (False, ErrorKind.DNS, None)
    assert result.detail == "cannot resolve upwatch-test.invalid: Name or service not known"
    assert resolver.asked == ["upwatch-test.invalid"]


# --- body size --------------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [False, True], ids=["streamed", "content_length"])
async def test_50mb_body_is_too_large_and_reading_stops(
    probe: HttpProbe, declare_length: bool
) -> None:
    hose = Firehose(declare_length=declare_length)
    async with serve_raw(hose) as srv:
        result = await probe.check(Service(url=srv.url, timeout=timedelta(seconds=5)))
    assert (result.ok, result.error, result.status) == (False, ErrorKind.TOO_LARGE, 200)
    assert result.detail == "body larger than 1048576 bytes"
    # The probe hung up: the server could not push more than socket buffers' worth.
    assert hose.sent < 20 * 1000 * 1000


@pytest.mark.parametrize(
    ("size", "ok"), [(1024, True), (1025, False)], ids=["exactly_cap", "one_byte_over"]
)
async def test_body_cap_boundary(probe: HttpProbe, size: int, ok: bool) -> None:
    async with serve_raw(exact_body(size)) as srv:
        result = await probe.check(Service(url=srv.url, max_body_bytes=1024))
    assert result.ok is ok
    assert result.error is (None if ok else ErrorKind.TOO_LARGE)


# --- redirects --------------------------------------------------------------------------


def redirect_app(hits: list[str]) -> web.Application:
    async def hop(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        left = int(request.match_info["n"])
        if left == 0:
            return web.Response(text="landed ok")
        raise web.HTTPFound(f"/hop/{left - 1}")

    async def loop(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        raise web.HTTPFound("/loop")

    return app_with(web.get("/hop/{n}", hop), web.get("/loop", loop))


@pytest.mark.parametrize(
    ("path", "follow", "expect", "ok", "status", "error", "detail", "requests"),
    [
        ("/hop/3", True, Expect(body_contains="landed"), True, 200, None, "", 4),
        (
            "/hop/4",
            True,
            Expect(),
            False,
            None,
            ErrorKind.PROTOCOL,
            "too many redirects (3)",
            4,
        ),
        ("/loop", True, Expect(), False, None, ErrorKind.PROTOCOL, "too many redirects (3)", 4),
        ("/hop/1", False, Expect(), True, 302, None, "", 1),
        (
            "/hop/1",
            False,
            Expect(status=(Range(200, 200),)),
            False,
            302,
            ErrorKind.HTTP_STATUS,
            "status 302 not in expected 200",
            1,
        ),
    ],
    ids=[
        "chain_at_limit_ok",
        "chain_beyond_limit",
        "loop",
        "not_following_302_accepted",
        "not_following_302_rejected",
    ],
)
async def test_redirects(
    aiohttp_server: AiohttpServer,
    probe: HttpProbe,
    path: str,
    follow: bool,
    expect: Expect,
    ok: bool,
    status: int | None,
    error: ErrorKind | None,
    detail: str,
    requests: int,
) -> None:
    hits: list[str] = []
    server = await aiohttp_server(redirect_app(hits))
    service = Service(
        url=str(server.make_url(path)), follow_redirects=follow, max_redirects=3, expect=expect
    )
    result = await probe.check(service)
    assert (result.ok, result.status, result.error, result.detail) == (ok, status, error, detail)
    assert len(hits) == requests


# --- TLS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "verify", "ok", "detail"),
    [
        (self_signed_context, True, False, "certificate verify failed: self-signed certificate"),
        (
            untrusted_cert_context,
            True,
            False,
            "certificate verify failed: unable to get local issuer certificate",
        ),
        (self_signed_context, False, True, ""),
        (untrusted_cert_context, False, True, ""),
    ],
    ids=["self_signed_verified", "unknown_ca_verified", "self_signed_unverified", "unknown_ca"],
)
async def test_tls_verification(
    aiohttp_server: AiohttpServer,
    probe: HttpProbe,
    context: Callable[[], object],
    verify: bool,
    ok: bool,
    detail: str,
) -> None:
    server = await aiohttp_server(app_with(web.get("/", text("secure ok"))), ssl=context())
    url = str(server.make_url("/"))
    assert url.startswith("https://")
    result = await probe.check(Service(url=url, tls_verify=verify))
    assert (result.ok, result.detail) == (ok, detail)
    assert result.error is (None if ok else ErrorKind.TLS)
    if not ok:
        assert result.latency_ms is None  # never got to sending


@pytest.mark.parametrize(
    ("server_tls", "scheme", "error", "detail"),
    [
        (False, "https", ErrorKind.TLS, "TLS handshake failed: wrong version number"),
        (True, "http", ErrorKind.PROTOCOL, "server closed the connection without a complete"),
    ],
    ids=["https_to_plain_server", "http_to_tls_server"],
)
async def test_scheme_mismatch(
    aiohttp_server: AiohttpServer,
    probe: HttpProbe,
    server_tls: bool,
    scheme: str,
    error: ErrorKind,
    detail: str,
) -> None:
    ssl_context = self_signed_context() if server_tls else None
    server = await aiohttp_server(app_with(web.get("/", text("ok"))), ssl=ssl_context)
    url = str(server.make_url("/").with_scheme(scheme))
    result = await probe.check(Service(url=url))
    assert (result.ok, result.error) == (False, error)
    assert result.detail.startswith(detail), result.detail


# --- retries ----------------------------------------------------------------------------


def fail_once_then_ok(first: Handler) -> Handler:
    calls = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await first(reader, writer)
            return
        await exact_body(2)(reader, writer)

    return handler


async def status_503(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


@pytest.mark.parametrize(
    ("first", "retries", "ok", "error", "attempts"),
    [
        (status_503, 1, True, None, 2),
        (status_503, 0, False, ErrorKind.HTTP_STATUS, 1),
        (reset_after_request, 1, True, None, 2),
        (reset_after_request, 0, False, ErrorKind.CONNECT, 1),
        (silent, 1, True, None, 2),
    ],
    ids=["503_retried", "503_no_retry", "reset_retried", "reset_no_retry", "timeout_retried"],
)
async def test_retries(
    probe: HttpProbe, first: Handler, retries: int, ok: bool, error: ErrorKind | None, attempts: int
) -> None:
    # short only where the first attempt is meant to time out (the retry then answers at once)
    timeout = SHORT if first is silent else Service.timeout
    async with serve_raw(fail_once_then_ok(first)) as srv:
        result = await probe.check(Service(url=srv.url, retries=retries, timeout=timeout))
    assert (result.ok, result.error) == (ok, error)
    assert len(srv.peer_ports) == attempts


class ScriptedClock(FakeClock):
    """monotonic() returns the scripted readings in order."""

    def __init__(self, readings: list[float]) -> None:
        super().__init__(T0)
        self._readings = iter(readings)
        self.now_calls = 0

    def now(self) -> datetime:
        self.now_calls += 1
        return super().now()

    def monotonic(self) -> float:
        return next(self._readings)


async def test_retry_reports_first_start_and_last_latency(session: aiohttp.ClientSession) -> None:
    # attempt 1: 0.0 → 5.0 (503); attempt 2: 10.0 → 10.25 (ok)
    clock = ScriptedClock([0.0, 5.0, 10.0, 10.25])
    probe = HttpProbe(session, clock)
    async with serve_raw(fail_once_then_ok(status_503)) as srv:
        result = await probe.check(Service(url=srv.url, retries=3))
    assert result.ok
    assert result.time == T0 and clock.now_calls == 1
    assert result.latency_ms == pytest.approx(250.0)
    assert len(srv.peer_ports) == 2  # stopped retrying once it succeeded


# --- the session ------------------------------------------------------------------------


async def test_every_check_opens_a_fresh_connection(probe: HttpProbe) -> None:
    async def keep_alive_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # serves requests on one connection for as long as the client keeps it
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with serve_raw(keep_alive_ok) as srv:
        first = await probe.check(Service(url=srv.url))
        second = await probe.check(Service(url=srv.url))
    assert first.ok and second.ok
    assert len(srv.peer_ports) == 2 and len(set(srv.peer_ports)) == 2


async def test_request_carries_method_body_and_headers(
    aiohttp_server: AiohttpServer, probe: HttpProbe
) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.method, await request.text(), dict(request.headers)))
        return web.Response(text="created ok", status=201)

    server = await aiohttp_server(app_with(web.post("/items", record)))
    service = Service(
        url=str(server.make_url("/items")),
        method="POST",
        body='{"ping": 1}',
        headers={"X-Token": "s3cret", "Content-Type": "application/json"},
        expect=Expect(status=(Range(201, 201),), body_contains="ok"),
    )
    result = await probe.check(service)
    assert (result.ok, result.status) == (True, 201)
    [(method, body, headers)] = seen
    assert (method, body) == ("POST", '{"ping": 1}')
    assert headers["X-Token"] == "s3cret"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"upwatch/{__version__}"
    assert headers["Accept-Encoding"] == "identity"


async def test_head_request_reads_no_body(aiohttp_server: AiohttpServer, probe: HttpProbe) -> None:
    methods: list[str] = []

    async def head(request: web.Request) -> web.Response:
        methods.append(request.method)
        return web.Response(headers={"Content-Length": str(50 * 1000 * 1000)})

    server = await aiohttp_server(app_with(web.head("/", head)))
    result = await probe.check(Service(url=str(server.make_url("/")), method="HEAD"))
    assert (result.ok, result.status) == (True, 200)  # a huge declared length is not read
    assert methods == ["HEAD"]


async def test_cookies_are_not_sent_back(aiohttp_server: AiohttpServer, probe: HttpProbe) -> None:
    cookies: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        response = web.Response(text="ok")
        response.set_cookie("session", "abc")
        return response

    server = await aiohttp_server(app_with(web.get("/", handler)))
    for _ in range(2):
        assert (await probe.check(Service(url=str(server.make_url("/"))))).ok
    assert cookies == [None, None]


async def test_latency_with_real_clock_is_sane(
    aiohttp_server: AiohttpServer, session: aiohttp.ClientSession
) -> None:
    server = await aiohttp_server(app_with(web.get("/", text("ok"))))
    result = await HttpProbe(session, SystemClock()).check(Service(url=str(server.make_url("/"))))
    assert result.ok and result.latency_ms is not None
    assert math.isfinite(result.latency_ms) and 0.0 <= result.latency_ms < 5000.0
    assert result.time.tzinfo is not None


async def test_config_service_model_is_probed_as_configured(
    aiohttp_server: AiohttpServer, probe: HttpProbe
) -> None:
    from monitor.config import ServiceConfig  # the real model satisfies ServiceSpec

    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="fine", status=500 if request.path == "/bad" else 404)

    server = await aiohttp_server(app_with(web.get("/{p}", handler)))
    expect = {"status": ["2xx", 404], "body_contains": "fine"}
    good = ServiceConfig(name="web", url=str(server.make_url("/good")), expect=expect)
    bad = ServiceConfig(name="web", url=str(server.make_url("/bad")), expect=expect)
    assert (await probe.check(good)).ok
    result = await probe.check(bad)  # retries defaults to 1: two attempts
    assert (result.ok, result.status, result.detail) == (
        False,
        500,
        "status 500 not in expected 200-299, 404",
    )
    assert hits == ["/good", "/bad", "/bad"]


# --- the probe never raises, except for cancellation ------------------------------------


async def test_unexpected_exception_is_protocol_and_logged(
    aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("boom")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(explode)
    server = await aiohttp_server(app_with(web.get("/", text("ok"))))
    async with aiohttp.ClientSession(trace_configs=[trace]) as broken:
        with caplog.at_level(logging.ERROR, logger="monitor.probes.http"):
            result = await HttpProbe(broken, FakeClock(T0)).check(
                Service(url=str(server.make_url("/")), name="exploding")
            )
    assert (result.ok, result.error) == (False, ErrorKind.PROTOCOL)
    assert result.detail == "unexpected error RuntimeError: boom"
    assert any("exploding" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_cancellation_propagates(probe: HttpProbe) -> None:
    arrived = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await asyncio.Event().wait()

    async with serve_raw(hold) as srv:
        task = asyncio.create_task(probe.check(Service(url=srv.url, timeout=timedelta(seconds=10))))
        async with asyncio.timeout(5):
            await arrived.wait()  # the request is in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- classify on its own: failures a loopback server cannot stage --------------------------

KEY = ConnectionKey("db.example", 443, True, True, None, None, None, None)


def verify_error(message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    err.verify_message = message
    return err


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (TimeoutError(), ErrorKind.TIMEOUT, "no answer in time"),
        (aiohttp.ServerTimeoutError("read"), ErrorKind.TIMEOUT, "no answer in time"),
        (
            aiohttp.ClientConnectorCertificateError(KEY, verify_error("certificate has expired")),
            ErrorKind.TLS,
            "certificate verify failed: certificate has expired",
        ),
        (
            verify_error("Hostname mismatch"),
            ErrorKind.TLS,
            "certificate verify failed: Hostname mismatch",
        ),
        (
            aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-3, "Temporary failure")),
            ErrorKind.DNS,
            "cannot resolve db.example: Temporary failure",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            ErrorKind.DNS,
            "cannot resolve host: Name or service not known",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError(errno.EHOSTUNREACH, "No route to host")),
            ErrorKind.CONNECT,
            "host unreachable: db.example:443",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError(errno.ENETUNREACH, "Network unreachable")),
            ErrorKind.CONNECT,
            "network unreachable: db.example:443",
        ),
        (
            aiohttp.ClientConnectorError(KEY, OSError(errno.EACCES, "Permission denied")),
            ErrorKind.CONNECT,
            "cannot connect to db.example:443: Permission denied",
        ),
        (
            aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"),
            ErrorKind.CONNECT,
            "connection reset by the server",
        ),
        (
            aiohttp.NonHttpUrlRedirectClientError("ftp://files.example/"),
            ErrorKind.PROTOCOL,
            "redirect to an unusable location: ftp://files.example/",
        ),
        (aiohttp.InvalidURL("http://"), ErrorKind.PROTOCOL, "invalid URL: http://"),
        (RuntimeError("boom"), ErrorKind.PROTOCOL, "unexpected error RuntimeError: boom"),
        (
            ValueError("line one\n  line two"),
            ErrorKind.PROTOCOL,
            "unexpected error ValueError: line one line two",
        ),
    ],
    ids=[
        "timeout_without_duration",
        "aiohttp_read_timeout",
        "expired_certificate",
        "bare_verify_error",
        "dns_via_connector",
        "bare_gaierror",
        "host_unreachable",
        "network_unreachable",
        "other_connect_error",
        "broken_pipe",
        "redirect_to_ftp",
        "invalid_url",
        "unknown_exception",
        "multiline_flattened",
    ],
)
def test_classify_table(exc: BaseException, kind: ErrorKind, detail: str) -> None:
    assert classify(exc) == (kind, detail)


def test_classify_quotes_timeout_and_truncates() -> None:
    assert classify(TimeoutError(), timeout=timedelta(seconds=5)) == (
        ErrorKind.TIMEOUT,
        "no answer within 5s",
    )
    kind, detail = classify(RuntimeError("x" * 500))
    assert kind is ErrorKind.PROTOCOL
    assert len(detail) == 160 and detail.endswith("…")
