"""The Atom feed's view model: outages (one entry per service and day with down minutes),
maintenance (one entry per window: those under way or announced, and those applied in the
days shown) and incidents (one entry per incident, updated with each of its updates; its
content, ``type="html"``, holds every update). Pure; ``templates/feed.xml`` places it.

Entry ids are ``urn:uuid:`` names derived (UUID 5) from the site's URL (or, without one, its
title) and what the entry is about (``outage/<service>/<date>``, ``maintenance/<window id>``,
``incident/<id>``), so they stay the same from one build to the next while the entry's text
is updated.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from markupsafe import escape

from monitor.times import iso_utc, minute_start
from statuspage.data import UPCOMING, Day, PageData, ServiceData
from statuspage.i18n import Formatter, formatter
from statuspage.incident_views import IncidentView, incident_view
from statuspage.views import percent_places

__all__ = ["MAX_ENTRIES", "Entry", "FeedView", "feed_entries", "feed_view"]

MAX_ENTRIES = 200


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    published: str
    updated: str
    href: str
    categories: tuple[str, ...]
    summary: str
    content: str = ""  # HTML as text (the template escapes it once more, as type="html" wants)
    about: tuple[str, ...] = ()  # the services it concerns (a service's own feed keeps these)
    when: str = ""  # a maintenance window's span in words (told again in a service's feed)


@dataclass(frozen=True)
class FeedView:
    lang: str
    id: str
    title: str
    updated: str
    author: str
    html_href: str
    self_href: str | None
    entries: tuple[Entry, ...]



def _base(url: str | None) -> str:
    return "" if url is None else url.rstrip("/") + "/"


@dataclass(frozen=True)
class _Win:
    id: str
    title: str
    start: datetime
    end: datetime
    declared_at: datetime | None
    services: tuple[str, ...]


def _days(s: ServiceData, before_today: tuple[int, ...]) -> list[Day]:
    """Those of ``s``'s days before today at the indices given, then today."""
    return [*(s.days[i] for i in before_today), *s.days[-1:]]


def _windows(data: PageData) -> list[_Win]:
    """Every maintenance window the page knows of, with the services it applied to."""
    found: dict[str, _Win] = {}
    services: dict[str, dict[str, None]] = {}  # by window: its services, in order (a set)
    for w in data.maintenance:
        end = w.end if w.cancelled_at is None else min(w.end, w.cancelled_at)
        found[w.id] = _Win(w.id, w.title, w.start, end, w.declared_at, w.services)
        services[w.id] = dict.fromkeys(w.services)
    for s in data.services:
        for day in _days(s, s.tally.maintained):
            for a in day.uptime.maintenance:
                if a.minutes == 0:
                    continue
                if a.id not in found:
                    end = a.end if a.cancelled_at is None else min(a.end, a.cancelled_at)
                    found[a.id] = _Win(a.id, a.title, a.start, end, a.declared_at, ())
                    services[a.id] = {}
                services[a.id][s.name] = None
    return [replace(w, services=tuple(services[w.id])) for w in found.values()]


def _incident_content(v: IncidentView) -> str:
    """Every update of an incident as HTML, newest first; all text in it escaped."""
    parts = []
    for u in v.updates:
        parts.append(f"<p><strong>{escape(u.status_label)}</strong> – {escape(u.when)}</p>")
        parts.append(str(u.html))
    return "\n".join(parts)


def _incident_summary(v: IncidentView, f: Formatter) -> str:
    text = f"{v.status_label} · {v.impact_label}"
    if v.services:
        text += " · " + f.gettext("Affects: %(services)s") % {"services": v.services}
    return text


def feed_entries(data: PageData, lang: str | None = None,
                 kept: dict[tuple[str, date], tuple[Day, str, float, tuple[datetime, Entry]]]
                 | None = None) -> list[tuple[datetime, Entry]]:
    """Every entry of the feed in ``lang`` (default: the site's language), each with the time
    it sorts by, in no particular order: computed once per build, and shared by ``feed.atom``
    and every service's own feed (:func:`feed_view`'s ``entries``).

    ``kept``: the outage entries of the build before in this process, by service and day
    (updated here); a day that is the very same :class:`Day` as then keeps its entry (the
    caller forgets them when the site's language, address or time zone change)."""
    lang = lang or data.site.language
    f = formatter(lang)
    tz = ZoneInfo(data.site.timezone)
    base = _base(data.site.url)
    ns = _namespace(data)
    index = _index(data, lang)
    titles = data.titles
    entries: list[tuple[datetime, Entry]] = []
    before = dict(kept) if kept is not None else {}
    if kept is not None:
        kept.clear()
    for s in data.services:
        places = percent_places(s.target)
        for day in _days(s, s.tally.down_days):
            u = day.uptime
            if not u.down_minutes or u.uptime_percent is None:
                continue
            found = before.get((s.name, day.date))
            if found is not None and found[0] is day and found[1:3] == (s.title, s.target):
                entries.append(found[3])
                if kept is not None:
                    kept[s.name, day.date] = found
                continue
            assert day.first_down is not None and day.last_down_end is not None
            first, last = minute_start(day.first_down), minute_start(day.last_down_end)
            values = {
                "service": s.title,
                "minutes": f.ngettext("%(num)s minute", "%(num)s minutes", u.down_minutes)
                % {"num": f.integer(u.down_minutes)},
                "date": f.day(day.date),
                "percent": f.percent(u.uptime_percent, places),
                "start": f.time(first, tz),
                "end": f.time(last, tz),
                "zone": f.zone(last, tz),
            }
            entry = (last, Entry(
                id=f"urn:uuid:{uuid.uuid5(ns, f'outage/{s.name}/{day.date.isoformat()}')}",
                title=f.gettext("%(service)s: %(minutes)s down on %(date)s") % values,
                published=iso_utc(first), updated=iso_utc(last), href=f"{index}#svc-{s.name}",
                categories=("outage", s.name), about=(s.name,),
                summary=f.gettext("%(service)s was down for %(minutes)s on %(date)s, between "
                                  "%(start)s and %(end)s %(zone)s; uptime that day: "
                                  "%(percent)s.") % values,
            ))
            entries.append(entry)
            if kept is not None:
                kept[s.name, day.date] = (day, s.title, s.target, entry)
    for w in _windows(data):
        names = [titles[n] for n in w.services if n in titles]
        when = f"{f.moment(w.start, tz)} – {f.moment(w.end, tz)}"
        summary = when if not names else f.gettext("%(when)s; affects %(services)s") % {
            "when": when, "services": f.listing(tuple(names))}
        # when it was announced: its declaration, or (probes.yaml) when the page began to show it
        stamp = w.declared_at if w.declared_at is not None else w.start - UPCOMING
        entries.append((stamp, Entry(
            id=f"urn:uuid:{uuid.uuid5(ns, f'maintenance/{w.id}')}",
            title=f.gettext("Maintenance: %(title)s") % {"title": w.title},
            published=iso_utc(stamp), updated=iso_utc(stamp), href=index,
            categories=("maintenance", *sorted(w.services)), summary=summary,
            about=tuple(w.services), when=when,
        )))
    history = f"{base}history.html" if lang == data.site.language else \
        f"{base}history.{lang}.html"
    for inc in data.incidents:
        v = incident_view(inc, data, f)
        entries.append((inc.updated_at, Entry(
            id=f"urn:uuid:{uuid.uuid5(ns, f'incident/{inc.id}')}",
            title=f.gettext("Incident: %(title)s") % {"title": inc.title},
            published=iso_utc(inc.started_at), updated=iso_utc(inc.updated_at),
            href=f"{history}#{v.anchor}", categories=("incident", inc.impact, *inc.services),
            summary=_incident_summary(v, f), content=_incident_content(v),
            about=tuple(inc.services),
        )))
    return entries


def _narrowed(e: Entry, service: str, title: str, f: Formatter) -> Entry:
    """``e`` as ``service``'s own feed tells it: a maintenance window of several services
    names that one only (in its categories and summary). Naming every service of a window in
    every one of their feeds made the feeds grow with the square of the services (a weekly
    window of 1,000 services: half a gigabyte of feeds)."""
    if not e.categories or e.categories[0] != "maintenance" or e.about == (service,):
        return e
    return replace(e, categories=("maintenance", service), summary=f.gettext(
        "%(when)s; affects %(services)s") % {"when": e.when, "services": title})


def _namespace(data: PageData) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, data.site.url or f"upwatch:{data.site.title}")


def _index(data: PageData, lang: str) -> str:
    base = _base(data.site.url)
    return f"{base}index.html" if lang == data.site.language else f"{base}index.{lang}.html"


def _day_start(now: datetime) -> datetime:
    """When a feed with no entry says it was updated: the start of the UTC day. It tells
    nothing new, so its bytes (and a reader's cached copy) stay the same all day; with the
    build's own time it was written again, and fetched again, every minute."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def feed_view(data: PageData, lang: str | None = None, service: str | None = None,
              entries: Sequence[tuple[datetime, Entry]] | None = None) -> FeedView:
    """The feed in ``lang`` (default: the site's language), newest entries first; with
    ``service``, that service's own (``feeds/<service>.atom``): the entries about it.
    ``entries``: :func:`feed_entries` of ``data`` in ``lang``, when the caller has them."""
    lang = lang or data.site.language
    f = formatter(lang)
    base = _base(data.site.url)
    ns = _namespace(data)
    index = _index(data, lang)
    found = list(feed_entries(data, lang) if entries is None else entries)
    titles = data.titles
    if service is not None:
        found = [(at, _narrowed(e, service, titles.get(service, service), f))
                 for at, e in found if service in e.about]
    found.sort(key=lambda p: (p[0], p[1].id), reverse=True)
    kept = [e for _, e in found[:MAX_ENTRIES]]
    title = f"{data.site.title}: " + f.gettext("outages and maintenance")
    feed_id, self_path, html = "feed", "feed.atom", index
    if service is not None:
        title = f"{titles.get(service, service)} – {title}"
        feed_id, self_path = f"feed/{service}", f"feeds/{service}.atom"
        html = f"{index}#svc-{service}"
    return FeedView(
        lang=lang, id=f"urn:uuid:{uuid.uuid5(ns, feed_id)}", title=title,
        updated=iso_utc(found[0][0] if found else _day_start(data.now)),
        author=data.site.title,
        html_href=html, self_href=f"{base}{self_path}" if data.site.url else None,
        entries=tuple(kept),
    )
