"""When an SLA counts: coverage calendars of weekdays, local hours, seasons, holidays and
closed dates.

Coverage precedence on a local date: if any rule with ``dates`` contains the date, only those
dated rules apply that day (seasonal hours replace normal hours); otherwise the undated rules
apply. Public holidays of the listed calendars and ``closed`` dates are not covered at all.
The SLA that uses a coverage is in :mod:`monitor.config.sla`.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

import holidays
from pydantic import BaseModel, BeforeValidator, model_validator
from pydantic_core import PydanticCustomError

from monitor.config.durations import invalid, show
from monitor.config.fields import MODEL_CONFIG

__all__ = ["ALL_DAYS", "DAY_NAMES", "Coverage", "CoverageRule", "DateRange",
           "check_holiday_calendar", "parse_days", "parse_hours"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAYS = frozenset(range(7))


def parse_days(value: object) -> frozenset[int]:
    """ "mon-fri", "sat,sun", ["mon", "wed"], "fri-mon" (wraps) → weekday numbers, 0=Mon."""
    items: list[object]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        items = [value]
    days: set[int] = set()
    for item in items:
        days |= _day_span(item, value)
    if not days:
        raise _bad_days(value)
    return frozenset(days)


def _day_span(item: object, whole: object) -> set[int]:
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
        return {item}
    if not isinstance(item, str):
        raise _bad_days(whole)
    first, dash, last = item.strip().lower().partition("-")
    lo, hi = _day_number(first, whole), _day_number(last if dash else first, whole)
    span = (hi - lo) % 7
    return {(lo + k) % 7 for k in range(span + 1)}


def _day_number(name: str, whole: object) -> int:
    name = name.strip()
    if name in DAY_NAMES:
        return DAY_NAMES.index(name)
    if name in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(name)
    raise _bad_days(whole)


def _bad_days(value: object) -> PydanticCustomError:
    return invalid(f'expected days like "mon-fri", "sat,sun" or ["mon", "wed"], got {show(value)}')


_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def parse_hours(value: object) -> tuple[int, int]:
    """ "09:00-17:00" → (540, 1020) minutes after local midnight; "24:00" ends the day."""
    match = _HOURS.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise invalid(
            f'expected hours like "09:00-17:00" (24:00 may end the day), got {show(value)}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise invalid(
            f'expected hours like "09:00-17:00" (24:00 may end the day), got {show(value)}')
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise invalid(f"end must be after start, got {show(value)} "
                      "(split hours that cross midnight into two rules)")
    return start, end


def _month_day(value: object) -> tuple[int, int]:
    if isinstance(value, tuple | list) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        month, day = value
    elif isinstance(value, str) and re.fullmatch(r"\d{2}-\d{2}", value.strip()):
        month, day = (int(p) for p in value.strip().split("-"))
    else:
        raise invalid(f'expected a month and day like "07-01", got {show(value)}')
    try:
        date(2000, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise invalid(f'no such day of the year: {show(value)} (write "MM-DD")') from None
    return month, day


MonthDay = Annotated[tuple[int, int], BeforeValidator(_month_day)]


class DateRange(BaseModel):
    """A yearly span of local dates, both ends included; wraps the year when end < start."""

    model_config = MODEL_CONFIG
    start: MonthDay
    end: MonthDay

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        start, dots, end = data.partition("..")
        if not dots:
            raise invalid(
                f'expected a date range like "07-01..08-31" (month-day), got {show(data)}')
        return {"start": start.strip(), "end": end.strip()}

    def contains(self, d: date) -> bool:
        key = (d.month, d.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end

    def __str__(self) -> str:
        return "{:02d}-{:02d}..{:02d}-{:02d}".format(*self.start, *self.end)


class CoverageRule(BaseModel):
    """Weekdays and local hours ``[start_minute, end_minute)``, optionally only within ``dates``.

    YAML: ``{days: "mon-fri", hours: "09:00-17:00", dates: "07-01..08-31"}``; ``days`` defaults
    to every day and ``hours`` to the whole day.
    """

    model_config = MODEL_CONFIG
    yaml_keys: ClassVar[tuple[str, ...]] = ("days", "hours", "dates")
    days: Annotated[frozenset[int], BeforeValidator(parse_days)] = ALL_DAYS
    start_minute: int = 0
    end_minute: int = 1440
    dates: DateRange | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_hours(cls, data: Any) -> Any:
        if isinstance(data, dict) and "hours" in data:
            data = dict(data)
            try:
                data["start_minute"], data["end_minute"] = parse_hours(data.pop("hours"))
            except PydanticCustomError as err:
                raise invalid(err.message(), "hours") from None
        return data

    @model_validator(mode="after")
    def _check_minutes(self) -> CoverageRule:
        if not 0 <= self.start_minute <= 1439:
            raise invalid(f"must be between 0 and 1439, got {self.start_minute}", "start_minute")
        if not 1 <= self.end_minute <= 1440 or self.end_minute <= self.start_minute:
            raise invalid(f"must be after start_minute ({self.start_minute}) and at most 1440, "
                          f"got {self.end_minute}", "end_minute")
        return self

    @property
    def hours(self) -> str:
        """The hours as written in YAML, e.g. "09:00-17:00"."""
        return "{:02d}:{:02d}-{:02d}:{:02d}".format(*divmod(self.start_minute, 60),
                                                    *divmod(self.end_minute, 60))


@functools.cache
def _calendars() -> dict[str, list[str]]:
    return holidays.list_supported_countries(include_aliases=False)


def check_holiday_calendar(value: object) -> str:
    """ "DK" or "GB-ENG" (country-subdivision), as known to the ``holidays`` package."""
    if value is False:  # YAML 1.1 reads an unquoted NO (Norway) as false
        raise invalid('got false: write the country code in quotes, e.g. "NO"')
    if not isinstance(value, str):
        raise invalid(f"expected a holiday calendar code like DK or GB-ENG, got {show(value)}")
    code = value.strip().upper()
    country, dash, subdivision = code.partition("-")
    known = _calendars()
    if country not in known or (dash and not subdivision):
        raise invalid(f"unknown holiday calendar {show(value)} (use a country code such as DK "
                      "or a subdivision such as GB-ENG)")
    subdivisions = known[country]
    if dash and subdivision not in subdivisions:
        if not subdivisions:
            raise invalid(f'unknown holiday calendar {show(value)} ({country} has no '
                          f'subdivisions; use "{country}")')
        listed = ", ".join(subdivisions[:20]) + (", ..." if len(subdivisions) > 20 else "")
        raise invalid(f"unknown holiday calendar {show(value)} ({country} subdivisions: {listed})")
    return code


def _holiday_calendars(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    codes = []
    for index, item in enumerate(items):
        try:
            codes.append(check_holiday_calendar(item))
        except PydanticCustomError as err:
            raise invalid(err.message(), index) from None
    return tuple(codes)


def _closed_dates(value: object) -> tuple[date, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    dates = set()
    for index, item in enumerate(items):
        if isinstance(item, date) and not isinstance(item, datetime):
            dates.add(item)
            continue
        try:
            dates.add(date.fromisoformat(item.strip()))
        except (AttributeError, TypeError, ValueError):
            raise invalid(f'expected a date like "2026-12-24", got {show(item)}', index) from None
    return tuple(sorted(dates))


_RULE_KEYS = ("days", "hours", "dates")


class Coverage(BaseModel):
    """When the SLA counts. ``always`` (YAML "24x7") or ``rules``, minus holidays and ``closed``.

    YAML: ``"24x7"``; ``{days, hours, dates?, holidays?, closed?}`` (one rule);
    ``{rules: [{days, hours, dates?}, ...], holidays?, closed?}``; or ``{holidays, closed}``
    (24x7 except those days).
    """

    model_config = MODEL_CONFIG
    yaml_keys: ClassVar[tuple[str, ...]] = ("days", "hours", "dates", "rules", "holidays", "closed")
    always: bool = True
    rules: tuple[CoverageRule, ...] = ()
    holidays: Annotated[tuple[str, ...], BeforeValidator(_holiday_calendars)] = ()
    closed: Annotated[tuple[date, ...], BeforeValidator(_closed_dates)] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data.strip().lower() in ("24x7", "24/7"):
                return {"always": True}
            raise invalid(f'expected "24x7" or a mapping with days and hours, got {show(data)}')
        if not isinstance(data, dict) or "always" in data:
            return data
        one_rule = {key: data[key] for key in _RULE_KEYS if key in data}
        rest = {key: value for key, value in data.items() if key not in _RULE_KEYS}
        if one_rule and "rules" in rest:
            raise invalid("use either days/hours/dates (one rule) or rules (several), not both",
                          "rules")
        if one_rule:
            return {**rest, "always": False, "rules": [one_rule]}
        return {**rest, "always": "rules" not in rest}

    @model_validator(mode="after")
    def _check_rules(self) -> Coverage:
        if self.always and self.rules:
            raise invalid("rules cannot be combined with always (24x7)", "rules")
        if not self.always and not self.rules:
            raise invalid('needs at least one rule (or use "24x7")', "rules")
        return self

    def rules_for(self, d: date) -> tuple[CoverageRule, ...]:
        """The rules in force on local date ``d`` (dated rules containing it, else undated)."""
        seasonal = tuple(r for r in self.rules if r.dates is not None and r.dates.contains(d))
        return seasonal or tuple(r for r in self.rules if r.dates is None)
