"""What every probes.yaml model shares: frozen models that refuse unknown keys, non-empty text,
IANA time zone names and calendar dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, ConfigDict

from monitor.config.durations import invalid, show

__all__ = ["MODEL_CONFIG", "Day", "Text", "TimeZone", "check_timezone"]

MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid")


def _text(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise invalid("must not be empty")
    return value


def check_timezone(value: object) -> str:
    """An IANA time zone name that zoneinfo knows, e.g. "Europe/Copenhagen"."""
    if not isinstance(value, str):
        raise invalid(f'expected a time zone name like "Europe/Copenhagen", got {show(value)}')
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"unknown time zone {show(value)}") from None
    return value


Text = Annotated[str, AfterValidator(_text)]
TimeZone = Annotated[str, BeforeValidator(check_timezone)]


def _day(value: object) -> object:
    """A date, as YAML writes it (``2026-09-01``) or as text."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise invalid(f"expected a date like 2026-09-01, got {show(value)}")


Day = Annotated[date, BeforeValidator(_day)]
