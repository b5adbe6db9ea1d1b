"""Which minutes an SLA covers: coverage rules evaluated in the SLA's local time.

A minute is covered when its *start*, read as local wall time in the SLA's zone, falls on a
local date that is neither a public holiday nor a closed date, inside the hours of a rule that
applies that day. On a date inside any seasonal rule's ``dates`` only the seasonal rules apply;
otherwise the undated rules do. ``always`` (24x7) covers every hour of every such date.

Minutes are UTC epoch minutes (see ``monitor.core.minutes``). :func:`covered_ranges` works one local
day at a time, split where the UTC offset changes, so a DST day is exact: on the spring-forward
day the skipped hour has no minutes, on the autumn day the repeated hour is covered twice (both
real hours) when the rule's hours include it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from monitor.config import Coverage
from monitor.core.intervals import Ranges, intersect, normalize
from monitor.times import ceil_minute

__all__ = [
    "covered_ranges",
    "day_hours",
    "holiday_dates",
    "is_covered",
    "month_bounds",
]

_DAY_S = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_PROBE_S = 6 * 3600  # offset changes are found by probing this often, then bisecting


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[int, int]:
    """Epoch minutes ``[start, end)`` of a calendar month in ``tz``.

    From local midnight of the 1st to local midnight of the next month's 1st. A midnight that
    does not exist (a DST gap at 00:00) is the moment the day begins.
    """
    nxt_year, nxt_month = (year + 1, 1) if month == 12 else (year, month + 1)
    lo = datetime(year, month, 1, tzinfo=tz)
    hi = datetime(nxt_year, nxt_month, 1, tzinfo=tz)
    return ceil_minute(lo), ceil_minute(hi)


@lru_cache(maxsize=512)
def holiday_dates(code: str, year: int) -> frozenset[date]:
    """Public holidays of calendar ``code`` ("DK", "GB-ENG") in ``year``."""
    country, _, subdiv = code.partition("-")
    cal = holidays.country_holidays(country, subdiv=subdiv or None, years=year)
    return frozenset(cal.keys())


def day_hours(coverage: Coverage, d: date) -> list[tuple[int, int]]:
    """The covered ``[start_minute, end_minute)`` spans of local date ``d`` (may overlap)."""
    if d in coverage.closed or any(d in holiday_dates(c, d.year) for c in coverage.holidays):
        return []
    if coverage.always:
        return [(0, 1440)]
    wd = d.weekday()
    return [(r.start_minute, r.end_minute) for r in coverage.rules_for(d) if wd in r.days]


def _offset_s(tz: ZoneInfo, t: int) -> int:
    off = datetime.fromtimestamp(t, tz).utcoffset()
    assert off is not None
    return off // timedelta(seconds=1)


def _segments(tz: ZoneInfo, u0: int, u1: int) -> list[tuple[int, int, int]]:
    """``[u0, u1)`` (epoch seconds) cut where the UTC offset changes: ``(lo, hi, offset_s)``.

    Offset changes are found by probing every 6 hours and bisecting to the second, so two
    changes less than 6 hours apart that cancel out would be missed (tzdata has none).
    """
    out: list[tuple[int, int, int]] = []
    seg = a = u0
    oa = _offset_s(tz, a)
    while a < u1 - 1:
        b = min(a + _PROBE_S, u1 - 1)
        if _offset_s(tz, b) == oa:
            a = b
            continue
        lo, hi = a, b  # offset(lo) == oa != offset(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_s(tz, mid) == oa:
                lo = mid
            else:
                hi = mid
        out.append((seg, hi, oa))
        seg = a = hi
        oa = _offset_s(tz, hi)
    out.append((seg, u1, oa))
    return out


@dataclass(frozen=True)
class _Key:
    """Hashable identity of a coverage (the config model itself need not be hashable)."""

    fields: tuple[object, ...]
    coverage: Coverage = field(compare=False, hash=False)


def _key(coverage: Coverage) -> _Key:
    rules = tuple(
        (
            tuple(sorted(r.days)),
            r.start_minute,
            r.end_minute,
            None if r.dates is None else (tuple(r.dates.start), tuple(r.dates.end)),
        )
        for r in coverage.rules
    )
    return _Key(
        (coverage.always, rules, tuple(coverage.holidays), tuple(coverage.closed)), coverage
    )


@lru_cache(maxsize=1024)
def _covered(key: _Key, tz: ZoneInfo, start: int, end: int) -> tuple[tuple[int, int], ...]:
    coverage = key.coverage
    if coverage.always and not coverage.holidays and not coverage.closed:
        return ((start, end),)
    found: Ranges = []
    for s0, s1, off in _segments(tz, start * 60, end * 60):
        for day in range((s0 + off) // _DAY_S, (s1 - 1 + off) // _DAY_S + 1):
            d = date.fromordinal(_EPOCH_ORDINAL + day)
            for smin, emin in day_hours(coverage, d):
                # UTC seconds whose local wall time is inside the span, within this segment
                lo = max(s0, day * _DAY_S + smin * 60 - off)
                hi = min(s1, day * _DAY_S + emin * 60 - off)
                if lo < hi:
                    found.append((-(-lo // 60), -(-hi // 60)))
    return tuple(intersect(normalize(found), [(start, end)]))


def covered_ranges(coverage: Coverage, tz: ZoneInfo, start: int, end: int) -> Ranges:
    """The covered epoch minutes in ``[start, end)``, as normalized ranges.

    One range per covered local day-span (fewer where spans touch). Results are cached per
    (coverage, zone, start, end), so a monthly report computes each calendar once.
    """
    if end <= start:
        return []
    return list(_covered(_key(coverage), tz, start, end))


def is_covered(coverage: Coverage, tz: ZoneInfo, when: datetime) -> bool:
    """Whether the instant ``when`` (aware) lies inside the coverage, read in ``tz``."""
    if when.tzinfo is None:
        raise ValueError(f"is_covered needs a timezone-aware datetime, got {when!r}")
    local = when.astimezone(tz)
    tod = timedelta(
        hours=local.hour, minutes=local.minute, seconds=local.second,
        microseconds=local.microsecond,
    )
    return any(
        timedelta(minutes=s) <= tod < timedelta(minutes=e)
        for s, e in day_hours(coverage, local.date())
    )
