"""Incidents as data: their impact, status, updates and the policy that names and times them.

Pure models shared by the detector (:mod:`monitor.incidents.detection`), the ledger
(:mod:`monitor.store.incidents`), notifications and the status page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "DEFAULT_SEVERITIES", "Impact", "Incident", "IncidentPolicy", "IncidentStatus",
    "IncidentUpdate",
]


class Impact(StrEnum):
    """How much of the site an incident hits (Statuspage's names), ordered by ``RANK``."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Impact.NONE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


#: The seeds' severities: 1 = whole service down … 3 = limited.
DEFAULT_SEVERITIES: Mapping[Impact, str] = {
    Impact.CRITICAL: "severity 1", Impact.MAJOR: "severity 2", Impact.MINOR: "severity 3",
    Impact.NONE: "severity 3",
}


@dataclass(frozen=True)
class IncidentPolicy:
    """``incident:`` in probes.yaml: thresholds, severity names and response targets."""

    open_after: int = 2  # minutes
    resolve_after: int = 5  # minutes
    severities: Mapping[Impact, str] = field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    # business time allowed until the first human update, per severity name
    response_targets: Mapping[str, timedelta] = field(default_factory=lambda: {
        "severity 1": timedelta(hours=1), "severity 2": timedelta(hours=4),
        "severity 3": timedelta(hours=8)})

    def severity(self, impact: Impact) -> str:
        return self.severities.get(impact, self.severities.get(Impact.MINOR, impact.value))


@dataclass(frozen=True)
class IncidentUpdate:
    id: int
    incident_id: int
    at: datetime
    status: IncidentStatus
    body: str  # Markdown subset (monitor.incidents.markdown)
    author: str  # "detector", "cli:alice", "api:admin"
    human: bool


@dataclass(frozen=True)
class Incident:
    id: int
    title: str
    impact: Impact
    severity: str
    status: IncidentStatus
    services: tuple[str, ...]
    detected_at: datetime
    created_by: str
    resolved_at: datetime | None
    detection_key: str | None  # set for incidents the detector opened
    updates: tuple[IncidentUpdate, ...] = ()  # oldest first

    @property
    def first_human_update(self) -> IncidentUpdate | None:
        return next((u for u in self.updates if u.human), None)
