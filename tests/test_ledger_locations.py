"""The ledger read across locations: each service's minutes folded by its quorum, and a
single-location config read at its own location's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.report import build_reports
from monitor.store.ledger import Ledger

T0 = datetime(2026, 10, 10, 10, 0, 5, tzinfo=UTC)
M0 = int(T0.timestamp()) // 60
THREE = """
location: fra
locations: [{name: fra}, {name: cph}, {name: mad}]
services:
  - {name: api, url: "https://api.example.com/", interval: 60s}
  - {name: pair, url: "https://pair.example.com/", interval: 60s, locations: [fra, cph]}
"""


def obs(service: str, location: str, minute: int, ok: bool) -> Observation:
    result = CheckResult(service=service, time=T0 + timedelta(minutes=minute), ok=ok,
                         latency_ms=50.0 if ok else None, status=200 if ok else 503,
                         error=None if ok else ErrorKind.HTTP_STATUS, location=location)
    return Observation(result, result.state(None), 60_000)


def test_minutes_are_folded_by_each_services_quorum(ledger_target: str | Path) -> None:
    config = parse_config(THREE)
    ledger = Ledger(ledger_target, clock=FakeClock(T0))
    down = {"fra": {1, 2}, "cph": {2, 3}, "mad": set()}
    ledger.record([obs("api", loc, m, m not in down[loc]) for loc in down for m in range(5)])
    ledger.record([obs("pair", loc, m, m not in down[loc]) for loc in ("fra", "cph")
                   for m in range(5)])
    runs = ledger.quorum_runs_many(config.quorum_plan(["api", "pair"]), M0, M0 + 5)
    # api: 2 of 3 down only at minute 2; pair: q = 2 of 2, so down only where both saw it
    assert runs["api"] == [Run(M0, M0 + 2, State.UP), Run(M0 + 2, M0 + 3, State.DOWN),
                           Run(M0 + 3, M0 + 5, State.UP)]
    assert runs["pair"] == runs["api"]
    assert config.quorum_plan(["pair"]) == {"pair": (("fra", "cph"), 2)}
    ledger.close()


def test_a_single_location_config_reads_its_own_location(ledger_target: str | Path) -> None:
    """``location: fra`` without ``locations``: what run recorded as fra is what report reads
    (it used to read "local", and found nothing)."""
    config = parse_config('location: fra\nservices:\n  - {name: api, url: "https://a.example/"}\n')
    ledger = Ledger(ledger_target, clock=FakeClock(T0))
    ledger.record([obs("api", "fra", m, m != 1) for m in range(3)])
    runs = ledger.quorum_runs_many(config.quorum_plan(["api"]), M0, M0 + 3)
    assert runs["api"] == [Run(M0, M0 + 1, State.UP), Run(M0 + 1, M0 + 2, State.DOWN),
                           Run(M0 + 2, M0 + 3, State.UP)]
    report = build_reports(config, ledger, [(2026, 10)], T0 + timedelta(minutes=3))
    assert report[0].services[0].down_minutes == 1
    ledger.close()
