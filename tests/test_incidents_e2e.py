"""An outage seen by the running monitor opens an incident; recovery resolves it.

The real ``Monitor`` (scheduler hook → incident desk → ledger → admin API) with a FakeClock;
checks are run by hand a minute apart so the test needs no real minutes to pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.core.clock import FakeClock
from monitor.run.runner import Monitor, RunOptions

NOW = datetime(2026, 11, 10, 10, 0, 5, tzinfo=UTC)
TOKEN = "another-s3cret-token"


async def test_outage_opens_an_incident_and_recovery_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    up = True

    async def handle(_: web.Request) -> web.Response:
        return web.Response(text="ok") if up else web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/", handle)
    target = await aiohttp_server(app)
    cfg = tmp_path / "probes.yaml"
    cfg.write_text("services:\n"
                   f"  - {{name: api, url: 'http://127.0.0.1:{target.port}/', interval: 60s,"
                   " retries: 0}\n")
    monkeypatch.setenv("UPWATCH_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN_FILE", raising=False)
    clock = FakeClock(NOW)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                                 schedule=False),  # checks only when minute() runs one
                      clock=clock)
    await monitor.start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    base = f"http://127.0.0.1:{monitor.port}/api/v1"

    async def minute() -> None:
        await monitor.scheduler.run_check("api")
        clock.advance(60)
        await monitor.incidents.tick()

    async def incidents(session: aiohttp.ClientSession) -> list[dict[str, object]]:
        async with session.get(f"{base}/incidents?state=all", headers=auth) as resp:
            assert resp.status == 200
            body = await resp.json()
        found = body["incidents"] if isinstance(body, dict) else body
        assert isinstance(found, list)
        return found

    try:
        async with aiohttp.ClientSession() as session:
            await minute()
            up = False
            await minute()
            assert await incidents(session) == []  # one bad minute is not an incident
            await minute()
            await minute()
            (opened,) = await incidents(session)
            assert opened["automatic"] is True and opened["services"] == ["api"]
            assert (opened["impact"], opened["status"], opened["resolved_at"]) == (
                "critical", "investigating", None)  # its only service is down: all down
            up = True
            for _ in range(7):
                await minute()
            (resolved,) = await incidents(session)
            assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    finally:
        await monitor.stop()
