"""``upwatch demo``'s parts: its config loads, its targets follow their schedule, its history
goes through the ledger and reports like real data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.demo import SERVICES, phase, seed_history, target_app, write_config
from monitor.report import build_reports
from monitor.store.ledger import Ledger

NOW = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)


def test_demo_config_is_valid_and_names_every_simulated_service(tmp_path: Path) -> None:
    write_config(tmp_path / "probes.yaml", 4321, "127.0.0.1:8080", NOW)
    config = load_config(tmp_path / "probes.yaml")
    assert config.service_names == ("self", *(s.name for s in SERVICES))
    assert config.service("checkout").url == "http://127.0.0.1:4321/checkout"
    assert config.maintenance[0].start == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    assert config.service("support").sla.coverage.holidays == ("DK",)


async def test_targets_go_down_and_slow_on_schedule(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
) -> None:
    clock = FakeClock(datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC))  # a multiple of 600 s
    checkout = next(s for s in SERVICES if s.name == "checkout")
    assert phase(checkout, clock.now()) == "down"
    client = await aiohttp_client(target_app(clock))
    assert (await client.get("/checkout")).status == 503
    clock.advance(checkout.down_s)
    assert phase(checkout, clock.now()) == "up"
    resp = await client.get("/checkout")
    assert resp.status == 200 and await resp.text() == "Checkout ok"
    assert (await client.get("/nope")).status == 404
    search = next(s for s in SERVICES if s.name == "search")
    assert phase(search, datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)) == "slow"


def test_seeded_history_reports_like_real_data(tmp_path: Path, ledger_target: str | Path) -> None:
    write_config(tmp_path / "probes.yaml", 4321, "127.0.0.1:8080", NOW)
    config = load_config(tmp_path / "probes.yaml")
    ledger = Ledger(ledger_target)
    try:
        seeded = seed_history(ledger, NOW, days=20)
        (report,) = build_reports(config, ledger, [(2026, 11)], NOW)
    finally:
        ledger.close()
    assert seeded > 5 * 20 * 280  # five services, a check every 5 minutes, a few gaps
    by_name = {u.service: u for u in report.services}
    assert by_name["self"].uptime_percent is None  # the monitor itself has no history
    website = by_name["website"]
    # history from 1 Nov until 10 minutes ago, counted up to now
    assert website.total_minutes == int((NOW - datetime(2026, 11, 1, tzinfo=UTC))
                                        / timedelta(minutes=1))
    assert website.eligible_minutes > 0.95 * website.total_minutes - 24 * 60
    assert website.uptime_percent is not None and website.uptime_percent > 99
    assert by_name["support"].covered_minutes < website.covered_minutes  # business hours only


def test_the_demo_with_locations_has_three_and_a_route_problem_in_madrid(
    tmp_path: Path
) -> None:
    write_config(tmp_path / "probes.yaml", 4321, "127.0.0.1:8080", NOW, locations=True)
    config = load_config(tmp_path / "probes.yaml")
    assert config.location_names == ("fra", "cph", "mad")
    assert config.service_locations("self") == ("fra",)  # only the monitor reaches itself
    assert config.service_quorum("search") == 2
    search = next(s for s in SERVICES if s.name == "search")
    late = datetime(2026, 11, 20, 12, 4, 50, tzinfo=UTC)  # 290 s into a 300 s cycle
    assert phase(search, late, "127.0.0.3") == "down"  # from Madrid
    assert phase(search, late, "127.0.0.2") == "up"
    ledger = Ledger(tmp_path / "upwatch.db")
    try:
        seed_history(ledger, NOW, days=10, locations=("fra", "cph", "mad"))
        (report,) = build_reports(config, ledger, [(2026, 11)], NOW)
        per = ledger.runs_by_location({"api": ("fra", "cph", "mad")}, 0, 2**40)["api"]
    finally:
        ledger.close()
    api = next(u for u in report.services if u.service == "api")
    assert api.uptime_percent is not None and api.uptime_percent > 99
    # each location has blips of its own: their runs differ, the quorum hides them
    assert per["cph"] != per["mad"]
