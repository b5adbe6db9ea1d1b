"""What happened on each day of a service's 90-day bar, for the visitor who asks.

The bar says a day was "99.16% up, 12 minutes down"; the day's detail also says which
incidents touched the service that day (with a link to each on history.html) and which
maintenance windows and exclusions removed minutes, with their titles. Only days with
something to tell are listed (down or degraded minutes, an incident, a window), newest first,
in a ``<details>`` under the bar: no JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from monitor.core.sla import AppliedWindow
from monitor.times import minute_start
from statuspage.data import Day, IncidentData
from statuspage.i18n import Formatter
from statuspage.incident_views import incident_anchor

__all__ = ["DayDetail", "Events", "IncidentLink", "day_details", "eventful"]


@dataclass(frozen=True)
class IncidentLink:
    title: str
    href: str


@dataclass(frozen=True)
class DayDetail:
    """One day: its date, what its bar segment says, its incidents and its windows."""

    label: str
    iso: str
    summary: str
    incidents: tuple[IncidentLink, ...]
    windows: tuple[str, ...]


def _window(w: AppliedWindow, f: Formatter) -> str:
    return _window_text(w.kind, w.title, w.minutes, f)


@lru_cache(maxsize=16384)  # a weekly window reads the same for each service and week
def _window_text(kind: str, title: str, n: int, f: Formatter) -> str:
    minutes = f.ngettext("%(num)s minute", "%(num)s minutes", n) % {"num": f.integer(n)}
    if kind == "maintenance":
        return f.gettext("Maintenance “%(title)s”: %(minutes)s") % {
            "title": title, "minutes": minutes}
    return f.gettext("Excluded “%(title)s”: %(minutes)s") % {"title": title, "minutes": minutes}


Events = tuple[tuple[int, tuple[IncidentData, ...]], ...]


def eventful(name: str, days: Sequence[Day], incidents: Sequence[IncidentData]) -> Events:
    """The days of ``days`` (by index, newest first) that have something to tell, each with
    the incidents of ``incidents`` that touched service ``name`` that day: the same in every
    language, so a page works it out once per service (:func:`day_details`' ``events``)."""
    mine = [i for i in incidents if name in i.services]
    out = []
    for index, day in enumerate(days):
        u = day.uptime
        if not (mine or u.down_minutes or u.degraded_minutes or u.maintenance
                or u.exclusions):
            continue  # nothing to tell (most days): say so without working it out
        touched: tuple[IncidentData, ...] = ()
        if mine:
            start, end = minute_start(u.period_start), minute_start(u.period_end)
            touched = tuple(i for i in mine if i.started_at < end
                            and (i.resolved_at is None or i.resolved_at > start))
        if not (u.down_minutes or u.degraded_minutes or touched
                or any(w.minutes for w in (*u.maintenance, *u.exclusions))):
            continue
        out.append((index, touched))
    out.reverse()
    return tuple(out)


def day_details(name: str, days: Sequence[Day], summaries: Sequence[str],
                incidents: Sequence[IncidentData], history_href: str,
                f: Formatter, events: Events | None = None) -> tuple[DayDetail, ...]:
    """The days of ``days`` (with the bar's ``summaries`` of them) that have something to tell,
    newest first (``events``: :func:`eventful`'s, when the caller has them)."""
    if events is None:
        events = eventful(name, days, incidents)
    out = []
    for index, touched in events:
        day = days[index]
        u = day.uptime
        out.append(DayDetail(
            f.day(day.date), day.date.isoformat(), summaries[index],
            tuple(IncidentLink(i.title, f"{history_href}#{incident_anchor(i.id)}")
                  for i in touched),
            tuple(_window(w, f) for w in (*u.maintenance, *u.exclusions) if w.minutes)))
    return tuple(out)
