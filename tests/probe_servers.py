"""Loopback servers that misbehave on purpose, and a stand-in service for the HTTP probe.

Hanging servers wait on an event nobody sets; the probe's timeout is what ends a check, and
leaving the ``serve_raw`` block cancels whatever is still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import trustme
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.config.assertions import HeaderExpectation, JsonAssertion

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# --- the service the probe reads (same attributes as monitor.config.ServiceConfig) --------


@dataclass(frozen=True)
class Range:
    lo: int
    hi: int


@dataclass(frozen=True)
class Expect:
    status: tuple[Range, ...] = (Range(200, 399),)
    body_contains: str | None = None
    body_regex: str | None = None
    json_assertions: tuple[JsonAssertion, ...] = ()
    headers: tuple[HeaderExpectation, ...] = ()

    def status_ok(self, code: int) -> bool:
        return any(r.lo <= code <= r.hi for r in self.status)


@dataclass(frozen=True)
class Service:
    url: str
    name: str = "api"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout: timedelta = timedelta(seconds=5)
    retries: int = 0
    tls_verify: bool = True
    follow_redirects: bool = True
    max_redirects: int = 5
    max_body_bytes: int = 1 << 20
    expect: Expect = Expect()


# --- DNS without the network ----------------------------------------------------------------


class FailingResolver(AbstractResolver):
    """Answers every lookup the way getaddrinfo does for a name that does not exist."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        return None


# --- raw TCP servers --------------------------------------------------------------------------


class RawServer:
    """An asyncio TCP server on 127.0.0.1 that runs ``handler`` per connection and counts them."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._tasks: set[asyncio.Task[object]] = set()
        self.peer_ports: list[int] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.peer_ports.append(writer.get_extra_info("peername")[1])
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the probe hung up: that is its right
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RawServer]:
        server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


def serve_raw(handler: Handler) -> contextlib.AbstractAsyncContextManager[RawServer]:
    """``async with serve_raw(handler) as srv:`` → a running :class:`RawServer`."""
    return RawServer(handler).running()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """The request line and headers (the probe's requests in these tests have no body)."""
    return await reader.readuntil(b"\r\n\r\n")


async def wait_forever() -> None:
    await asyncio.Event().wait()


# --- hostile handlers -------------------------------------------------------------------------


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request, never answers."""
    await read_head(reader)
    await wait_forever()


async def hang_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Promises 1000 bytes, sends 10, then goes quiet."""
    await read_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    await writer.drain()
    await wait_forever()


async def cut_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Promises 1000 bytes, sends 10, then closes the connection in an orderly way."""
    await read_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    await writer.drain()


async def close_without_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_head(reader)


async def reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request, then aborts with SO_LINGER 0 so the kernel sends an RST."""
    await read_head(reader)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_head(reader)
    writer.write(b"\x00\xff\x13 this is not HTTP at all \xfe\r\n\r\n")
    await writer.drain()


class Firehose:
    """Answers 200 with a 50 MB body, generated and streamed; records how much got out."""

    SIZE = 50 * 1000 * 1000
    CHUNK = b"a" * 65536

    def __init__(self, *, declare_length: bool) -> None:
        self.declare_length = declare_length
        self.sent = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        if self.declare_length:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.SIZE}\r\n\r\n"
        else:  # no length: the body runs until the connection closes
            head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        while self.sent < self.SIZE:
            writer.write(self.CHUNK)
            await writer.drain()
            self.sent += len(self.CHUNK)


def exact_body(size: int) -> Handler:
    """Answers 200 with exactly ``size`` bytes and no Content-Length (body ends at close)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"b" * size)
        await writer.drain()

    return handler


# --- closed port, TLS -------------------------------------------------------------------------


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else takes it) but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def untrusted_cert_context() -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 issued by a CA nobody trusts."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


def self_signed_context() -> ssl.SSLContext:
    """A server context whose certificate signed itself."""
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with ca.private_key_pem.tempfile() as key, ca.cert_pem.tempfile() as cert:
        ctx.load_cert_chain(cert, key)
    return ctx
