"""The incident desk: detection and people's updates → ledger and outbox, at run time.

It turns the detector's events into stored incident updates and notifications, each change
committed with its outbox rows in one transaction (``Ledger.atomically``), through the ledger
writer's thread. :meth:`IncidentDesk.on_result` is the scheduler's ``on_result`` hook: it only
runs the pure detector and schedules the storing, so the probers never wait for it. The admin
API (``monitor.web.incidents``) and the CLI (``monitor.cli.incidents``) call it too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Config, ServiceConfig, unknown_service_problem
from monitor.core.checks import CheckResult, State
from monitor.core.clock import Clock
from monitor.core.incidents import Impact, Incident, IncidentPolicy, IncidentStatus, IncidentUpdate
from monitor.core.windows import Window, windows_from_config
from monitor.errors import UpwatchError
from monitor.incidents.detection import DetectionEvent, Detector, OpenIncident
from monitor.incidents.markdown import render
from monitor.notify import Event
from monitor.notify.outbox import LedgerAccess, Outbox
from monitor.store.ledger import Ledger
from monitor.times import iso_utc

__all__ = ["MAX_INCIDENT_ID", "IncidentDesk", "IncidentInputError", "incident_json",
           "state_event", "update_event"]

log = logging.getLogger("upwatch.incidents")
MAX_TITLE, MAX_BODY = 200, 20_000
#: The largest id an incident can have (SQLite's largest integer); a larger one finds nothing.
MAX_INCIDENT_ID = 2**63 - 1

_OPEN_STATUSES = ("investigating", "identified", "monitoring")


class IncidentInputError(UpwatchError):
    """A person's incident input is unusable; ``problems`` has one line per field."""


def _hhmm(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%H:%M UTC")


def update_event(incident: Incident, update: IncidentUpdate) -> Event:
    """The notification of one incident update."""
    return Event(
        f"incident-update:{update.id}", "incident", update.at,
        f"[{incident.severity}] {incident.title}: {update.status.value}", update.body,
        incident.services, {"incident_id": incident.id, "update_id": update.id,
                            "status": update.status.value, "impact": incident.impact.value,
                            "severity": incident.severity, "author": update.author})


def state_event(ev: DetectionEvent) -> Event:
    """The notification of a service's state change."""
    assert ev.service is not None and ev.state is not None
    minute = int(ev.at.timestamp() // 60)
    previous = ev.previous.label if ev.previous is not None else "nodata"
    return Event(f"state:{ev.service}:{minute}:{ev.state.label}", "state", ev.at,
                 f"{ev.service} is {ev.state.label}", f"{ev.service} went from {previous} to "
                 f"{ev.state.label} at {_hhmm(ev.at)}.", (ev.service,),
                 {"service": ev.service, "state": ev.state.label, "previous": previous})


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id, "title": incident.title, "impact": incident.impact.value,
        "severity": incident.severity, "status": incident.status.value,
        "services": list(incident.services), "detected_at": iso_utc(incident.detected_at),
        "created_by": incident.created_by, "resolved_at": iso_utc(incident.resolved_at),
        "automatic": incident.detection_key is not None,
        "updates": [{"id": u.id, "at": iso_utc(u.at), "status": u.status.value, "body": u.body,
                     "body_html": render(u.body), "author": u.author, "human": u.human}
                    for u in incident.updates],
    }


class IncidentDesk:
    """Where incidents change at run time; one per ``upwatch run`` (or per CLI command)."""

    def __init__(self, ledger: LedgerAccess, clock: Clock, policy: IncidentPolicy,
                 config: Config | None = None, outbox: Outbox | None = None,
                 services: Sequence[str] = ()) -> None:
        self._ledger, self._clock, self._policy = ledger, clock, policy
        self._config, self._outbox = config, outbox
        names = services or (config.service_names if config is not None else ())
        self._services = tuple(names)
        self.detector = Detector(policy, names)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: asyncio.Task[None] | None = None

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config's services: people may name them, and the detector counts
        them (``critical`` means all of them down). The policy and channels stay as started."""
        self._config = config
        self._services = tuple(config.service_names)
        self.detector.set_services(self._services)

    async def resume(self) -> None:
        """Continue the open automatic incident the ledger holds, if any (after a restart)."""
        found = await self._ledger.read(
            lambda led: led.incidents(open_only=True, detected_only=True, limit=1))
        if found and found[0].detection_key is not None:
            inc = found[0]
            self.detector = Detector(self._policy, self._services, OpenIncident(
                inc.detection_key, inc.services, inc.impact,  # type: ignore[arg-type]
                taken_over=inc.first_human_update is not None))

    # ---- detection ---------------------------------------------------------------------

    def on_result(self, service: ServiceConfig, result: CheckResult, state: State, *,
                  where: str | None = None) -> None:
        """The scheduler hook: feed the detector, store what it found in the background.
        ``where``: which locations see the service how (several locations), for the texts."""
        minute = int(result.time.timestamp() // 60)
        events = self.detector.observe(service.name, minute, state, self._clock.now())
        if where is not None:
            events = [dataclasses.replace(ev, where=where) if ev.service == service.name
                      else ev for ev in events]
        self._schedule(events)

    async def tick(self) -> None:
        """Resolve a recovered incident when no check arrives (call it every minute)."""
        self._schedule(self.detector.tick(self._clock.now()))
        await self.drain()

    async def drain(self) -> None:
        """Wait until everything detected so far is stored (before closing the ledger)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    def _schedule(self, events: list[DetectionEvent]) -> None:
        """Store ``events`` in the background, strictly after those scheduled before."""
        if not events:
            return
        previous = self._last

        async def store() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await self._record_logged(events)

        task = asyncio.get_running_loop().create_task(store())
        self._last = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record_logged(self, events: list[DetectionEvent]) -> None:
        try:
            await self.record(events)
        except Exception:
            log.exception("storing incident events failed: %s", [e.kind for e in events])

    async def record(self, events: Sequence[DetectionEvent]) -> None:
        """Store detection events as incident updates, each with its notifications."""
        now = self._clock.now()
        await self._ledger.write(functools.partial(self._record_sync, list(events), now))
        if self._outbox is not None:
            self._outbox.wake()

    def _windows(self, led: Ledger, now: datetime) -> list[Window]:
        lo, hi = now - timedelta(days=1), now + timedelta(days=1)
        found: list[Window] = list(led.windows(kind="maintenance", start=lo, end=hi))
        if self._config is not None:
            found += windows_from_config(self._config, lo, hi)
        return found

    def _notify(self, led: Ledger, event: Event, now: datetime) -> None:
        if self._outbox is not None and self._outbox.delivers:
            rows = self._outbox.rows_in(led, event, self._windows(led, now))
            if rows:
                led.enqueue_notifications(rows, now)

    def _record_sync(self, events: list[DetectionEvent], now: datetime, led: Ledger) -> None:
        for ev in events:
            led.atomically(functools.partial(self._one, ev, now))

    def _one(self, ev: DetectionEvent, now: datetime, led: Ledger) -> None:
        if ev.kind == "state":
            self._notify(led, state_event(ev), now)
            return
        assert ev.key is not None
        what = "down" if ev.state == State.DOWN else "degraded"
        if ev.kind == "opened":
            inc, created = led.open_incident(
                title=f"{', '.join(ev.services)} {what}", impact=ev.impact, severity=ev.severity,
                services=ev.services, detected_at=ev.at, at=now, author="detector", human=False,
                body=f"upwatch detected that **{ev.service}** is {what} since {_hhmm(ev.at)}"
                     + (f" ({ev.where})." if ev.where else "."),
                detection_key=ev.key)
            if created:
                self._notify(led, update_event(inc, inc.updates[0]), now)
            return
        inc_or_none = led.incident_by_key(ev.key)
        if inc_or_none is None or inc_or_none.status == IncidentStatus.RESOLVED:
            return
        inc = inc_or_none
        human = inc.first_human_update is not None
        status, body = inc.status, ""
        if ev.kind == "escalated":
            where = f" ({ev.where})" if ev.where else ""
            body = (f"**{ev.service}** is {what} too{where}; impact now {ev.impact.value}."
                    if ev.service not in inc.services else
                    f"**{ev.service}** is {what}{where}; impact now {ev.impact.value}.")
        elif ev.kind == "recovered":
            status = status if human else IncidentStatus.MONITORING
            body = f"**{ev.service}** is up again since {_hhmm(ev.at)}."
        elif ev.kind == "resolved":
            if human:
                return  # a person has it: only a person resolves it
            status = IncidentStatus.RESOLVED
            body = (f"All affected services have been up for {self._policy.resolve_after} "
                    "minutes.")
        posted = led.post_incident_update(
            inc.id, at=now, status=status, body=body, author="detector", human=False,
            impact=ev.impact, severity=ev.severity, services=ev.services)
        if posted is not None:
            self._notify(led, update_event(*posted), now)

    # ---- people -------------------------------------------------------------------------

    async def open(self, *, title: object, services: object, impact: object = "major",
                   status: object = "investigating", body: object = "", by: str) -> Incident:
        """Open an incident by hand; raises :class:`IncidentInputError` for bad input."""
        problems: list[str] = []
        t = self._text("title", title, MAX_TITLE, problems, required=True)
        names = self._service_list(services, problems)
        imp = self._choice("impact", impact, [i.value for i in Impact if i != Impact.NONE],
                           problems)
        st = self._choice("status", status, _OPEN_STATUSES, problems)
        b = self._text("body", body, MAX_BODY, problems)
        if problems:
            raise IncidentInputError(problems)
        now, impact_v = self._clock.now(), Impact(imp)

        def store(led: Ledger) -> Incident:
            inc, _ = led.open_incident(
                title=t, impact=impact_v, severity=self._policy.severity(impact_v),
                services=names, detected_at=now, at=now, author=by, human=True,
                status=IncidentStatus(st), body=b)
            self._notify(led, update_event(inc, inc.updates[0]), now)
            return inc

        inc = await self._ledger.write(lambda led: led.atomically(store))
        if self._outbox is not None:
            self._outbox.wake()
        return inc

    async def update(self, incident_id: int, *, status: object, body: object,
                     by: str) -> tuple[Incident, IncidentUpdate] | None:
        """Post a person's update (None: no such incident); takes the incident over."""
        problems: list[str] = []
        st = self._choice("status", status, [s.value for s in IncidentStatus], problems)
        b = self._text("body", body, MAX_BODY, problems, required=True)
        if problems:
            raise IncidentInputError(problems)
        if not 0 <= incident_id <= MAX_INCIDENT_ID:
            return None
        now = self._clock.now()

        def store(led: Ledger) -> tuple[Incident, IncidentUpdate] | None:
            posted = led.post_incident_update(incident_id, at=now, status=IncidentStatus(st),
                                              body=b, author=by, human=True)
            if posted is not None:
                self._notify(led, update_event(*posted), now)
            return posted

        posted = await self._ledger.write(lambda led: led.atomically(store))
        if posted is not None:
            key = posted[0].detection_key
            if key is not None:
                self.detector.take_over(key)
                if posted[0].status == IncidentStatus.RESOLVED:
                    self.detector.closed(key)
            if self._outbox is not None:
                self._outbox.wake()
        return posted

    async def find(self, *, open_only: bool = False, limit: int = 50) -> list[Incident]:
        """Incidents newest first."""
        return await self._ledger.read(
            lambda led: led.incidents(open_only=open_only, limit=limit))

    async def get(self, incident_id: int) -> Incident | None:
        if not 0 <= incident_id <= MAX_INCIDENT_ID:
            return None
        return await self._ledger.read(lambda led: led.incident(incident_id))

    @staticmethod
    def _text(name: str, value: object, limit: int, problems: list[str], *,
              required: bool = False) -> str:
        if not isinstance(value, str):
            problems.append(f"{name}: expected text, got {json.dumps(value)}")
            return ""
        text = value.strip()
        if required and not text:
            problems.append(f"{name}: must not be empty")
        elif len(text) > limit:
            problems.append(f"{name}: at most {limit} characters, got {len(text)}")
        return text

    @staticmethod
    def _choice(name: str, value: object, allowed: Sequence[str], problems: list[str]) -> str:
        if value not in allowed:
            problems.append(f"{name}: expected one of {', '.join(allowed)}, got "
                            f"{json.dumps(value)}")
            return allowed[0]
        return str(value)

    def _service_list(self, value: object, problems: list[str]) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(
                isinstance(s, str) for s in items):
            problems.append(f"services: expected a list of service names, got "
                            f"{json.dumps(value)}")
            return []
        unknown = [s for s in items if self._services and s not in self._services]
        if unknown:
            problems.append(f"services: {unknown_service_problem(unknown[0], self._services)}")
        return [str(s) for s in items]


# ---- HTTP ---------------------------------------------------------------------------------
