"""The slow, obvious monthly uptime: walk every minute of the month and apply DESIGN.md's words.

Used only by the tests, as an oracle for ``monitor.core.sla.month_uptime``. It shares no code with
``monitor.core.coverage``, ``monitor.core.intervals`` or ``monitor.core.windows``: each minute is
turned into local time, its date checked against holidays (``holidays`` package), closed dates and
seasonal ranges, its time against each rule's hours, and its start against each window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from monitor.core.checks import State
from monitor.core.minutes import Run
from monitor.core.windows import Window


@dataclass
class Reference:
    total: int = 0
    covered: int = 0
    maintenance: int = 0
    excluded: int = 0
    nodata: int = 0
    eligible: int = 0
    down: int = 0
    degraded: int = 0
    per_window: dict[str, int] = field(default_factory=dict)

    @property
    def uptime(self) -> float | None:
        return 100 * (self.eligible - self.down) / self.eligible if self.eligible else None


@lru_cache(maxsize=64)
def _holidays(code: str, year: int) -> Any:
    country, _, subdiv = code.partition("-")
    return holidays.country_holidays(country, subdiv=subdiv or None, years=year)


@lru_cache(maxsize=16)
def month_minutes(tz_key: str, year: int, month: int) -> tuple[tuple[int, datetime], ...]:
    """Every epoch minute whose start, in local time, lies in the month, with that local time."""
    tz = ZoneInfo(tz_key)
    first = int(datetime(year, month, 1, tzinfo=UTC).timestamp()) // 60 - 2 * 1440
    out = []
    for m in range(first, first + 35 * 1440):
        local = datetime.fromtimestamp(m * 60, tz)
        if (local.year, local.month) == (year, month):
            out.append((m, local))
    return tuple(out)


def _in_dates(start: tuple[int, int], end: tuple[int, int], d: date) -> bool:
    md = (d.month, d.day)
    if tuple(start) <= tuple(end):
        return tuple(start) <= md <= tuple(end)
    return md >= tuple(start) or md <= tuple(end)


def minute_covered(coverage: Any, local: datetime) -> bool:
    """The auditor's reading of the coverage for one minute start (local wall time)."""
    d = local.date()
    if d in coverage.closed:
        return False
    for code in coverage.holidays:
        if d in _holidays(code, d.year):
            return False
    if coverage.always:
        return True
    tod = local.hour * 60 + local.minute
    seasonal = [r for r in coverage.rules
                if r.dates is not None and _in_dates(r.dates.start, r.dates.end, d)]
    rules = seasonal if seasonal else [r for r in coverage.rules if r.dates is None]
    return any(d.weekday() in r.days and r.start_minute <= tod < r.end_minute for r in rules)


def _counts(w: Window, t: datetime) -> bool:
    if not (w.start <= t < w.end):
        return False
    if w.kind == "exclusion":
        return w.cancelled_at is None
    if w.declared_at is not None and t < w.declared_at:
        return False
    return w.cancelled_at is None or t < w.cancelled_at


def reference_month(
    *, service: str, sla: Any, year: int, month: int, runs: Sequence[Run],
    windows: Sequence[Window], until: int | None = None,
) -> Reference:
    state_at: dict[int, State] = {}
    for run in runs:
        for m in range(run.start, run.end):
            state_at[m] = run.state
    mine = [w for w in windows if service in w.services]
    order = sorted(mine, key=lambda w: (w.start, w.end, w.id))
    ref = Reference()
    for m, local in month_minutes(sla.timezone, year, month):
        if until is not None and m >= until:
            continue
        ref.total += 1
        if not minute_covered(sla.coverage, local):
            continue
        ref.covered += 1
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
        hit = None
        for kind in ("maintenance", "exclusion"):
            hit = next((w for w in order if w.kind == kind and _counts(w, t)), None)
            if hit is not None:
                break
        if hit is not None:
            ref.per_window[hit.id] = ref.per_window.get(hit.id, 0) + 1
            if hit.kind == "maintenance":
                ref.maintenance += 1
            else:
                ref.excluded += 1
            continue
        state = state_at.get(m, State.NODATA)
        if state == State.NODATA:
            ref.nodata += 1
            continue
        ref.eligible += 1
        ref.down += state == State.DOWN
        ref.degraded += state == State.DEGRADED
    return ref
