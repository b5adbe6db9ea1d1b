"""The prober's spool and pusher against a fake central on loopback: order, exactly-once
recording, outages (refused connections, 503 with Retry-After, a hung central), 413 halving,
400 bisection, a wrong token, invalid lines, reopening the spool, its bound, and kill -9.

No test sleeps for timing: the pusher's backoff goes through a recording ``sleep`` that returns
at once; waits for the central are on events, bounded only as a safety net.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from monitor.config.reader import parse_config
from monitor.core.checks import CheckResult, ErrorKind
from monitor.core.clock import FakeClock
from monitor.importer import parse_record
from monitor.run.pusher import RESULTS_PATH, Pusher, backoff, encode_batch
from monitor.store.spool import AsyncSpool, Spool, SpoolError, result_line

T0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
TOKEN = "fra-token-for-tests"
TOKEN_ENV = "UPWATCH_CENTRAL_TOKEN"
SAFETY = 10.0  # seconds: only a hung test ever waits this long


def lines(n: int, start: int = 0, service: str = "api") -> list[str]:
    return [result_line(CheckResult(service, T0 + timedelta(seconds=i, milliseconds=123),
                                    True, 87.5, 200, location="fra"))
            for i in range(start, start + n)]


def key(line: str) -> tuple[str, str, str]:
    d = json.loads(line)
    return d["service"], d["location"], d["time"]


@dataclass
class Central:
    """The central's side of ``POST /api/v1/results``, as the contract has it.

    ``script`` answers the next requests (after authentication) in order: a status, or
    ``(status, headers, record_first)``, or "hang" (awaits ``release`` forever); then 200s.
    """

    token: str = TOKEN
    max_lines: int | None = None
    script: list[Any] = field(default_factory=list)
    invalid_services: frozenset[str] = frozenset({"bad"})
    requests: list[list[str]] = field(default_factory=list)  # lines of each request
    recorded: dict[tuple[str, str, str], str] = field(default_factory=dict)  # in order
    duplicates: int = 0
    refused_lines: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        finally:
            async with self.changed:
                self.changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "invalid bearer token"}, status=401)
        assert request.headers["Content-Type"] == "application/x-ndjson"
        assert request.headers["Content-Encoding"] == "gzip"
        body = await request.read()
        assert body[:2] == b"\x1f\x8b"  # gzip, as sent (the app does not inflate it)
        text = gzip.decompress(body).decode("utf-8")
        assert text.endswith("\n")
        got = text.splitlines()
        self.requests.append(got)
        if self.max_lines is not None and len(got) > self.max_lines:
            return web.json_response({"error": "too many lines"}, status=413)
        try:
            records = [json.loads(line) for line in got]
        except ValueError:
            return web.json_response({"error": "a line is not JSON"}, status=400)
        if self.script:
            step = self.script.pop(0)
            if step == "hang":
                await self.release.wait()
                return web.Response(status=504)
            status, headers, record_first = (step, {}, False) if isinstance(step, int) else step
            if record_first:  # committed, then the answer was lost
                self._record(got, records)
            return web.json_response({"error": "not now"}, status=status, headers=headers)
        return web.json_response(self._record(got, records))

    def _record(self, got: list[str], records: list[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = {"recorded": 0, "duplicates": 0, "invalid": 0, "errors": []}
        for number, (line, rec) in enumerate(zip(got, records, strict=True), start=1):
            if rec["service"] in self.invalid_services:
                answer["invalid"] += 1
                answer["errors"].append(f"line {number}: service: unknown service")
                self.refused_lines.append(line)
            elif key(line) in self.recorded:
                answer["duplicates"] += 1
                self.duplicates += 1
            else:
                answer["recorded"] += 1
                self.recorded[key(line)] = line
        return answer

    async def until(self, test: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(test), SAFETY)


class Sleeps:
    """The pusher's ``sleep``: records each wait, runs ``hook(n)`` on the n-th, returns."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.hook: Callable[[int], Awaitable[None]] | None = None

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.hook is not None:
            await self.hook(len(self.delays))
        await asyncio.sleep(0)



def base_url(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


async def serve(aiohttp_server: Any, central: Central, **kw: Any) -> TestServer:
    # aiohttp's server inflates gzipped request bodies unless told not to; the central reads
    # them as sent (and bounds what they inflate to), so this one does too.
    app = web.Application(handler_args={"auto_decompress": False})
    app.router.add_post(RESULTS_PATH, central.handle)
    server = await aiohttp_server(app, **kw)
    assert isinstance(server, TestServer)
    return server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + timedelta(hours=1))


@pytest.fixture
async def spool(tmp_path: Path, clock: FakeClock) -> AsyncIterator[AsyncSpool]:
    s = await AsyncSpool.open(tmp_path / "spool.db", clock=clock)
    yield s
    await s.close()


@dataclass
class Harness:
    pusher: Pusher
    sleeps: Sleeps
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.pusher.run())

    async def stop(self) -> None:
        self.pusher.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, SAFETY)


def harness(spool: AsyncSpool, session: aiohttp.ClientSession, url: str, clock: FakeClock,
            **kw: Any) -> Harness:
    sleeps = Sleeps()
    kw.setdefault("token", TOKEN)
    pusher = Pusher(spool, session, url, token_env=TOKEN_ENV, clock=clock, sleep=sleeps,
                    rng=random.Random(7), **kw)
    return Harness(pusher, sleeps)


# ---- the line format ------------------------------------------------------------------------


def test_a_result_line_is_an_import_line_the_central_takes() -> None:
    config = parse_config("services:\n  - name: api\n    url: http://127.0.0.1:9/\n")
    result = CheckResult("api", T0 + timedelta(milliseconds=123), False, 5001.25, None,
                         ErrorKind.TIMEOUT, detail="not sent", location="fra")
    line = result_line(result)
    assert json.loads(line) == {"service": "api", "time": "2026-10-01T00:00:00.123Z",
                                "ok": False, "latency_ms": 5001.25, "status": None,
                                "error": "timeout", "location": "fra"}
    obs = parse_record(json.loads(line), config, T0 + timedelta(hours=1))
    assert obs.result == CheckResult("api", result.time, False, 5001.25, None,
                                     ErrorKind.TIMEOUT, location="fra")


def test_backoff_doubles_from_one_second_to_sixty_with_jitter() -> None:
    rng = random.Random(1)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (500, 60)]:
        for _ in range(50):
            assert ceiling / 2 <= backoff(failures, rng) <= ceiling
    assert len({round(backoff(3, rng), 6) for _ in range(20)}) > 1  # jittered


# ---- the pusher against the central -----------------------------------------------------------


async def test_lines_arrive_in_order_and_once(aiohttp_server: Any, spool: AsyncSpool,
                                              session: aiohttp.ClientSession,
                                              clock: FakeClock) -> None:
    central = Central()
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock, batch=7)
    h.start()
    sent = lines(30)
    for i in range(0, 30, 10):  # appended while the pusher runs: notify wakes it
        assert await h.pusher.submit(sent[i:i + 10]) == 10
    await central.until(lambda: len(central.recorded) == 30)
    await h.stop()
    assert list(central.recorded.values()) == sent
    assert central.duplicates == 0
    assert [line for req in central.requests for line in req] == sent
    assert max(len(req) for req in central.requests) <= 7
    assert len(spool) == 0 and spool.oldest_at is None
    assert (h.pusher.sent, h.pusher.backlog, h.pusher.last_error) == (30, 0, None)
    assert h.pusher.last_success == clock.now()
    assert h.sleeps.delays == []


async def test_central_down_then_503_then_back_loses_nothing(
        aiohttp_server: Any, spool: AsyncSpool, session: aiohttp.ClientSession,
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    port = unused_port()
    # Once up, the central first records a batch but answers 503 (its answer "lost"), then
    # answers 503 with Retry-After twice, then takes everything.
    central = Central(script=[(503, {}, True), (503, {"Retry-After": "7"}, False),
                              (503, {"Retry-After": "Thu, 01 Oct 2026 01:00:30 GMT"}, False)])
    h = harness(spool, session, f"http://127.0.0.1:{port}", clock, batch=4)

    async def come_back(n: int) -> None:
        if n == 3:  # three refused connections, then the central starts on its port
            await serve(aiohttp_server, central, port=port)

    h.sleeps.hook = come_back
    sent = lines(10)
    await spool.append(sent[:6])
    h.start()
    h.pusher.notify()
    await central.until(lambda: len(central.requests) >= 1)
    await h.pusher.submit(sent[6:])
    await central.until(lambda: len(central.recorded) == 10)
    await h.stop()

    assert list(central.recorded.values()) == sent  # in order, each once
    assert central.duplicates == 4  # the first batch, sent again after its lost answer
    assert len(spool) == 0
    delays = h.sleeps.delays
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert 4 <= delays[3] <= 8  # the plain 503
    assert delays[4:] == [7.0, 30.0]  # Retry-After as seconds, then as a date (clock + 30 s)
    assert h.pusher.last_error is None and h.pusher.failures == 0
    assert "cannot reach the central" in caplog.text and "answered 503" in caplog.text


async def test_413_halves_the_batch(aiohttp_server: Any, spool: AsyncSpool,
                                    session: aiohttp.ClientSession, clock: FakeClock) -> None:
    central = Central(max_lines=10)
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock, batch=40)
    sent = lines(45)
    await spool.append(sent)
    h.start()
    await central.until(lambda: len(central.recorded) == 45)
    await h.stop()
    sizes = [len(r) for r in central.requests]
    assert sizes[:3] == [40, 20, 10]
    assert list(central.recorded.values()) == sent and central.duplicates == 0
    assert h.sleeps.delays == []  # too large is not an outage: no backoff


async def test_a_line_refused_alone_with_400_is_dropped(
        aiohttp_server: Any, spool: AsyncSpool, session: aiohttp.ClientSession,
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    central = Central()
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock, batch=8)
    good = lines(12)
    await spool.append([*good[:5], "this is not JSON", *good[5:]])
    h.start()
    await central.until(lambda: len(central.recorded) == 12)
    await h.stop()
    assert list(central.recorded.values()) == good
    assert h.pusher.dropped == 1 and len(spool) == 0
    assert [r for r in central.requests if r == ["this is not JSON"]]  # refused alone, once
    assert "dropped a spooled result" in caplog.text and "this is not JSON" in caplog.text


async def test_a_central_refusing_every_line_drops_none(
        aiohttp_server: Any, spool: AsyncSpool, session: aiohttp.ClientSession,
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    central = Central(script=[400] * 8)  # e.g. a central that cannot read gzip
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock, batch=4)
    sent = lines(4)
    await spool.append(sent)
    h.start()
    await central.until(lambda: len(central.recorded) == 4)
    await h.stop()
    # halved to one line, kept through six backoffs, then doubled back after each success
    assert [len(r) for r in central.requests] == [4, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1]
    assert list(central.recorded.values()) == sent and h.pusher.dropped == 0
    assert len(h.sleeps.delays) == 6  # a sound line refused alone: backoff, not drop
    assert "refuses a well-formed result" in caplog.text


async def test_401_names_the_token_variable_and_keeps_the_lines(
        aiohttp_server: Any, spool: AsyncSpool, session: aiohttp.ClientSession,
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    central = Central()
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock, token="wrong")
    await spool.append(lines(5))
    attempts = asyncio.Event()

    async def count(n: int) -> None:
        if n == 4:
            attempts.set()

    h.sleeps.hook = count
    h.start()
    await asyncio.wait_for(attempts.wait(), SAFETY)
    await h.stop()
    assert central.recorded == {} and len(spool) == 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(TOKEN_ENV in r.getMessage() for r in errors)
    assert h.pusher.last_error is not None and TOKEN_ENV in h.pusher.last_error
    assert h.sleeps.delays[3] > h.sleeps.delays[0]  # backing off


async def test_invalid_lines_are_not_sent_again(
        aiohttp_server: Any, spool: AsyncSpool, session: aiohttp.ClientSession,
        clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    central = Central()
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock)
    good, bad = lines(4), lines(2, start=100, service="bad")
    await spool.append([good[0], bad[0], *good[1:3], bad[1], good[3]])
    h.start()
    await central.until(lambda: len(central.recorded) == 4)
    h.pusher.notify()
    await spool.append(lines(1, start=200))  # one more pass: nothing of the first is resent
    h.pusher.notify()
    await central.until(lambda: len(central.recorded) == 5)
    await h.stop()
    assert central.refused_lines == bad  # each sent once
    assert len(central.requests) == 2 and central.requests[1] == lines(1, start=200)
    assert len(spool) == 0 and h.pusher.invalid == 2
    assert "refused 2 of 6 results for good" in caplog.text and "line 2" in caplog.text


async def test_a_hung_central_times_out_and_is_retried(
        aiohttp_server: Any, spool: AsyncSpool, session: aiohttp.ClientSession,
        clock: FakeClock) -> None:
    central = Central(script=["hang"])
    server = await serve(aiohttp_server, central)
    h = harness(spool, session, base_url(server), clock, timeout=0.2)
    sent = lines(3)
    await spool.append(sent)
    h.start()
    try:
        await central.until(lambda: len(central.recorded) == 3)
    finally:
        central.release.set()  # let the hung handler end, so the server closes at once
    await h.stop()
    assert len(central.requests) == 2 and list(central.recorded.values()) == sent
    assert len(h.sleeps.delays) == 1


async def test_stop_cuts_a_backoff_short(spool: AsyncSpool, session: aiohttp.ClientSession,
                                         clock: FakeClock) -> None:
    h = harness(spool, session, f"http://127.0.0.1:{unused_port()}", clock)
    forever, sleeping = asyncio.Event(), asyncio.Event()

    async def hang(n: int) -> None:
        sleeping.set()
        await forever.wait()

    h.sleeps.hook = hang
    await spool.append(lines(1))
    h.start()
    await asyncio.wait_for(sleeping.wait(), SAFETY)
    await h.stop()  # returns although the sleep never ends
    assert len(spool) == 1


# ---- the spool on its own -------------------------------------------------------------------


def test_the_spool_survives_reopening(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, clock=clock)
    assert spool.append(lines(5)) == 5
    rows = spool.peek(3)
    assert [line for _, line in rows] == lines(3)
    clock.advance(10)
    assert spool.ack(rows[-1][0]) == 3
    last_seq = spool.peek(10)[-1][0]
    spool.close()

    again = Spool(path, clock=clock)
    assert len(again) == 2
    assert [line for _, line in again.peek(10)] == lines(5)[3:]
    assert again.oldest_at == T0 + timedelta(hours=1)
    assert again.last_ack_at == T0 + timedelta(hours=1, seconds=10)
    again.ack(last_seq)
    assert len(again) == 0 and again.oldest_at is None
    again.append(lines(1, start=50))
    assert again.peek(1)[0][0] > last_seq  # sequence numbers never go back
    again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_spool_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE mine (x)")
    conn.close()
    with pytest.raises(SpoolError, match="not an upwatch spool"):
        Spool(path)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SpoolError):
        Spool(tmp_path / "junk.db")


def test_a_full_spool_refuses_and_warns_once_a_minute(
        tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool.db", max_results=3, clock=clock,
                  central_url="https://central.example", raise_hint="pass --spool-max")
    spool.append(lines(1))
    spool.ack(spool.peek(1)[0][0])  # the central took one at T0 + 1 h
    clock.advance(120)
    with caplog.at_level(logging.WARNING, logger="upwatch.spool"):
        assert spool.append(lines(5, start=10)) == 3
        assert spool.append(lines(2, start=20)) == 0
        clock.advance(30)
        assert spool.append(lines(1, start=30)) == 0
    assert spool.refused == 5 and len(spool) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0]
    for part in ("is full", "3 results", "https://central.example",
                 "since 2026-10-01T01:00:00Z", "pass --spool-max"):
        assert part in msg, (part, msg)
    clock.advance(31)
    with caplog.at_level(logging.WARNING, logger="upwatch.spool"):
        spool.append(lines(1, start=40))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    assert [line for _, line in spool.peek(10)] == lines(5, start=10)[:3]
    spool.close()


def test_a_line_must_be_one_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    with pytest.raises(ValueError, match="one line"):
        spool.append(['{"a":\n1}'])
    assert spool.append(['{"a":1}\n']) == 1 and spool.peek(1)[0][1] == '{"a":1}'
    spool.close()


def test_gzip_bodies_are_the_same_bytes_each_time() -> None:
    assert encode_batch(lines(3)) == encode_batch(lines(3))
    assert gzip.decompress(encode_batch(["a", "b"])) == b"a\nb\n"


_CHILD = """
import sys
from monitor.store.spool import Spool
spool = Spool(sys.argv[1])
n = 0
while True:
    batch = [f'{{"n":{n + i}}}' for i in range(50)]
    spool.append(batch)
    n += len(batch)
    print(n, flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_while_appending_loses_no_appended_line(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[1])
    assert child.stdout is not None
    confirmed = 0
    for _ in range(20):  # 20 commits confirmed, the next ones under way: kill
        confirmed = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    spool = Spool(path)
    held = [json.loads(line)["n"] for _, line in spool.peek(10**6)]
    assert len(held) >= confirmed and held == list(range(len(held)))
    spool.close()
