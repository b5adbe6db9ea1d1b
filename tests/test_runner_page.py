"""upwatch run keeps status page rebuilds to a tenth of the time between them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.run.runner import Monitor, RunOptions, SitePlan
from statuspage import prepare_site


class SlowBuildClock(FakeClock):
    """Every monotonic() reading is ``step`` seconds after the last: a build 'takes' step s."""

    def __init__(self, step: float) -> None:
        super().__init__(datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
        self.step = step

    def monotonic(self) -> float:
        self.advance(self.step)
        return super().monotonic()


@pytest.mark.parametrize(("build_s", "interval_s"), [(2.0, 60.0), (9.0, 90.0)],
                         ids=["fast-build-keeps-the-minute", "slow-build-stretches"])
async def test_rebuild_interval_follows_build_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, build_s: float, interval_s: float
) -> None:
    cfg = tmp_path / "probes.yaml"
    cfg.write_text("services:\n  - {name: api, url: 'http://127.0.0.1:9/'}\n")
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "u.db", port=0,
                                 site=SitePlan(tmp_path / "site", prepare_site)),
                      clock=SlowBuildClock(build_s))
    await monitor.writer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="upwatch"):
            await monitor.rebuild_page()
    finally:
        await monitor.writer.close()
        await monitor._session.close()
    assert (tmp_path / "site" / "index.html").is_file()
    assert monitor.page_interval == interval_s
    stretched = [r.getMessage() for r in caplog.records if "rebuilding every" in r.getMessage()]
    if interval_s > 60:
        assert stretched == [f"the status page took {build_s:.1f}s to build; rebuilding every "
                             f"{interval_s:.0f}s instead of every 60s"]
    else:
        assert stretched == []
