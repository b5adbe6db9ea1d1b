"""Maintenance notifications: which windows were scheduled, began or ended, announced once
each.

:func:`maintenance_scheduled`: the windows declared (through the CLI or the API) in ``(since,
until]`` to start later, ``maintenance:<window id>:scheduled``, so that channels and the page's
subscribers hear of planned work ahead of it.

:func:`maintenance_transitions` is pure: the windows that started or ended in ``(since,
until]``, as :class:`~monitor.notify.Event` s. A window starts and ends when
:func:`~monitor.core.windows.effective_range` says it counts: a window declared after it began
starts at its declaration, a cancelled one ends at its cancellation (and one cancelled before
it began never starts). Exclusions are not announced. Event ids are
``maintenance:<window id>:start`` / ``…:end``; with the channel they are the outbox's
idempotency key, so an event is queued once however often it is computed.

:class:`MaintenanceAnnouncer` is the glue ``upwatch run`` calls every minute: it reads the
windows in the ledger writer's thread and publishes what changed since its last call through
the outbox. Its first call looks back ``catch_up`` so a transition missed while upwatch was
stopped is still announced (and one announced before the restart is not queued again). Each
later call looks back ``overlap`` before the previous one too: a window cancelled or declared
at the very instant of a call, on a whole minute, changes the past of that call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from monitor.core.clock import Clock
from monitor.core.windows import Window, effective_range
from monitor.notify import Event
from monitor.times import iso_utc, minute_start
from monitor.windows.sources import WindowsFn

if TYPE_CHECKING:
    from monitor.notify.outbox import LedgerAccess, Outbox

__all__ = ["AHEAD", "MaintenanceAnnouncer", "maintenance_scheduled", "maintenance_transitions"]

#: Where the announcer reads windows from: ``fn(ledger, start, end)`` → windows overlapping.

Phase = Literal["scheduled", "start", "end"]
#: How far ahead a window declared now may start and still be announced as scheduled.
AHEAD = timedelta(days=400)
_MINUTE = timedelta(minutes=1)


def _show(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")



def _event(w: Window, phase: Phase, at: datetime, start: datetime, end: datetime) -> Event:
    services = ", ".join(w.services)
    cancelled = w.cancelled_at is not None and end < w.end
    if phase == "scheduled":
        title = f"Maintenance scheduled: {w.title}"
        text = f"Maintenance of {services} is planned from {_show(start)} to {_show(end)}."
    elif phase == "start":
        title = f"Maintenance started: {w.title}"
        text = (f"Maintenance of {services} started at {_show(at)}; planned to end at "
                f"{_show(end)}.")
    else:
        title = f"Maintenance ended: {w.title}"
        text = f"Maintenance of {services} ended at {_show(at)}" + (
            f" (cancelled; it was planned until {_show(w.end)})." if cancelled else ".")
    return Event(f"maintenance:{w.id}:{phase}", "maintenance", at, title, text, w.services,
                 {"window_id": w.id, "phase": phase, "title": w.title, "start": iso_utc(start),
                  "end": iso_utc(end), "declared_by": w.declared_by, "cancelled": cancelled})


def maintenance_transitions(windows: Sequence[Window], since: datetime,
                            until: datetime) -> list[Event]:
    """Events for the maintenance windows that started or ended in ``(since, until]``.

    Oldest first; at the same time an end comes before a start (one window handing over to
    the next), then by window id. A window listed twice (same id) is announced once.
    """
    found: dict[str, tuple[datetime, int, str, Event]] = {}
    for w in windows:
        span = effective_range(w) if w.kind == "maintenance" else None
        if span is None:
            continue
        start, end = minute_start(span[0]), minute_start(span[1])
        phases: tuple[tuple[Phase, datetime, int], ...] = (("start", start, 1), ("end", end, 0))
        for phase, at, order in phases:
            if since < at <= until:
                ev = _event(w, phase, at, start, end)
                found.setdefault(ev.id, (at, order, w.id, ev))
    return [ev for *_, ev in sorted(found.values(), key=lambda t: t[:3])]


def maintenance_scheduled(windows: Sequence[Window], since: datetime,
                          until: datetime) -> list[Event]:
    """Events for the maintenance windows declared in ``(since, until]`` ahead of their start
    (``maintenance:<id>:scheduled``), by declaration time. Windows of probes.yaml have no
    moment of declaration and are not announced this way; a cancelled one is not either."""
    found: dict[str, tuple[datetime, Event]] = {}
    for w in windows:
        declared = w.declared_at
        if (w.kind != "maintenance" or declared is None or w.cancelled_at is not None
                or not since < declared <= until or w.start <= declared):
            continue
        ev = _event(w, "scheduled", declared, w.start, w.end)
        found.setdefault(ev.id, (declared, ev))
    return [ev for _, ev in sorted(found.values(), key=lambda t: (t[0], t[1].id))]


class MaintenanceAnnouncer:
    """Publishes maintenance start/end events through the outbox; call :meth:`tick` every
    minute (``upwatch run`` does)."""

    def __init__(self, ledger: LedgerAccess, outbox: Outbox, clock: Clock,
                 windows: WindowsFn, *, catch_up: timedelta = timedelta(hours=1),
                 overlap: timedelta = timedelta(minutes=5)) -> None:
        self._ledger, self._outbox, self._clock = ledger, outbox, clock
        self._windows, self._catch_up, self._overlap = windows, catch_up, overlap
        self._until: datetime | None = None

    async def tick(self) -> int:
        """Queue the transitions since the last call; returns how many outbox rows were new."""
        until = self._clock.now()
        since = until - self._catch_up if self._until is None else min(
            self._until, until) - self._overlap
        windows_fn = self._windows
        windows = await self._ledger.read(
            lambda led: list(windows_fn(led, since - _MINUTE, until + _MINUTE)))
        # declared windows starting later: announced as scheduled when they were declared
        ahead = await self._ledger.read(lambda led: list(led.windows(
            kind="maintenance", start=until, end=until + AHEAD)))
        added = 0
        for event in [*maintenance_scheduled(ahead, since, until),
                      *maintenance_transitions(windows, since, until)]:
            added += await self._outbox.publish(event)
        self._until = until
        return added
