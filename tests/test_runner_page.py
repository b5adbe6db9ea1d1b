"""upwatch run builds its status page in a child process (``upwatch build-page``, niced, in its
own session, one at a time, killed past a timeout) and keeps rebuilds to a tenth of the time
between them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.checks import CheckResult, Observation, State
from monitor.core.clock import FakeClock
from monitor.run.pages import SitePlan, build_page_command, count_files, run_build
from monitor.run.runner import Monitor, RunOptions
from monitor.store.ledger import Ledger

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


class SlowBuildClock(FakeClock):
    """Every monotonic() reading is ``step`` seconds after the last: a build 'takes' step s."""

    def __init__(self, step: float) -> None:
        super().__init__(NOW)
        self.step = step

    def monotonic(self) -> float:
        self.advance(self.step)
        return super().monotonic()


def write_config(path: Path, title: str = "Test status", services: Sequence[str] = ("api",)
                 ) -> Path:
    path.write_text(f"site: {{title: {title}}}\nservices:\n" + "".join(
        f"  - {{name: {name}, url: 'http://127.0.0.1:9/{name}'}}\n" for name in services))
    return path


def small_ledger(db: Path) -> None:
    """Ten minutes of checks of ``api``, the last one failed."""
    ledger = Ledger(db)
    try:
        ledger.record([
            Observation(CheckResult("api", NOW - timedelta(minutes=10 - i), i < 9,
                                    80.0 if i < 9 else None, 200 if i < 9 else 503),
                        State.UP if i < 9 else State.DOWN, 60_000)
            for i in range(10)])
    finally:
        ledger.close()


def hang_forever(_config: Path, _db: Path, _out: Path, _now: datetime) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(3600)"]


def gone_or_zombie(pid: int) -> bool:
    """Killed: no such process, or a zombie left for an init that does not reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


async def rebuild(monitor: Monitor) -> None:
    """One rebuild on a monitor that was not started (its writer only)."""
    await monitor.writer.start()
    try:
        await monitor.rebuild_page()
    finally:
        await monitor.writer.close()
        await monitor._session.close()


async def test_a_rebuild_publishes_the_site_through_a_child_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write_config(tmp_path / "probes.yaml")
    small_ledger(tmp_path / "u.db")
    site = tmp_path / "site"
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(site)), clock=FakeClock(NOW))
    with caplog.at_level(logging.INFO, logger="upwatch"):
        await rebuild(monitor)
    assert site.is_symlink() and (site / "index.html").is_file()
    (api,) = json.loads((site / "status.json").read_text())["upwatch"]["services"]
    assert api["id"] == "api" and api["last_checked"] is not None  # read from the ledger
    (built,) = [m for m in messages(caplog, logging.INFO) if m.startswith("status page built")]
    assert built.startswith(f"status page built: {count_files(site)} files in {site} in ")
    assert messages(caplog, logging.WARNING) == [] and messages(caplog, logging.ERROR) == []


async def test_a_failed_build_is_logged_and_the_next_one_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write_config(tmp_path / "probes.yaml")
    site = tmp_path / "missing" / "site"  # build-page refuses: its parent does not exist
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(site)), clock=FakeClock(NOW))
    await monitor.writer.start()
    try:
        with caplog.at_level(logging.INFO, logger="upwatch"):
            await monitor.rebuild_page()  # does not raise: the rebuild loop carries on
            errors = messages(caplog, logging.ERROR)
            assert any(m.startswith("status page build: Error: --out:") and "does not exist"
                       in m for m in errors), errors
            assert errors[-1] == ("the status page build failed (exit status 2); the page stays "
                                  "as it was")
            assert not site.exists()
            caplog.clear()
            site.parent.mkdir()
            await monitor.rebuild_page()
    finally:
        await monitor.writer.close()
        await monitor._session.close()
    assert (site / "index.html").is_file()
    assert messages(caplog, logging.ERROR) == []
    assert monitor.page_interval == 60.0


async def test_a_build_that_hangs_is_killed_at_the_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write_config(tmp_path / "probes.yaml")
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(tmp_path / "site", timeout_s=0.5,
                                               command=hang_forever)),
                      clock=SlowBuildClock(0.5))  # the build "took" its timeout
    with caplog.at_level(logging.INFO, logger="upwatch"):
        await rebuild(monitor)
    (killed,) = messages(caplog, logging.ERROR)
    assert killed.startswith("the status page build took longer than 0.5s and was killed (pid ")
    pid = int(killed.split("(pid ")[1].split(")")[0])
    assert gone_or_zombie(pid)
    assert monitor.page_interval == 60.0  # 10 × 0.5 s is less than the minute


async def test_stopping_kills_the_build_and_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
              "time.sleep(3600)\n")
    build = asyncio.create_task(run_build([sys.executable, "-c", script], timeout_s=3600))
    while not (pid_file.exists() and pid_file.read_text()):  # wait for it, not for a time
        assert not build.done(), build
        await asyncio.sleep(0.02)
    grandchild = int(pid_file.read_text())
    build.cancel()
    with pytest.raises(asyncio.CancelledError):
        await build
    for _ in range(250):  # SIGKILL is delivered at once, but not synchronously
        if gone_or_zombie(grandchild):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail(f"process {grandchild}, started by the build, outlived it")


async def test_the_build_runs_niced_in_its_own_session() -> None:
    probe = "import os; print(os.nice(0), os.getsid(0) == os.getpid())"
    built = await run_build([sys.executable, "-c", probe])
    assert built.ok, built
    assert built.stdout.split() == [str(min(os.nice(0) + 10, 19)), "True"]


def test_the_build_is_upwatch_build_page_on_the_monitors_files(tmp_path: Path) -> None:
    assert build_page_command(Path("p.yaml"), Path("u.db"), Path("site"), NOW) == [
        sys.executable, "-m", "monitor.cli", "build-page", "--config", "p.yaml", "--db",
        "u.db", "--out", "site", "--at", "2026-11-10T10:00:00Z"]


async def test_a_reloaded_config_reaches_the_next_build(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "probes.yaml", title="Before reload")
    site = tmp_path / "site"
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(site), schedule=False), clock=FakeClock(NOW))
    await monitor.start()  # its own first build runs; ours waits for it
    try:
        await monitor.rebuild_page()
        assert "Before reload" in (site / "index.html").read_text()
        write_config(cfg, title="After reload", services=("api", "web"))
        assert await monitor.reload()
        await monitor.rebuild_page()
    finally:
        await monitor.stop()
    index = (site / "index.html").read_text()
    assert "After reload" in index and "Before reload" not in index
    assert [s["id"] for s in json.loads((site / "status.json").read_text())["upwatch"][
        "services"]] == ["api", "web"]


@pytest.mark.parametrize(("build_s", "interval_s"), [(2.0, 60.0), (9.0, 90.0)],
                         ids=["fast-build-keeps-the-minute", "slow-build-stretches"])
async def test_rebuild_interval_follows_build_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, build_s: float, interval_s: float
) -> None:
    cfg = write_config(tmp_path / "probes.yaml")
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(tmp_path / "site")),
                      clock=SlowBuildClock(build_s))
    with caplog.at_level(logging.WARNING, logger="upwatch"):
        await rebuild(monitor)
    assert (tmp_path / "site" / "index.html").is_file()
    assert monitor.page_interval == interval_s
    stretched = [r.getMessage() for r in caplog.records if "rebuilding every" in r.getMessage()]
    if interval_s > 60:
        assert stretched == [f"the status page took {build_s:.1f}s to build; rebuilding every "
                             f"{interval_s:.0f}s instead of every 60s"]
    else:
        assert stretched == []


async def test_what_a_good_build_says_on_stderr_is_logged_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def warns(_config: Path, _db: Path, _out: Path, _now: datetime) -> list[str]:
        return [sys.executable, "-c",
                "import sys; print('careful: 3 services have no data', file=sys.stderr)"]

    cfg = write_config(tmp_path / "probes.yaml")
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(tmp_path / "site", command=warns)),
                      clock=FakeClock(NOW))
    with caplog.at_level(logging.INFO, logger="upwatch"):
        await rebuild(monitor)
    assert messages(caplog, logging.WARNING) == [
        "status page build: careful: 3 services have no data"]
    assert any(m.startswith("status page built: 0 files in ")
               for m in messages(caplog, logging.INFO))
