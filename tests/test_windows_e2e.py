"""Declared maintenance on a running monitor shows everywhere: the gauge, /healthz, the page
data, the report — and leaves it when cancelled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.core.clock import FakeClock
from monitor.report import build_reports
from monitor.run.pages import SitePlan
from monitor.run.runner import Monitor, RunOptions
from monitor.store.ledger import Ledger
from monitor.windows.sources import declared_windows

NOW = datetime(2026, 11, 10, 10, 0, 20, tzinfo=UTC)
TOKEN = "s3cret-token-for-tests"


async def test_declared_window_follows_through_gauge_health_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    target = await aiohttp_server(app)
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(
        "services:\n"
        f"  - {{name: api, url: 'http://127.0.0.1:{target.port}/', interval: 60s}}\n"
        f"  - {{name: web, url: 'http://127.0.0.1:{target.port}/', interval: 60s}}\n")
    monkeypatch.setenv("UPWATCH_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN_FILE", raising=False)
    clock = FakeClock(NOW)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                                 site=SitePlan(tmp_path / "site"),
                                 schedule=False),  # no checks on the wall clock beside `clock`
                      clock=clock)
    await monitor.start()
    base = f"http://127.0.0.1:{monitor.port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession() as session:
            body = {"services": ["api"], "start": "2026-11-10T09:30:00Z",
                    "end": "2026-11-10T11:00:00Z", "title": "Kernel upgrade"}
            async with session.post(f"{base}/api/v1/maintenance", json=body,
                                    headers=auth) as resp:
                assert resp.status == 201
                created = await resp.json()
            assert created["declared_by"] == "api:admin"
            assert created["declared_at"] == "2026-11-10T10:00:20Z"
            assert any("began before it was declared" in w
                       for w in created["warnings"]), created["warnings"]

            clock.advance(60)  # it counts from the first whole minute after its declaration
            await monitor.refresh_sla()
            reg = monitor.registry
            assert reg.get_sample_value("upwatch_maintenance_active", {"service": "api"}) == 1
            assert reg.get_sample_value("upwatch_maintenance_active", {"service": "web"}) == 0
            async with session.get(f"{base}/healthz") as resp:
                health = await resp.json()
            (active,) = health["maintenance_active"]
            assert (active["id"], active["title"], active["services"]) == (
                str(created["id"]), "Kernel upgrade", ["api"])

            async with session.delete(f"{base}/api/v1/maintenance/{created['id']}",
                                      headers=auth) as resp:
                assert resp.status == 200
                cancelled = await resp.json()
            assert cancelled["cancelled_at"] == "2026-11-10T10:01:20Z"
            clock.advance(60)
            await monitor.refresh_sla()
            assert reg.get_sample_value("upwatch_maintenance_active", {"service": "api"}) == 0
            async with session.get(f"{base}/healthz") as resp:
                assert (await resp.json())["maintenance_active"] == []
            async with session.post(f"{base}/api/v1/maintenance", json=body) as resp:
                assert resp.status == 401  # no token, no declaration
    finally:
        await monitor.stop()

    ledger = Ledger(tmp_path / "upwatch.db")
    try:
        (report,) = build_reports(monitor.config, ledger, [(2026, 11)],
                                  NOW + timedelta(hours=3), extra_windows=declared_windows(ledger))
    finally:
        ledger.close()
    api = next(u for u in report.services if u.service == "api")
    (window,) = api.maintenance
    # counted from its declaration (10:00:20 → the 10:01 minute) until its cancellation (10:01:20)
    assert (window.declared_by, window.minutes) == ("api:admin", 1)
    assert window.cancelled_at == NOW + timedelta(seconds=60)
    assert window.warnings
