"""``upwatch import``: check results from JSON Lines or CSV, through the same ledger path as
``upwatch run``.

A line: ``{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true, "latency_ms": 87.5,
"status": 200, "error": null}`` — the last three optional; CSV uses the same column names.
Every line is validated first; unless ``skip_invalid``, one bad line means nothing is written
(nothing half-imported). Re-importing the same lines changes nothing (see ``Ledger.record``).

Input is UTF-8: a line that is not, JSON nested too deeply, a CSV row with more fields than
the header or a field over the csv module's limit are invalid lines like any other. A CSV
header with an unknown, repeated or missing column means nothing is read (``skip_invalid`` or
not).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from monitor.config import Config, UnknownService
from monitor.config.durations import show
from monitor.core.checks import CheckResult, ErrorKind, Observation
from monitor.errors import UpwatchError
from monitor.store.ledger import Ledger
from monitor.times import iso_utc

BATCH = 50_000
MAX_SHOWN_ERRORS = 20
_ERROR_KINDS = {k.value: k for k in ErrorKind}
_FIELDS = ("service", "time", "ok", "latency_ms", "status", "error", "location")
_FIELD_SET = frozenset(_FIELDS)
#: What json.loads calls to read a value (the default decoder's scanner: C, strict), and the
#: whitespace JSON allows.
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
_JSON_SPACE = " \t\n\r"
_REQUIRED = ("service", "time", "ok")
#: What a byte that is not UTF-8 becomes when read with ``errors="surrogateescape"``.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
#: What a lone surrogate escape in JSON ("\\ud800") decodes to: not text, and SQLite refuses it.
_SURROGATE = re.compile("[\ud800-\udfff]")


class ImportFailed(UpwatchError):
    """The input had invalid lines and nothing was written; ``problems`` says which (one line
    each, the last says what to do), ``invalid`` counts them."""

    joiner = "\n"

    def __init__(self, problems: list[str], invalid: int) -> None:
        super().__init__(problems)
        self.invalid = invalid


@dataclass
class ImportSummary:
    lines: int = 0
    imported: int = 0
    invalid: int = 0
    services: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        span = ""
        if self.first is not None and self.last is not None:
            span = f", {iso_utc(self.first)} .. {iso_utc(self.last)}"
        skipped = f", {self.invalid:,} invalid lines skipped" if self.invalid else ""
        return (
            f"imported {self.imported:,} of {self.lines:,} lines for "
            f"{len(self.services)} services{span}{skipped}"
        )



class LineError(UpwatchError, ValueError):
    """One input line is invalid; ``field`` names the column at fault ("" for the whole line)."""

    def __init__(self, fld: str, message: str) -> None:
        self.field = fld
        super().__init__(f"{fld}: {message}" if fld else message)


class HeaderError(LineError):
    """A CSV file's header is unusable: nothing in the file can be read, --skip-invalid or not."""


#: Imported checks must lie between these: a check dated 2099 would otherwise stand as the
#: service's latest state for 70 years, and one dated year 1 is a typo, not history.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: How far ahead of now an imported check may be (clocks of other machines drift a little).
FUTURE_SLACK = timedelta(minutes=5)


def _parse_time(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise LineError("time", f"expected an ISO 8601 string, got {show(value)}")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise LineError(
            "time", f"not an ISO 8601 time: {show(value)} (expected e.g. 2026-10-01T00:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        raise LineError("time", f"{show(value)} has no UTC offset (add Z or +02:00)")
    try:
        dt = dt.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise LineError("time", f"{show(value)} is out of range") from None
    if dt < EARLIEST:
        raise LineError("time", f"{show(value)} is before {iso_utc(EARLIEST)}")
    if dt > now + FUTURE_SLACK:
        raise LineError("time", f"{show(value)} is in the future (now it is {iso_utc(now)})")
    return dt


def _parse_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise LineError("ok", f"expected true or false, got {show(value)}")


def _parse_optional_number(fld: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise LineError(fld, f"expected a number, got {show(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        raise LineError(fld, f"expected a number, got {show(value)}") from None
    if not math.isfinite(number) or number < 0:
        raise LineError(fld, f"expected a non-negative number, got {show(value)}")
    return number


@dataclass(frozen=True, slots=True)
class Target:
    """What a line needs of its service, worked out once per batch, not once per line
    (reading a pydantic model's derived fields costs more than the rest of a line)."""

    name: str
    max_latency_ms: float | None
    interval_ms: int


def targets(config: Config) -> dict[str, Target]:
    """Every service of ``config`` as :class:`Target`, by name."""
    return {s.name: Target(s.name, s.expect.max_latency_ms, s.interval_ms)
            for s in config.services}


def parse_record(record: Any, config: Config, now: datetime,
                 known: dict[str, Target] | None = None) -> Observation:
    """One decoded line → an :class:`Observation`; raises :class:`LineError` naming the field.
    ``now`` bounds ``time`` (at most :data:`FUTURE_SLACK` ahead); ``known`` is
    :func:`targets` of ``config``, when the caller parses many lines."""
    if not isinstance(record, dict):
        raise LineError("", "expected a JSON object")
    if not _FIELD_SET.issuperset(record):
        unknown = sorted(set(record) - _FIELD_SET)
        name = unknown[0] if len(unknown[0]) <= 64 else show(unknown[0])
        raise LineError(name, f"unknown field (allowed: {', '.join(_FIELDS)})")
    for value in record.values():  # every field is one value: never an array or an object
        if isinstance(value, (list, dict)):
            for fld in _FIELDS:  # the first in the format's order is named
                if isinstance(record.get(fld), (list, dict)):
                    what = "an array" if isinstance(record[fld], list) else "an object"
                    raise LineError(fld, f"expected one value, got {what}")
    if "service" not in record:
        raise LineError("service", "missing")
    name = record["service"]
    service = None if known is None or not isinstance(name, str) else known.get(name)
    if service is None:
        try:
            svc = config.service(name)
        except UnknownService as err:
            raise LineError("service", str(err)) from None
        service = Target(svc.name, svc.expect.max_latency_ms, svc.interval_ms)
    if "time" not in record:
        raise LineError("time", "missing")
    when = _parse_time(record["time"], now)
    if "ok" not in record:
        raise LineError("ok", "missing")
    ok = _parse_ok(record["ok"])
    latency = _parse_optional_number("latency_ms", record.get("latency_ms"))
    status_f = _parse_optional_number("status", record.get("status"))
    if status_f is not None and (status_f != int(status_f) or not 100 <= status_f <= 599):
        raise LineError("status",
                        f"expected an HTTP status code 100-599, got {show(record['status'])}")
    err_raw = record.get("error")
    error: ErrorKind | None = None
    if err_raw not in (None, ""):
        if not isinstance(err_raw, str) or err_raw not in _ERROR_KINDS:
            raise LineError(
                "error", f"unknown error kind {show(err_raw)} "
                f"(one of: {', '.join(_ERROR_KINDS)})")
        error = _ERROR_KINDS[err_raw]
    location = record.get("location") or config.location
    if not isinstance(location, str):
        raise LineError("location", f"expected a string, got {show(location)}")
    # "\ud800" in JSON is not text (SQLite would refuse it); ASCII cannot hold it
    if not location.isascii() and _SURROGATE.search(location):
        shown = json.dumps(location[:80])  # escaped, so that it can be printed
        raise LineError("location", f"{shown} is not valid Unicode text")
    result = CheckResult(
        service=service.name, time=when, ok=ok, latency_ms=latency,
        status=None if status_f is None else int(status_f), error=error, location=location,
    )
    return Observation(result, result.state(service.max_latency_ms), service.interval_ms)


def not_utf8(text: str) -> LineError | None:
    """The error for ``text`` read with ``errors="surrogateescape"``, if it held bytes that are
    not UTF-8 (they become lone surrogates; printed as they are, they would fail)."""
    bad = _NOT_UTF8.search(text)
    if bad is None:
        return None
    return LineError("", f"not UTF-8 text (byte 0x{ord(bad.group()) - 0xDC00:02X}); save the "
                         "file as UTF-8")


def read_records(stream: IO[str], fmt: str) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded record)``; a line that cannot be decoded yields a LineError
    (a :class:`HeaderError` when a CSV header cannot be used, and then nothing more).

    Open ``stream`` with ``errors="surrogateescape"`` (as ``upwatch import`` does), so that a
    byte that is not UTF-8 is an invalid line, not the end of the file."""
    if fmt == "csv":
        yield from _read_csv(stream)
        return
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, not_utf8(line) or decode_json_line(line)


def decode_json_line(line: str) -> Any:
    """The JSON value of ``line`` (without its line ending) as :func:`json.loads` reads it, or
    the :class:`LineError` saying why it cannot be read."""
    text = line.rstrip("\r\n")
    # json.loads ends in this C scanner; called directly it costs half as much a line (two
    # Python frames fewer), which a central taking 20,000 lines a push feels. Anything it
    # does not read whole goes to json.loads, for the error message it gives.
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _SCAN(text, start)
    except (StopIteration, ValueError, RecursionError):
        end = -1
    if end == len(text) or (end >= 0 and not text[end:].strip(_JSON_SPACE)):
        return value
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        return LineError("", f"not valid JSON: {err.msg} at column {err.colno}")
    except RecursionError:
        return LineError("", "JSON nested too deeply to read")
    except ValueError:  # an integer of more digits than int() takes (sys.get_int_max_str_digits)
        return LineError("", "a JSON number with too many digits to read")


def _read_csv(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    """CSV rows as records keyed by the header's column names."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as err:
        yield 1, HeaderError("", _csv_problem(err))
        return
    if header is None:
        return  # an empty file
    problem = not_utf8(",".join(header)) or _header_problem(header)
    if problem is not None:
        yield 1, HeaderError("", str(problem))
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # the reader goes on with the next line
            yield reader.line_num, LineError("", _csv_problem(err))
            continue
        if row:  # not a blank line
            yield reader.line_num, not_utf8(",".join(row)) or _csv_record(row, header)


def _header_problem(header: list[str]) -> str | None:
    """What is wrong with a CSV header: an unknown, repeated or missing column. A column
    without a name (after a trailing comma) is allowed, as long as its fields stay empty."""
    for name in header:
        if name and name not in _FIELDS:
            return f"unknown column {show(name)} in the header (allowed: {', '.join(_FIELDS)})"
        if name and header.count(name) > 1:
            return f"column {show(name)} appears twice in the header"
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        return f"the header has no column {show(missing[0])} (needed: {', '.join(_REQUIRED)})"
    return None


def _csv_record(row: list[str], header: list[str]) -> dict[str, str] | LineError:
    if len(row) > len(header):
        return LineError("", f"{len(row)} fields, but the header names {len(header)} columns "
                             f"({', '.join(header)})")
    for i, (name, value) in enumerate(zip(header, row, strict=False)):
        if not name and value:
            return LineError("", f"field {i + 1} holds {show(value)}, but its column has no "
                                 "name in the header")
    return {k: v for k, v in zip(header, row, strict=False) if k and v != ""}


def _csv_problem(err: csv.Error) -> str:
    if "field larger than field limit" in str(err):
        return (f"a field longer than {csv.field_size_limit() // 1024} KiB, the most a CSV "
                "field may hold: not a check result")
    return f"not valid CSV: {err}"


def import_lines(
    records: Iterable[tuple[int, Any]],
    config: Config,
    ledger: Ledger,
    *,
    now: datetime,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    source: str = "input",
) -> ImportSummary:
    """Validate every record, then write the valid ones through ``ledger.record`` in batches."""
    summary = ImportSummary()
    valid: list[Observation] = []
    known = targets(config)
    for number, record in records:
        summary.lines += 1
        try:
            if isinstance(record, LineError):
                raise record
            obs = parse_record(record, config, now, known)
        except HeaderError as err:  # no line can be read: --skip-invalid cannot help
            raise ImportFailed([f"{source}: line {number}: {err}",
                                f"{source}: nothing imported; fix the header"], 1) from None
        except LineError as err:
            summary.invalid += 1
            if len(summary.errors) < MAX_SHOWN_ERRORS:
                summary.errors.append(f"{source}: line {number}: {err}")
            continue
        valid.append(obs)
        if progress is not None and summary.lines % BATCH == 0:
            progress(summary.lines)
    if summary.invalid and not skip_invalid:
        errors = list(summary.errors)
        if summary.invalid > len(errors):
            errors.append(f"{source}: … and {summary.invalid - len(errors)} more invalid lines")
        errors.append(
            f"{source}: nothing imported; fix the lines above or pass --skip-invalid"
        )
        raise ImportFailed(errors, summary.invalid)
    # In time order, so each batch continues the ledger's fold exactly whatever the file's order.
    valid.sort(key=lambda o: o.result.time)
    for i in range(0, len(valid), BATCH):
        ledger.record(valid[i : i + BATCH])
    for obs in valid:
        r = obs.result
        summary.services.add(r.service)
        if summary.first is None or r.time < summary.first:
            summary.first = r.time
        if summary.last is None or r.time > summary.last:
            summary.last = r.time
    summary.imported = len(valid)
    return summary
