"""``upwatch demo`` has a service of every kind, and each works against its demo target."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import load_config
from monitor.core.checks import ErrorKind
from monitor.core.clock import FakeClock
from monitor.demo import OTHER_KINDS, target_app, write_config
from monitor.demo_targets import DemoTargets, Heartbeat, demo_trust
from monitor.run.runner import Monitor, RunOptions

# 12:02:30 UTC: past the api's slow spell (120 s of each 900 s), the mail relay's (60 s of
# 900 s) and the DNS server's failures (60 s of 1,200 s)
NOW = datetime(2026, 11, 20, 12, 2, 30, tzinfo=UTC)


def test_the_demo_config_has_one_service_of_each_kind(tmp_path: Path) -> None:
    targets = DemoTargets(FakeClock(NOW), mail_port=2525, dns_port=5353, tls_port=8443)
    write_config(tmp_path / "probes.yaml", 4321, "127.0.0.1:8080", NOW, others=targets)
    config = load_config(tmp_path / "probes.yaml")
    kinds = {s.kind for s in config.services}
    assert kinds == {"http", "tcp", "tls", "dns", "push"}
    assert [s.name for s in config.services if s.kind != "http"] == [
        o.name for o in OTHER_KINDS]
    assert config.service("mail").port == 2525 and config.service("dns").port == 5353
    assert str(config.service("api").expect.json_assertions[0]) == '$.status == "UP"'
    with_locations = tmp_path / "locations.yaml"
    write_config(with_locations, 4321, "127.0.0.1:8080", NOW, others=targets, locations=True)
    assert load_config(with_locations).service_locations("certificate") == ("fra",)


async def test_every_kind_works_against_its_demo_target(tmp_path: Path,
                                                      aiohttp_server: Any) -> None:
    clock = FakeClock(NOW)
    web_targets = await aiohttp_server(target_app(clock))
    others = DemoTargets(clock)
    await others.start()
    cfg = tmp_path / "probes.yaml"
    write_config(cfg, web_targets.port, "127.0.0.1:0", NOW, others=others)
    monitor = Monitor(RunOptions(config_path=cfg, db_path=tmp_path / "upwatch.db", port=0,
                                 schedule=False), clock=clock)
    monitor.tls_context = demo_trust()
    await monitor.start()
    heartbeat = Heartbeat(lambda: (f"http://127.0.0.1:{monitor.port}/ping/"
                                   f"{monitor.pings.token('heartbeat')}"), work_s=0)
    try:
        for name in ("api", "mail", "dns", "certificate"):
            result = await monitor.scheduler.run_check(name)
            assert result is not None and result.ok and result.error is None, (name, result)
        first_verdict = asyncio.Event()  # its first success changes its verdict
        monitor.pings.on_changed = lambda name: first_verdict.set()
        heartbeat.start()
        async with asyncio.timeout(10):
            await first_verdict.wait()
        state = monitor.pings.state("heartbeat")
        assert state is not None and state.last_success is not None
        result = await monitor.scheduler.run_check("heartbeat")
        assert result is not None and result.ok
        clock.set(datetime(2026, 11, 20, 12, 15, 10, tzinfo=UTC))  # the relay's busy minute
        result = await monitor.scheduler.run_check("mail")
        assert result is not None and result.error is ErrorKind.CONTENT
        assert "421 mail.example.test busy" in result.detail
        clock.set(datetime(2026, 11, 20, 12, 20, 10, tzinfo=UTC))  # the DNS server's failures
        result = await monitor.scheduler.run_check("dns")
        assert result is not None and result.error is ErrorKind.DNS_ANSWER
        clock.advance(timedelta(minutes=5).total_seconds())
        result = await monitor.scheduler.run_check("heartbeat")  # no ping since: overdue
        assert result is not None and result.error is ErrorKind.MISSED_PING
    finally:
        await heartbeat.stop()
        await monitor.stop()
        await others.stop()
