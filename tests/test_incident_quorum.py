"""Incidents open on the quorum's state: the detector sees what a quorum of locations says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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

    def on_result(self, service: Any, result: CheckResult, state: State) -> None:
        self.seen.append((service.name, result.location, state))


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
