"""The tcp probe against real loopback peers: a server that accepts, greets, greets wrongly,
says nothing, hangs up, resets; a closed port; a name that does not resolve. Then the same
through ``upwatch probe`` and a running ``upwatch run``.

Nothing here leaves loopback: names resolve through a resolver that fails every lookup.
Hanging servers wait on an event nobody sets; a short timeout is what ends those checks.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from probe_servers import FailingResolver, closed_port, serve_raw, wait_forever
from test_run_e2e import DEADLINE, Upwatch, poll

from monitor.config import parse_config
from monitor.core.checks import ErrorKind, State
from monitor.core.clock import FakeClock
from monitor.probes import ServiceProbe, TcpProbe, make_session
from monitor.probes.matching import REGEX_TIME_LIMIT_S
from monitor.probes.tcp import BANNER_MAX_BYTES

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
#: Only for checks whose expected outcome needs the timeout to end them.
SHORT = timedelta(milliseconds=300)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True)
class TcpExpect:
    banner: str | None = None


@dataclass(frozen=True)
class TcpService:
    """The attributes of a ``kind: tcp`` ServiceConfig that the probe reads."""

    port: int
    host: str = "127.0.0.1"
    name: str = "mail"
    send: str | None = None
    timeout: timedelta = timedelta(seconds=5)
    retries: int = 0
    expect: TcpExpect = field(default_factory=TcpExpect)


@pytest.fixture
def resolver() -> FailingResolver:
    return FailingResolver()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def probe(clock: FakeClock, resolver: FailingResolver) -> TcpProbe:
    return TcpProbe(clock, "test-lab", resolver=resolver)


def says(*lines: bytes, then_close: bool = False) -> Handler:
    """A server that writes ``lines`` (flushing each), then hangs up or waits forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for line in lines:
            writer.write(line)
            await writer.drain()
        if not then_close:
            await wait_forever()

    return handler


async def accepts(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await wait_forever()


async def resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Aborts at once with SO_LINGER 0: the kernel sends an RST."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- up -----------------------------------------------------------------------------------


async def test_a_port_that_accepts_is_up_with_nothing_read(probe: TcpProbe) -> None:
    async with serve_raw(accepts) as srv:
        result = await probe.check(TcpService(port=srv.port))
    assert (result.ok, result.error, result.detail, result.status) == (True, None, "", None)
    assert (result.service, result.location, result.time) == ("mail", "test-lab", T0)
    assert result.latency_ms == 0.0  # the FakeClock did not move
    assert result.state(None) is State.UP


async def test_a_matching_banner_is_up(probe: TcpProbe) -> None:
    async with serve_raw(says(b"220 mail.test ESMTP ready\r\n")) as srv:
        result = await probe.check(TcpService(port=srv.port, expect=TcpExpect(banner="^220 ")))
    assert (result.ok, result.error, result.detail) == (True, None, "")


async def test_send_is_written_before_the_answer_is_read(probe: TcpProbe) -> None:
    heard: list[bytes] = []

    async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.append(await reader.readline())
        writer.write(b"+PONG\r\n" if heard[-1] == b"PING\r\n" else b"-ERR\r\n")
        await writer.drain()
        await wait_forever()

    async with serve_raw(pong) as srv:
        result = await probe.check(TcpService(port=srv.port, send="PING\r\n",
                                              expect=TcpExpect(banner=r"^\+PONG")))
    assert (result.ok, result.error) == (True, None), result.detail
    assert heard == [b"PING\r\n"]


async def test_a_banner_in_pieces_is_matched_when_the_rest_arrives(probe: TcpProbe) -> None:
    async def greets_after_ehlo(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-mail.test\r\n")  # the first line matches nothing yet
        await writer.drain()
        await reader.readline()  # the probe's EHLO: only then the rest
        writer.write(b"220 ESMTP ready\r\n")
        await writer.drain()
        await wait_forever()

    async with serve_raw(greets_after_ehlo) as srv:
        result = await probe.check(TcpService(port=srv.port, send="EHLO upwatch\r\n",
                                              expect=TcpExpect(banner="220 ESMTP")))
    assert (result.ok, result.error) == (True, None), result.detail


async def test_a_retry_after_a_failure_can_pass(probe: TcpProbe, clock: FakeClock) -> None:
    connections = 0

    async def second_time_lucky(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            return  # hangs up without a word
        writer.write(b"220 ready\r\n")
        await writer.drain()
        await wait_forever()

    async with serve_raw(second_time_lucky) as srv:
        result = await probe.check(TcpService(port=srv.port, retries=1,
                                              expect=TcpExpect(banner="^220")))
    assert (result.ok, result.time, connections) == (True, T0, 2)


# --- down ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("lines", "detail"), [
    ((b"554 no service here\r\n",), r"banner does not match /^220/: got '554 no service here\r\n'"),
    ((b"\x00\xff220 binary\r\n",), r"banner does not match /^220/: got '\x00�220 binary\r\n'"),
    ((b"554 " + b"x" * 100,), "banner does not match /^220/: got '554 " + "x" * 35 + "…'"),
    ((), "banner does not match /^220/: the server closed the connection without a word"),
], ids=["wrong_banner", "unprintable_banner", "long_banner_truncated", "closed_silently"])
async def test_a_banner_heard_in_full_that_does_not_match_is_content(
    probe: TcpProbe, lines: tuple[bytes, ...], detail: str
) -> None:
    async with serve_raw(says(*lines, then_close=True)) as srv:
        result = await probe.check(TcpService(port=srv.port, expect=TcpExpect(banner="^220")))
    assert (result.ok, result.error, result.detail) == (False, ErrorKind.CONTENT, detail)
    assert result.latency_ms is not None  # a connection was made
    assert result.state(None) is State.DOWN


async def test_a_wrong_banner_from_a_server_that_waits_fails_at_the_timeout(
    probe: TcpProbe
) -> None:
    async with serve_raw(says(b"554 go away\r\n")) as srv:
        result = await probe.check(TcpService(port=srv.port, timeout=SHORT,
                                              expect=TcpExpect(banner="^220")))
    assert (result.ok, result.error) == (False, ErrorKind.CONTENT)
    assert result.detail == r"banner does not match /^220/ within 0.3s: got '554 go away\r\n'"


async def test_a_banner_is_read_up_to_its_limit_then_judged(probe: TcpProbe) -> None:
    sent = b"y" * (3 * BANNER_MAX_BYTES)
    async with serve_raw(says(sent)) as srv:  # it keeps the connection open
        result = await probe.check(TcpService(port=srv.port, timeout=timedelta(seconds=30),
                                              expect=TcpExpect(banner="^220")))
    # judged at the limit, not at the timeout: no "within 30s"
    assert (result.ok, result.error) == (False, ErrorKind.CONTENT)
    assert result.detail == "banner does not match /^220/: got '" + "y" * 39 + "…'"


async def test_a_silent_server_is_a_timeout_when_a_banner_is_expected(probe: TcpProbe) -> None:
    async with serve_raw(accepts) as srv:
        result = await probe.check(TcpService(port=srv.port, timeout=SHORT,
                                              expect=TcpExpect(banner="^220")))
    assert (result.ok, result.error) == (False, ErrorKind.TIMEOUT)
    assert result.detail == "connected, but no banner within 0.3s"
    assert result.latency_ms is not None  # the time waited


async def test_a_refused_port_is_connect_with_no_latency(probe: TcpProbe) -> None:
    with closed_port() as port:
        result = await probe.check(TcpService(port=port))
    assert (result.ok, result.error) == (False, ErrorKind.CONNECT)
    assert result.detail == f"connection refused by 127.0.0.1:{port}"
    assert result.latency_ms is None


async def test_a_reset_is_connect(probe: TcpProbe) -> None:
    async with serve_raw(resets) as srv:
        result = await probe.check(TcpService(port=srv.port, expect=TcpExpect(banner="^220")))
    assert (result.ok, result.error) == (False, ErrorKind.CONNECT)
    assert result.detail == f"connection reset by 127.0.0.1:{srv.port}"


async def test_a_name_that_does_not_resolve_is_dns(
    probe: TcpProbe, resolver: FailingResolver
) -> None:
    result = await probe.check(TcpService(host="mail.example.invalid", port=25))
    assert (result.ok, result.error, result.latency_ms) == (False, ErrorKind.DNS, None)
    assert result.detail == "cannot resolve mail.example.invalid: Name or service not known"
    assert resolver.asked == ["mail.example.invalid"]


async def test_a_backtracking_banner_pattern_fails_its_own_check(probe: TcpProbe) -> None:
    async with serve_raw(says(b"a" * 64 + b"!")) as srv:
        result = await probe.check(TcpService(port=srv.port, timeout=timedelta(seconds=30),
                                              expect=TcpExpect(banner=r"(a|aa)+$")))
    assert (result.ok, result.error) == (False, ErrorKind.CONTENT)
    assert result.detail == (f"banner /(a|aa)+$/ took over {REGEX_TIME_LIMIT_S:g} s on this "
                             "banner; simplify the pattern")


# --- from probes.yaml, through the probe of its kind ------------------------------------------


def tcp_yaml(port: int, name: str = "mail", extra: str = "") -> str:
    return (f"  - {{name: {name}, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1s, "
            f"timeout: 1s, retries: 0, expect: {{banner: '^220'}}{extra}}}\n")


async def test_a_configured_tcp_service_is_checked_by_the_tcp_probe() -> None:
    async with serve_raw(says(b"220 hi\r\n")) as srv:
        config = parse_config("services:\n" + tcp_yaml(srv.port, extra=", send: \"QUIT\\r\\n\""))
        async with make_session() as session:
            result = await ServiceProbe(session, FakeClock(T0)).check(config.service("mail"))
    assert (result.ok, result.error) == (True, None), result.detail


async def run_cli(workdir: Path, *argv: str) -> tuple[int, str, str]:
    env = {**os.environ, "UPWATCH_CONFIG": str(workdir / "probes.yaml")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", *argv, cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_upwatch_probe_runs_a_tcp_service(tmp_path: Path) -> None:
    async with serve_raw(says(b"220 hi\r\n", then_close=True)) as good, \
            serve_raw(says(b"554 no\r\n", then_close=True)) as bad:
        (tmp_path / "probes.yaml").write_text(
            "services:\n" + tcp_yaml(good.port) + tcp_yaml(bad.port, name="other"))
        assert await run_cli(tmp_path, "check-config") == (0, "OK: 2 services\n", "")
        code, out, _ = await run_cli(tmp_path, "probe", "mail")
        assert code == 0
        assert re.fullmatch(rf"mail: UP in \d+\.\d ms  tcp://127\.0\.0\.1:{good.port}\n", out)
        code, out, _ = await run_cli(tmp_path, "probe", "other")
    assert code == 1
    assert out.startswith("other: DOWN in ")
    assert out.endswith(f"  tcp://127.0.0.1:{bad.port}\n"
                        r"  content: banner does not match /^220/: got '554 no\r\n'" "\n")


# --- end to end: `upwatch run` follows a tcp target down and back -----------------------------


class Greeter:
    """A loopback server whose greeting the test changes; it hangs up after greeting."""

    def __init__(self) -> None:
        self.banner = b"220 mail.test ready\r\n"

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.banner)
        await writer.drain()


@pytest.fixture
async def greeter() -> AsyncIterator[tuple[Greeter, int]]:
    g = Greeter()
    async with serve_raw(g) as srv:
        yield g, srv.port


async def checks_total(session: aiohttp.ClientSession, base: str, result: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    found = re.search(rf'^upwatch_checks_total\{{result="{result}",service="mail"\}} (\S+)$',
                      text, re.M)
    return 0.0 if found is None else float(found.group(1))


async def test_run_follows_a_tcp_service_down_and_back(
    tmp_path: Path, greeter: tuple[Greeter, int]
) -> None:
    g, port = greeter
    (tmp_path / "probes.yaml").write_text("site: {title: e2e}\nservices:\n" + tcp_yaml(port))
    up = Upwatch(tmp_path)
    await up.start()
    try:
        await up.wait_metric("probe_success", "mail", 1.0)
        async with aiohttp.ClientSession() as session:
            assert await up.metric(session, "probe_duration_seconds", "mail") is not None
            assert await up.metric(session, "probe_http_status_code", "mail") == 0.0
            g.banner = b"554 closed for maintenance\r\n"
            await up.wait_metric("probe_success", "mail", 0.0)
            await up.wait_log(r"service mail is down \(content: banner does not match /\^220/: "
                              r"got '554 closed for maintenance\\r\\n'\)")

            async def counted() -> bool:
                return await checks_total(session, up.base, "content") >= 1

            await poll(counted, 'upwatch_checks_total{result="content"}', up.log)
            g.banner = b"220 back\r\n"
            await up.wait_metric("probe_success", "mail", 1.0)
            await up.wait_log(r"service mail is up")
            await up.wait_log(r"status page built: \d+ files")
            async with session.get(f"{up.base}/status.json") as resp:
                summary = await resp.json()
        assert [c["name"] for c in summary["components"]] == ["mail"]
    finally:
        code = await up.signal(signal.SIGTERM)
    assert code == 0, "\n".join(up.log)
