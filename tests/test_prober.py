"""``upwatch run --location``: a prober probes its location's services and pushes every result
through its spool to a real central (``make_app`` on loopback), which records them for that
location; a central that is away loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from fakes import Scheduler
from prometheus_client import CollectorRegistry

from monitor.config import load_config
from monitor.core.checks import State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.run.prober import Prober, ProberError, ProberOptions
from monitor.store.ledger import Ledger
from monitor.store.writer import LedgerWriter
from monitor.web.app import Runtime, make_app
from monitor.web.results import load_location_tokens

NOW = datetime(2026, 10, 10, 10, 0, 30, tzinfo=UTC)
MINUTE = int(NOW.timestamp()) // 60
TOKEN = "cph-token-0123456789abcdef"
ENV = {"UPWATCH_TOKEN_CPH": TOKEN}


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a few seconds at most): the push runs in its own task."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still waiting for {what}")


@pytest.fixture
async def target(aiohttp_server: Callable[..., Any]) -> str:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/down", down)
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}"


class Central:
    """A central ``upwatch run``'s app on a fixed loopback port that can go away and come back."""

    def __init__(self, config_path: Path, db: Path, port: int) -> None:
        self.config = load_config(config_path)
        self.clock = FakeClock(NOW)
        self.writer = LedgerWriter(Ledger(db, clock=self.clock), self.clock)
        self.port = port
        self.runner: web.AppRunner | None = None

    async def up(self) -> None:
        runtime = Runtime(self.config, self.clock, CollectorRegistry(), Scheduler(),  # type: ignore[arg-type]
                          self.writer, location_tokens=load_location_tokens(self.config, ENV))
        self.runner = web.AppRunner(make_app(runtime), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()
        self.runner = None

    async def runs(self, service: str) -> list[Run]:
        return await self.writer.read(
            lambda ledger: ledger.runs(service, MINUTE, MINUTE + 5, location="cph"))


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, target: str, central_port: int, *, extra: str = "") -> Path:
    path = tmp_path / "probes.yaml"
    path.write_text(f"""
location: fra
central_url: http://127.0.0.1:{central_port}
locations:
  - {{name: fra, title: Frankfurt}}
  - {{name: cph, title: Copenhagen}}
services:
  - {{name: api, url: "{target}/ok", interval: 60s, timeout: 5s, retries: 0}}
  - {{name: web, url: "{target}/down", interval: 60s, timeout: 5s, retries: 0}}
  - {{name: fra-only, url: "{target}/ok", interval: 60s, locations: [fra]}}
{extra}""")
    return path


@pytest.fixture
async def setup(tmp_path: Path, target: str) -> AsyncIterator[tuple[Central, Prober]]:
    port = _free_port()
    config = write_config(tmp_path, target, port)
    central = Central(config, tmp_path / "central.db", port)
    await central.up()
    prober = Prober(ProberOptions(config_path=config, location="cph",
                                  spool_path=tmp_path / "spool-cph.db", port=0, schedule=False,
                                  first_backoff_s=0.02), FakeClock(NOW), ENV)
    await prober.start()
    yield central, prober
    await prober.stop()
    if central.runner is not None:
        await central.down()
    await central.writer.close()


async def test_results_reach_the_central_for_the_probers_location(
    setup: tuple[Central, Prober]
) -> None:
    central, prober = setup
    assert [s.name for s in prober.services] == ["api", "web"]  # not fra-only
    await prober.scheduler.run_check("api")
    await prober.scheduler.run_check("web")
    await prober.sink.flush()
    await _until(lambda: prober.pusher.recorded == 2, "the central to record both")
    assert len(prober.spool) == 0
    # the minute checked, and the two it carries into (60 s interval, checked at :30)
    assert await central.runs("api") == [Run(MINUTE, MINUTE + 3, State.UP)]
    assert await central.runs("web") == [Run(MINUTE, MINUTE + 3, State.DOWN)]


async def test_a_central_that_is_away_loses_nothing(setup: tuple[Central, Prober]) -> None:
    central, prober = setup
    await central.down()
    await prober.scheduler.run_check("api")
    await prober.sink.flush()
    await _until(lambda: prober.pusher.failures >= 1, "a failed push")
    assert len(prober.spool) == 1
    healthy, body = prober.health()
    assert body["spool_backlog"] == 1 and "cannot reach the central" in body["last_push_error"]
    await prober.scheduler.run_check("web")
    await prober.sink.flush()
    await central.up()
    await _until(lambda: len(prober.spool) == 0, "the spool to drain")
    assert (await central.runs("api"))[0].state == State.UP
    assert (await central.runs("web"))[0].state == State.DOWN


async def test_what_is_spooled_survives_a_prober_restart(tmp_path: Path, target: str) -> None:
    port = _free_port()  # nothing listens there: the central is away all along
    config = write_config(tmp_path, target, port)
    opts = ProberOptions(config_path=config, location="cph", spool_path=tmp_path / "s.db",
                         port=0, schedule=False, first_backoff_s=30)
    prober = Prober(opts, FakeClock(NOW), ENV)
    await prober.start()
    await prober.scheduler.run_check("api")
    await prober.stop()
    again = Prober(opts, FakeClock(NOW), ENV)
    await again.start()
    try:
        assert len(again.spool) == 1
    finally:
        await again.stop()


@pytest.mark.parametrize(("location", "env", "extra", "words"), [
    ("mad", ENV, "", 'unknown location "mad"'),
    ("cph", {}, "", "set UPWATCH_TOKEN_CPH"),
])
def test_a_prober_that_cannot_work_says_why(tmp_path: Path, location: str,
                                             env: dict[str, str], extra: str,
                                             words: str) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", 9, extra=extra)
    with pytest.raises(ProberError, match=words):
        Prober(ProberOptions(config_path=config, location=location,
                             spool_path=tmp_path / "s.db"), FakeClock(NOW), env)


async def test_a_refused_token_makes_the_prober_unhealthy_at_once(
    tmp_path: Path, target: str
) -> None:
    port = _free_port()
    config = write_config(tmp_path, target, port)
    central = Central(config, tmp_path / "central.db", port)
    await central.up()
    prober = Prober(ProberOptions(config_path=config, location="cph", spool_path=tmp_path / "s.db",
                                  port=0, schedule=False, first_backoff_s=30), FakeClock(NOW),
                    {"UPWATCH_TOKEN_CPH": "not-the-token-the-central-has"})
    await prober.start()
    try:
        await prober.scheduler.run_check("api")
        await prober.sink.flush()
        await _until(lambda: prober.pusher.failures >= 1, "the refused push")
        healthy, body = prober.health()
        assert not healthy and "refuses this location's token" in body["problems"][0]
        assert "UPWATCH_TOKEN_CPH" in body["problems"][0] and len(prober.spool) == 1
    finally:
        await prober.stop()
        await central.down()
        await central.writer.close()
