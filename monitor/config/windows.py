"""Time taken out of the SLA in probes.yaml: maintenance windows (one-off or recurring),
exclusions, and the rules for declaring maintenance at run time (``maintenance_policy``).

Their minutes are worked out in :mod:`monitor.core.windows`; windows declared at run time
are checked against the policy in :mod:`monitor.windows.declarations`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import islice
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr
from pydantic import BaseModel, BeforeValidator, model_validator

from monitor.config.durations import (
    POSITIVE,
    Duration,
    UtcDatetime,
    at_least,
    format_duration,
    invalid,
)
from monitor.config.fields import MODEL_CONFIG, Text, TimeZone
from monitor.times import iso_utc

__all__ = ["MIN_RECURRENCE_GAP", "RRULE_ANCHOR", "ExclusionConfig", "MaintenancePolicy",
           "MaintenanceWindowConfig", "recurrence"]

#: Occurrences of a recurring window are at least this far apart (in the rule's wall time), so
#: a month holds at most ~745 of them: each one is a window that reports, the page and the SLA
#: metrics work through.
MIN_RECURRENCE_GAP = timedelta(hours=1)

# Where a recurring rule without DTSTART starts counting (local wall time, a Monday). The parts
# a rule leaves out come from here: weekday Monday, day of month 3, time 00:00.
RRULE_ANCHOR = (2000, 1, 3)


def _services(value: object) -> object:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list | tuple) and not names:
        raise invalid("must name at least one service")
    return names


Services = Annotated[tuple[str, ...], BeforeValidator(_services)]


_RRULE_EXAMPLE = '(expected RFC 5545 text such as "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0")'
_SECONDLY = re.compile(r"\bFREQ=SECONDLY\b", re.IGNORECASE)
_COARSER = "use FREQ=HOURLY or coarser, or fewer BYHOUR/BYMINUTE values"


def recurrence(text: str, start: datetime | None, timezone: str) -> rruleset:
    """The rule of a recurring window, as :func:`monitor.core.windows.expand_recurring` reads
    it: wall time in ``timezone``, from ``start`` if given, else from :data:`RRULE_ANCHOR`."""
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone) if start is not None else datetime(*RRULE_ANCHOR, tzinfo=zone)
    rule = rrulestr(text, dtstart=first, forceset=True, tzids=ZoneInfo)
    assert isinstance(rule, rruleset)
    return rule


# The Gregorian calendar repeats every 400 years (weekdays, leap days), so a rule starting
# 400·k years later recurs in the same pattern. dateutil looks for a rule's next occurrence
# until year 9999; a rule that never occurs (BYMONTH=2;BYMONTHDAY=30) is known after at most
# 500 years of looking from 9500 on, instead of 8,000 years (16 s) from 2000.
_CYCLE_YEARS = 400
_PROBE_FROM_YEAR = 9_500
_PROBED = 1_000  # occurrences looked at for their gaps, at most (and a year's worth at most)


def _recurs_too_often(rule: rruleset) -> str | None:
    """Why ``rule`` is refused (it never occurs, or two occurrences are less than
    :data:`MIN_RECURRENCE_GAP` apart), or None; UNTIL and COUNT aside, in bounded time."""
    probes = rruleset()
    for line in rule._rrule:  # type: ignore[attr-defined]  # its RRULEs: no public accessor
        start: datetime = line._dtstart
        cycles = max(0, -((start.year - _PROBE_FROM_YEAR) // _CYCLE_YEARS))
        probe = line.replace(dtstart=start.replace(year=start.year + _CYCLE_YEARS * cycles),
                             until=None, count=None)
        if next(iter(probe), None) is None:
            return "never occurs (no date fits all of its BY... parts)"
        probes.rrule(probe)
    occurrences = iter(probes)
    previous = next(occurrences, None)
    if previous is None:  # RDATEs only
        return None
    horizon = previous + timedelta(days=366)
    for occurrence in islice(occurrences, _PROBED):
        if occurrence - previous < MIN_RECURRENCE_GAP:
            return (f"occurrences only {format_duration(occurrence - previous)} apart, they must "
                    f"be at least {format_duration(MIN_RECURRENCE_GAP)} apart ({_COARSER})")
        if occurrence > horizon:
            break
        previous = occurrence
    return None


class MaintenanceWindowConfig(BaseModel):
    """Planned maintenance: one-off (``start`` + ``end``) or recurring (``rrule`` + ``duration``).

    A recurring window's rrule is read in ``timezone`` wall time; ``start``, if given, is its
    first possible occurrence (DTSTART). UNTIL inside the rrule must be in UTC ("...Z").
    """

    model_config = MODEL_CONFIG
    services: Services
    title: Text
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    rrule: str | None = None
    duration: Annotated[Duration | None, POSITIVE] = None
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _check_shape(self) -> MaintenanceWindowConfig:
        if self.rrule is None:
            if self.duration is not None:
                raise invalid("only used with rrule (a one-off window runs from start to end)",
                              "duration")
            if self.start is None or self.end is None:
                raise invalid("required for a one-off window (a recurring one takes rrule and "
                              "duration)", "start" if self.start is None else "end")
            if self.end <= self.start:
                raise invalid(f"must be after start ({iso_utc(self.start)})", "end")
            return self
        if self.end is not None:
            raise invalid("not used with rrule (end a recurring window with UNTIL or COUNT "
                          "in the rrule)", "end")
        if self.duration is None:
            raise invalid("required with rrule (how long each occurrence lasts)", "duration")
        if _SECONDLY.search(self.rrule):
            raise invalid(f"invalid rrule: FREQ=SECONDLY is not allowed, occurrences must be "
                          f"at least {format_duration(MIN_RECURRENCE_GAP)} apart ({_COARSER})",
                          "rrule")
        try:
            rule = recurrence(self.rrule, self.start, self.timezone)
        except TypeError:  # dateutil's way of saying FREQ is missing
            raise invalid(f"invalid rrule: FREQ is missing {_RRULE_EXAMPLE}", "rrule") from None
        except ZoneInfoNotFoundError as err:  # TZID=Nowhere/City
            raise invalid(f"invalid rrule: {err.args[0]}", "rrule") from None
        except ValueError as err:
            reason = "every part must be NAME=VALUE" if "unpack" in str(err) else str(err)
            raise invalid(f"invalid rrule: {reason} {_RRULE_EXAMPLE}", "rrule") from None
        try:
            refused = _recurs_too_often(rule)
        except TypeError:  # dateutil's way of saying an INTERVAL never meets BYHOUR
            refused = "never occurs (no date fits all of its BY... parts)"
        except ValueError as err:  # "Invalid combination of interval and byhour ..."
            refused = str(err)
        if refused:
            raise invalid(f"invalid rrule: {refused}", "rrule")
        return self


class ExclusionConfig(BaseModel):
    """A period taken out of the SLA after the fact, with the reason on the record."""

    model_config = MODEL_CONFIG
    services: Services
    start: UtcDatetime
    end: UtcDatetime
    reason: Text
    declared_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _check_order(self) -> ExclusionConfig:
        if self.end <= self.start:
            raise invalid(f"must be after start ({iso_utc(self.start)})", "end")
        return self


class MaintenancePolicy(BaseModel):
    """Rules for declaring maintenance through the API or CLI."""

    model_config = MODEL_CONFIG
    min_notice: Annotated[Duration, at_least(timedelta(0))] = timedelta(0)
    max_duration: Annotated[Duration, POSITIVE] = timedelta(days=7)
