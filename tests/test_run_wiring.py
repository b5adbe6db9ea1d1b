"""What ``upwatch run`` wires together follows a change at once: a reload reaches the incident
desk, a window declared through the API reaches /metrics and /healthz without waiting for the
next SLA refresh, and a reload reads its file off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

import monitor.run.runner as runner_module
from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.run.collector import GC_THRESHOLD0
from monitor.run.runner import Monitor, RunOptions

NOW = datetime(2026, 11, 10, 10, 0, 20, tzinfo=UTC)
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def write_config(path: Path, services: tuple[str, ...]) -> None:
    path.write_text("services:\n" + "".join(
        f"  - {{name: {name}, url: 'http://127.0.0.1:9/{name}', interval: 60s}}\n"
        for name in services))


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Monitor]:
    """A started monitor with the admin API on, checks only when asked, a fake clock."""
    monkeypatch.setenv("UPWATCH_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("UPWATCH_ADMIN_TOKEN_FILE", raising=False)
    write_config(tmp_path / "probes.yaml", ("api",))
    monitor = Monitor(RunOptions(config_path=tmp_path / "probes.yaml",
                                 db_path=tmp_path / "upwatch.db", port=0, schedule=False),
                      clock=FakeClock(NOW))
    await monitor.start()
    try:
        yield monitor
    finally:
        await monitor.stop()


async def open_incident(monitor: Monitor, service: str) -> tuple[int, dict[str, object]]:
    body = {"title": "Slow answers", "impact": "minor", "services": [service],
            "body": "Looking into it."}
    async with aiohttp.ClientSession() as session, session.post(
        f"http://127.0.0.1:{monitor.port}/api/v1/incidents", json=body, headers=AUTH
    ) as resp:
        return resp.status, await resp.json()


async def test_a_service_added_by_reload_can_be_named_in_an_incident(
    running: Monitor, tmp_path: Path
) -> None:
    status, answer = await open_incident(running, "added")
    assert status == 400 and "unknown service" in str(answer), answer
    write_config(tmp_path / "probes.yaml", ("api", "added"))
    assert await running.reload()
    status, answer = await open_incident(running, "added")
    assert status == 201, answer
    assert answer["services"] == ["added"]
    # the detector counts it too: "all services down" now means two of them
    assert running.incidents.detector.services == ("api", "added")


async def test_a_window_declared_through_the_api_shows_at_once(running: Monitor) -> None:
    """No refresh_sla() by hand, no 30 s to wait: the answer comes after the figures moved."""
    body = {"services": ["api"], "start": "2026-11-10T09:00:00Z",
            "end": "2026-11-10T11:00:00Z", "title": "Kernel upgrade"}
    base = f"http://127.0.0.1:{running.port}"
    gauge = ("upwatch_maintenance_active", {"service": "api"})
    await running.refresh_sla()  # the figures as they stood before (start's refresh may lag)
    assert running.registry.get_sample_value(*gauge) == 0
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/v1/maintenance", json=body,
                                headers=AUTH) as resp:
            assert resp.status == 201
            created = await resp.json()
        # declared at 10:00:20, it counts from 10:01; a minute on, it is in force
        assert running.registry.get_sample_value(*gauge) == 0
        running.clock.advance(60)  # type: ignore[attr-defined]
        async with session.delete(f"{base}/api/v1/maintenance/{created['id']}",
                                  headers=AUTH) as resp:
            assert resp.status == 200
        async with session.post(f"{base}/api/v1/maintenance", json=body,
                                headers=AUTH) as resp:
            assert resp.status == 201
            again = await resp.json()
        running.clock.advance(60)  # type: ignore[attr-defined]
        async with session.post(f"{base}/api/v1/exclusions", headers=AUTH, json={
                "services": ["api"], "start": "2026-11-10T08:00:00Z",
                "end": "2026-11-10T08:30:00Z", "reason": "Probe host fault"}) as resp:
            assert resp.status == 201
        assert running.registry.get_sample_value(*gauge) == 1
        async with session.get(f"{base}/healthz") as resp:
            (active,) = (await resp.json())["maintenance_active"]
        assert active["id"] == str(again["id"])
        # (cancelled now, it would still hold the minute it was cancelled in: docs/sla.md)


async def test_a_reload_reads_its_file_off_the_event_loop(
    running: Monitor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the file is being read and validated, the loop serves (here: /healthz)."""
    release = threading.Event()
    reading = threading.Event()

    def slow_load(path: Path) -> Config:
        reading.set()
        assert release.wait(20), "the test never released the reload"
        return load_config(path)

    monkeypatch.setattr(runner_module, "load_config", slow_load)
    write_config(tmp_path / "probes.yaml", ("api", "web"))
    reload = asyncio.create_task(running.reload())
    try:
        assert await asyncio.to_thread(reading.wait, 20)  # the worker thread is reading
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{running.port}/healthz"
        ) as resp:
            assert resp.status == 200  # answered while the reload is still reading
        assert not reload.done()
    finally:
        release.set()
    assert await reload
    assert running.config.service_names == ("api", "web")


async def test_the_collector_is_tuned_while_running_and_restored_after(tmp_path: Path) -> None:
    """Long-lived objects are frozen out of collections while run runs (at 20,000 services
    the collector took most of the CPU); stop() puts the collector back as it was."""
    import gc

    write_config(tmp_path / "probes.yaml", ("api",))
    before = gc.get_threshold()
    monitor = Monitor(RunOptions(config_path=tmp_path / "probes.yaml",
                                 db_path=tmp_path / "upwatch.db", port=0, schedule=False),
                      clock=FakeClock(NOW))
    await monitor.start()
    try:
        assert gc.get_threshold()[0] == GC_THRESHOLD0
        assert gc.get_freeze_count() > 0  # what was alive at start is out of the scans
    finally:
        await monitor.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_a_central_takes_pushed_results_and_watches_its_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``upwatch run`` with locations: probes only its own location's services, takes a push
    with a location's token from the environment, and shows each location's age."""
    monkeypatch.setenv("UPWATCH_TOKEN_CPH", "cph-token-0123456789abcdef")
    (tmp_path / "probes.yaml").write_text(
        "location: fra\nlocations: [{name: fra}, {name: cph}]\nservices:\n"
        "  - {name: api, url: 'http://127.0.0.1:9/api', interval: 60s}\n"
        "  - {name: far, url: 'http://127.0.0.1:9/far', interval: 60s, locations: [cph]}\n")
    monitor = Monitor(RunOptions(config_path=tmp_path / "probes.yaml",
                                 db_path=tmp_path / "upwatch.db", port=0, schedule=False),
                      clock=FakeClock(NOW))
    await monitor.start()
    try:
        assert await monitor.scheduler.run_check("far") is None  # cph's alone: not probed here
        line = b'{"service": "far", "time": "2026-11-10T10:00:05Z", "ok": true}\n'
        base = f"http://127.0.0.1:{monitor.port}"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/v1/results", data=line, headers={
                    "Authorization": "Bearer cph-token-0123456789abcdef"}) as resp:
                assert (resp.status, (await resp.json())["recorded"]) == (200, 1)
            await monitor.central.tick()
            async with session.get(f"{base}/healthz") as resp:
                health = await resp.json()
            async with session.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
        assert health["locations"] == {"cph": {"last_result_age_s": 0.0, "silent": False}}
        assert health["warnings"] == []
        assert 'upwatch_location_last_result_age_seconds{location="cph"} 0.0' in metrics
        # pushed results show as probe series of their location
        assert 'probe_success{location="cph",service="far"} 1.0' in metrics
        assert 'upwatch_checks_total{location="cph",result="ok",service="far"} 1.0' in metrics
    finally:
        await monitor.stop()
