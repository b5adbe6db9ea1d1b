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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from monitor.config import Config, ServiceConfig
from monitor.config.subscriptions import subscribe_url
from monitor.core.checks import State, check_state
from monitor.core.coverage import month_bounds
from monitor.core.minutes import Run, clip, coalesce
from monitor.core.quorum import minute_state
from monitor.core.sla import Uptime
from monitor.core.windows import Window, windows_from_config
from monitor.store.latency import LatencyPoint
from monitor.store.ledger import Ledger, StoredCheck
from monitor.times import ceil_minute, epoch_minute, minute_start
from statuspage.incident_data import IncidentData, UpdateData, page_incident
from statuspage.uptimes import (
    Day,
    Days,
    Kept,
    Month,
    Tally,
    months,
    span,
    tally,
    windows_of,
)

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
    #: With several locations that measured it: (location title, hours, days) of each, in
    #: probes.yaml's order, for a line per location in the charts (() otherwise).
    latency_locations: tuple[LocationLatency, ...] = ()
    #: probes.yaml's ``since``: history.html starts at its month (None: the first with data).
    history_from: date | None = None
    #: What the five languages share of it, worked out by the first that needs it in a build
    #: (:func:`statuspage.views.service_view`: the charts' drawings, by hour; the days with
    #: something to tell). Not part of its value.
    shared: dict[str, object] = field(default_factory=dict, init=False, compare=False,
                                      repr=False)
    #: :attr:`tally`, as :func:`gather` kept it with the days (None: worked out when asked).
    past: Tally | None = field(default=None, compare=False, repr=False)

    @property
    def tally(self) -> Tally:
        """The :class:`~statuspage.uptimes.Tally` of the days before today."""
        return self.past if self.past is not None else tally(self.days[:-1])


@dataclass(frozen=True)
class LocationLatency:
    """One location's response times of a service, as :attr:`ServiceData.latency_hours` and
    ``latency_days`` have them over all locations."""

    title: str
    hours: tuple[LatencyPoint, ...]
    days: tuple[LatencyPoint, ...]


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

    @cached_property
    def titles(self) -> dict[str, str]:
        """Each service's title by name (worked out once: a page asks per service)."""
        return {s.name: s.title for s in self.services}


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


def gather(
    config: Config, ledger: Ledger, now: datetime, windows: Sequence[Window] = (),
    kept: Kept | None = None,
) -> PageData:
    """Snapshot everything the page shows at ``now`` (UTC-aware).

    ``windows`` are those declared at run time (API, CLI); the ones ``probes.yaml`` declares
    are added here. A window given twice (same id) counts once. ``kept``: the days and months
    of the builds before in this process (:class:`statuspage.uptimes.Kept`), reused where
    nothing they depend on changed.
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

    split = min(month_bounds(*plans[svc.name][0], svc.sla.tz)[0] for svc in config.services) \
        if config.services else lo
    plan = config.quorum_plan(config.service_names)  # where each service is probed from
    all_runs = _runs(plan, ledger, lo, split, now_min, now, kept)
    known: dict[str, Window] = {}
    ahead = now + UPCOMING + timedelta(minutes=1)  # a window starting just 7 days ahead too
    for w in [*windows_from_config(config, minute_start(lo), ahead), *windows]:
        known.setdefault(w.id, w)
    every = sorted(known.values(), key=lambda w: (w.start, w.end, w.id))
    if kept is not None:
        every = kept.same_windows(every)
    shown = page_windows(every, now)
    days = Days(dates, day_bounds, every, kept)
    spans = [(*span(w), w) for w in every]
    mine = kept.spans_of(every) if kept is not None else {}
    month_memo: dict[tuple[object, ...], Uptime] = {}

    services = []
    pings = ({name: state.last_ping for name, (_, state) in ledger.push_states().items()
              if state.last_ping is not None}
             if any(s.kind == "push" for s in config.services) else {})
    now_hour = now_min // 60
    hourly, today_latency = ledger.latency_recent(now_hour)
    daily = _daily_latency(ledger, now_hour, now, kept, today_latency)
    by_location = _location_latency(config, ledger, now_hour)
    heard: dict[str, datetime] = {}  # each location's latest check of any service
    for svc in config.services:
        runs = all_runs.get(svc.name, [])
        ends = [r.end for r in runs]
        check = ledger.last_check(svc.name, until=now)  # not one after ``now`` (--at)
        state = current_state(check, svc, now)
        where: tuple[LocationNow, ...] = ()
        if len(plan[svc.name][0]) > 1:
            state, where = _quorum_now(config, svc, ledger.last_checks(svc.name, until=now),
                                       now, heard)
        elif check is not None and (check.location not in heard
                                    or check.time > heard[check.location]):
            heard[check.location] = check.time
        found = months(svc, plans[svc.name], runs, ends, windows_of(svc.name, spans, mine),
                       now_min, month_memo, kept)
        bar, past = days.uptimes(svc, runs, ends)
        services.append(ServiceData(
            name=svc.name, title=svc.title, group=svc.group, target=svc.sla.target,
            sla_timezone=svc.sla.timezone, state=state,
            since=_since(runs, state, check, now_min),
            last_checked=None if check is None else check.time,
            in_maintenance=any(_is_active(w, now) and w.applies_to(svc.name) for w in shown),
            days=tuple(bar), month=found[0],
            history=tuple(found[1:]), locations=where, kind=svc.kind, last=check,
            last_ping=pings.get(svc.name),
            latency_hours=tuple(hourly.get(svc.name, ())),
            latency_days=tuple(daily.get(svc.name, ())),
            history_from=svc.since,
            latency_locations=by_location.get(svc.name, ()), past=past,
        ))
    if kept is not None:
        kept.forget_others(config.service_names)
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


#: How long a process keeps the response times of the days before today (see
#: :func:`_daily_latency`) and the runs before this month (:func:`_runs`) before it reads them
#: all again.
LATENCY_KEPT = timedelta(hours=1)


def _runs(plan: dict[str, tuple[tuple[str, ...], int]], ledger: Ledger, lo: int, split: int,
          now_min: int, now: datetime, kept: Kept | None) -> dict[str, list[Run]]:
    """Each service's runs from minute ``lo`` (13 months back) to ``now_min``.

    Reading them all takes a quarter of a rebuild of 1,000 services; a rebuild within
    :data:`LATENCY_KEPT` of the last full read reads them from ``split`` (this month's start)
    only and keeps the ones before from then: they change only when a check arrives after the
    month it belongs to has ended (a prober's backlog, an import), which so reaches the page
    within the hour. This month, today included, is read at every build. ``plan``: each
    service's locations and quorum (``Config.quorum_plan``)."""
    key = (lo, split, tuple(sorted(plan.items())))
    found = None if kept is None else kept.runs
    if found is None or found[0] != key or now - found[1] >= LATENCY_KEPT or now < found[1]:
        runs = ledger.quorum_runs_many(plan, lo, now_min + 1)
        if kept is not None:
            kept.runs = (key, now, {name: list(clip(rs, lo, split)) for name, rs in runs.items()})
        return runs
    recent = ledger.quorum_runs_many(plan, split, now_min + 1)
    return {name: coalesce([*found[2].get(name, ()), *recent.get(name, ())]) for name in plan}


def _location_latency(config: Config, ledger: Ledger,
                      now_hour: int) -> dict[str, tuple[LocationLatency, ...]]:
    """Each service's response times per location, for the services that two locations or
    more measured (none without ``locations:``; read in full at each build: a site with
    locations pays for its extra lines)."""
    if len(config.location_names) < 2:
        return {}
    today = now_hour // 24
    hours = ledger.latency_by_location(now_hour - 23, now_hour + 1)
    days = ledger.latency_by_location((today - 89) * 24, (today + 1) * 24, 24)
    out: dict[str, tuple[LocationLatency, ...]] = {}
    for svc in config.services:
        mine_h, mine_d = hours.get(svc.name, {}), days.get(svc.name, {})
        found = tuple(
            LocationLatency(config.location_config(loc).title, tuple(mine_h.get(loc, ())),
                            tuple(mine_d.get(loc, ())))
            for loc in config.service_locations(svc.name) if loc in mine_h or loc in mine_d)
        if len(found) > 1:
            out[svc.name] = found
    return out


def _daily_latency(ledger: Ledger, now_hour: int, now: datetime, kept: Kept | None,
                   today_so_far: Mapping[str, list[LatencyPoint]],
                   ) -> dict[str, list[LatencyPoint]]:
    """The last 90 UTC days' response times, per service and day.

    Reading them sums 90 days of hourly rows (1,000 services: a second); a rebuild within
    :data:`LATENCY_KEPT` of the last full read takes today's as read with the last 24 hours
    (``today_so_far``: :meth:`~monitor.store.ledger.Ledger.latency_recent`) and keeps the days
    before from then (they change only when a check arrives days late: within the hour,
    then)."""
    today = now_hour // 24
    lo, hi = (today - 89) * 24, (today + 1) * 24
    found = None if kept is None else kept.latency
    if found is None or found[0] != lo or now - found[1] >= LATENCY_KEPT or now < found[1]:
        series = ledger.latency_series(lo, hi, 24)
        if kept is not None:
            kept.latency = (lo, now, {name: [p for p in points if p.hour < today * 24]
                                      for name, points in series.items()})
        return series
    out = {name: list(points) for name, points in found[2].items()}
    for name, points in today_so_far.items():
        out.setdefault(name, []).extend(points)
    return out


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
