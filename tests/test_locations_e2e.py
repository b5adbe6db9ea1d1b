"""Three probers and a central as separate processes on loopback, for real.

Each prober (``upwatch run --location``) connects from its own source address (127.0.0.2,
127.0.0.3, 127.0.0.4) to one target that fails for the addresses the test says. On the wall
clock, minute A: one location sees the target fail, and the central is killed with SIGKILL
for 56 s and restarted; minute B: two locations see it fail. Then: minute A is up (one location
never makes an outage), minute B is down (two of three), every location has both minutes (the
spools drained what the central missed while it was dead), an incident opened in minute B
names the failing locations, the page built as of minute B says where the service fails, and
``upwatch report`` counts one down minute.

It runs on real time: about two and a half minutes, most of it waiting for minutes to pass.
(The probers retry at most every 15 s, so their spools drain within seconds of minute B.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.config import load_config
from monitor.core.checks import State
from monitor.store.ledger import Ledger

SOURCES = {"p1": "127.0.0.2", "p2": "127.0.0.3", "p3": "127.0.0.4"}
TOKENS = {f"UPWATCH_TOKEN_{name.upper()}": f"{name}-token-0123456789abcdef" for name in SOURCES}
DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """An ``upwatch`` child process and what it wrote to stderr."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name, self.argv, self.workdir = name, argv, workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self, ready: str) -> None:
        env = {**os.environ, **TOKENS}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", *self.argv, cwd=self.workdir, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())
        await self.until(lambda: any(ready in line for line in self.log), f"{self.name} ready")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` (another process has no event to wait on) until DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(f"{self.name} exited:\n" + "\n".join(self.log))
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {DEADLINE}s:\n" + "\n".join(self.log))
            await asyncio.sleep(0.1)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), DEADLINE)
        if self._reader is not None:
            await self._reader
        return code


async def at(wall: float) -> None:
    """Sleep until the wall clock reads ``wall`` (epoch seconds): the minutes are real ones."""
    await asyncio.sleep(max(0.0, wall - time.time()))


@pytest.fixture
async def target(aiohttp_server: Callable[..., Any]) -> AsyncIterator[tuple[set[str], str]]:
    """A service that answers 503 to the source addresses in the set, 200 to the others."""
    failing: set[str] = set()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=503 if request.remote in failing else 200, text="hi")

    app = web.Application()
    app.router.add_get("/", handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    yield failing, f"http://127.0.0.1:{server.port}/"


async def backlog(port: int) -> int:
    async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{port}/healthz") as resp:
        return int((await resp.json())["spool_backlog"])


async def test_three_locations_a_quorum_and_a_central_killed(
    tmp_path: Path, target: tuple[set[str], str]
) -> None:
    failing, url = target
    central_port = free_port()
    (tmp_path / "probes.yaml").write_text(
        f"location: central\ncentral_url: http://127.0.0.1:{central_port}\nlocations:\n"
        + "".join(f"  - {{name: {n}, title: Prober {n}}}\n" for n in SOURCES)
        + "incident: {open_after: 1}\n"
        + f"services:\n  - {{name: api, url: '{url}', interval: 5s, timeout: 2s, "
          "retries: 0}\n")
    common = ["--config", "probes.yaml", "--db", "upwatch.db"]
    central = Proc("central", ["run", *common, "--listen", f"127.0.0.1:{central_port}"],
                   tmp_path)
    probers = {name: Proc(name, ["run", *common, "--location", name, "--source-address", src,
                                 "--listen", f"127.0.0.1:{free_port()}"], tmp_path)
               for name, src in SOURCES.items()}
    await central.start("upwatch is running")
    for prober in probers.values():
        await prober.start("prober for location")
    try:
        t0 = (int(time.time()) // 60 + 1) * 60  # the next minute: minute A
        if t0 - time.time() < 3:
            t0 += 60
        await at(t0 + 0.5)  # a little late in: no failing check is timed before A
        failing.add(SOURCES["p1"])
        await at(t0 + 2)
        await central.stop(signal.SIGKILL)  # dead for (nearly) all of minute A
        await at(t0 + 58)
        await central.start("upwatch is running")
        await at(t0 + 60.5)  # minute B: a second location sees it fail
        failing.add(SOURCES["p2"])
        await at(t0 + 119.5)  # a little early out: no failing check is timed after B
        failing.clear()
        await at(t0 + 124)
        for name, prober in probers.items():
            port = int(prober.argv[prober.argv.index("--listen") + 1].rsplit(":", 1)[1])
            deadline = time.monotonic() + DEADLINE
            while await backlog(port):
                assert time.monotonic() < deadline, f"{name}'s spool did not drain"
                await asyncio.sleep(0.2)
    finally:
        for prober in probers.values():
            await prober.stop()
        await central.stop()

    a, b = t0 // 60, t0 // 60 + 1
    config = load_config(tmp_path / "probes.yaml")
    ledger = Ledger(tmp_path / "upwatch.db")
    try:
        plan = config.quorum_plan(["api"])
        per = ledger.runs_by_location({"api": SOURCES}, a, b + 1)["api"]
        quorum = ledger.quorum_runs_many(plan, a, b + 1)["api"]
        incidents = ledger.incidents()
    finally:
        ledger.close()

    def state(runs: list[Any], minute: int) -> State:
        return next((r.state for r in runs if r.start <= minute < r.end), State.NODATA)

    seen = {name: (state(runs, a), state(runs, b)) for name, runs in per.items()}
    assert seen == {"p1": (State.DOWN, State.DOWN), "p2": (State.UP, State.DOWN),
                    "p3": (State.UP, State.UP)}, (seen, central.log)
    assert (state(quorum, a), state(quorum, b)) == (State.UP, State.DOWN)

    # two locations failing opened an incident (one alone did not), naming where it failed
    (incident,) = incidents
    assert incident.detected_at.timestamp() // 60 == b
    # p3 is "up" or, while its pusher still waits out the backoff the central's death caused,
    # "no data": either way the text names the two that saw it fail
    assert "(down from Prober p1 and Prober p2; " in incident.updates[0].body

    # the page as it stood late in minute B says where the service fails
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 110))
    page = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "build-page", "--config", "probes.yaml", "--db",
        "upwatch.db", "--out", "page", "--at", as_of, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await page.communicate()
    assert page.returncode == 0, err.decode()
    html = (tmp_path / "page" / "index.html").read_text()
    assert "Down from Prober p1 and Prober p2; up from Prober p3" in html

    month = time.strftime("%Y-%m", time.gmtime(t0))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "report", "--config", "probes.yaml", "--db",
        "upwatch.db", "--month", month, "--format", "json", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    (service,) = json.loads(out)["services"]
    assert service["down_minutes"] == 1
