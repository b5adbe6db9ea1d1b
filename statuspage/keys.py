"""What each service's pieces of the page are made of, as one comparable value per service.

A build keeps the HTML it rendered for each service (:mod:`statuspage.fragments`); the next
build renders a service again only when its key here differs from the one it was rendered for.
A key holds, in no language, everything the piece says: two services' data that would read the
same in every language have equal keys, and data that would read differently never do.

The data of a service changes every minute even when nothing happens to it: today's minutes
and this month's grow. So the changing parts (today, this month) are in a key as what the page
shows of them (:func:`~statuspage.i18n.truncated_percent`, :func:`~statuspage.i18n.duration_parts`:
the numbers every language formats), never as their raw minutes; the rest (the days before
today, the months before this one) as they are, which compares in no time when
:func:`statuspage.data.gather` handed back the very same objects as last time. The line on
the last check ("Answered in 87 ms") and the response-time charts, which move with the checks,
are no part of a piece at all: they are put in at every build, the charts kept apart while
they show the same (:func:`statuspage.fragments.index_pieces`).

PURE: no I/O, no clock. ``tests/test_statuspage_fragments.py`` checks that a page built from
kept pieces is byte for byte the page built from nothing.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from monitor.core.sla import Uptime
from monitor.times import minute_start
from statuspage.data import IncidentData, PageData, ServiceData
from statuspage.i18n import duration_parts, truncated_percent
from statuspage.views import percent_places

__all__ = ["history_key", "service_key"]

Key = tuple[object, ...]


def _day(u: Uptime, places: int) -> Key:
    """What the bar says of a day (``views._summary``'s inputs as it shows them)."""
    if u.eligible_minutes == 0 or u.uptime_percent is None:
        return (u.covered_minutes == 0, u.maintenance_minutes + u.excluded_minutes
                == u.covered_minutes)
    return (truncated_percent(u.uptime_percent, places), u.down_minutes, u.degraded_minutes,
            u.met if u.down_minutes else None,
            duration_parts(u.maintenance_minutes) if u.maintenance_minutes else None,
            duration_parts(u.nodata_minutes) if u.nodata_minutes else None)


def _windows(u: Uptime) -> Key:
    """The windows that removed minutes, as a day's detail and a month's notes tell them."""
    return tuple((w.kind, w.title, w.minutes, w.start, w.end, w.declared_at)
                 for w in (*u.maintenance, *u.exclusions) if w.minutes)


def _month(u: Uptime, places: int) -> Key:
    """This month to date as the page shows it: uptime, verdict, error budget."""
    budget: object = None
    if u.eligible_minutes:
        left = u.budget_remaining_minutes
        budget = "none yet" if left >= 0 and u.budget_minutes * 60 < 1 else (
            left >= 0, duration_parts(left))
    return (None if u.uptime_percent is None else truncated_percent(u.uptime_percent, places),
            u.met, budget)


def _touching(incidents: tuple[IncidentData, ...], u: Uptime) -> tuple[int, ...]:
    start, end = minute_start(u.period_start), minute_start(u.period_end)
    return tuple(i.id for i in incidents
                 if i.started_at < end and (i.resolved_at is None or i.resolved_at > start))


def service_key(s: ServiceData, data: PageData, mine: tuple[IncidentData, ...]) -> Key:
    """Everything ``s``'s piece of ``index.html`` (and its ``embed/`` page) depends on;
    ``mine``: the incidents of ``data`` that affect it."""
    places = percent_places(s.target)
    today = s.days[-1] if s.days else None
    past = s.tally
    eligible = past.eligible + (today.uptime.eligible_minutes if today is not None else 0)
    down = past.down + (today.uptime.down_minutes if today is not None else 0)
    return (
        s.name, s.title, s.group, s.target, s.state, s.since, s.in_maintenance, s.locations,
        s.kind,
        data.now.astimezone(ZoneInfo(data.site.timezone)).date(),
        # the bar: the days before today as they are, today as the page says it
        s.days[:-1], None if today is None else (
            today.date, _day(today.uptime, places), _windows(today.uptime),
            _touching(mine, today.uptime)),
        truncated_percent(100 * (eligible - down) / eligible, places) if eligible else None,
        _month(s.month.uptime, places), mine,
    )


def history_key(s: ServiceData) -> Key:
    """Everything ``s``'s section of ``history.html`` depends on."""
    places = percent_places(s.target)
    u = s.month.uptime
    return (s.name, s.title, s.target, s.history, s.history_from, s.month.year, s.month.month,
            s.month.to_date, u.eligible_minutes == 0, _month(u, places), u.down_minutes,
            u.maintenance_minutes, u.excluded_minutes, _windows(u))
