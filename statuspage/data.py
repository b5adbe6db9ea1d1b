"""What the status page shows, gathered once: the ONLY place the page reads the ledger.

:func:`gather` takes the config, a :class:`~monitor.store.ledger.Ledger`, ``now`` and the windows
declared at run time, and returns a :class:`PageData` snapshot of plain frozen dataclasses that
the pure view code (:mod:`statuspage.views`) turns into pages. Per service:

- the current state, from the last check: down if it failed, degraded if slower than
  ``expect.max_latency``, up otherwise; nodata when there is no check less than two intervals
  old;
- :data:`DAYS` daily uptimes, days in ``site.timezone``, each computed by
  :func:`monitor.core.sla.period_uptime` over that day with the service's coverage and windows (a
  day without data is nodata, never up; today counts until ``now``, the minute under way not
  yet);
- this month to date and the :data:`MONTHS` calendar months before it, in the SLA's time zone
  (:func:`monitor.core.sla.month_uptime`, exactly as ``upwatch report`` counts them).

All runs come from one :meth:`~monitor.store.ledger.Ledger.quorum_runs_many` call (one query
per location, folded by each service's quorum). Incidents open now or
active in the last :data:`DAYS` days come from :meth:`~monitor.store.ledger.Ledger.incidents`, their
updates' Markdown rendered to safe HTML here (:func:`monitor.incidents.markdown.render`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import Config, ServiceConfig
from monitor.config.subscriptions import subscribe_url
from monitor.core.checks import State, check_state
from monitor.core.coverage import covered_ranges, month_bounds
from monitor.core.intervals import Ranges
from monitor.core.minutes import Run
from monitor.core.quorum import minute_state
from monitor.core.sla import Uptime, month_uptime, period_uptime
from monitor.core.windows import Window, windows_from_config
from monitor.store.latency import LatencyPoint
from monitor.store.ledger import Ledger, StoredCheck
from monitor.times import ceil_minute, epoch_minute, minute_start
from statuspage.incident_data import IncidentData, UpdateData, page_incident

__all__ = [
    "DAYS", "MONTHS", "UPCOMING", "Day", "IncidentData", "Month", "PageData", "ServiceData",
    "SiteInfo", "SubscribeInfo", "UpdateData", "current_state", "gather", "page_incident",
    "page_windows",
]

DAYS = 90  # days in the bar, today included
MONTHS = 12  # complete calendar months on the history page, besides this month to date
UPCOMING = timedelta(days=7)  # maintenance this far ahead is announced

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class SiteInfo:
    title: str
    description: str
    url: str | None
    language: str
    timezone: str
    #: Branding files to copy into the site, by key (logo, favicon, custom_css): their paths.
    files: tuple[tuple[str, str], ...] = ()
    accent_color: str | None = None
    #: Visitors may subscribe (probes.yaml's ``subscriptions:``); None: no subscribe page.
    subscribe: SubscribeInfo | None = None


@dataclass(frozen=True)
class SubscribeInfo:
    """The subscribe form: where it posts, and whether it takes an address, a webhook URL."""

    url: str
    email: bool
    webhooks: bool


@dataclass(frozen=True)
class Day:
    """One local day of one service. ``first_down``/``last_down_end`` are epoch minutes of the
    first down minute and the end of the last one that day (None without down minutes)."""

    date: date
    uptime: Uptime
    first_down: int | None = None
    last_down_end: int | None = None


@dataclass(frozen=True)
class Month:
    year: int
    month: int
    uptime: Uptime
    to_date: bool = False  # the month has not ended: counted up to ``now``


@dataclass(frozen=True)
class ServiceData:
    name: str
    title: str
    group: str  # "" = ungrouped
    target: float
    sla_timezone: str
    state: State
    since: datetime | None  # when the current state began, as far as the ledger knows
    last_checked: datetime | None
    in_maintenance: bool  # a maintenance window applies to it now
    days: tuple[Day, ...]  # DAYS days, oldest first, the last one is today
    month: Month  # this month to date (SLA time zone)
    history: tuple[Month, ...]  # the MONTHS months before it, newest first
    #: With several locations: each location's state now, in probes.yaml's order ((), else).
    locations: tuple[LocationNow, ...] = ()
    kind: str = "http"
    last: StoredCheck | None = None  # its latest check, for the page's words on it
    last_ping: datetime | None = None  # a push service's latest ping
    #: Response times: the last 24 hours by hour, the last 90 UTC days by day (charts.py).
    latency_hours: tuple[LatencyPoint, ...] = ()
    latency_days: tuple[LatencyPoint, ...] = ()


@dataclass(frozen=True)
class LocationNow:
    """What one location sees of a service now (its last check, nodata when too old)."""

    name: str
    title: str
    state: State


@dataclass(frozen=True)
class PageData:
    site: SiteInfo
    now: datetime
    services: tuple[ServiceData, ...]  # in probes.yaml order
    maintenance: tuple[Window, ...]  # active or starting within UPCOMING, by (start, id)
    # open now, or detected or resolved in the last DAYS days; newest first
    incidents: tuple[IncidentData, ...] = ()
    #: Titles of the locations none of whose checks is recent: their minutes are nodata.
    silent_locations: tuple[str, ...] = ()

    @property
    def open_incidents(self) -> tuple[IncidentData, ...]:
        return tuple(i for i in self.incidents if i.open)


def current_state(check: StoredCheck | None, svc: ServiceConfig, now: datetime) -> State:
    """The state the last check gives: nodata when it is two intervals old or more."""
    if check is None or now - check.time >= 2 * svc.interval:
        return State.NODATA
    return check_state(check.ok, check.latency_ms, svc.expect.max_latency_ms, check.error)


def _day_bounds(days: Sequence[date], tz: ZoneInfo) -> list[tuple[int, int]]:
    """Epoch minutes ``[start, end)`` of each local date (a missing midnight: when it begins)."""
    out = []
    for d in days:
        nxt = d + timedelta(days=1)
        out.append((
            ceil_minute(datetime(d.year, d.month, d.day, tzinfo=tz)),
            ceil_minute(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)),
        ))
    return out


def _months_back(year: int, month: int, n: int) -> list[tuple[int, int]]:
    """The ``n`` months before ``(year, month)``, newest first."""
    out = []
    for _ in range(n):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append((year, month))
    return out


def _overlapping(runs: Sequence[Run], ends: Sequence[int], start: int, end: int) -> list[Run]:
    """The sorted, disjoint ``runs`` that meet ``[start, end)`` (``ends`` = their ends)."""
    i = bisect_right(ends, start)
    j = i
    while j < len(runs) and runs[j].start < end:
        j += 1
    return list(runs[i:j])


def _is_active(w: Window, now: datetime) -> bool:
    end = w.end if w.cancelled_at is None else min(w.end, w.cancelled_at)
    return w.start <= now < end


def page_windows(windows: Sequence[Window], now: datetime) -> tuple[Window, ...]:
    """Maintenance (not exclusions) under way at ``now`` or starting within :data:`UPCOMING`.

    A cancelled window is left out once its cancellation has taken effect.
    """
    out = []
    for w in windows:
        if w.kind != "maintenance":
            continue
        end = w.end if w.cancelled_at is None else min(w.end, w.cancelled_at)
        if end > now and w.start <= now + UPCOMING and end > w.start:
            out.append(w)
    return tuple(sorted(out, key=lambda w: (w.start, w.end, w.id)))


def _since(runs: Sequence[Run], state: State, check: StoredCheck | None,
           now_min: int) -> datetime | None:
    if state == State.NODATA or check is None:
        return None
    if runs and runs[-1].state == state and runs[-1].end >= now_min:
        return min(minute_start(runs[-1].start), check.time)
    return check.time


def _down_span(runs: Sequence[Run], start: int, end: int) -> tuple[int | None, int | None]:
    down = [r for r in runs if r.state == State.DOWN]
    if not down:
        return None, None
    return max(down[0].start, start), min(down[-1].end, end)


class _Days:
    """The days of the bar, and for each what services need the same of: their covered
    minutes (per coverage and zone), the windows meeting them, and a memo of uptimes.

    A day's uptime depends only on the target, the covered minutes and runs *relative to the
    day's start*, and the windows; days alike in these share one :func:`period_uptime`
    computation, moved to their own minutes and service: most days (up all day, or without
    data) of every service, and the services sharing a maintenance window that day.
    """

    def __init__(self, dates: list[date], bounds: list[tuple[int, int]],
                 windows: Sequence[Window]) -> None:
        self.dates, self.bounds = dates, bounds
        self._covered: dict[tuple[object, ...], list[tuple[Ranges, tuple[object, ...]]]] = {}
        self._memo: dict[tuple[object, ...], Uptime] = {}
        starts = [a for a, _ in bounds]
        self.windows: list[list[Window]] = [[] for _ in bounds]
        for w in windows:
            lo, hi = _span(w)
            for i in range(max(0, bisect_right(starts, lo) - 1), bisect_right(starts, hi - 1)):
                if bounds[i][0] < hi and bounds[i][1] > lo:
                    self.windows[i].append(w)

    def covered(self, svc: ServiceConfig) -> list[tuple[Ranges, tuple[object, ...]]]:
        """Per day: the covered minutes, and the same relative to the day's start."""
        key = (svc.sla.coverage, svc.sla.timezone)
        found = self._covered.get(key)
        if found is None:
            found = self._covered[key] = []
            for a, b in self.bounds:
                cov = covered_ranges(svc.sla.coverage, svc.sla.tz, a, b)
                found.append((cov, (b - a, *((lo - a, hi - a) for lo, hi in cov))))
        return found

    def uptimes(self, svc: ServiceConfig, runs: Sequence[Run], ends: Sequence[int]) -> list[Day]:
        out = []
        name, target = svc.name, svc.sla.target
        for i, ((start, end), (cov, rel)) in enumerate(
                zip(self.bounds, self.covered(svc), strict=True)):
            day_runs = _overlapping(runs, ends, start, end)
            ws = [w for w in self.windows[i] if w.applies_to(name)] if self.windows[i] else []
            key = (target, rel, tuple(
                (max(r.start, start) - start, min(r.end, end) - start, r.state) for r in day_runs),
                (start, *(w.id for w in ws)) if ws else ())
            u = self._memo.get(key)
            if u is None:
                u = self._memo[key] = period_uptime(
                    service=name, target=target, start=start, end=end, covered=cov,
                    runs=day_runs, windows=ws)
            elif u.service != name or u.period_start != start:
                u = _moved(u, name, start, end)
            first, last = _down_span(day_runs, start, end) if u.down_minutes else (None, None)
            out.append(Day(self.dates[i], u, first, last))
        return out


def _moved(u: Uptime, service: str, start: int, end: int) -> Uptime:
    """``u`` for another service or day with the very same figures (a cheap ``replace``)."""
    clone = object.__new__(Uptime)
    clone.__dict__.update(u.__dict__, service=service, period_start=start, period_end=end)
    return clone


def _span(w: Window) -> tuple[int, int]:
    """Epoch minutes a window can touch at most (its effective range lies inside)."""
    return epoch_minute(w.start), ceil_minute(w.end)


def _months(svc: ServiceConfig, months: list[tuple[int, int]], runs: Sequence[Run],
            ends: Sequence[int], windows: Sequence[tuple[int, int, Window]], now_min: int,
            memo: dict[tuple[object, ...], Uptime]) -> list[Month]:
    """This month to date and the ones before; ``windows`` as ``(lo, hi, window)`` spans.

    Memoized like the days (see :class:`_Days`): services with the same SLA, the same runs
    relative to the month's start and the same windows share one :func:`month_uptime`.
    """
    spans = [span for span in windows if span[2].applies_to(svc.name)]
    out = []
    for i, (y, m) in enumerate(months):
        start, end = month_bounds(y, m, svc.sla.tz)
        month_runs = _overlapping(runs, ends, start, end)
        ws = [w for lo, hi, w in spans if lo < end and hi > start]
        until = now_min if i == 0 else None
        key = (svc.sla, y, m, until, tuple(
            (max(r.start, start) - start, min(r.end, end) - start, r.state) for r in month_runs),
            tuple(w.id for w in ws))
        u = memo.get(key)
        if u is None:
            u = memo[key] = month_uptime(service=svc.name, sla=svc.sla, year=y, month=m,
                                         runs=month_runs, windows=ws, until=until)
        elif u.service != svc.name:
            u = _moved(u, svc.name, u.period_start, u.period_end)
        out.append(Month(y, m, u, to_date=i == 0))
    return out


def gather(
    config: Config, ledger: Ledger, now: datetime, windows: Sequence[Window] = ()
) -> PageData:
    """Snapshot everything the page shows at ``now`` (UTC-aware).

    ``windows`` are those declared at run time (API, CLI); the ones ``probes.yaml`` declares
    are added here. A window given twice (same id) counts once.
    """
    now = now.astimezone(UTC)
    now_min = epoch_minute(now)
    site_tz = ZoneInfo(config.site.timezone)
    today = now.astimezone(site_tz).date()
    dates = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    day_bounds = [(a, min(b, max(a, now_min))) for a, b in _day_bounds(dates, site_tz)]

    plans: dict[str, list[tuple[int, int]]] = {}
    lo = day_bounds[0][0]
    for svc in config.services:
        local = now.astimezone(svc.sla.tz)
        this = (local.year, local.month)
        plans[svc.name] = [this, *_months_back(*this, MONTHS)]
        lo = min(lo, month_bounds(*plans[svc.name][-1], svc.sla.tz)[0])

    all_runs = ledger.quorum_runs_many(config.quorum_plan(config.service_names), lo, now_min + 1)
    known: dict[str, Window] = {}
    ahead = now + UPCOMING + timedelta(minutes=1)  # a window starting just 7 days ahead too
    for w in [*windows_from_config(config, minute_start(lo), ahead), *windows]:
        known.setdefault(w.id, w)
    every = sorted(known.values(), key=lambda w: (w.start, w.end, w.id))
    shown = page_windows(every, now)
    days = _Days(dates, day_bounds, every)
    spans = [(*_span(w), w) for w in every]
    month_memo: dict[tuple[object, ...], Uptime] = {}

    services = []
    pings = ({name: state.last_ping for name, (_, state) in ledger.push_states().items()
              if state.last_ping is not None}
             if any(s.kind == "push" for s in config.services) else {})
    now_hour = now_min // 60
    hourly = ledger.latency_series(now_hour - 23, now_hour + 1)
    daily = ledger.latency_series((now_hour // 24 - 89) * 24, (now_hour // 24 + 1) * 24, 24)
    heard: dict[str, datetime] = {}  # each location's latest check of any service
    for svc in config.services:
        runs = all_runs.get(svc.name, [])
        ends = [r.end for r in runs]
        check = ledger.last_check(svc.name, until=now)  # not one after ``now`` (--at)
        state = current_state(check, svc, now)
        where: tuple[LocationNow, ...] = ()
        if len(config.service_locations(svc.name)) > 1:
            state, where = _quorum_now(config, svc, ledger.last_checks(svc.name, until=now),
                                       now, heard)
        elif check is not None and (check.location not in heard
                                    or check.time > heard[check.location]):
            heard[check.location] = check.time
        months = _months(svc, plans[svc.name], runs, ends, spans, now_min, month_memo)
        services.append(ServiceData(
            name=svc.name, title=svc.title, group=svc.group, target=svc.sla.target,
            sla_timezone=svc.sla.timezone, state=state,
            since=_since(runs, state, check, now_min),
            last_checked=None if check is None else check.time,
            in_maintenance=any(_is_active(w, now) and w.applies_to(svc.name) for w in shown),
            days=tuple(days.uptimes(svc, runs, ends)), month=months[0],
            history=tuple(months[1:]), locations=where, kind=svc.kind, last=check,
            last_ping=pings.get(svc.name),
            latency_hours=tuple(hourly.get(svc.name, ())),
            latency_days=tuple(daily.get(svc.name, ())),
        ))
    incidents = tuple(page_incident(i) for i in ledger.incidents(since=now - DAYS * _DAY)
                      if i.detected_at <= now)
    site = config.site
    return PageData(
        site=SiteInfo(site.title, site.description, site.url, site.language, site.timezone,
                      tuple((k, v) for k, v in site.files.items() if v is not None),
                      site.accent_color, _subscribe_info(config)),
        now=now, services=tuple(services), maintenance=shown, incidents=incidents,
        silent_locations=_silent(config, heard, now),
    )


def _subscribe_info(config: Config) -> SubscribeInfo | None:
    url, cfg = subscribe_url(config.site), config.subscriptions
    if cfg is None or url is None:
        return None
    return SubscribeInfo(url, cfg.email is not None, cfg.webhooks)


def _quorum_now(
    config: Config, svc: ServiceConfig, checks: Mapping[str, StoredCheck], now: datetime,
    heard: dict[str, datetime],
) -> tuple[State, tuple[LocationNow, ...]]:
    """A service's state now by the quorum of its locations' last checks, and each one's."""
    where = []
    for name in config.service_locations(svc.name):
        check = checks.get(name)
        if check is not None and (name not in heard or check.time > heard[name]):
            heard[name] = check.time
        where.append(LocationNow(name, config.location_config(name).title,
                                 current_state(check, svc, now)))
    states = [w.state for w in where]
    state = minute_state(states.count(State.DOWN), states.count(State.DEGRADED),
                         states.count(State.NODATA), config.service_quorum(svc.name))
    return state, tuple(where)


def _silent(config: Config, heard: Mapping[str, datetime], now: datetime) -> tuple[str, ...]:
    """The locations (titles) whose latest check of any service is older than two of the
    longest interval they probe, or five minutes (as the central's watch judges them)."""
    out = []
    for name in config.location_names if len(config.location_names) > 1 else ():
        probes = config.probes_here(name)
        if not probes:
            continue
        after = max(timedelta(minutes=5), 2 * max(s.interval for s in probes))
        last = heard.get(name)
        if last is None or now - last > after:
            out.append(config.location_config(name).title)
    return tuple(out)
