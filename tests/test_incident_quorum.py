"""Incidents open on the quorum's state: the detector sees what a quorum of locations says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import parse_config
from monitor.core.checks import CheckResult, ErrorKind, State
from monitor.core.clock import FakeClock
from monitor.incidents.quorum import QuorumFeed

NOW = datetime(2026, 10, 10, 10, 0, 30, tzinfo=UTC)
CONFIG = parse_config("""
location: fra
locations: [{name: fra}, {name: cph}, {name: mad}]
services:
  - {name: api, url: "https://api.example.com/", interval: 60s}
  - {name: solo, url: "https://solo.example.com/", interval: 60s, locations: [mad]}
""")


class Desk:
    """What the feed calls of IncidentDesk."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, State]] = []
        self.where: list[str | None] = []

    def on_result(self, service: Any, result: CheckResult, state: State, *,
                  where: str | None = None) -> None:
        self.seen.append((service.name, result.location, state))
        self.where.append(where)


def result(location: str, ok: bool, at: datetime = NOW, service: str = "api") -> CheckResult:
    return CheckResult(service, at, ok, 10.0 if ok else None, 200 if ok else 503,
                       None if ok else ErrorKind.HTTP_STATUS, location=location)


def feed(*results: CheckResult, clock: FakeClock | None = None) -> list[State]:
    desk = Desk()
    quorum = QuorumFeed(desk, CONFIG, clock or FakeClock(NOW))  # type: ignore[arg-type]
    for r in results:
        quorum.on_result(CONFIG.service(r.service), r, State.UP if r.ok else State.DOWN)
    return [state for _, _, state in desk.seen]


def test_one_location_down_is_no_outage_two_are() -> None:
    assert feed(result("fra", True), result("cph", True), result("mad", True),
                result("fra", False), result("cph", False)) == [
        State.NODATA,  # one of three heard: the other two could still make an outage
        State.UP, State.UP,  # two, then three up: no quorum of outage is left possible
        State.UP,  # fra down alone
        State.DOWN]  # fra and cph


def test_a_silent_location_is_nodata_never_down() -> None:
    old = NOW - timedelta(minutes=3)  # mad's last word, older than two intervals
    states = feed(result("mad", False, at=old), result("fra", True), result("cph", True))
    assert states[-1] == State.UP  # mad is nodata; fra and cph rule the outage out


def test_a_late_result_goes_to_the_ledger_not_the_detector() -> None:
    assert feed(result("cph", False, at=NOW - timedelta(minutes=5))) == []


def test_one_location_feeds_its_own_state() -> None:
    assert feed(result("mad", False, service="solo")) == [State.DOWN]


async def test_the_incident_says_which_locations_see_the_outage(tmp_path: Path) -> None:
    from monitor.core.incidents import IncidentPolicy
    from monitor.incidents.desk import IncidentDesk
    from monitor.store.ledger import Ledger
    from monitor.store.writer import LedgerWriter

    clock = FakeClock(NOW)
    writer = LedgerWriter(Ledger(tmp_path / "l.db", clock=clock), clock)
    desk = IncidentDesk(writer, clock, IncidentPolicy(open_after=2), CONFIG)
    quorum = QuorumFeed(desk, CONFIG, clock)
    api = CONFIG.service("api")
    try:
        for minute in range(3):
            at = NOW + timedelta(minutes=minute)
            clock.set(at)
            for location, ok in (("fra", False), ("cph", False), ("mad", True)):
                r = result(location, ok, at=at)
                quorum.on_result(api, r, State.UP if ok else State.DOWN)
        await desk.drain()
        (incident,) = await writer.read(lambda led: led.incidents())
    finally:
        await writer.close()
    assert incident.updates[0].body.endswith(
        "(down from fra and cph; up from mad).")
