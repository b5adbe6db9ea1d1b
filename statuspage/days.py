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


@lru_cache(maxsize=16384)  # a weekly window reads the same for each service and week
def _window_text(kind: str, title: str, n: int, f: Formatter) -> str:
    minutes = f.ngettext("%(num)s minute", "%(num)s minutes", n) % {"num": f.integer(n)}
    if kind == "maintenance":
        return f.gettext("Maintenance “%(title)s”: %(minutes)s") % {
            "title": title, "minutes": minutes}
    return f.gettext("Excluded “%(title)s”: %(minutes)s") % {"title": title, "minutes": minutes}


#: The days with something to tell, newest first, as every language tells them: (the day's
#: index in the bar, its ISO date, the incidents that touched the service that day, the
#: windows that removed minutes from it: (kind, title, minutes)).
Events = tuple[tuple[int, str, tuple[IncidentData, ...], tuple[tuple[str, str, int], ...]], ...]


def eventful(name: str, days: Sequence[Day], incidents: Sequence[IncidentData]) -> Events:
    """The days of ``days`` that have something to tell about service ``name`` (see
    :data:`Events`): the same in every language, so a page works it out once per service
    (:func:`day_details`' ``events``)."""
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
        windows = tuple((w.kind, w.title, w.minutes) for w in (*u.maintenance, *u.exclusions)
                        if w.minutes)
        if not (u.down_minutes or u.degraded_minutes or touched or windows):
            continue
        out.append((index, day.date.isoformat(), touched, windows))
    out.reverse()
    return tuple(out)


def day_details(name: str, days: Sequence[Day], summaries: Sequence[str],
                incidents: Sequence[IncidentData], history_href: str,
                f: Formatter, events: Events | None = None) -> tuple[DayDetail, ...]:
    """The days of ``days`` (with the bar's ``summaries`` of them) that have something to tell,
    newest first (``events``: :func:`eventful`'s, when the caller has them)."""
    if events is None:
        events = eventful(name, days, incidents)
    return tuple(
        DayDetail(f.day(days[index].date), iso, summaries[index],
                  tuple(IncidentLink(i.title, f"{history_href}#{incident_anchor(i.id)}")
                        for i in touched) if touched else (),
                  tuple(_window_text(kind, title, n, f) for kind, title, n in windows))
        for index, iso, touched, windows in events)
