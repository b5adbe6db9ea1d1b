"""Time taken out of the SLA in probes.yaml: maintenance windows (one-off or recurring),
exclusions, and the rules for declaring maintenance at run time (``maintenance_policy``).

Their minutes are worked out in :mod:`monitor.core.windows`; windows declared at run time
are checked against the policy in :mod:`monitor.windows.declarations`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from pydantic import BaseModel, BeforeValidator, model_validator

from monitor.config.durations import POSITIVE, Duration, UtcDatetime, at_least, invalid
from monitor.config.fields import MODEL_CONFIG, Text, TimeZone
from monitor.times import iso_utc

__all__ = ["ExclusionConfig", "MaintenancePolicy", "MaintenanceWindowConfig"]


def _services(value: object) -> object:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list | tuple) and not names:
        raise invalid("must name at least one service")
    return names


Services = Annotated[tuple[str, ...], BeforeValidator(_services)]


_RRULE_EXAMPLE = '(expected RFC 5545 text such as "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0")'


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
        first = self.start or datetime(2000, 1, 1, tzinfo=UTC)
        try:
            rrulestr(self.rrule, dtstart=first.astimezone(ZoneInfo(self.timezone)))
        except TypeError:  # dateutil's way of saying FREQ is missing
            raise invalid(f"invalid rrule: FREQ is missing {_RRULE_EXAMPLE}", "rrule") from None
        except ValueError as err:
            reason = "every part must be NAME=VALUE" if "unpack" in str(err) else str(err)
            raise invalid(f"invalid rrule: {reason} {_RRULE_EXAMPLE}", "rrule") from None
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
