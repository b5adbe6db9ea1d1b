"""A hand-built :class:`PageData` for the status page tests (no ledger, no clock).

Four services around ``NOW`` (20 Oct 2026, 14:00 CEST; site zone Europe/Copenhagen):

- ``api`` (group Core, 24x7, 99.9 %): data from 60 days ago; 12 minutes down on 10 Oct, one
  minute down on 15 Oct, 30 minutes degraded on 17 Oct; an exclusion in September; up now;
- ``web`` (group Core, 99.9 %): down since 13:55 today; a maintenance window in 3 days;
- ``docs`` (no group, 99.99 %, Mon–Fri 09–17 local): up, weekends not covered;
- ``batch`` (group Core): no recent data, under maintenance right now.

Three incidents: #3 open (web, major, identified, two updates, Markdown in the latest), #2
resolved on 17 Oct (api, minor), #1 resolved on 10 Oct (api, major). ``sample_page(incidents=
False)`` is the same page without any.

Uptimes are computed from runs with the real arithmetic (:mod:`monitor.core.sla`), so every figure
is consistent. The tests in this file check the sample itself; the others import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, is_dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.core.checks import State
from monitor.core.intervals import Ranges
from monitor.core.minutes import Run
from monitor.core.sla import Uptime, period_uptime
from monitor.core.windows import Window
from monitor.incidents.markdown import render
from monitor.store.latency import LatencyPoint
from monitor.times import epoch_minute
from statuspage.data import (
    DAYS,
    MONTHS,
    Day,
    IncidentData,
    Month,
    PageData,
    ServiceData,
    SiteInfo,
    UpdateData,
)

NOW = datetime(2026, 10, 20, 12, 0, 30, tzinfo=UTC)
TZ = ZoneInfo("Europe/Copenhagen")
NOW_MIN = epoch_minute(NOW)


def local_minute(d: date, hour: int = 0, minute: int = 0) -> int:
    return epoch_minute(datetime(d.year, d.month, d.day, hour, minute, tzinfo=TZ))


def _day_bounds(d: date) -> tuple[int, int]:
    nxt = d + timedelta(days=1)
    return local_minute(d), min(local_minute(nxt), NOW_MIN)


def _month_bounds(y: int, m: int) -> tuple[int, int]:
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return local_minute(date(y, m, 1)), local_minute(date(ny, nm, 1))


def always(start: int, end: int) -> Ranges:
    return [(start, end)]


def office_hours(start: int, end: int) -> Ranges:
    """Mon–Fri 09:00–17:00 Copenhagen time, within ``[start, end)``."""
    out: Ranges = []
    d = datetime.fromtimestamp(start * 60, TZ).date() - timedelta(days=1)
    while local_minute(d) < end:
        if d.weekday() < 5:
            lo, hi = max(start, local_minute(d, 9)), min(end, local_minute(d, 17))
            if lo < hi:
                out.append((lo, hi))
        d += timedelta(days=1)
    return out


def service(
    name: str, title: str, group: str, target: float, runs: list[Run], *,
    state: State, since: datetime | None, windows: tuple[Window, ...] = (),
    covered: Callable[[int, int], Ranges] = always, in_maintenance: bool = False,
    sla_timezone: str = "Europe/Copenhagen",
) -> ServiceData:
    today = NOW.astimezone(TZ).date()
    days = []
    for i in range(DAYS):
        d = today - timedelta(days=DAYS - 1 - i)
        lo, hi = _day_bounds(d)
        u = period_uptime(service=name, target=target, start=lo, end=hi, covered=covered(lo, hi),
                          runs=runs, windows=windows)
        down = [r for r in runs if r.state == State.DOWN and r.start < hi and r.end > lo]
        first = max(down[0].start, lo) if u.down_minutes else None
        last = min(down[-1].end, hi) if u.down_minutes else None
        days.append(Day(d, u, first, last))
    months = []
    y, m = 2026, 10
    for i in range(MONTHS + 1):
        lo, hi = _month_bounds(y, m)
        hi = min(hi, NOW_MIN)
        u = period_uptime(service=name, target=target, start=lo, end=hi, covered=covered(lo, hi),
                          runs=runs, windows=windows)
        months.append(Month(y, m, u, to_date=i == 0))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return ServiceData(
        name=name, title=title, group=group, target=target, sla_timezone=sla_timezone,
        state=state, since=since, last_checked=NOW - timedelta(seconds=30),
        in_maintenance=in_maintenance, days=tuple(days), month=months[0],
        history=tuple(months[1:]),
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NOW_HOUR = NOW_MIN // 60
#: The API's response times: the last 24 hours but two quiet ones, and 60 of the last 90 days.
API_HOURS = tuple(LatencyPoint(NOW_HOUR - 23 + i, 60, 80.0 + 5 * (i % 6), 190.0 + 20 * (i % 4))
                  for i in range(24) if i not in (10, 11))
API_DAYS = tuple(LatencyPoint((NOW_HOUR // 24 - 59 + i) * 24, 1440, 85.0 + (i % 7), 240.0 + i)
                 for i in range(60))

SEPT_EXCLUSION = Window(
    id="cfg-x0", kind="exclusion", services=("api",), start=utc(2026, 9, 8, 3, 0),
    end=utc(2026, 9, 8, 4, 0), title="Upstream DNS provider outage",
    declared_at=utc(2026, 9, 9, 8, 0), declared_by="probes.yaml",
)
BATCH_WINDOW = Window(
    id="cfg-m0", kind="maintenance", services=("batch",), start=utc(2026, 10, 20, 11, 0),
    end=utc(2026, 10, 20, 13, 0), title="Queue migration", declared_at=None,
    declared_by="probes.yaml",
)
WEB_WINDOW = Window(
    id="7", kind="maintenance", services=("web", "api"), start=utc(2026, 10, 23, 0, 0),
    end=utc(2026, 10, 23, 2, 0), title="Database upgrade", declared_at=utc(2026, 10, 19, 9, 0),
    declared_by="cli:alice",
)


def _update(uid: int, at: datetime, status: str, body: str) -> UpdateData:
    return UpdateData(uid, at, status, body, render(body))


INCIDENTS = (
    IncidentData(
        3, "Website unavailable", "major", "identified", ("web",), utc(2026, 10, 20, 11, 57),
        None, (
            _update(6, utc(2026, 10, 20, 11, 59), "identified",
                    "A faulty release; we are **rolling it back**.\n\n- checkout is affected\n"
                    "- details in [the changelog](https://example.com/changes)"),
            _update(5, utc(2026, 10, 20, 11, 57), "investigating",
                    "upwatch detected that **web** is down since 11:55 UTC."),
        )),
    IncidentData(
        2, "Slow API responses", "minor", "resolved", ("api",), utc(2026, 10, 17, 6, 5),
        utc(2026, 10, 17, 6, 50), (
            _update(4, utc(2026, 10, 17, 6, 50), "resolved", "Response times are normal."),
            _update(3, utc(2026, 10, 17, 6, 40), "monitoring", "A cache node was replaced."),
            _update(2, utc(2026, 10, 17, 6, 5), "investigating", "Responses are *slow*."),
        )),
    IncidentData(
        1, "API outage", "major", "resolved", ("api",), utc(2026, 10, 10, 10, 2),
        utc(2026, 10, 10, 10, 30), (
            _update(1, utc(2026, 10, 10, 10, 30), "resolved", "The API is back since 10:12 UTC."),
        )),
)


def sample_page(site: SiteInfo | None = None, *, incidents: bool = True) -> PageData:
    """The sample page; ``site`` replaces its site information."""
    first = local_minute(date(2026, 8, 21))
    outage = local_minute(date(2026, 10, 10), 12)
    blip = local_minute(date(2026, 10, 15), 3)
    slow = local_minute(date(2026, 10, 17), 8)
    api_runs = [
        Run(first, outage, State.UP), Run(outage, outage + 12, State.DOWN),
        Run(outage + 12, blip, State.UP), Run(blip, blip + 1, State.DOWN),
        Run(blip + 1, slow, State.UP), Run(slow, slow + 30, State.DEGRADED),
        Run(slow + 30, NOW_MIN + 1, State.UP),
    ]
    web_since = NOW_MIN - 5
    web_runs = [Run(first, web_since, State.UP), Run(web_since, NOW_MIN + 1, State.DOWN)]
    docs_runs = [Run(first, NOW_MIN + 1, State.UP)]
    batch_runs = [Run(first, NOW_MIN - 180, State.UP)]
    services = (
        replace(service("api", "API", "Core", 99.9, api_runs, state=State.UP,
                        since=utc(2026, 10, 17, 6, 30), windows=(SEPT_EXCLUSION,)),
                latency_hours=API_HOURS, latency_days=API_DAYS),
        service("web", "Website", "Core", 99.9, web_runs, state=State.DOWN,
                since=utc(2026, 10, 20, 11, 55)),
        service("docs", "Docs", "", 99.99, docs_runs, state=State.UP,
                since=utc(2026, 8, 21, 7, 0), covered=office_hours),
        service("batch", "Batch jobs", "Core", 99.5, batch_runs, state=State.NODATA, since=None,
                windows=(BATCH_WINDOW,), in_maintenance=True),
    )
    return PageData(
        site=site or SiteInfo("Example status", "Is it up?", "https://status.example.com",
                              "en", "Europe/Copenhagen"),
        now=NOW, services=services, maintenance=(BATCH_WINDOW, WEB_WINDOW),
        incidents=INCIDENTS if incidents else (),
    )


def _retitled(u: Uptime, text: str) -> Uptime:
    return replace(
        u, maintenance=tuple(replace(a, title=text) for a in u.maintenance),
        exclusions=tuple(replace(a, title=text) for a in u.exclusions))


def with_titles(page: PageData, text: str) -> PageData:
    """Every user-provided string of ``page`` (site title and description, service titles,
    groups, window titles, exclusion reasons, incident titles and update bodies) replaced by
    ``text``, for escaping tests."""
    services = tuple(
        replace(
            s, title=text, group=text if s.group else "",
            days=tuple(replace(d, uptime=_retitled(d.uptime, text)) for d in s.days),
            month=replace(s.month, uptime=_retitled(s.month.uptime, text)),
            history=tuple(replace(m, uptime=_retitled(m.uptime, text)) for m in s.history),
        )
        for s in page.services
    )
    incidents = tuple(
        replace(i, title=text, updates=tuple(replace(u, body=text, html=render(text))
                                             for u in i.updates))
        for i in page.incidents
    )
    return replace(page, services=services, incidents=incidents,
                   maintenance=tuple(replace(w, title=text) for w in page.maintenance),
                   site=replace(page.site, title=text, description=text))


# ---- golden files ---------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "statuspage"
REGEN = "UPWATCH_REGEN_GOLDEN"


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/statuspage/<name>``; rewrite it instead when the
    environment has ``UPWATCH_REGEN_GOLDEN=1`` (then review the diff before committing)."""
    path = GOLDEN / name
    if os.environ.get(REGEN) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run the tests once with {REGEN}=1"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (regenerate: {REGEN}=1)"


def as_json(view: object) -> str:
    """A view model (dataclasses) as stable, readable JSON."""
    assert is_dataclass(view) and not isinstance(view, type)
    return json.dumps(asdict(view), indent=1, ensure_ascii=False, default=str) + "\n"


# ---- the sample itself ----------------------------------------------------------------------


def test_sample_has_ninety_days_and_thirteen_months() -> None:
    for s in sample_page().services:
        assert len(s.days) == DAYS
        assert s.days[-1].date == date(2026, 10, 20)
        assert len(s.history) == MONTHS
        assert (s.month.year, s.month.month, s.month.to_date) == (2026, 10, True)


def test_sample_figures_are_the_ones_described() -> None:
    api = sample_page().services[0]
    by_date = {d.date: d.uptime for d in api.days}
    assert by_date[date(2026, 10, 10)].down_minutes == 12
    assert by_date[date(2026, 10, 15)].down_minutes == 1
    assert by_date[date(2026, 10, 17)].degraded_minutes == 30
    assert by_date[date(2026, 8, 1)].eligible_minutes == 0
    sept = api.history[0]
    assert (sept.month, sept.uptime.excluded_minutes) == (9, 60)
