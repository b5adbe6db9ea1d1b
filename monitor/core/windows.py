"""Maintenance windows and exclusions: the periods that may leave an SLA's denominator.

A :class:`Window` is either planned *maintenance* or an after-the-fact *exclusion* (a reason is
required). Which minutes a window may remove follows DESIGN.md's audit rule, implemented in
:func:`effective_range`. Recurring windows from ``probes.yaml`` are expanded by
:func:`expand_recurring`; :func:`windows_from_config` gathers every window the file declares.
Pure: times are arguments, nothing is read from a clock or a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from itertools import islice, takewhile
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset

from monitor.config import Config, MaintenanceWindowConfig
from monitor.config.windows import MIN_RECURRENCE_GAP, RRULE_ANCHOR, recurrence
from monitor.times import ceil_minute, iso_utc

__all__ = [
    "RRULE_ANCHOR",
    "Window",
    "effective_range",
    "expand_recurring",
    "windows_from_config",
]

WindowKind = Literal["maintenance", "exclusion"]


@dataclass(frozen=True)
class Window:
    """One maintenance window or exclusion, as declared (times UTC-aware)."""

    id: str  # "cfg-m0", "cfg-x1", "cfg-m2@2026-10-04T00:00:00Z", or the database id as str
    kind: WindowKind
    services: tuple[str, ...]
    start: datetime
    end: datetime
    title: str  # the title (maintenance) or the reason (exclusion)
    declared_at: datetime | None  # None = written in probes.yaml (the file is the record)
    declared_by: str  # "probes.yaml", "cli:alice", "api:token" ...
    cancelled_at: datetime | None = None

    def applies_to(self, service: str) -> bool:
        return service in self._members

    @cached_property
    def _members(self) -> frozenset[str]:
        """The services as a set: a window of 1,000 services is asked about each of them on
        each day and month of the status page (a tuple made that quadratic)."""
        return frozenset(self.services)


def effective_range(w: Window) -> tuple[int, int] | None:
    """The epoch minutes ``[lo, hi)`` that ``w`` may remove, or None when none remain.

    Minute m is in when its start lies in the window's counted span:

    - maintenance counts from ``max(start, declared_at)``: declared after it began, it counts
      only from its declaration on (the part before can only become an exclusion);
    - an exclusion counts from ``start`` whatever ``declared_at`` (after the fact by nature);
    - both count until ``end``; a cancelled maintenance only until ``cancelled_at``;
    - a cancelled exclusion counts not at all.
    """
    lo_dt, hi_dt = w.start, w.end
    if w.kind == "maintenance":
        if w.declared_at is not None and w.declared_at > lo_dt:
            lo_dt = w.declared_at
        if w.cancelled_at is not None and w.cancelled_at < hi_dt:
            hi_dt = w.cancelled_at
    elif w.cancelled_at is not None:
        return None
    lo, hi = ceil_minute(lo_dt), ceil_minute(hi_dt)
    return (lo, hi) if lo < hi else None


def _occurrences(
    rule: rruleset, tz: ZoneInfo, lo: datetime, hi: datetime
) -> Iterator[datetime]:
    """The rule's occurrences between ``lo`` and ``hi`` (UTC), in the rule's own wall time."""
    first = next(iter(rule), None)
    if first is None:
        return iter(())
    zone: tzinfo | None = first.tzinfo
    if zone is None:  # a floating DTSTART: wall time in the window's time zone
        lo, hi = lo.astimezone(tz).replace(tzinfo=None), hi.astimezone(tz).replace(tzinfo=None)
    else:
        lo, hi = lo.astimezone(zone), hi.astimezone(zone)
    return takewhile(lambda occ: occ <= hi, rule.xafter(lo, inc=True))


def expand_recurring(
    cfg: MaintenanceWindowConfig, start: datetime, end: datetime, *, id_prefix: str
) -> list[Window]:
    """The occurrences of a recurring window that overlap ``[start, end)``, oldest first.

    The RFC 5545 rule is evaluated in ``cfg.timezone`` wall time, so "Sundays 02:00" stays
    02:00 local across DST. The rule starts at ``cfg.start`` (read in that zone) if given, else
    at Monday 2000-01-03 00:00 local (:data:`RRULE_ANCHOR`); a DTSTART written inside the rule
    text wins, and with TZID (or Z) the rule is evaluated in that zone instead. Occurrences
    start on the minute (seconds dropped). A wall time that does not exist (spring-forward gap)
    is moved forward by the gap: 02:30 on the last Sunday of March in Europe/Copenhagen starts
    at 03:30 CEST (01:30Z). A wall time that exists twice (autumn) takes the first, summer-time
    one: 02:30 on the last Sunday of October starts at 02:30 CEST (00:30Z). ``duration`` is
    elapsed time, so a 2 h window from 02:00 CEST on that Sunday ends at 03:00 CET.
    Window ids are ``f"{id_prefix}@{start:%Y-%m-%dT%H:%M:%SZ}"``, stable across periods.
    """
    if cfg.rrule is None or cfg.duration is None:
        raise ValueError(f"{id_prefix}: a recurring window needs rrule and duration")
    rule = recurrence(cfg.rrule, cfg.start, cfg.timezone)
    tz = ZoneInfo(cfg.timezone)
    lo, hi = start - cfg.duration - timedelta(days=1), end + timedelta(days=1)
    # validated rules recur at least MIN_RECURRENCE_GAP apart in wall time (+1 for a DST change)
    most = (hi - lo) // MIN_RECURRENCE_GAP + 2
    occurrences = list(islice(_occurrences(rule, tz, lo, hi), most + 1))
    if len(occurrences) > most:
        raise ValueError(f"{id_prefix}: {cfg.rrule!r} occurs more than {most} times between "
                         f"{iso_utc(lo)} and {iso_utc(hi)}")
    out: list[Window] = []
    for occ in occurrences:
        wall = occ.replace(second=0, microsecond=0, fold=0)
        if wall.tzinfo is None:
            wall = wall.replace(tzinfo=tz)
        w_start = wall.astimezone(UTC)
        w_end = w_start + cfg.duration
        if w_start < end and w_end > start:
            out.append(
                Window(
                    id=f"{id_prefix}@{iso_utc(w_start)}",
                    kind="maintenance",
                    services=tuple(cfg.services),
                    start=w_start,
                    end=w_end,
                    title=cfg.title,
                    declared_at=None,
                    declared_by="probes.yaml",
                )
            )
    return out


def windows_from_config(cfg: Config, start: datetime, end: datetime) -> list[Window]:
    """Every window ``probes.yaml`` declares that overlaps ``[start, end)``.

    One-off maintenance is ``cfg-m<i>``, each occurrence of a recurring one
    ``cfg-m<i>@<start>``, exclusions ``cfg-x<i>`` (``i`` = position in the file). Windows from
    the file are declared by ``"probes.yaml"``; maintenance there has no ``declared_at`` and
    counts in full, an exclusion keeps the ``declared_at`` the file gives it.
    """
    out: list[Window] = []
    for i, m in enumerate(cfg.maintenance):
        if m.rrule is not None:
            out.extend(expand_recurring(m, start, end, id_prefix=f"cfg-m{i}"))
        elif m.start is not None and m.end is not None and m.start < end and m.end > start:
            out.append(
                Window(
                    id=f"cfg-m{i}",
                    kind="maintenance",
                    services=tuple(m.services),
                    start=m.start.astimezone(UTC),
                    end=m.end.astimezone(UTC),
                    title=m.title,
                    declared_at=None,
                    declared_by="probes.yaml",
                )
            )
    for i, x in enumerate(cfg.exclusions):
        if x.start < end and x.end > start:
            out.append(
                Window(
                    id=f"cfg-x{i}",
                    kind="exclusion",
                    services=tuple(x.services),
                    start=x.start.astimezone(UTC),
                    end=x.end.astimezone(UTC),
                    title=x.reason,
                    declared_at=x.declared_at,
                    declared_by="probes.yaml",
                )
            )
    return out
