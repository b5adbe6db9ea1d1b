"""Gathering the page's data from a real Ledger (filled through ``record``), end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config, parse_config
from monitor.core.checks import CheckResult, Observation, State
from monitor.core.windows import Window
from monitor.report import build_reports
from monitor.store.ledger import Ledger, StoredCheck
from statuspage.data import DAYS, MONTHS, current_state, gather, page_windows

NOW = datetime(2026, 11, 3, 10, 30, 20, tzinfo=UTC)  # 11:30 CET, a Tuesday

CONFIG = """
site: {title: Example, language: de, timezone: Europe/Copenhagen}
services:
  - name: api
    title: API
    group: Core
    url: http://127.0.0.1:1/
    interval: 60s
    timeout: 5s
    expect: {max_latency: 500ms}
    sla: {target: 99.9, timezone: Europe/Copenhagen}
  - name: docs
    title: Docs
    url: http://127.0.0.1:2/
    interval: 60s
    timeout: 5s
    sla:
      target: 99.99
      timezone: Europe/Copenhagen
      coverage: {days: mon-fri, hours: "09:00-17:00", holidays: [DK]}
  - name: quiet
    title: Never checked
    url: http://127.0.0.1:3/
maintenance:
  - {services: [docs], title: Now, start: "2026-11-03T10:00:00Z", end: "2026-11-03T11:00:00Z"}
  - {services: [api], title: Soon, start: "2026-11-06T01:00:00Z", end: "2026-11-06T02:00:00Z"}
  - {services: [api], title: Later, start: "2026-11-20T01:00:00Z", end: "2026-11-20T02:00:00Z"}
"""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def obs(service: str, t: datetime, ok: bool = True, latency: float = 80.0) -> Observation:
    result = CheckResult(service, t, ok, latency, 200 if ok else 503)
    state = State.DOWN if not ok else State.DEGRADED if latency > 500 else State.UP
    return Observation(result, state, 60_000)


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """api checked every minute from 20 Oct 2026 00:00Z, down 10:00–10:12Z on 28 Oct, slow
    the last two minutes; docs every minute since 1 Nov; quiet never."""
    led = Ledger(tmp_path / "upwatch.db")
    t = utc(2026, 10, 20)
    batch = []
    while t < NOW:
        down = utc(2026, 10, 28, 10) <= t < utc(2026, 10, 28, 10, 12)
        slow = t >= NOW - timedelta(minutes=2)
        batch.append(obs("api", t, ok=not down, latency=900.0 if slow else 80.0))
        if t >= utc(2026, 11, 1):
            batch.append(obs("docs", t))
        t += timedelta(minutes=1)
    led.record(batch)
    yield led
    led.close()


def test_gather_end_to_end(config: Config, ledger: Ledger) -> None:
    data = gather(config, ledger, NOW)
    api, docs, quiet = data.services
    assert [len(s.days) for s in data.services] == [DAYS] * 3
    assert [len(s.history) for s in data.services] == [MONTHS] * 3
    assert api.days[-1].date == date(2026, 11, 3)
    assert api.days[0].date == date(2026, 11, 3) - timedelta(days=DAYS - 1)

    by_date = {d.date: d for d in api.days}
    before = by_date[date(2026, 10, 19)].uptime
    assert (before.eligible_minutes, before.nodata_minutes) == (0, 1440)  # no data, not green
    outage = by_date[date(2026, 10, 28)]
    assert outage.uptime.down_minutes == 12
    assert outage.first_down is not None and outage.last_down_end is not None
    assert outage.last_down_end - outage.first_down == 12
    assert by_date[date(2026, 10, 25)].uptime.total_minutes == 1500  # DST ends: 25 hours
    today = by_date[date(2026, 11, 3)].uptime
    assert today.total_minutes == 11 * 60 + 30  # local midnight to now's minute
    assert today.degraded_minutes == 1  # 10:29 (10:30 is now's minute, not over yet)

    assert (api.state, api.since) == (State.DEGRADED, utc(2026, 11, 3, 10, 29))
    assert (quiet.state, quiet.since, quiet.last_checked) == (State.NODATA, None, None)
    assert all(d.uptime.eligible_minutes == 0 for d in quiet.days)

    sat = {d.date: d.uptime for d in docs.days}[date(2026, 11, 1)]
    assert sat.covered_minutes == 0  # a Saturday: outside the commitment
    assert docs.in_maintenance and not api.in_maintenance
    assert [w.title for w in data.maintenance] == ["Now", "Soon"]


def test_month_figures_are_the_reports(config: Config, ledger: Ledger) -> None:
    """The page and ``upwatch report`` count the same month the same way."""
    data = gather(config, ledger, NOW)
    (nov,) = build_reports(config, ledger, [(2026, 11)], NOW)
    (octo,) = build_reports(config, ledger, [(2026, 10)], NOW)
    for s, now_u, oct_u in zip(data.services, nov.services, octo.services, strict=True):
        assert s.month.uptime == now_u
        assert (s.history[0].year, s.history[0].month) == (2026, 10)
        assert s.history[0].uptime == oct_u
    assert data.services[0].history[0].uptime.down_minutes == 12


def test_windows_given_twice_count_once(config: Config, ledger: Ledger) -> None:
    declared = Window("42", "maintenance", ("api",), utc(2026, 11, 4, 1), utc(2026, 11, 4, 2),
                      "Declared", utc(2026, 11, 2, 9), "cli:alice")
    data = gather(config, ledger, NOW, [declared, declared])
    assert [w.id for w in data.maintenance] == ["cfg-m0", "42", "cfg-m1"]


def _check(age_s: float, ok: bool = True, latency: float | None = 80.0) -> StoredCheck:
    return StoredCheck("api", "local", NOW - timedelta(seconds=age_s), ok, latency,
                       200 if ok else None, None, "")


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (None, State.NODATA),
        (_check(10), State.UP),
        (_check(10, latency=900.0), State.DEGRADED),
        (_check(10, latency=None), State.UP),
        (_check(10, ok=False, latency=None), State.DOWN),
        (_check(119.9), State.UP),
        (_check(120), State.NODATA),
    ],
    ids=["never-checked", "recent-ok", "slow", "no-latency", "failed", "just-under-two-intervals",
         "two-intervals-old"],
)
def test_current_state(config: Config, check: StoredCheck | None, expected: State) -> None:
    assert current_state(check, config.service("api"), NOW) == expected


def _w(wid: str, start: datetime, end: datetime, *, kind: str = "maintenance",
       cancelled: datetime | None = None) -> Window:
    return Window(wid, kind, ("api",), start, end, wid, None, "probes.yaml",  # type: ignore[arg-type]
                  cancelled_at=cancelled)


@pytest.mark.parametrize(
    ("window", "shown"),
    [
        (_w("now", NOW - timedelta(hours=1), NOW + timedelta(hours=1)), True),
        (_w("ended", NOW - timedelta(hours=2), NOW), False),
        (_w("in-7-days", NOW + timedelta(days=7), NOW + timedelta(days=7, hours=1)), True),
        (_w("in-8-days", NOW + timedelta(days=8), NOW + timedelta(days=8, hours=1)), False),
        (_w("exclusion", NOW - timedelta(hours=1), NOW + timedelta(hours=1), kind="exclusion"),
         False),
        (_w("cancelled", NOW - timedelta(hours=1), NOW + timedelta(hours=1),
            cancelled=NOW - timedelta(minutes=5)), False),
        (_w("cancelled-ahead", NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1),
            cancelled=NOW - timedelta(days=1)), False),
    ],
    ids=lambda v: v.id if isinstance(v, Window) else None,
)
def test_page_windows(window: Window, shown: bool) -> None:
    assert page_windows([window], NOW) == ((window,) if shown else ())
