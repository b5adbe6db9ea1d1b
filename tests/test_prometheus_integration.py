"""A real Prometheus scrapes a real upwatch: the SLA it stores is the ledger's and the report's.

upwatch runs in-process (``monitor.run.runner.Monitor``) on a FakeClock set to 12 March 2025
10:30:20 UTC, probing a loopback aiohttp target every second. Its ledger already holds the half
hour before (three minutes down). Prometheus (Debian's ``prometheus`` binary, with the repo's
rules loaded) scrapes it every second. The monitor refreshes its SLA figures every 30 s by
itself; the test asks for one refresh after moving the clock, as a reload would.

Waiting is for an observable condition under a deadline, polled; never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tools import require_tool

from monitor.cli.entry import main as cli_main
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.coverage import month_bounds
from monitor.core.sla import month_uptime
from monitor.core.windows import windows_from_config
from monitor.run.runner import Monitor, RunOptions
from monitor.store.ledger import Ledger
from monitor.times import epoch_minute

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "upwatch.rules.yml"
DEADLINE_S = 20.0
POLL_S = 0.2
NOW = datetime(2025, 3, 12, 10, 30, 20, tzinfo=UTC)
HISTORY_START = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
DOWN_MINUTES = (10, 11, 20)


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    return require_tool("prometheus", "prometheus")


@pytest.fixture
async def target(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> str:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_history(db: Path) -> None:
    """10:00-10:29, one check a minute; down at 10:10, 10:11 and 10:20."""
    ledger = Ledger(db)
    try:
        obs = []
        for i in range(30):
            ok = i not in DOWN_MINUTES
            when = HISTORY_START + timedelta(minutes=i)
            result = CheckResult("api", when, ok, 15.0 if ok else None, 200 if ok else None,
                                 None if ok else ErrorKind.CONNECT)
            obs.append(Observation(result, State.UP if ok else State.DOWN, 60_000))
        ledger.record(obs)
    finally:
        ledger.close()


@pytest.fixture
async def prometheus(
    prometheus_bin: str, tmp_path: Path
) -> AsyncIterator[tuple[Callable[[int], Awaitable[str]], Path]]:
    """Start Prometheus once the upwatch port is known; stopped (and waited for) at the end."""
    procs: list[asyncio.subprocess.Process] = []
    log = tmp_path / "prometheus.log"

    async def start(upwatch_port: int) -> str:
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "upwatch", "static_configs": [
                {"targets": [f"127.0.0.1:{upwatch_port}"]}]}],
        }))
        with log.open("wb") as out:
            procs.append(await asyncio.create_subprocess_exec(
                prometheus_bin, f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
            ))
        return f"http://127.0.0.1:{port}"

    yield start, log
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def read_log(log: Path) -> str:
    """Prometheus's log, for a failure message (the test is over by then)."""
    return log.read_text(errors="replace")[-4000:]


async def query_until(
    session: aiohttp.ClientSession, base: str, query: str,
    accept: Callable[[list[dict[str, Any]]], bool], log: Path,
) -> list[dict[str, Any]]:
    """Poll Prometheus's query API until ``accept(result)``; fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    result: list[dict[str, Any]] = []
    while True:
        try:
            async with session.get(f"{base}/api/v1/query", params={"query": query}) as resp:
                if resp.status == 200:
                    result = (await resp.json())["data"]["result"]
                    if accept(result):
                        return result
        except aiohttp.ClientError:
            pass  # not listening yet
        if loop.time() > deadline:
            raise AssertionError(f"Prometheus never answered {query!r} as expected "
                                 f"(last: {result}); its log:\n{read_log(log)}")
        await asyncio.sleep(POLL_S)


async def test_prometheus_sees_the_ledgers_sla(
    prometheus: tuple[Callable[[int], Awaitable[str]], Path],
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    start_prometheus, log = prometheus
    cfg, db = tmp_path / "probes.yaml", tmp_path / "upwatch.db"
    cfg.write_text(f"services:\n  - {{name: api, url: '{target}', interval: 1s}}\n")
    seed_history(db)
    clock = FakeClock(NOW)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=db, port=0), clock=clock)
    await monitor.start()
    stopped = False
    try:
        base = await start_prometheus(monitor.port)
        async with aiohttp.ClientSession() as session:
            up = await query_until(session, base, 'probe_success{service="api"}',
                                   lambda r: bool(r) and r[0]["value"][1] == "1", log)
            assert up[0]["metric"]["job"] == "upwatch"

            # no more checks; two minutes later every checked minute is over and counted
            await monitor.scheduler.stop(grace=5)
            await monitor.writer.flush()
            clock.advance(120)
            await monitor.refresh_sla()
            snapshot = monitor.sla.snapshot
            assert snapshot is not None
            taken = str(snapshot.taken_at.timestamp())
            await query_until(session, base, "upwatch_sla_snapshot_timestamp_seconds",
                              lambda r: bool(r) and float(r[0]["value"][1]) == float(taken), log)
            (uptime,) = await query_until(session, base, 'upwatch_sla_uptime_ratio{service="api"}',
                                          bool, log)
            down = await query_until(
                session, base, 'upwatch_sla_state_seconds{service="api",state="down"}', bool, log)
            # the repo's rules run in this Prometheus too
            await query_until(session, base, 'service:probe_success:counted{service="api"}',
                              bool, log)

            # the same month, computed straight from the ledger with the snapshot's "now"
            until = epoch_minute(clock.now())
            start, _ = month_bounds(2025, 3, monitor.config.services[0].sla.tz)
            runs = await monitor.writer.read(lambda ledger: ledger.runs("api", start, until))
            expected = month_uptime(
                service="api", sla=monitor.config.services[0].sla, year=2025, month=3, runs=runs,
                windows=windows_from_config(monitor.config, NOW - timedelta(days=30), NOW),
                until=until,
            )
        await monitor.stop()
        stopped = True
    finally:
        if not stopped:
            await monitor.stop()

    # 10:00-10:29 from the history, 10:30 from the live checks: 31 minutes, 3 down
    assert (expected.eligible_minutes, expected.down_minutes) == (31, 3)
    assert float(uptime["value"][1]) == pytest.approx(28 / 31, rel=1e-12)
    assert float(uptime["value"][1]) == pytest.approx(expected.uptime_percent / 100, rel=1e-12)
    assert float(down[0]["value"][1]) == 3 * 60

    # the customer report says the same (the month is over: minutes after 10:30 have no data)
    assert cli_main(["report", "--month", "2025-03", "--config", str(cfg), "--db", str(db),
                     "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (row,) = report["services"]
    assert (row["service"], row["eligible_minutes"], row["down_minutes"]) == ("api", 31, 3)
    assert row["uptime_percent"] == round(100 * float(uptime["value"][1]), 4)
