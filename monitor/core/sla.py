"""Monthly uptime, exactly as DESIGN.md "Monthly uptime" defines it.

For one service and one period of epoch minutes:

- covered = the period's minutes inside the coverage;
- maintenance = covered minutes inside a maintenance window's effective range;
- excluded = covered, non-maintenance minutes inside an exclusion's effective range;
- nodata = the remaining covered minutes with no state;
- eligible = covered - maintenance - excluded - nodata; down / degraded are eligible minutes in
  that state (degraded counts as up);
- uptime_percent = 100 x (eligible - down) / eligible, None when nothing is eligible;
- met = uptime_percent >= target; budget = eligible x (1 - target / 100); remaining =
  budget - down.

``met`` and the budgets are computed exactly, with the target as written (99.9 is 999/10);
the report rounds the exact values half away from zero. Work is linear in runs, ranges and
windows, never per minute. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from monitor.config import SlaConfig
from monitor.core.checks import State
from monitor.core.coverage import covered_ranges, month_bounds
from monitor.core.intervals import Ranges, intersect, normalize, runs_in, subtract, total
from monitor.core.minutes import Run
from monitor.core.windows import Window, WindowKind, effective_range
from monitor.times import iso_utc

__all__ = ["AppliedWindow", "Uptime", "month_uptime", "period_uptime", "report_dict"]

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class AppliedWindow:
    """A window as it applied to one service in one period.

    ``minutes`` are the covered minutes it removed. Where windows overlap, a minute is counted
    once: for the earliest-starting window of its kind (then the earliest-ending, then by id),
    and maintenance takes it before any exclusion.
    """

    id: str
    kind: WindowKind
    title: str
    start: datetime
    end: datetime
    declared_at: datetime | None
    declared_by: str
    cancelled_at: datetime | None
    minutes: int
    warnings: tuple[str, ...] = ()  # given when it was declared (declared windows only)


@dataclass(frozen=True)
class Uptime:
    """One service's uptime for one period (epoch minutes ``[period_start, period_end)``)."""

    service: str
    period_start: int
    period_end: int
    target_percent: float
    total_minutes: int
    covered_minutes: int
    maintenance_minutes: int
    excluded_minutes: int
    nodata_minutes: int
    eligible_minutes: int
    down_minutes: int
    degraded_minutes: int
    uptime_percent: float | None
    met: bool | None
    budget_minutes: float
    budget_remaining_minutes: float
    maintenance: tuple[AppliedWindow, ...]
    exclusions: tuple[AppliedWindow, ...]


def _apply(
    windows: list[tuple[Window, tuple[int, int]]], pool: Ranges
) -> tuple[Ranges, tuple[AppliedWindow, ...]]:
    """Credit ``pool`` minutes to ``windows`` (in order); returns all minutes they take."""
    taken = intersect(pool, normalize(r for _, r in windows))
    left = taken
    applied: list[AppliedWindow] = []
    for w, r in windows:
        mine = intersect(left, [r])
        left = subtract(left, mine)
        applied.append(
            AppliedWindow(
                w.id, w.kind, w.title, w.start, w.end, w.declared_at, w.declared_by,
                w.cancelled_at, total(mine), tuple(getattr(w, "warnings", ())),
            )
        )
    return taken, tuple(applied)


@lru_cache(maxsize=1024)
def _exact(target: float) -> tuple[int, int]:
    """The target as written, as a fraction ``p / q`` in lowest terms (99.9 is 999/10, not the
    nearest binary float)."""
    exact = Fraction(Decimal(repr(target)))
    return exact.numerator, exact.denominator


def _budget(eligible: int, target: float) -> tuple[int, int]:
    """The error budget in minutes, ``eligible × (100 − target) / 100``, as a numerator and a
    denominator (integers: exact, and a tenth of the time ``Fraction`` takes; a status page
    works out 11,000 of them from nothing)."""
    p, q = _exact(target)
    return eligible * (100 * q - p), 100 * q


def _round(n: int, d: int, places: int) -> float:
    """``n / d`` (``d`` > 0) rounded half away from zero to ``places`` decimals, exactly, then
    as a float."""
    k = (2 * abs(n) * 10**places + d) // (2 * d)  # ⌊|n / d| · 10^places + ½⌋
    return math.copysign(k / 10**places, n) if k else 0.0


def period_uptime(
    *,
    service: str,
    target: float,
    start: int,
    end: int,
    covered: Ranges,
    runs: Sequence[Run],
    windows: Sequence[Window],
) -> Uptime:
    """Uptime of ``service`` over epoch minutes ``[start, end)``.

    ``covered`` are the covered minutes (normalized; anything outside the period is ignored),
    ``runs`` the service's sorted runs, ``windows`` any windows (those for other services or
    outside the period are skipped; a window is listed when its effective range meets the
    period, even if it removed no covered minute).
    """
    end = max(start, end)
    cov = intersect(covered, [(start, end)])
    per_kind: dict[str, list[tuple[Window, tuple[int, int]]]] = {
        "maintenance": [], "exclusion": []
    }
    for w in windows:
        eff = effective_range(w) if w.applies_to(service) else None
        if eff is not None and eff[0] < end and eff[1] > start:
            per_kind[w.kind].append((w, eff))
    for ws in per_kind.values():
        ws.sort(key=lambda p: (p[0].start, p[0].end, p[0].id))
    maint, maint_applied = _apply(per_kind["maintenance"], cov)
    rest = subtract(cov, maint)
    excl, excl_applied = _apply(per_kind["exclusion"], rest)
    rest = subtract(rest, excl)
    up = runs_in(runs, rest, State.UP)
    down = runs_in(runs, rest, State.DOWN)
    degraded = runs_in(runs, rest, State.DEGRADED)
    eligible = up + down + degraded
    uptime = 100 * (eligible - down) / eligible if eligible else None
    p, q = _exact(target)
    budget, per = _budget(eligible, target)
    return Uptime(
        service=service,
        period_start=start,
        period_end=end,
        target_percent=target,
        total_minutes=end - start,
        covered_minutes=total(cov),
        maintenance_minutes=total(maint),
        excluded_minutes=total(excl),
        nodata_minutes=total(rest) - eligible,
        eligible_minutes=eligible,
        down_minutes=down,
        degraded_minutes=degraded,
        uptime_percent=uptime,
        # 100 (e − d) / e ≥ p / q; an int divided by an int is correctly rounded, as a Fraction
        # made a float is
        met=100 * (eligible - down) * q >= p * eligible if eligible else None,
        budget_minutes=budget / per,
        budget_remaining_minutes=(budget - down * per) / per,
        maintenance=maint_applied,
        exclusions=excl_applied,
    )


def month_uptime(
    *,
    service: str,
    sla: SlaConfig,
    year: int,
    month: int,
    runs: Sequence[Run],
    windows: Sequence[Window],
    until: int | None = None,
) -> Uptime:
    """Uptime of ``service`` for a calendar month in the SLA's time zone.

    ``until`` (epoch minute) makes it month to date: minutes at or after it are not counted at
    all, not even in ``total_minutes``. The month's coverage is computed once and cached.
    """
    tz = sla.tz
    start, end = month_bounds(year, month, tz)
    covered = covered_ranges(sla.coverage, tz, start, end)
    if until is not None:
        end = min(end, max(start, until))
    return period_uptime(
        service=service, target=sla.target, start=start, end=end, covered=covered, runs=runs,
        windows=windows,
    )



def _window_dict(w: AppliedWindow) -> dict[str, object]:
    return {
        "id": w.id,
        ("title" if w.kind == "maintenance" else "reason"): w.title,
        "start": iso_utc(w.start),
        "end": iso_utc(w.end),
        "declared_at": iso_utc(w.declared_at),
        "declared_by": w.declared_by,
        "cancelled_at": iso_utc(w.cancelled_at),
        "minutes": w.minutes,
        "warnings": list(w.warnings),
    }


def report_dict(u: Uptime, month: str) -> dict[str, object]:
    """One service object of the report JSON (DESIGN.md), keys in the documented order.

    uptime_percent is rounded to 4 decimals and the budgets to 2, from the exact values
    (half away from zero); times are ISO 8601 UTC with a Z.

    ``month`` ("YYYY-MM") is the report's month; it belongs to the report's top level, so it is
    only checked here (ValueError if malformed), not repeated in the object.
    """
    if not _MONTH.fullmatch(month):
        raise ValueError(f'month must look like "2026-10", got "{month}"')
    e, d = u.eligible_minutes, u.down_minutes
    budget, per = _budget(e, u.target_percent)
    return {
        "service": u.service,
        "target_percent": u.target_percent,
        "total_minutes": u.total_minutes,
        "covered_minutes": u.covered_minutes,
        "maintenance_minutes": u.maintenance_minutes,
        "excluded_minutes": u.excluded_minutes,
        "nodata_minutes": u.nodata_minutes,
        "eligible_minutes": e,
        "down_minutes": d,
        "degraded_minutes": u.degraded_minutes,
        "uptime_percent": _round(100 * (e - d), e, 4) if e else None,
        "met": u.met,
        "budget_minutes": _round(budget, per, 2),
        "budget_remaining_minutes": _round(budget - d * per, per, 2),
        "maintenance": [_window_dict(w) for w in u.maintenance],
        "exclusions": [_window_dict(w) for w in u.exclusions],
    }
