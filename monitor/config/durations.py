"""Time and size values as written in probes.yaml, and how a bad value is quoted in messages.

Durations: "500ms", "30s", "5m", "2h", "7d", "1h30m"; a bare number (``30``, ``"30"``,
``0.5``) is seconds. Units, largest first, each at most once: ``d`` ``h`` ``m`` ``s`` ``ms``
``us``; a part may have a fraction ("1.5h"). :func:`format_duration` is the inverse for any
non-negative whole number of microseconds. Sizes: ``65536``, "512KiB", "1MiB", "1MB".
Points in time: ISO 8601 with "Z" or an offset; a naive time is an error, never taken as UTC.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["Duration", "UtcDatetime", "at_least", "format_duration", "parse_duration",
           "parse_size"]

_MICROS = {"d": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000,
           "ms": 1_000, "us": 1}
_ORDER = tuple(_MICROS)  # largest first
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|d|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


#: A value quoted in a message is cut to this many characters, ending in "...".
SHOW_WIDTH = 80


def show(value: object) -> str:
    """A value as quoted in messages: strings in double quotes, YAML spelling for the rest
    (lists and mappings as JSON), cut to :data:`SHOW_WIDTH` characters.

    Only as much of ``value`` is read as the quote shows, so it is quick however large the
    value: YAML aliases let a 400-byte file hold a list of 10⁸ items (shared, not copied),
    and quoting it whole took minutes and gigabytes.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = ""
    for piece in _pieces(value):
        text += piece
        if len(text) > SHOW_WIDTH:
            return text[:SHOW_WIDTH - 3] + "..."
    return text


def _pieces(value: object) -> Iterator[str]:
    """``value`` as JSON text, lazily, a piece of at least one character at a time."""
    if isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            name = key if isinstance(key, str) else _scalar(key)  # JSON keys are text
            yield f"{', ' if i else ''}{_scalar(name)}: "
            yield from _pieces(item)
        yield "}"
    elif isinstance(value, list | tuple | set | frozenset):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _pieces(item)
        yield "]"
    else:
        yield _scalar(value)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more than sys.get_int_max_str_digits() digits
            return "a number too long to show"
    if isinstance(value, float):
        return repr(value)
    text = value if isinstance(value, str) else str(value)
    return json.dumps(text[:SHOW_WIDTH], ensure_ascii=False)


def invalid(message: str, *at: str | int) -> PydanticCustomError:
    """A validation error whose text is exactly ``message``; ``at`` extends its path."""
    return PydanticCustomError("upwatch", "{message}", {"message": message, "at": at})


def _expected(value: object) -> ValueError:
    return ValueError(f'expected a duration like "30s", "5m" or "1h", got {show(value)}')


def parse_duration(value: str | int | float) -> timedelta:
    """Parse "1h30m", "500ms", "7d" or a bare number of seconds; ValueError says the form."""
    if isinstance(value, bool):
        raise _expected(value)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise _expected(value)
        return _micros(Decimal(str(value)) * _MICROS["s"], value)
    if not isinstance(value, str):
        raise _expected(value)
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return _micros(Decimal(text) * _MICROS["s"], value)
    total = Decimal(0)
    position = 0
    last_rank = -1
    for match in _PART.finditer(text):
        rank = _ORDER.index(match.group(2))
        if match.start() != position or rank <= last_rank:
            raise _expected(value)
        total += Decimal(match.group(1)) * _MICROS[match.group(2)]
        position, last_rank = match.end(), rank
    if not text or position != len(text):
        raise _expected(value)
    return _micros(total, value)


def _micros(amount: Decimal, original: object) -> timedelta:
    try:
        return timedelta(microseconds=int(amount.to_integral_value()))
    except (OverflowError, InvalidOperation):
        raise _expected(original) from None


def format_duration(td: timedelta) -> str:
    """The shortest text :func:`parse_duration` reads back as ``td``: "1h30m", "30s", "0s"."""
    micros = td // timedelta(microseconds=1)
    if micros < 0:
        return "-" + format_duration(-td)
    if micros == 0:
        return "0s"
    parts = []
    for unit in _ORDER:
        count, micros = divmod(micros, _MICROS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)  # type: ignore[arg-type]
    except ValueError as err:
        raise invalid(str(err)) from None


def at_least(minimum: timedelta, *, strict: bool = False) -> AfterValidator:
    """A duration bound: ``must be at least 1s, got "0s"`` (``strict``: "more than")."""
    word = "more than" if strict else "at least"

    def check(value: timedelta) -> timedelta:
        if value < minimum or (strict and value == minimum):
            raise invalid(f'must be {word} {format_duration(minimum)}, got '
                          f'"{format_duration(value)}"')
        return value
    return AfterValidator(check)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
POSITIVE = at_least(timedelta(0), strict=True)

_SIZE = re.compile(r"(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20,
               "gib": 2**30}


def parse_size(value: object) -> int:
    """Bytes from ``65536``, "512KiB", "1MiB" or "1MB"; a validation error otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise invalid(f'expected a size like 65536, "512KiB" or "1MiB", got {show(value)}')
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def _utc(value: object) -> object:
    # a scalar is quoted as text; a list or mapping as it is (its str() may be huge)
    shown = show(value if isinstance(value, str | list | dict) else str(value))
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise invalid('expected a date and time like "2026-10-01T02:00:00Z", '
                          f"got {shown}") from None
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise invalid('has no time zone: add "Z" for UTC or an offset such as "+02:00", '
                          f"got {shown}")
        return value.astimezone(UTC)
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_utc)]
