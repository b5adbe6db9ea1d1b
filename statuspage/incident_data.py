"""Incidents as the page shows them: :class:`IncidentData` with its updates newest first and
their bodies already rendered to safe HTML (:func:`page_incident`). Gathered with the rest of
the page by :func:`statuspage.data.gather`, which re-exports these names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.core.incidents import Incident, IncidentStatus
from monitor.incidents.markdown import render

__all__ = ["IncidentData", "UpdateData", "page_incident"]


@dataclass(frozen=True)
class UpdateData:
    id: int
    at: datetime
    status: str  # investigating | identified | monitoring | resolved
    body: str  # as written (the Markdown subset)
    html: str  # ``body`` rendered by monitor.incidents.markdown: escaped, safe to place as is


@dataclass(frozen=True)
class IncidentData:
    id: int
    title: str
    impact: str  # none | minor | major | critical
    status: str
    services: tuple[str, ...]
    started_at: datetime  # detected (or opened by a person)
    resolved_at: datetime | None  # None while it is open
    updates: tuple[UpdateData, ...]  # newest first, as status pages show them

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def updated_at(self) -> datetime:
        return self.updates[0].at if self.updates else self.started_at



def page_incident(inc: Incident) -> IncidentData:
    """An incident as the page shows it: updates newest first, bodies rendered to safe HTML."""
    return IncidentData(
        id=inc.id, title=inc.title, impact=inc.impact.value, status=inc.status.value,
        services=inc.services, started_at=inc.detected_at,
        resolved_at=inc.resolved_at if inc.status == IncidentStatus.RESOLVED else None,
        updates=tuple(UpdateData(u.id, u.at, u.status.value, u.body, render(u.body))
                      for u in sorted(inc.updates, key=lambda u: (u.at, u.id), reverse=True)),
    )
