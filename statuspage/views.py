"""View models of the HTML pages: :class:`PageData` + a language → what templates place.

PURE: no I/O, no clock; every percentage, colour class, date and text alternative is decided
here (tested), and the templates only put them in place. ``history.html``'s view is in
:mod:`statuspage.history`, ``status.json`` in :mod:`statuspage.summary`, the feed in
:mod:`statuspage.feed`; they share the helpers exported here.

The 90-day bar of each service is :mod:`statuspage.bar`'s.

The banner is the worse of what the services say (:func:`overall`) and what the open
incidents' impacts say (:func:`page_banner`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup

from monitor.core.checks import State
from monitor.core.sla import Uptime
from monitor.core.windows import Window
from monitor.times import epoch_minute
from statuspage.bar import Segment, service_bar
from statuspage.charts import Chart, Drawing, KeptLines, drawing, words
from statuspage.chrome import Chrome, chrome, page_href
from statuspage.data import IncidentData, PageData, ServiceData
from statuspage.days import DayDetail, Events, day_details, eventful
from statuspage.i18n import Formatter, formatter
from statuspage.incident_views import IMPACT_BANNER, IncidentView, incident_view
from statuspage.markup import bar_markup, days_markup
from statuspage.notes import last_result

__all__ = [
    "BANNER_ORDER", "BannerKind", "IndexView", "decimals",
    "index_view", "overall", "page_banner", "percent_places", "service_charts", "service_view",
    "verdict", "verdict_of",
]

BannerKind = Literal["operational", "degraded", "partial", "major", "maintenance"]
#: Banners from the least to the most severe.
BANNER_ORDER: tuple[BannerKind, ...] = ("operational", "maintenance", "degraded", "partial",
                                        "major")


def overall(services: tuple[ServiceData, ...]) -> BannerKind:
    """The banner: any service down → partial outage, or major when more than half of those
    not in maintenance are down; degraded or without data → degraded performance; else under
    maintenance when any is; else all operational."""
    live = [s for s in services if not s.in_maintenance]
    down = sum(s.state == State.DOWN for s in live)
    if down:
        return "major" if 2 * down > len(live) else "partial"
    if any(s.state in (State.DEGRADED, State.NODATA) for s in live):
        return "degraded"
    return "maintenance" if len(live) < len(services) else "operational"


def page_banner(data: PageData) -> BannerKind:
    """The banner of the page: the worse of :func:`overall` and the open incidents' impacts
    (minor → degraded performance, major → partial outage, critical → major outage)."""
    kinds: list[BannerKind] = [overall(data.services)]
    kinds += [IMPACT_BANNER.get(i.impact, "operational") for i in data.open_incidents]
    return max(kinds, key=BANNER_ORDER.index)


@lru_cache(maxsize=1024)
def decimals(target: float) -> int:
    """How many decimals ``target`` is written with (99.95 → 2), at most 4."""
    exponent = Decimal(repr(target)).normalize().as_tuple().exponent
    return min(4, max(0, -exponent)) if isinstance(exponent, int) else 2


def percent_places(target: float) -> int:
    """Decimals to show uptimes of a service with ``target`` in: 2, or the target's own."""
    return max(2, decimals(target))


@dataclass(frozen=True)
class ServiceView:
    id: str
    title: str
    state: str  # up | degraded | down | nodata | maintenance
    state_label: str
    since: str | None
    uptime: str | None  # this month to date; None = no data yet
    target: str
    verdict: str  # met | breached | nodata
    verdict_label: str
    budget: str | None
    bar_label: str
    bar: tuple[Segment, ...]
    #: With several locations, when one does not see it up: "Down from Madrid; up from …".
    where: str | None = None
    #: The bar's days with something to tell, newest first (:mod:`statuspage.days`).
    day_details: tuple[DayDetail, ...] = ()

    @property
    def bar_html(self) -> Markup:
        """The bar's segments as HTML (:func:`statuspage.markup.bar_markup`)."""
        return bar_markup((seg.cls, seg.label) for seg in self.bar)

    def days_html(self, incident: str) -> Markup:
        """The days with something to tell as HTML (:func:`statuspage.markup.days_markup`)."""
        return days_markup(self.day_details, incident)


@dataclass(frozen=True)
class GroupView:
    id: str
    title: str | None  # None: services without a group
    services: tuple[ServiceView, ...]


@dataclass(frozen=True)
class MaintenanceView:
    id: str
    title: str
    active: bool
    status: str
    when: str
    services: str


@dataclass(frozen=True)
class OutageView:
    id: str
    title: str
    since: str | None


@dataclass(frozen=True)
class IndexView:
    chrome: Chrome
    banner: BannerKind
    banner_text: str
    incidents: tuple[IncidentView, ...]  # open ones, newest first, with their latest update
    outages: tuple[OutageView, ...]
    maintenance: tuple[MaintenanceView, ...]
    groups: tuple[GroupView, ...]
    legend: tuple[tuple[str, str], ...]
    #: A quiet line naming the locations that send nothing now (None: all of them do).
    silent: str | None = None


def _banner_text(kind: BannerKind, f: Formatter) -> str:
    return {
        "operational": f.gettext("All systems operational"),
        "degraded": f.gettext("Degraded performance"),
        "partial": f.gettext("Partial outage"),
        "major": f.gettext("Major outage"),
        "maintenance": f.gettext("Under maintenance"),
    }[kind]


def _state(s: ServiceData, f: Formatter) -> tuple[str, str]:
    if s.in_maintenance:
        return "maintenance", f.gettext("Under maintenance")
    return {
        State.UP: ("up", f.gettext("Operational")),
        State.DEGRADED: ("degraded", f.gettext("Degraded performance")),
        State.DOWN: ("down", f.gettext("Down")),
        State.NODATA: ("nodata", f.gettext("No recent data")),
    }[s.state]


def verdict(u: Uptime, f: Formatter) -> tuple[str, str]:
    """(css class, label) of a period's result against its target."""
    return verdict_of(u.met, f)


def verdict_of(met: bool | None, f: Formatter) -> tuple[str, str]:
    """:func:`verdict` of a period whose target was ``met`` (None: no data)."""
    if met is None:
        return "nodata", f.gettext("No data")
    # TRANSLATORS: the month's uptime reached the committed target (SLA met) or did not.
    return ("met", f.gettext("Met")) if met else ("breached", f.gettext("Breached"))


def _budget(u: Uptime, f: Formatter) -> str | None:
    """The error budget left, or overspent. While the month's budget is under a second (a
    99.99 % target allows 0.006 s a minute: 167 eligible minutes make a second) it is told as
    "No downtime allowed yet" rather than "0 secs left" beside a met target."""
    if u.eligible_minutes == 0:
        return None
    left = u.budget_remaining_minutes
    if left >= 0 and u.budget_minutes * 60 < 1:
        return f.gettext("No downtime allowed yet")
    if left >= 0:
        return f.gettext("%(duration)s of error budget left") % {"duration": f.duration(left)}
    return f.gettext("Error budget overspent by %(duration)s") % {"duration": f.duration(left)}


def _service(s: ServiceData, now: datetime, f: Formatter, tz: ZoneInfo,
             incidents: tuple[IncidentData, ...] = (), history_href: str = "history.html",
             ) -> ServiceView:
    today = now.astimezone(tz).date()
    places = percent_places(s.target)
    state, label = _state(s, f)
    u = s.month.uptime
    result, result_label = verdict(u, f)
    since = None
    if s.since is not None and state != "maintenance":
        since = f.gettext("since %(time)s") % {"time": f.moment(s.since, tz)}
    bar = service_bar(s, places, today, f)
    return ServiceView(
        id=s.name, title=s.title, state=state, state_label=label, since=since,
        uptime=None if u.uptime_percent is None else f.percent(u.uptime_percent, places),
        target=f.percent(s.target, places=decimals(s.target)), verdict=result,
        verdict_label=result_label, budget=_budget(u, f),
        bar_label=bar.label, bar=bar.segments,
        where=_where(s, f),
        day_details=day_details(s.name, s.days, bar.summaries, incidents,
                                history_href, f, _events(s, incidents)),
    )


def _events(s: ServiceData, incidents: tuple[IncidentData, ...]) -> Events:
    """:func:`statuspage.days.eventful` of ``s``, worked out once for the five languages."""
    found = s.shared.get("days")
    if isinstance(found, tuple) and found[0] is incidents:
        events: Events = found[1]
        return events
    events = eventful(s.name, s.days, incidents)
    s.shared["days"] = (incidents, events)
    return events


Drawings = tuple[Drawing | None, Drawing | None]


def drawings(s: ServiceData, now: datetime,
             kept: dict[str, tuple[object, Drawings]] | None = None,
             lines: KeptLines | None = None) -> Drawings:
    """``s``'s 24-hour and 90-day charts in no language (:func:`statuspage.charts.drawing`),
    worked out once per build: for the key of its piece (:mod:`statuspage.keys`) and the five
    languages. ``kept``: the last build's, by service (updated here), used again while the
    response times and the hour are the same; ``lines``: their lines, drawn again from the
    point a check moved (:data:`statuspage.charts.KeptLines`)."""
    now_hour = epoch_minute(now) // 60
    slot = f"charts {now_hour}"
    points = (s.latency_hours, s.latency_days, s.latency_locations, now_hour)
    found = None if kept is None else kept.get(s.name)
    drawn = s.shared.get(slot)
    if drawn is not None:
        made: Drawings = drawn  # type: ignore[assignment]
    elif found is not None and found[0] == points:
        made = found[1]
    else:
        hours = [(loc.title, loc.hours) for loc in s.latency_locations]
        days = [(loc.title, loc.days) for loc in s.latency_locations]
        made = (drawing(s.latency_hours, now_hour - 23, 1, 24, hours, lines, (s.name, "hours")),
                drawing(s.latency_days, (now_hour // 24 - 89) * 24, 24, 90, days, lines,
                        (s.name, "days")))
    if kept is not None:
        kept[s.name] = (points, made)
    s.shared[slot] = made
    return made


def service_charts(s: ServiceData, now: datetime, lang: str) -> tuple[Chart, ...]:
    """``s``'s response-time charts in ``lang``, the last 24 hours and the last 90 days
    (:mod:`statuspage.charts`). Not part of the service's piece of the page
    (:mod:`statuspage.fragments`): they move with the checks, and are put in at each build."""
    f = formatter(lang)
    hours_drawn, days_drawn = drawings(s, now)
    made = (None if hours_drawn is None else words(f.gettext("Last 24 hours"), hours_drawn, f),
            None if days_drawn is None else words(f.gettext("Last 90 days"), days_drawn, f))
    return tuple(c for c in made if c is not None)


def _where(s: ServiceData, f: Formatter) -> str | None:
    """Which locations see the service how, worst first, when any does not see it up."""
    if all(w.state == State.UP for w in s.locations):
        return None
    phrases = (
        (State.DOWN, f.gettext("down from %(places)s")),
        (State.DEGRADED, f.gettext("degraded from %(places)s")),
        # TRANSLATORS: a location that has sent no recent check of this service.
        (State.NODATA, f.gettext("no data from %(places)s")),
        (State.UP, f.gettext("up from %(places)s")),
    )
    parts = [phrase % {"places": f.listing(tuple(titles))}
             for state, phrase in phrases
             if (titles := [w.title for w in s.locations if w.state == state])]
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


def _silent(data: PageData, f: Formatter) -> str | None:
    if not data.silent_locations:
        return None
    return f.gettext("No recent results from %(places)s: the figures are counted from the "
                     "other locations.") % {
        "places": f.listing(tuple(data.silent_locations))}


def _window_span(w: Window, f: Formatter, tz: ZoneInfo) -> str:
    start, end = w.start.astimezone(tz), w.end.astimezone(tz)
    if w.cancelled_at is not None and w.cancelled_at < w.end:
        end = w.cancelled_at.astimezone(tz)
    if start.date() != end.date():
        return f"{f.moment(start, tz)} – {f.moment(end, tz)}"
    if f.zone(start, tz) != f.zone(end, tz):  # the night the clocks change: 02:00 twice
        return f"{f.moment(start, tz)} – {f.time(end, tz)} {f.zone(end, tz)}"
    return f"{f.moment(start, tz, zone=False)} – {f.time(end, tz)} {f.zone(end, tz)}"


def _maintenance(data: PageData, f: Formatter, tz: ZoneInfo) -> tuple[MaintenanceView, ...]:
    titles = data.titles
    out = []
    for w in data.maintenance:
        active = w.start <= data.now
        names = [titles[n] for n in w.services if n in titles]
        out.append(MaintenanceView(
            id=w.id, title=w.title, active=active,
            status=f.gettext("In progress") if active else f.gettext("Scheduled"),
            when=_window_span(w, f, tz),
            services=f.listing(tuple(names)) if names else "",
        ))
    return tuple(out)


def _legend(f: Formatter) -> tuple[tuple[str, str], ...]:
    return (
        ("up", f.gettext("No downtime")),
        ("dg", f.gettext("Degraded, no downtime")),
        ("mi", f.gettext("Downtime, still within the target")),
        ("ma", f.gettext("Downtime below the target")),
        ("mt", f.gettext("Maintenance")),
        ("nd", f.gettext("No data")),
        ("off", f.gettext("Outside service hours")),
    )


def service_note(s: ServiceData, now: datetime, lang: str) -> str | None:
    """The line under a service's state on ``index.html``: its last check in its kind's words
    ("Answered in 87 ms", "Last ping 3 mins ago": :mod:`statuspage.notes`); none while it is
    in maintenance. Not part of the service's piece of the page (:mod:`statuspage.fragments`):
    it changes with nearly every check."""
    if s.in_maintenance:
        return None
    return last_result(s.kind, s.last, s.last_ping, now, formatter(lang))


def service_view(s: ServiceData, data: PageData, lang: str) -> ServiceView:
    """The view model of one service on ``index.html`` in ``lang``."""
    return _service(s, data.now, formatter(lang), ZoneInfo(data.site.timezone), data.incidents,
                    page_href("history", lang, data.site.language))


def index_view(data: PageData, lang: str,
               views: Mapping[str, ServiceView] | None = None) -> IndexView:
    """The view model of ``index.html`` in ``lang``; ``views``: the services' own, by name,
    when the caller has them already (a build reuses those of services that did not change)."""
    f = formatter(lang)
    tz = ZoneInfo(data.site.timezone)
    groups: dict[str, list[ServiceView]] = {}
    for s in data.services:
        groups.setdefault(s.group, []).append(
            views[s.name] if views is not None else service_view(s, data, lang))
    kind = page_banner(data)
    outages = tuple(
        OutageView(s.name, s.title, None if s.since is None else
                   f.gettext("since %(time)s") % {"time": f.moment(s.since, tz)})
        for s in data.services if s.state == State.DOWN and not s.in_maintenance
    )
    return IndexView(
        chrome=chrome(data, lang, "index", f), banner=kind, banner_text=_banner_text(kind, f),
        incidents=tuple(incident_view(i, data, f, latest_only=True)
                        for i in data.open_incidents),
        outages=outages, maintenance=_maintenance(data, f, tz),
        groups=tuple(
            GroupView(f"group-{i + 1}", name or None, tuple(views))
            for i, (name, views) in enumerate(groups.items())
        ),
        legend=_legend(f), silent=_silent(data, f),
    )
