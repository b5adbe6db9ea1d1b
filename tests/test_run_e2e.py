"""``upwatch run`` as a user runs it: a real process, real loopback targets, real signals.

The monitor runs in a child process (so SIGTERM, SIGHUP and SIGKILL are real); the target is an
aiohttp server in the test that can be switched down and up. Waiting is always for an observable
condition under a deadline, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from ledger_sql import checks, integrity_ok, query

from monitor.store.ledger import Ledger

DEADLINE = 20.0
POLL_S = 0.1


async def poll(probe: Callable[[], Awaitable[bool]], what: str, log: list[str]) -> None:
    """Ask another process ``probe`` every POLL_S until it says yes, or fail at DEADLINE.

    The monitor runs in a child process and has no event to wait on; polling its endpoints or
    its database is the only way to observe it from here.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not await probe():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE}s:\n" + "\n".join(log))
        await asyncio.sleep(POLL_S)


class Target:
    """A loopback HTTP service that answers 200 "ok" or 503, as the test says."""

    def __init__(self) -> None:
        self.up = True
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.up:
            return web.Response(text="ok")
        return web.Response(status=503, text="maintenance")


@pytest.fixture
async def target(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> AsyncIterator[tuple[Target, str]]:
    t = Target()
    app = web.Application()
    app.router.add_get("/", t.handle)
    server = await aiohttp_server(app)
    yield t, f"http://127.0.0.1:{server.port}/"


class Upwatch:
    """A running ``upwatch run`` child process."""

    def __init__(self, workdir: Path, db: str | Path | None = None) -> None:
        self.workdir = workdir
        self.db = db if db is not None else workdir / "upwatch.db"
        self.proc: asyncio.subprocess.Process | None = None
        self.base = ""
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._new_line = asyncio.Event()

    async def start(self) -> None:
        env = {**os.environ, "UPWATCH_CONFIG": str(self.workdir / "probes.yaml"),
               "UPWATCH_DB": str(self.db)}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "run", "--listen", "127.0.0.1:0",
            cwd=self.workdir, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        line = await self.wait_log(r"metrics: (http://127\.0\.0\.1:\d+)/metrics")
        match = re.search(r"(http://127\.0\.0\.1:\d+)/metrics", line)
        assert match is not None
        self.base = match.group(1)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())
            self._new_line.set()

    async def wait_log(self, pattern: str, start: int = 0) -> str:
        async def find() -> str:
            seen = start
            while True:
                for line in self.log[seen:]:
                    if re.search(pattern, line):
                        return line
                seen = len(self.log)
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError("upwatch exited:\n" + "\n".join(self.log))
                self._new_line.clear()
                await self._new_line.wait()

        try:
            return await asyncio.wait_for(find(), DEADLINE)
        except TimeoutError:
            raise AssertionError(
                f"no log line matching {pattern!r}:\n" + "\n".join(self.log)) from None

    async def metric(self, session: aiohttp.ClientSession, name: str, service: str) -> float | None:
        async with session.get(f"{self.base}/metrics") as resp:
            text = await resp.text()
        match = re.search(rf'^{name}\{{service="{service}"\}} (\S+)$', text, re.M)
        return None if match is None else float(match.group(1))

    async def wait_metric(self, name: str, service: str, value: float) -> None:
        async with aiohttp.ClientSession() as session:
            async def reached() -> bool:
                return await self.metric(session, name, service) == value

            await poll(reached, f"{name}{{service={service}}} == {value}", self.log)

    async def signal(self, sig: int) -> int | None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        if sig == signal.SIGHUP:
            return None
        code = await asyncio.wait_for(self.proc.wait(), DEADLINE)
        if self._reader is not None:
            await self._reader
        return code


def write_config(workdir: Path, url: str, extra: str = "") -> None:
    (workdir / "probes.yaml").write_text(
        "site: {title: e2e}\n"
        "services:\n"
        f"  - {{name: web, url: '{url}', interval: 1s, timeout: 1s, retries: 0}}\n" + extra
    )


async def test_metrics_follow_a_target_down_and_back_then_sigterm_flushes(
    tmp_path: Path, target: tuple[Target, str], ledger_target: str | Path
) -> None:
    """On each engine: an SQLite file beside probes.yaml, a PostgreSQL database."""
    t, url = target
    write_config(tmp_path, url)
    up = Upwatch(tmp_path, ledger_target)
    await up.start()
    try:
        await up.wait_metric("probe_success", "web", 1.0)
        t.up = False
        await up.wait_metric("probe_success", "web", 0.0)
        await up.wait_metric("probe_http_status_code", "web", 503.0)
        await up.wait_log(r"service web is down \(http_status")
        t.up = True
        await up.wait_metric("probe_success", "web", 1.0)
        await up.wait_log(r"status page built: \d+ files in .*site")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{up.base}/") as resp:
                assert resp.status == 200 and "<h1" in await resp.text()
            async with session.get(f"{up.base}/status.json") as resp:
                summary = await resp.json()
            assert [c["name"] for c in summary["components"]] == ["web"]
            async with session.get(f"{up.base}/../probes.yaml") as resp:
                assert resp.status == 404
            async with session.get(f"{up.base}/nope.html") as resp:
                assert resp.status == 404
    finally:
        code = await up.signal(signal.SIGTERM)
    assert code == 0, "\n".join(up.log)
    # beside the ledger file by default; in the working directory for a database URL
    assert (tmp_path / "site" / "index.html").is_file()
    assert any("ledger flushed" in line for line in up.log)
    statuses = query(ledger_target, "SELECT c.ok, c.status FROM checks AS c "
                     "JOIN services AS s ON s.id = c.service_id WHERE s.name = 'web'")
    assert (0, 503) in statuses and any(ok for ok, _ in statuses)


async def test_sighup_reload_applies_a_valid_file_and_refuses_a_broken_one(
    tmp_path: Path, target: tuple[Target, str]
) -> None:
    _t, url = target
    write_config(tmp_path, url)
    up = Upwatch(tmp_path)
    await up.start()
    try:
        await up.wait_metric("probe_success", "web", 1.0)
        write_config(tmp_path, url, f"  - {{name: api, url: '{url}', interval: 1s, timeout: 1s}}\n")
        await up.signal(signal.SIGHUP)
        await up.wait_log(r"reloaded .*: 1 added, 0 removed, 0 changed, 1 unchanged")
        await up.wait_metric("probe_success", "api", 1.0)
        mark = len(up.log)
        (tmp_path / "probes.yaml").write_text("services:\n  - {name: web, interval: 0s}\n")
        await up.signal(signal.SIGHUP)
        await up.wait_log(r"reload refused: .*services\[0\]", start=mark)
        await up.wait_log(r"still running the previous configuration", start=mark)
        await up.wait_metric("probe_success", "api", 1.0)  # the old config keeps running
    finally:
        code = await up.signal(signal.SIGTERM)
    assert code == 0


async def test_kill_minus_nine_never_corrupts_and_probing_resumes(
    tmp_path: Path, target: tuple[Target, str]
) -> None:
    _t, url = target
    write_config(tmp_path, url)
    db = tmp_path / "upwatch.db"
    up = Upwatch(tmp_path)
    await up.start()

    async def committed_checks() -> int:
        def count() -> int:
            if not db.exists():
                return 0
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return int(con.execute("select count(*) from checks").fetchone()[0])
            except sqlite3.OperationalError:
                return 0
            finally:
                con.close()
        return await asyncio.to_thread(count)

    async def until_checks(at_least: int) -> int:
        async def enough() -> bool:
            return await committed_checks() >= at_least

        await poll(enough, f"{at_least} committed checks", up.log + again_log)
        return await committed_checks()

    again_log: list[str] = []

    await until_checks(2)
    await up.signal(signal.SIGKILL)  # mid-write, as far as the monitor knows
    con = sqlite3.connect(db)
    try:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        before = con.execute("select count(*) from checks").fetchone()[0]
    finally:
        con.close()
    assert before >= 2

    again = Upwatch(tmp_path)
    await again.start()
    try:
        after = await until_checks(before + 2)
    finally:
        code = await again.signal(signal.SIGTERM)
    assert code == 0
    assert after >= before + 2
    Ledger(db).close()  # it opens, and closing checkpoints the WAL into the file
    assert integrity_ok(db)
    assert len(checks(db, "web")) >= after


async def test_check_config_and_probe_commands(tmp_path: Path, target: tuple[Target, str]) -> None:
    t, url = target
    write_config(tmp_path, url)
    env = {**os.environ, "UPWATCH_CONFIG": str(tmp_path / "probes.yaml")}

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", *args, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    assert await run("check-config") == (0, "OK: 1 services\n", "")
    code, out, _ = await run("probe", "web")
    assert code == 0 and out.startswith("web: UP status 200 in ")
    t.up = False
    code, out, _ = await run("probe", "web")
    assert code == 1
    assert "web: DOWN status 503" in out and "http_status:" in out
    code, _, err = await run("probe", "nope")
    assert code == 2 and err == 'Error: unknown service "nope" (known services: web)\n'
    code, out, _ = await run("build-page", "--out", str(tmp_path / "public"))
    assert code == 0 and out.startswith("built ") and "index.html" in out
    assert (tmp_path / "public" / "feed.atom").is_file()
    (tmp_path / "probes.yaml").write_text("services:\n  - {name: web, url: 'x', interval: 0s}\n")
    code, out, err = await run("check-config")
    assert code == 2 and out == ""
    assert 'services[0].interval: must be at least 1s, got "0s"' in err
