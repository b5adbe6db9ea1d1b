"""``status.json``: the Statuspage v2 summary shape, so existing widgets and clients read it.

Keys as Statuspage has them: ``page``, ``status {indicator, description}``, ``components``
(groups as components with ``group: true`` and their children's ids), ``incidents`` (the
unresolved ones, as in Statuspage's summary, each with its updates newest first and the
components it affects), ``scheduled_maintenances``; upwatch's own figures are under
``upwatch``. Pure and deterministic: everything derives from :class:`PageData`, times are UTC.

Statuses: a service in maintenance is ``under_maintenance``; down is ``major_outage``; degraded
is ``degraded_performance``; a service without recent data is ``degraded_performance`` too
(Statuspage has no "unknown"; we do not claim operational without evidence) and says
``"state": "nodata"`` under ``upwatch``. A group takes its worst child's status. The page
indicator follows the banner: none (operational, maintenance), minor (degraded), major
(partial outage), critical (major outage); an open incident raises it to at least its impact.
An incident update's ``body`` is the text as written (Markdown subset), not HTML.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from monitor.core.checks import State
from monitor.core.sla import report_dict
from monitor.core.windows import Window
from monitor.store.latency import LatencyPoint
from monitor.times import EPOCH, epoch_minute, iso_utc
from statuspage.data import IncidentData, PageData, ServiceData
from statuspage.incident_views import incident_anchor
from statuspage.views import page_banner

__all__ = ["COMPONENT_STATUSES", "INDICATORS", "LATENCY_HOLE", "component_status", "json_text",
           "latency_json", "service_figures", "service_json", "service_json_text", "status_json"]

COMPONENT_STATUSES = (
    "operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage",
)  # least to most severe
INDICATORS = ("none", "minor", "major", "critical")

#: Stands for a service's response times in a document while it is encoded: they are most of
#: its bytes and change once an hour, so each is encoded once (:func:`json_text`'s
#: ``latencies``). Random: no text a user wrote can be mistaken for it.
LATENCY_HOLE = f"\0latency {secrets.token_hex(16)}\0"
_HOLE_JSON = json.dumps(LATENCY_HOLE)

_BANNER = {
    "operational": ("none", "All Systems Operational"),
    "maintenance": ("none", "Service Under Maintenance"),
    "degraded": ("minor", "Minor Service Outage"),
    "partial": ("major", "Partial System Outage"),
    "major": ("critical", "Major Service Outage"),
}



def _hash_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def component_status(s: ServiceData) -> str:
    if s.in_maintenance:
        return "under_maintenance"
    return {
        State.UP: "operational",
        State.DEGRADED: "degraded_performance",
        State.DOWN: "major_outage",
        State.NODATA: "degraded_performance",
    }[s.state]


def _window_end(w: Window) -> datetime:
    return w.end if w.cancelled_at is None else min(w.end, w.cancelled_at)


def status_json(data: PageData,
                figures: Mapping[str, dict[str, Any] | str] | None = None) -> dict[str, Any]:
    """The whole ``status.json`` document (``figures``: :func:`service_figures` of each
    service by name, when the caller has them, or :data:`LATENCY_HOLE` for each, when it has
    them encoded for :func:`json_text`)."""
    site = data.site
    page_id = _hash_id(site.url or site.title)
    updated = iso_utc(data.now)
    page = {"id": page_id, "name": site.title, "url": site.url or "",
            "time_zone": site.timezone, "updated_at": updated}

    group_ids = {g: "group-" + _hash_id(g) for g in dict.fromkeys(s.group for s in data.services)
                 if g}
    components: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    position = 0
    for group in dict.fromkeys(s.group for s in data.services):
        members = [s for s in data.services if s.group == group]
        if group:
            position += 1
            worst = max((component_status(s) for s in members), key=COMPONENT_STATUSES.index)
            components.append({
                "id": group_ids[group], "name": group, "status": worst, "created_at": updated,
                "updated_at": updated, "position": position, "description": None,
                "showcase": False, "start_date": None, "group_id": None, "page_id": page_id,
                "group": True, "only_show_if_degraded": False,
                "components": [s.name for s in members],
            })
        for s in members:
            position += 1
            comp = {
                "id": s.name, "name": s.title, "status": component_status(s),
                "created_at": updated, "updated_at": iso_utc(s.last_checked) or updated,
                "position": position, "description": None, "showcase": True,
                "start_date": None, "group_id": group_ids.get(s.group), "page_id": page_id,
                "group": False, "only_show_if_degraded": False,
            }
            components.append(comp)
            by_name[s.name] = comp

    maintenances = []
    for w in data.maintenance:
        active = w.start <= data.now
        announced = iso_utc(w.declared_at or w.start)
        maintenances.append({
            "id": w.id, "name": w.title, "status": "in_progress" if active else "scheduled",
            "created_at": announced, "updated_at": announced, "monitoring_at": None,
            "resolved_at": None, "impact": "maintenance", "shortlink": site.url or "",
            "started_at": iso_utc(w.start), "page_id": page_id, "incident_updates": [],
            "components": [by_name[n] for n in w.services if n in by_name],
            "scheduled_for": iso_utc(w.start), "scheduled_until": iso_utc(_window_end(w)),
        })

    shortlink = f"{site.url.rstrip('/')}/history.html" if site.url else ""
    incidents = [_incident(i, page_id, shortlink, by_name) for i in data.open_incidents]
    indicator, description = _BANNER[page_banner(data)]
    return {
        "page": page,
        "status": {"indicator": indicator, "description": description},
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": maintenances,
        "upwatch": {
            "schema": 1,
            "generated_at": updated,
            "services": [figures[s.name] if figures is not None else
                         service_figures(s, data.now) for s in data.services],
        },
    }


def _incident(i: IncidentData, page_id: str, history: str,
              by_name: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One incident in Statuspage's shape (ids as strings, times in UTC)."""
    iid = str(i.id)
    monitoring = [u.at for u in i.updates if u.status == "monitoring"]
    return {
        "id": iid, "name": i.title, "status": i.status,
        "created_at": iso_utc(i.started_at), "updated_at": iso_utc(i.updated_at),
        "monitoring_at": iso_utc(min(monitoring)) if monitoring else None,
        "resolved_at": iso_utc(i.resolved_at), "impact": i.impact,
        "shortlink": f"{history}#{incident_anchor(i.id)}" if history else "",
        "started_at": iso_utc(i.started_at), "page_id": page_id,
        "incident_updates": [{
            "id": str(u.id), "status": u.status, "body": u.body, "incident_id": iid,
            "created_at": iso_utc(u.at), "updated_at": iso_utc(u.at), "display_at": iso_utc(u.at),
            "affected_components": None, "deliver_notifications": True,
        } for u in i.updates],
        "components": [by_name[n] for n in i.services if n in by_name],
    }


#: Each series' columns before its last slot, kept from one build to the next by the caller of
#: :func:`latency_json`, by (service, series): the slots' start, the points before the last
#: slot, and their ``p50_ms``, ``p95_ms`` and ``checks`` columns.
KeptColumns = dict[tuple[str, str], tuple[int, tuple[LatencyPoint, ...], list[Any], list[Any],
                                          list[int]]]


def _cells(points: Sequence[LatencyPoint], first: int, per: int, slots: int
           ) -> tuple[list[Any], list[Any], list[int]]:
    at = {(p.hour - first) // per: p for p in points if first <= p.hour < first + per * slots}
    cells = [at.get(i) for i in range(slots)]
    return ([None if p is None else round(p.p50_ms, 1) for p in cells],
            [None if p is None else round(p.p95_ms, 1) for p in cells],
            [0 if p is None else p.count for p in cells])


def _columns(found: tuple[LatencyPoint, ...], first: int, per: int, slots: int,
             kept: KeptColumns | None = None, series: tuple[str, str] = ("", "")
             ) -> dict[str, Any]:
    """One series as columns. With ``kept``: the slots before the last (the hour or the day
    under way, the one a check moves) are those of the last build while their points are
    the same; only the last is worked out again."""
    if kept is None:
        p50, p95, checks = _cells(found, first, per, slots)
    else:
        last = first + per * (slots - 1)
        before = tuple(p for p in found if first <= p.hour < last)
        was = kept.get(series)
        if was is None or was[0] != first or was[1] != before:
            was = kept[series] = (first, before, *_cells(before, first, per, slots - 1))
        p50, p95, checks = _cells([p for p in found if last <= p.hour], last, per, 1)
        p50, p95, checks = was[2] + p50, was[3] + p95, was[4] + checks
    return {"start": iso_utc(EPOCH + timedelta(hours=first)), "step_hours": per,
            "p50_ms": p50, "p95_ms": p95, "checks": checks}


def latency_json(s: ServiceData, now: datetime, kept: KeptColumns | None = None
                 ) -> dict[str, Any]:
    """Response times for widgets, as the charts have them: ``hours`` (the last 24) and
    ``days`` (the last 90, UTC days), each ``{"start", "step_hours", "p50_ms", "p95_ms",
    "checks"}`` with one value per slot from ``start``, ``null`` where there were no checks
    (columns, not a list of points: a third of the bytes). A service that several locations
    measured also has ``locations``: ``[{"location": title, "hours": …, "days": …}]``.

    ``kept``: the columns of the builds before (:data:`KeptColumns`, updated here): with a new
    check every minute, every service's columns were made again, 114 slots each."""
    now_hour = epoch_minute(now) // 60
    first_day = (now_hour // 24 - 89) * 24
    out: dict[str, Any] = {
        "hours": _columns(s.latency_hours, now_hour - 23, 1, 24, kept, (s.name, "hours")),
        "days": _columns(s.latency_days, first_day, 24, 90, kept, (s.name, "days"))}
    if s.latency_locations:
        out["locations"] = [{"location": loc.title,
                             "hours": _columns(loc.hours, now_hour - 23, 1, 24),
                             "days": _columns(loc.days, first_day, 24, 90)}
                            for loc in s.latency_locations]
    return out


def service_json(data: PageData, s: ServiceData,
                 figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """``services/<name>.json``: one service's figures, as status.json has them, with its
    title and group, for people who build their own widget."""
    return {"schema": 1, "generated_at": iso_utc(data.now), "title": s.title,
            "group": s.group or None,
            **(figures if figures is not None else service_figures(s, data.now))}


def service_json_text(data: PageData, s: ServiceData, figures: str) -> str:
    """:func:`service_json` as :func:`json_text` encodes it, from ``figures``: the service's
    figures so encoded already (for status.json too). What comes before them is encoded once
    per build (the time) and once per title and group, not again for each service and build
    (``tests/test_statuspage_render.py`` holds it to :func:`service_json`)."""
    if not (figures.startswith("{") and len(figures) > 2):
        raise ValueError("figures must be a JSON object with members")
    return f"{_opening(iso_utc(data.now))}{_named(s.title, s.group)}{figures[1:]}"


@lru_cache(maxsize=16)
def _opening(generated_at: str | None) -> str:
    return json_text({"schema": 1, "generated_at": generated_at})[:-1] + ","


@lru_cache(maxsize=65536)
def _named(title: str, group: str) -> str:
    return json_text({"title": title, "group": group or None})[1:-1] + ","


def service_figures(s: ServiceData, now: datetime,
                    latency: dict[str, Any] | str | None = None) -> dict[str, Any]:
    """One service's own figures: state and this month to date, as ``upwatch report`` has them
    (``latency``: its :func:`latency_json` when the caller has it, or :data:`LATENCY_HOLE`)."""
    month = f"{s.month.year:04d}-{s.month.month:02d}"
    figures = {k: v for k, v in report_dict(s.month.uptime, month).items()
               if k not in ("service", "maintenance", "exclusions")}
    return {
        "id": s.name,
        "state": s.state.label,
        "in_maintenance": s.in_maintenance,
        "since": iso_utc(s.since),
        "last_checked": iso_utc(s.last_checked),
        "kind": s.kind,
        **({"last_ping": iso_utc(s.last_ping)} if s.kind == "push" else {}),
        "latency": latency if latency is not None else latency_json(s, now),
        "month": month,
        "month_to_date": s.month.to_date,
        "time_zone": s.sla_timezone,
        **figures,
    }


def json_text(doc: object, latencies: Sequence[str] = ()) -> str:
    """Compact JSON with ``<``, ``>`` and ``&`` written as escapes, so that no user text in it
    can be mistaken for markup should a client paste it into a page. Not indented: widgets
    fetch it every minute, and indented, each response-time point took four lines (status.json
    for 200 services: 2.5 MB instead of 0.3).

    ``latencies``: JSON texts (made by this function) for each :data:`LATENCY_HOLE` in
    ``doc``, in the order they are written (a list's order, a dict's insertion order)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if not latencies:
        return text
    parts = text.split(_HOLE_JSON)
    if len(parts) != len(latencies) + 1:
        raise ValueError(f"{len(parts) - 1} places for response times, {len(latencies)} given")
    out = [parts[0]]
    for latency, part in zip(latencies, parts[1:], strict=True):
        out += (latency, part)
    return "".join(out)
