"""The view model of ``history.html``: per service, this month to date and the 12 before it
(from the month of its ``since`` in probes.yaml, else from its first month with data on),
against the target, with the maintenance and exclusions that removed minutes (and when each
was declared); and the incidents of the last 90 days with all their updates. Pure, like
:mod:`statuspage.views`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

from markupsafe import Markup

from monitor.core.sla import AppliedWindow, Uptime
from statuspage.chrome import Chrome, chrome
from statuspage.data import Month, PageData, ServiceData
from statuspage.i18n import Formatter, count, formatter
from statuspage.incident_views import IncidentView, incident_view
from statuspage.markup import row_markup
from statuspage.views import decimals, percent_places, verdict_of

__all__ = ["HistoryView", "MonthRow", "ServiceHistory", "history_view", "service_history"]


@dataclass(frozen=True)
class MonthRow:
    label: str
    to_date: bool
    uptime: str | None
    verdict: str
    verdict_label: str
    down: str
    maintenance: str
    excluded: str


@dataclass(frozen=True)
class ServiceHistory:
    id: str
    title: str
    target: str
    rows: tuple[MonthRow, ...]
    notes: tuple[tuple[str, str], ...]  # (month, the window that month and its minutes)

    def rows_html(self, to_date: str) -> Markup:
        """The rows as HTML (:func:`statuspage.markup.row_markup`)."""
        return row_markup(((r.label, r.to_date, r.uptime, r.verdict, r.verdict_label, r.down,
                            r.maintenance, r.excluded) for r in self.rows), to_date)


@dataclass(frozen=True)
class HistoryView:
    chrome: Chrome
    services: tuple[ServiceHistory, ...]
    incidents: tuple[IncidentView, ...]  # the last 90 days (and open ones), newest first


def _applied(w: AppliedWindow, f: Formatter, tz: ZoneInfo) -> str:
    """One window of a month and when it was declared (every minute removed is accounted for;
    who declared it is in ``upwatch report``, not on the public page)."""
    values = {
        "title": w.title,
        "span": f"{f.moment(w.start, tz)} – {f.moment(w.end, tz)}",
        "minutes": count(f.ngettext("%(num)s minute", "%(num)s minutes", w.minutes),
                          w.minutes, f),
        "declared": (
            f.gettext("declared in the configuration") if w.declared_at is None else
            f.gettext("declared %(time)s") % {"time": f.moment(w.declared_at, tz)}
        ),
    }
    if w.kind == "maintenance":
        return f.gettext("Maintenance “%(title)s”, %(span)s: %(minutes)s (%(declared)s)") % values
    return f.gettext("Excluded: %(title)s, %(span)s: %(minutes)s (%(declared)s)") % values


def _month_notes(u: Uptime, f: Formatter, tz: ZoneInfo) -> tuple[str, ...]:
    """The windows that removed minutes from a month. Windows from probes.yaml with the same
    title (a recurring window) are one line; each one declared at run time and each exclusion
    has a line of its own."""
    if not (u.maintenance or u.exclusions):
        return ()
    return _notes(u.maintenance, u.exclusions, f, tz)


@lru_cache(maxsize=16384)  # services with the same windows have the same notes, month by month
def _notes(maintenance: tuple[AppliedWindow, ...], exclusions: tuple[AppliedWindow, ...],
           f: Formatter, tz: ZoneInfo) -> tuple[str, ...]:
    out: list[str] = []
    recurring: dict[str, list[AppliedWindow]] = {}
    for w in maintenance:
        if w.minutes and w.declared_at is None:
            recurring.setdefault(w.title, []).append(w)
        elif w.minutes:
            out.append(_applied(w, f, tz))
    for title, ws in recurring.items():
        if len(ws) == 1:
            out.append(_applied(ws[0], f, tz))
            continue
        n, minutes = len(ws), sum(w.minutes for w in ws)
        out.append(f.ngettext(
            "Maintenance “%(title)s”: %(count)s window, %(minutes)s (%(declared)s)",
            "Maintenance “%(title)s”: %(count)s windows, %(minutes)s (%(declared)s)", n,
        ) % {
            "title": title, "count": f.integer(n),
            "minutes": count(f.ngettext("%(num)s minute", "%(num)s minutes", minutes),
                              minutes, f),
            "declared": f.gettext("declared in the configuration"),
        })
    out.extend(_applied(w, f, tz) for w in exclusions if w.minutes)
    return tuple(out)


def _month_row(m: Month, places: int, f: Formatter) -> MonthRow:
    u = m.uptime
    return _row(f, places, m.year, m.month, m.to_date, u.uptime_percent, u.met, u.down_minutes,
                u.maintenance_minutes, u.excluded_minutes)


@lru_cache(maxsize=65536)  # most services' months read the same ("100.00%, Met, 0, 0, 0")
def _row(f: Formatter, places: int, year: int, month: int, to_date: bool,
         percent: float | None, met: bool | None, down: int, maintenance: int,
         excluded: int) -> MonthRow:
    result, result_label = verdict_of(met, f)
    return MonthRow(
        label=_capitalized(f.month(year, month)), to_date=to_date,
        uptime=None if percent is None else f.percent(percent, places),
        verdict=result, verdict_label=result_label, down=f.integer(down),
        maintenance=f.integer(maintenance), excluded=f.integer(excluded),
    )


def service_history(s: ServiceData, data: PageData, lang: str) -> ServiceHistory:
    """One service's months on ``history.html`` in ``lang``."""
    f = formatter(lang)
    tz = ZoneInfo(data.site.timezone)
    places = percent_places(s.target)
    months = _shown_months(s.month, s.history, s.history_from)
    rows = tuple(_month_row(m, places, f) for m in months)
    notes = tuple(
        (row.label, note)
        for row, m in zip(rows, months, strict=True) for note in _month_notes(m.uptime, f, tz)
    )
    return ServiceHistory(s.name, s.title, f.percent(s.target, decimals(s.target)), rows, notes)


def history_view(data: PageData, lang: str,
                 services: Mapping[str, ServiceHistory] | None = None) -> HistoryView:
    """The view model of ``history.html``: this month to date and the 12 before, per service
    (``services``: theirs by name, when the caller has them already)."""
    f = formatter(lang)
    incidents = tuple(incident_view(i, data, f) for i in data.incidents)
    return HistoryView(chrome(data, lang, "history", f), tuple(
        services[s.name] if services is not None else service_history(s, data, lang)
        for s in data.services), incidents)


def _shown_months(month: Month, history: tuple[Month, ...],
                  since: date | None) -> tuple[Month, ...]:
    """This month and the months before it back to ``since``'s month (probes.yaml's
    ``since``), else back to the first with data: a service that has existed for 90 days shows
    three or four months, not thirteen of "no data" (each with the maintenance that fell in
    them). A month has data when a minute of it was eligible."""
    months = [month, *history]
    if since is not None:
        return tuple(m for m in months if (m.year, m.month) >= (since.year, since.month)) or (
            month,)
    while len(months) > 1 and months[-1].uptime.eligible_minutes == 0:
        months.pop()
    return tuple(months)


def _capitalized(text: str) -> str:
    """``oktober 2026`` → ``Oktober 2026``: a month heads its table row."""
    return text[:1].upper() + text[1:]
