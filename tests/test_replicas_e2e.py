"""Two central replicas on one PostgreSQL ledger: one leads, the other stands by and takes
over when the leader is killed with ``kill -9`` in the middle of an outage.

Each replica is a real ``upwatch run`` process (tests/replica.py: the same, on a clock 20×
faster, so that the minutes incidents are counted in pass in seconds). The target, the webhook
receiver and PostgreSQL are real. The incident the leader opened is continued, not opened
again, by the replica that takes over; each notification reaches the receiver exactly once.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from ledger_sql import query

SPEED = 20
DEADLINE = 30.0
REPLICA = Path(__file__).with_name("replica.py")


class Receiver:
    """The webhook: every delivery, by idempotency key."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.target_up = True

    async def hook(self, request: web.Request) -> web.Response:
        self.delivered.append((request.headers["Idempotency-Key"], await request.json()))
        return web.Response(text="ok")

    async def target(self, request: web.Request) -> web.Response:
        return web.Response(text="ok") if self.target_up else web.Response(status=503)

    def incident_updates(self, status: str) -> list[str]:
        return [key for key, body in self.delivered
                if key.startswith("incident-update:") and body["data"]["status"] == status]


class Replica:
    """One ``upwatch run`` replica process."""

    def __init__(self, name: str, workdir: Path, db: str, epoch: float) -> None:
        self.name, self.workdir, self.db, self.epoch = name, workdir, db, epoch
        self.proc: asyncio.subprocess.Process | None = None
        self.base = ""
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(REPLICA), str(SPEED), str(self.epoch),
            str(self.workdir / "probes.yaml"), self.db, str(self.workdir / f"site-{self.name}"),
            cwd=self.workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

        async def listening() -> bool:
            return any(re.search(r"metrics: (http://127\.0\.0\.1:\d+)/metrics", line)
                       for line in self.log)

        await until(listening, f"replica {self.name} listening", self.log)
        found = next(re.search(r"metrics: (http://127\.0\.0\.1:\d+)/metrics", line)
                     for line in self.log if "metrics: http" in line)
        assert found is not None
        self.base = found.group(1)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(f"[{self.name}] " + line.decode(errors="replace").rstrip())

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(
                f"{self.base}/healthz") as resp:
            body: dict[str, Any] = json.loads(await resp.text())
            return body

    async def role(self) -> str | None:
        try:
            return str((await self.health()).get("role"))
        except aiohttp.ClientError:
            return None

    async def end(self, sig: int) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), DEADLINE)
        if self._reader is not None:
            await self._reader
        return code


async def until(probe: Callable[[], Awaitable[bool]], what: str, log: list[str],
                deadline: float = DEADLINE) -> float:
    """Poll ``probe`` (another process's state) until it holds; the seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await probe():
        if loop.time() - start > deadline:
            raise AssertionError(f"{what} did not happen within {deadline}s:\n" + "\n".join(log))
        await asyncio.sleep(0.1)
    return loop.time() - start


async def test_kill_minus_nine_of_the_leader_mid_outage_hands_over_exactly_once(
    tmp_path: Path, pg_url: str, aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_get("/", receiver.target)
    app.router.add_post("/hook", receiver.hook)
    server = await aiohttp_server(app)
    (tmp_path / "probes.yaml").write_text(f"""\
site: {{title: Replicas}}
services:
  - {{name: web, url: 'http://127.0.0.1:{server.port}/', interval: 1s, timeout: 1s,
     retries: 0}}
incident: {{open_after: 1, resolve_after: 0}}
notifications:
  - {{name: hook, kind: webhook, url: 'http://127.0.0.1:{server.port}/hook'}}
""")
    epoch = time.time()
    a = Replica("a", tmp_path, pg_url, epoch)
    b = Replica("b", tmp_path, pg_url, epoch)
    try:
        await a.start()
        await until(lambda: _is(a, "leader"), "a leads", a.log)
        await b.start()
        await until(lambda: _is(b, "standby"), "b stands by", b.log)
        standby = await b.health()
        assert standby["leader"].startswith(f"upwatch run pid {a.pid} on ")
        assert standby["status"] == "ok"  # a standby is healthy: it serves, it does not probe

        receiver.target_up = False  # the outage: a detects it, opens an incident, notifies
        await until(lambda: _true(bool(receiver.incident_updates("investigating"))),
                    "the incident's first notification", a.log + b.log)
        await until(lambda: _true(bool(query(
            pg_url, "SELECT 1 FROM outbox WHERE event_id LIKE ? AND sent_at_ms IS NOT NULL",
            ("incident-update:%",)))), "its delivery recorded", a.log)

        assert await a.end(signal.SIGKILL) == -signal.SIGKILL
        took = await until(lambda: _is(b, "leader"), "b takes over", b.log)
        assert took < 30, f"failover took {took:.1f}s"
        leader = await b.health()
        assert leader["leader"].startswith(f"upwatch run pid {b.pid} on ")

        receiver.target_up = True  # b goes on probing: the recovery resolves the incident
        await until(lambda: _true(bool(receiver.incident_updates("resolved"))),
                    "the resolution's notification", b.log)
        async with aiohttp.ClientSession() as session, session.get(f"{b.base}/") as resp:
            assert resp.status == 200  # b built and serves the page
    finally:
        for replica in (a, b):
            if replica.proc is not None and replica.proc.returncode is None:
                await replica.end(signal.SIGTERM)
    keys = Counter(key for key, _ in receiver.delivered)
    assert [k for k, n in keys.items() if n > 1] == [], receiver.delivered
    assert len(receiver.incident_updates("investigating")) == 1
    assert len(receiver.incident_updates("resolved")) == 1
    incidents = query(pg_url, "SELECT status, created_by FROM incidents")
    assert incidents == [("resolved", "detector")], a.log + b.log


async def _is(replica: Replica, role: str) -> bool:
    return await replica.role() == role


async def _true(value: bool) -> bool:
    return value
