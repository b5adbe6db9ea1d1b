"""The kinds of ``bench/probes.py``: each kind's services, loopback target and bare reference.

A :class:`BenchKind` says what ``--kind`` benchmarks:

- ``http``: services with ``url: http://127.0.0.1:PORT/sN`` against bench/target.py (every
  request answered ``200 ok``, connection closed); the reference is a bare aiohttp client,
  ``force_close`` so each request makes a new connection, reading the body.
- ``tcp``: services ``kind: tcp`` with ``host: 127.0.0.1`` and ``port`` against
  bench/tcp_target.py (accepts and closes); with ``--banner`` the target first writes
  ``220 ready\\r\\n`` and the services expect ``banner: ^220``. The reference is bare
  ``asyncio.open_connection`` (reading the banner up to its line end with ``--banner``), then
  ``close`` and ``wait_closed``.
- ``dns``: services ``kind: dns`` with ``query: svcN.bench.test``, ``record: A``,
  ``server: 127.0.0.1`` and ``port`` against bench/dns_target.py (dnspython answering
  ``A 127.0.0.1``); the reference is bare ``dns.asyncquery.udp`` (a new socket per query)
  with a plain ``dns.message.make_query`` question, checking that the answer is NOERROR with
  records. The probe's question offers EDNS0, which the reference's does not: building and
  parsing the OPT record is part of the probe's cost, not of the reference's.

Every service has ``timeout: 5s`` (the interval, when that is shorter) and ``retries: 0``; the
tcp and dns references' calls have the same 5 s timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import dns.asyncquery
import dns.message
import dns.rcode

__all__ = ["KINDS", "TIMEOUT_S", "BenchKind", "OneCheck"]

#: One check of the reference: ``await one(i)`` for the i-th service.
OneCheck = Callable[[int], Coroutine[None, None, None]]

#: The services' timeout (unless their interval is shorter), and the references'.
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BenchKind:
    name: str
    #: the target's script in bench/, run as ``python SCRIPT PORT_FILE [--banner]``
    target: str
    #: the i-th service's own keys in probes.yaml (a flow mapping's), given the target's port
    keys: Callable[[int, int, bool], str]
    #: the reference client, as printed: "bare aiohttp", and how it checks: "new connection each"
    client: str
    how: Callable[[bool], str]
    #: the reference's client, set up for the target's port: yields its one check
    reference: Callable[[int, bool], AbstractAsyncContextManager[OneCheck]]


@asynccontextmanager
async def _aiohttp(port: int, banner: bool) -> AsyncIterator[OneCheck]:
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            async with session.get(f"http://127.0.0.1:{port}/s{i}") as resp:
                await resp.read()

        yield one


@asynccontextmanager
async def _open_connection(port: int, banner: bool) -> AsyncIterator[OneCheck]:
    async def one(i: int) -> None:
        async with asyncio.timeout(TIMEOUT_S):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                if banner and not (await reader.readline()).startswith(b"220"):
                    raise RuntimeError("the target sent no 220 banner")
            finally:
                writer.close()
                await writer.wait_closed()

    yield one


@asynccontextmanager
async def _dnspython(port: int, banner: bool) -> AsyncIterator[OneCheck]:
    async def one(i: int) -> None:
        query = dns.message.make_query(f"svc{i}.bench.test", "A")
        response = await dns.asyncquery.udp(query, "127.0.0.1", timeout=TIMEOUT_S, port=port)
        if response.rcode() != dns.rcode.NOERROR or not response.answer:
            raise RuntimeError(f"the target answered {dns.rcode.to_text(response.rcode())}")

    yield one


KINDS = {
    "http": BenchKind(
        "http", "target.py",
        lambda i, port, banner: f"url: 'http://127.0.0.1:{port}/s{i}'",
        "bare aiohttp", lambda banner: "new connection each", _aiohttp),
    "tcp": BenchKind(
        "tcp", "tcp_target.py",
        lambda i, port, banner: (f"kind: tcp, host: 127.0.0.1, port: {port}"
                                 + (", expect: {banner: '^220'}" if banner else "")),
        "bare asyncio open_connection",
        lambda banner: "a banner read, then close" if banner else "then close",
        _open_connection),
    "dns": BenchKind(
        "dns", "dns_target.py",
        lambda i, port, banner: (f"kind: dns, query: svc{i}.bench.test, record: A, "
                                 f"server: 127.0.0.1, port: {port}"),
        "bare dnspython asyncquery.udp", lambda banner: "a query each", _dnspython),
}
