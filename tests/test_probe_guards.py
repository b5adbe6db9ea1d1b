"""The HTTP probe holds against targets that try to use it: redirects into link-local and
metadata addresses, patterns that backtrack forever, and bodies nobody needs to keep.

Forbidden addresses are loopback ones here (127.0.0.2), handed to the connector the way
production hands it 169.254.0.0/16: a regression then reaches a loopback server that counts
the request, never a real metadata service.
"""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from probe_servers import Expect, Firehose, Service, serve_raw
from pytest_aiohttp import AiohttpServer

from monitor.core.checks import ErrorKind
from monitor.core.clock import FakeClock
from monitor.probes import HttpProbe, make_session
from monitor.probes.addresses import FORBIDDEN, GuardedConnector, forbidden
from monitor.probes.http import REGEX_TIME_LIMIT_S

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
METADATA = "127.0.0.2"  # stands in for 169.254.169.254
TEST_FORBIDDEN = (ip_network(f"{METADATA}/32"),)


class NamesToMetadata(AbstractResolver):
    """``metadata.test`` resolves to the stand-in metadata address; nothing else resolves."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.rstrip(".") != "metadata.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [{"hostname": host, "host": METADATA, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


@pytest.fixture
async def probe() -> AsyncIterator[HttpProbe]:
    session = make_session(resolver=NamesToMetadata(), forbidden_networks=TEST_FORBIDDEN)
    yield HttpProbe(session, FakeClock(T0))
    await session.close()


@pytest.fixture
async def metadata(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[int, list[str]]]:
    """A server on the stand-in metadata address; the list holds every path asked of it."""
    hits: list[str] = []

    async def secrets(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="AKIA-secret")

    app = web.Application()
    app.router.add_get("/{tail:.*}", secrets)
    server = await aiohttp_server(app, host=METADATA)
    yield server.port, hits


async def redirector(aiohttp_server: AiohttpServer, location: str) -> str:
    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    app = web.Application()
    app.router.add_get("/", hop)
    server = await aiohttp_server(app)
    return str(server.make_url("/"))


@pytest.mark.parametrize("target", ["literal", "name"])
async def test_a_redirect_into_metadata_is_refused(
    aiohttp_server: AiohttpServer, probe: HttpProbe, metadata: tuple[int, list[str]],
    target: str,
) -> None:
    port, hits = metadata
    host = METADATA if target == "literal" else "metadata.test"
    url = await redirector(aiohttp_server, f"http://{host}:{port}/latest/meta-data/")
    result = await probe.check(Service(url=url, expect=Expect(body_contains="AKIA")))
    assert (result.ok, result.error) == (False, ErrorKind.CONNECT)
    named = METADATA if target == "literal" else f"metadata.test ({METADATA})"
    assert result.detail == (f"refused {named}: a link-local or cloud metadata address, "
                             "allowed only in the service's own URL")
    assert hits == []


async def test_the_services_own_url_may_name_such_an_address(
    probe: HttpProbe, metadata: tuple[int, list[str]]
) -> None:
    port, hits = metadata
    result = await probe.check(Service(url=f"http://{METADATA}:{port}/health"))
    assert result.ok, result.detail
    assert hits == ["/health"]


@pytest.mark.parametrize(("address", "refused"), [
    ("169.254.169.254", True),
    ("169.254.0.1", True),
    ("::ffff:169.254.169.254", True),
    ("[fe80::1]", True),
    ("fe80::1%eth0", True),
    ("100.100.100.200", True),
    ("fd00:ec2::254", True),
    ("10.0.0.1", False),
    ("127.0.0.1", False),
    ("93.184.216.34", False),
    ("example.com", False),
])
def test_forbidden_addresses(address: str, refused: bool) -> None:
    assert forbidden(address) is refused


async def test_a_backtracking_regex_fails_its_check_without_stalling_others(
    aiohttp_server: AiohttpServer, probe: HttpProbe
) -> None:
    async def evil_body(_: web.Request) -> web.Response:
        return web.Response(text="a" * 64 + "!")

    async def fine_body(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/evil", evil_body)
    app.router.add_get("/fine", fine_body)
    server = await aiohttp_server(app)
    evil = asyncio.create_task(probe.check(Service(
        url=str(server.make_url("/evil")), expect=Expect(body_regex=r"(a|aa)+$"),
        timeout=timedelta(seconds=30))))
    fine = asyncio.create_task(probe.check(Service(url=str(server.make_url("/fine")))))
    done, _ = await asyncio.wait({evil, fine}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {fine}  # the event loop kept running while the pattern backtracked
    result = await evil
    assert (result.ok, result.error) == (False, ErrorKind.CONTENT)
    assert result.detail == (f"body_regex /(a|aa)+$/ took over {REGEX_TIME_LIMIT_S:g} s on this "
                             "body; simplify the pattern")


async def test_a_body_nothing_reads_is_counted_not_kept(probe: HttpProbe) -> None:
    hose = Firehose(declare_length=True)  # 50 MB
    async with serve_raw(hose) as srv:
        tracemalloc.start()
        try:
            result = await probe.check(Service(url=srv.url, max_body_bytes=64 << 20,
                                               timeout=timedelta(seconds=30)))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.ok, result.detail
    assert hose.sent >= Firehose.SIZE  # the whole body was read
    assert peak < 8 << 20  # buffers in flight, not the 50 MB body


async def test_a_body_an_assertion_reads_is_still_capped(probe: HttpProbe) -> None:
    async with serve_raw(Firehose(declare_length=False)) as srv:
        result = await probe.check(Service(url=srv.url, expect=Expect(body_contains="zzz"),
                                           timeout=timedelta(seconds=30)))
    assert (result.ok, result.error) == (False, ErrorKind.TOO_LARGE)


async def test_production_sessions_refuse_the_real_ranges() -> None:
    session = make_session()
    try:
        assert isinstance(session.connector, GuardedConnector)
        assert session.connector._forbidden == FORBIDDEN
    finally:
        await session.close()
