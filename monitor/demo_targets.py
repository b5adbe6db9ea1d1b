"""The demo's targets of the other kinds, on loopback: a mail relay (tcp), a DNS server (dns),
a TLS endpoint (tls) and a job that pings (push).

Each misbehaves on a cycle of its own, as the demo's web services do: the mail relay answers
``421`` instead of ``220`` for a minute every 15 minutes; the DNS server answers ``SERVFAIL``
for a minute every 20; the TLS endpoint presents a certificate from the demo's own CA
(``monitor/demo_tls``: made for the demo, trusted only by the demo's monitor, valid until
2046); the heartbeat job runs every minute (``/start``, then success about three seconds
later) and reports a failure on every tenth run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from monitor.core.clock import Clock

__all__ = ["CERTS", "DemoTargets", "Heartbeat", "demo_trust"]

log = logging.getLogger("upwatch.demo")

CERTS = Path(__file__).parent / "demo_tls"
#: The name the demo's DNS server answers, and its address.
DNS_NAME, DNS_ADDRESS = "www.example.test.", "192.0.2.10"


def _cycle(clock: Clock, period_s: int, bad_s: int) -> bool:
    """Whether the current moment is in the first ``bad_s`` seconds of a ``period_s`` cycle."""
    return int(clock.now().timestamp()) % period_s < bad_s


def demo_trust() -> ssl.SSLContext:
    """A verifying context that trusts the demo's CA (and nothing else)."""
    return ssl.create_default_context(cafile=str(CERTS / "ca.pem"))


class _DnsProtocol(asyncio.DatagramProtocol):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # not DNS: no answer, as a server would
            return
        response = dns.message.make_response(query)
        question = query.question[0] if query.question else None
        if _cycle(self.clock, 1200, 60):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif question is None or question.name.to_text().lower() != DNS_NAME:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(DNS_NAME, 300, "IN", "A", DNS_ADDRESS))
        if self.transport is not None:
            self.transport.sendto(response.to_wire(), addr)


@dataclass
class DemoTargets:
    """The tcp, dns and tls targets; ``start()`` gives them ports, ``stop()`` closes them."""

    clock: Clock
    mail_port: int = 0
    dns_port: int = 0
    tls_port: int = 0
    _servers: list[asyncio.Server] = field(default_factory=list)
    _dns: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        mail = await asyncio.start_server(self._greet, "127.0.0.1", 0)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(CERTS / "leaf.pem")
        secure = await asyncio.start_server(self._hang_up, "127.0.0.1", 0, ssl=ctx)
        self._servers += [mail, secure]
        self.mail_port = mail.sockets[0].getsockname()[1]
        self.tls_port = secure.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DnsProtocol(self.clock), local_addr=("127.0.0.1", 0))
        self._dns = transport
        self.dns_port = transport.get_extra_info("sockname")[1]

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bad = _cycle(self.clock, 900, 60)
        writer.write(b"421 mail.example.test busy, try later\r\n" if bad
                     else b"220 mail.example.test ESMTP ready\r\n")
        with contextlib.suppress(OSError, TimeoutError):
            await writer.drain()
            async with asyncio.timeout(5):
                await reader.readline()  # QUIT
            writer.write(b"221 bye\r\n")
            await writer.drain()
        writer.close()

    async def _hang_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # the handshake was the point

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        if self._dns is not None:
            self._dns.close()


class Heartbeat:
    """A job that runs every ``every_s`` for ``work_s`` and pings ``url()`` (None until the
    monitor gave the service its token): ``/start``, then success, or ``/fail`` on every tenth
    run."""

    def __init__(self, url: Callable[[], str | None], every_s: float = 60.0,
                 work_s: float = 3.0) -> None:
        self._url = url
        self._every_s = every_s
        self._work_s = work_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="demo heartbeat job")

    async def _run(self) -> None:
        runs = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while True:
                url = self._url()
                if url is not None:
                    runs += 1
                    try:
                        await self._ping(session, f"{url}/start")
                        await asyncio.sleep(self._work_s)  # the job's work
                        await self._ping(session, f"{url}/fail" if runs % 10 == 0 else url)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        log.warning("demo heartbeat: ping failed: %s", exc)
                await asyncio.sleep(self._every_s)

    @staticmethod
    async def _ping(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(url) as resp:
            resp.raise_for_status()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
