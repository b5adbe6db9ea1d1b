"""Time as upwatch counts it: UTC epoch minutes, and UTC instants written as ISO 8601 text.

Everything is stored and computed in UTC; local time appears only for calendars and display
(:mod:`monitor.core.coverage`, the status page). Minute ``m`` is ``[EPOCH + m·60 s, +60 s)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import overload

__all__ = ["EPOCH", "MINUTE", "ceil_minute", "epoch_minute", "iso_utc", "minute_start"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def epoch_minute(dt: datetime) -> int:
    """The epoch minute ``dt`` falls in (floor). ``dt`` must be timezone-aware."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"epoch_minute needs a timezone-aware datetime, got {dt!r}")
    return (dt - EPOCH) // MINUTE


def ceil_minute(dt: datetime) -> int:
    """The first epoch minute whose start is at or after ``dt`` (timezone-aware)."""
    return -((EPOCH - dt) // MINUTE)


def minute_start(m: int) -> datetime:
    """When epoch minute ``m`` begins, UTC-aware."""
    return EPOCH + m * MINUTE


@overload
def iso_utc(when: datetime) -> str: ...
@overload
def iso_utc(when: None) -> None: ...
def iso_utc(when: datetime | None) -> str | None:
    """``2026-10-01T02:00:00Z``: UTC, whole seconds (truncated), a ``Z`` suffix; None stays
    None. Every timestamp upwatch writes as text (reports, JSON, pages, messages) is this."""
    if when is None:
        return None
    return _iso(when.astimezone(UTC))


#: Kept by the instant in UTC (two local times compare equal by their wall clocks, fold or
#: not): a page rebuilt every minute writes the same window times thousands of times.
@lru_cache(maxsize=8192)
def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")
