"""The pure detector that opens and resolves incidents from minute states (the incident
models are :mod:`monitor.core.incidents`).

:class:`Detector` is fed ``(service, minute, state)`` with ``now`` and returns
:class:`DetectionEvent` s; the caller persists them and turns them into notifications. Rules
(minutes are epoch minutes; "bad" is degraded or down, ``nodata`` neither starts nor ends a
streak):

- a service bad for ``open_after`` consecutive minutes opens an incident, or joins the one open;
- the incident's impact follows its scope: one service degraded → minor, any down → major, every
  known service down → critical; it only ever rises (``escalated``), never falls;
- a service of the incident back to up is ``recovered``; when all are, and ``resolve_after``
  minutes passed since the last recovery, the incident is ``resolved`` — unless a person has
  taken it over (any human update), then only a person resolves it;
- a new failure of one of its services before that continues the open incident (flapping does
  not open one incident per flap).

One automatic incident is open at a time; its ``key`` (``"auto-<first bad minute>"``) makes
persisting the same ``opened`` event twice harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from monitor.config import Config, Coverage
from monitor.config.incident import IncidentConfig
from monitor.core.checks import State
from monitor.core.coverage import covered_ranges, month_bounds
from monitor.core.incidents import Impact, Incident, IncidentPolicy
from monitor.times import epoch_minute, minute_start

__all__ = [
    "IncidentSource",
    "DetectionEvent",
    "Detector",
    "OpenIncident",
    "ResponseRow",
    "policy_from_config",
    "response_report",
]

@dataclass(frozen=True)
class OpenIncident:
    """What the detector remembers of the open automatic incident (persistable, resumable)."""

    key: str
    services: tuple[str, ...]
    impact: Impact
    taken_over: bool = False


EventKind = Literal["state", "opened", "escalated", "recovered", "resolved"]


@dataclass(frozen=True)
class DetectionEvent:
    """Something the caller persists and notifies. ``state`` events: a service's state changed."""

    kind: EventKind
    at: datetime  # start of the minute that caused it
    key: str | None  # the incident's detection key (None for ``state``)
    services: tuple[str, ...]  # the incident's services, or the one service
    impact: Impact = Impact.NONE
    severity: str = ""
    service: str | None = None  # the service this event is about
    state: State | None = None  # the new state of ``service``
    previous: State | None = None
    #: With several locations, which see ``service`` how ("down from Madrid; up from …").
    where: str | None = None


@dataclass
class _Track:
    last_minute: int | None = None
    state: State = State.NODATA
    bad_since: int | None = None  # first minute of the current bad streak
    good_since: int | None = None  # first up minute after the last bad one


def _bad(state: State) -> bool:
    return state in (State.DEGRADED, State.DOWN)


class Detector:
    """The incident state machine over every service's minutes (no I/O, no clock)."""

    def __init__(self, policy: IncidentPolicy, services: Iterable[str],
                 open_incident: OpenIncident | None = None) -> None:
        if policy.open_after < 1 or policy.resolve_after < 0:
            raise ValueError("open_after must be >= 1 and resolve_after >= 0")
        self._policy = policy
        self._services = tuple(services)
        self._tracks: dict[str, _Track] = {}
        self._open = open_incident

    @property
    def open_incident(self) -> OpenIncident | None:
        return self._open

    @property
    def services(self) -> tuple[str, ...]:
        """The services it watches, as configured now."""
        return self._services

    def set_services(self, services: Iterable[str]) -> None:
        """The services configured now (``critical`` means all of them down)."""
        self._services = tuple(services)
        for gone in set(self._tracks) - set(self._services):
            del self._tracks[gone]

    def take_over(self, key: str) -> None:
        """A person posted an update on incident ``key``: never resolve it automatically."""
        if self._open is not None and self._open.key == key:
            self._open = replace(self._open, taken_over=True)

    def closed(self, key: str) -> None:
        """Incident ``key`` was resolved by a person. Its services start new streaks: one still
        failing opens a new incident after ``open_after`` more minutes."""
        if self._open is not None and self._open.key == key:
            for name in self._open.services:
                if name in self._tracks:
                    self._tracks[name].bad_since = None
            self._open = None

    def observe(self, service: str, minute: int, state: State, now: datetime) -> list[
            DetectionEvent]:
        """Feed one minute's state (minutes of a service in order; a repeat takes the worst)."""
        track = self._tracks.setdefault(service, _Track())
        events: list[DetectionEvent] = []
        if track.last_minute is not None and minute < track.last_minute:
            return self.tick(now)  # late minute: the streaks have moved on
        if track.last_minute == minute:
            state = max(state, track.state)
        elif track.last_minute is not None and minute > track.last_minute + 1:
            track.bad_since = track.good_since = None  # a gap is nodata
        at = minute_start(minute)
        # A change from a known state only: after a start or a gap the state was unknown, and
        # "api is up" for every service at every restart is noise, not news.
        if state != track.state and State.NODATA not in (state, track.state):
            events.append(DetectionEvent("state", at, None, (service,), service=service,
                                         state=state, previous=track.state))
        track.last_minute, track.state = minute, state
        if _bad(state):
            track.good_since = None
            if track.bad_since is None:
                track.bad_since = minute
            events += self._on_bad(service, track, minute, at)
        elif state == State.UP:
            track.bad_since = None
            if track.good_since is None:
                track.good_since = minute
                if self._open is not None and service in self._open.services:
                    events.append(self._event("recovered", at, service=service, state=state))
        else:
            track.bad_since = track.good_since = None
        return events + self.tick(now)

    def tick(self, now: datetime) -> list[DetectionEvent]:
        """Resolve the open incident when its services have been up long enough."""
        inc = self._open
        if inc is None or inc.taken_over:
            return []
        recovered: list[int] = []
        for name in inc.services:
            track = self._tracks.get(name)
            if track is None or track.good_since is None:
                return []
            recovered.append(track.good_since)
        due = minute_start(max(recovered) + self._policy.resolve_after)
        if now < due:
            return []
        event = self._event("resolved", due)
        self._open = None
        return [event]

    def _on_bad(self, service: str, track: _Track, minute: int, at: datetime) -> list[
            DetectionEvent]:
        inc = self._open
        assert track.bad_since is not None
        long_enough = minute - track.bad_since + 1 >= self._policy.open_after
        if inc is not None and service in inc.services:
            return self._escalate(at, inc.services, service)
        if not long_enough:
            return []
        if inc is None:
            self._open = OpenIncident(f"auto-{track.bad_since}", (service,), Impact.NONE)
            self._open = replace(self._open, impact=self._impact(self._open.services))
            return [self._event("opened", minute_start(track.bad_since), service=service,
                                state=track.state)]
        return self._escalate(at, tuple(sorted((*inc.services, service))), service)

    def _escalate(self, at: datetime, services: tuple[str, ...], service: str) -> list[
            DetectionEvent]:
        inc = self._open
        assert inc is not None
        impact = max(inc.impact, self._impact(services), key=lambda i: i.rank)
        if services == inc.services and impact == inc.impact:
            return []
        self._open = replace(inc, services=services, impact=impact)
        return [self._event("escalated", at, service=service, state=self._tracks[service].state)]

    def _impact(self, services: Sequence[str]) -> Impact:
        states = {name: self._tracks[name].state for name in services if name in self._tracks}
        down = {name for name, st in states.items() if st == State.DOWN}
        if self._services and down >= set(self._services):
            return Impact.CRITICAL
        if down:
            return Impact.MAJOR
        return Impact.MINOR

    def _event(self, kind: EventKind, at: datetime, *, service: str | None = None,
               state: State | None = None) -> DetectionEvent:
        inc = self._open
        assert inc is not None
        return DetectionEvent(kind, at, inc.key, inc.services, inc.impact,
                              self._policy.severity(inc.impact), service=service, state=state)


# ---- views for the status page and the response report ------------------------------------


class IncidentSource(Protocol):
    """Where stored incidents are read from (the ledger)."""

    def incidents(self, *, since: datetime | None = None, open_only: bool = False,
                  detected_only: bool = False, limit: int | None = None) -> list[Incident]: ...


@dataclass(frozen=True)
class ResponseRow:
    incident: int
    severity: str
    detected_at: datetime
    first_human_update_at: datetime | None
    resolved_at: datetime | None
    business_minutes_to_response: int | None  # None: no human update yet
    target_minutes: int | None  # None: no target for this severity
    met: bool | None  # None when it cannot be said yet (no response, no target)


def response_report(incidents: Sequence[Incident], coverage: Coverage, tz: ZoneInfo,
                    month: tuple[int, int], policy: IncidentPolicy) -> list[ResponseRow]:
    """First-response times of the incidents detected in ``month`` (year, month) in ``tz``,
    counted in business minutes of ``coverage``; oldest first.

    An incident without a human update yet has ``met=None`` (not decided), as does one whose
    severity has no target.
    """
    lo, hi = month_bounds(*month, tz)
    rows = []
    for inc in sorted(incidents, key=lambda i: (i.detected_at, i.id)):
        start = epoch_minute(inc.detected_at)
        if not lo <= start < hi:
            continue
        first = inc.first_human_update
        target = policy.response_targets.get(inc.severity)
        target_min = None if target is None else int(target.total_seconds() // 60)
        spent = None
        if first is not None:
            end = epoch_minute(first.at)
            spent = sum(b - a for a, b in covered_ranges(coverage, tz, start, max(start, end)))
        met = None if spent is None or target_min is None else spent <= target_min
        rows.append(ResponseRow(inc.id, inc.severity, inc.detected_at,
                                None if first is None else first.at, inc.resolved_at, spent,
                                target_min, met))
    return rows


def policy_from_config(config: Config | IncidentConfig) -> IncidentPolicy:
    """The detector's and the response report's :class:`IncidentPolicy` from ``incident:``."""
    inc = config.incident if isinstance(config, Config) else config
    names = inc.severities.by_impact()
    severities = {Impact(impact): name for impact, name in names.items()}
    severities[Impact.NONE] = names["minor"]
    return IncidentPolicy(open_after=inc.open_after, resolve_after=inc.resolve_after,
                          severities=severities, response_targets=inc.targets())
