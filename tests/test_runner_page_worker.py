"""``upwatch run`` with ``SitePlan(serve=True)`` (what the CLI sets) builds its status page in
one ``upwatch build-page --serve`` child kept between builds: a rebuild reuses what the one
before computed, writes only the files that changed, and the child ends with the monitor."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from test_runner_page import NOW, gone_or_zombie, messages, small_ledger, write_config

from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import FakeClock
from monitor.run.pages import BuildWorker, SitePlan, build_page_worker
from monitor.run.runner import Monitor, RunOptions
from monitor.store.ledger import Ledger


async def test_one_worker_builds_again_and_again_and_writes_only_what_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write_config(tmp_path / "probes.yaml", services=("api", "web"))
    db, site = tmp_path / "u.db", tmp_path / "site"
    small_ledger(db)
    clock = FakeClock(NOW)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=db, port=0,
                                 site=SitePlan(site, serve=True), schedule=False), clock=clock)
    await monitor.start()
    try:
        await monitor.rebuild_page()
        worker = monitor.pages._worker
        assert worker is not None and worker._proc is not None
        pid = worker._proc.pid
        badge = site / "badges" / "web-status.svg"
        before = badge.stat()
        clock.advance(60)
        with caplog.at_level(logging.INFO, logger="upwatch"):
            await monitor.rebuild_page()
        assert worker._proc is not None and worker._proc.pid == pid  # the same child
        after = badge.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert "index.html" in {p.name for p in site.iterdir()}
        assert messages(caplog, logging.ERROR) == []
    finally:
        await monitor.stop()
    assert gone_or_zombie(pid)  # it ended with the monitor


async def test_a_worker_that_failed_is_started_again(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "probes.yaml")
    site = tmp_path / "missing" / "site"  # refused: its parent does not exist
    worker = BuildWorker(build_page_worker(cfg, tmp_path / "u.db", site))
    try:
        failed = await worker.build(NOW, 60)
        assert failed.returncode == 2 and not failed.ok
        assert "does not exist" in failed.stderr
        site.parent.mkdir()
        built = await worker.build(NOW, 60)
        assert built.ok and built.files is not None and built.files > 10, built
    finally:
        await worker.close()


async def test_a_worker_past_the_timeout_is_killed(tmp_path: Path) -> None:
    worker = BuildWorker(["python3", "-c", "import time; time.sleep(3600)"])
    built = await worker.build(NOW, 0.3)
    assert built.timed_out and gone_or_zombie(built.pid)
    await worker.close()


async def test_what_the_monitor_recorded_since_reaches_the_next_build(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "probes.yaml", services=("api", "web"))
    db, site = tmp_path / "u.db", tmp_path / "site"
    small_ledger(db)
    worker = BuildWorker(build_page_worker(cfg, db, site))
    try:
        assert (await worker.build(NOW, 60)).ok
        ledger = Ledger(db)
        try:  # api answers again
            ledger.record([Observation(CheckResult("api", NOW + timedelta(seconds=30), True,
                                                   50.0, 200), State.UP, 60_000)])
        finally:
            ledger.close()
        assert (await worker.build(NOW + timedelta(minutes=1), 60)).ok
    finally:
        await worker.close()
    states = {s["id"]: s["state"] for s in json.loads(
        (site / "status.json").read_text())["upwatch"]["services"]}
    assert states == {"api": "up", "web": "nodata"}
