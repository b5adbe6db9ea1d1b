"""View models of incidents: the open ones on ``index.html``, the last 90 days on
``history.html``, their feed entries and the banner they raise. PURE, like
:mod:`statuspage.views`.

An update's body arrives as HTML already rendered from the Markdown subset by
:func:`monitor.incidents.markdown.render` (everything escaped, only safe links); it is marked
``Markup`` here, the one place that says so, so the templates place it as is. Every other text
(titles, service names) stays a plain string and is escaped by the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup

from monitor.times import iso_utc
from statuspage.data import IncidentData, PageData
from statuspage.i18n import Formatter

__all__ = ["IMPACT_BANNER", "IncidentView", "UpdateView", "impact_label", "incident_anchor",
           "incident_view", "status_label"]

#: The banner an open incident of each impact raises at least (Statuspage's indicators:
#: minor → minor, major → major, critical → critical).
IMPACT_BANNER: dict[str, Literal["operational", "degraded", "partial", "major"]] = {
    "none": "operational", "minor": "degraded", "major": "partial", "critical": "major",
}


@dataclass(frozen=True)
class UpdateView:
    status: str
    status_label: str
    when: str
    iso: str
    html: Markup  # the rendered Markdown subset: safe to place as is


@dataclass(frozen=True)
class IncidentView:
    anchor: str  # the element id: "incident-<id>", on index.html and history.html alike
    title: str
    impact: str  # none | minor | major | critical (css class)
    impact_label: str
    status: str
    status_label: str
    open: bool
    services: str  # the affected services' titles as a list in words; "" for none
    started: str
    started_iso: str
    resolved: str | None
    resolved_iso: str | None
    updates: tuple[UpdateView, ...]  # newest first


def incident_anchor(incident_id: int) -> str:
    return f"incident-{incident_id}"



def status_label(status: str, f: Formatter) -> str:
    # TRANSLATORS: the stages of an incident, as Statuspage names them.
    return {
        "investigating": f.gettext("Investigating"),
        "identified": f.gettext("Identified"),
        "monitoring": f.gettext("Monitoring"),
        "resolved": f.gettext("Resolved"),
    }.get(status, status)


def impact_label(impact: str, f: Formatter) -> str:
    return {
        "none": f.gettext("No impact"),
        "minor": f.gettext("Minor impact"),
        "major": f.gettext("Major impact"),
        "critical": f.gettext("Critical impact"),
    }.get(impact, impact)


def incident_view(inc: IncidentData, data: PageData, f: Formatter, *,
                  latest_only: bool = False) -> IncidentView:
    """One incident in ``f``'s language: all its updates, or only the latest one."""
    tz = ZoneInfo(data.site.timezone)
    titles = data.titles
    names = [titles.get(n, n) for n in inc.services]
    updates = inc.updates[:1] if latest_only else inc.updates
    return IncidentView(
        anchor=incident_anchor(inc.id), title=inc.title, impact=inc.impact,
        impact_label=impact_label(inc.impact, f), status=inc.status,
        status_label=status_label(inc.status, f), open=inc.open,
        services=f.listing(tuple(names)) if names else "",
        started=f.gettext("Started %(time)s") % {"time": f.moment(inc.started_at, tz)},
        started_iso=iso_utc(inc.started_at),
        resolved=None if inc.resolved_at is None else
        f.gettext("Resolved %(time)s") % {"time": f.moment(inc.resolved_at, tz)},
        resolved_iso=None if inc.resolved_at is None else iso_utc(inc.resolved_at),
        updates=tuple(
            # u.html was rendered by monitor.incidents.markdown, which escapes everything it keeps
            UpdateView(u.status, status_label(u.status, f), f.moment(u.at, tz), iso_utc(u.at),
                       Markup(u.html))
            for u in updates
        ),
    )
