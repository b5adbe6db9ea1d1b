"""Maintenance windows and exclusions declared at run time: the use case behind CLI and API.

:func:`validate_declaration` is the ONE check both the CLI and the admin API run: it parses the
times, refuses what cannot be stored (``errors``, each naming its field) and flags what is
allowed but worth a second look (``warnings``): maintenance declared after it began (DESIGN.md's
audit rule, see :func:`monitor.core.windows.effective_range`), with less notice than
``maintenance.min_notice``, or starting inside a service's SLA coverage hours; an exclusion for
a period still to come. :func:`declare` validates and stores, with the warnings kept on the
record; :func:`cancel` marks a window cancelled (nothing is deleted).

For the report, ``/healthz``, metrics and the status page: :func:`declared_windows` gives the
stored windows as :class:`monitor.core.windows.Window` objects; :func:`active_windows` and
:func:`upcoming_windows` are pure filters over any windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from monitor.config import Config, unknown_service_problem
from monitor.config.durations import format_duration, show
from monitor.core.coverage import is_covered
from monitor.core.windows import Window, WindowKind
from monitor.errors import UpwatchError
from monitor.store.windows import DeclaredWindow
from monitor.times import iso_utc

if TYPE_CHECKING:
    from monitor.store.ledger import Ledger

__all__ = [
    "EARLIEST", "KIND_LABEL", "LATEST", "MAX_TEXT", "TEXT_FIELD", "Declaration",
    "DeclarationError", "DeclaredWindow", "StateFilter", "UnknownWindow", "Validation",
    "active_windows", "cancel", "cancel_effect", "declare", "get_declared", "list_declared",
    "upcoming_windows", "validate_declaration", "window_json", "window_state", "window_summary",
]

WindowState = Literal["upcoming", "active", "past", "cancelled"]
StateFilter = Literal["upcoming", "active", "past"]

#: The field that holds a window's text, as in probes.yaml.
TEXT_FIELD: dict[WindowKind, str] = {"maintenance": "title", "exclusion": "reason"}
KIND_LABEL: dict[WindowKind, str] = {"maintenance": "maintenance window",
                                     "exclusion": "exclusion"}
_A: dict[WindowKind, str] = {"maintenance": "a", "exclusion": "an"}
MAX_TEXT = 500  # characters of a title or reason
_EXAMPLE = '"2026-10-01T02:00:00Z"'
_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)
#: Declared times must lie in [EARLIEST, LATEST): the years 2000 to 9998 in UTC, so that no
#: arithmetic on them leaves the range of ``datetime`` (a year-1 start is a typo, not history).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


class DeclarationError(UpwatchError, ValueError):
    """A declaration that cannot be stored; ``problems`` holds one line per field."""


class UnknownWindow(UpwatchError, LookupError):
    """No declared window of that kind has that id."""


@dataclass(frozen=True)
class Declaration:
    """A validated declaration: times UTC-aware, services known and without repeats."""

    kind: WindowKind
    services: tuple[str, ...]
    start: datetime
    end: datetime
    text: str  # the title (maintenance) or the reason (exclusion)


@dataclass(frozen=True)
class Validation:
    """What :func:`validate_declaration` found; ``declaration`` is set when ``errors`` is empty."""

    declaration: Declaration | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


# ---- validation ---------------------------------------------------------------------------


def _localize(name: str, naive: datetime, tz: ZoneInfo) -> tuple[datetime | None, str | None]:
    """A wall time in ``tz`` → UTC; a time the clocks skip or repeat is an error."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    wall = naive.isoformat(timespec="minutes")
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        moved = first.astimezone(UTC).astimezone(tz)
        return None, (f"{name}: {wall} does not exist in {tz.key} (the clocks skip it); "
                      f"write the offset, e.g. {moved.isoformat()}")
    if first.utcoffset() != second.utcoffset():
        return None, (f"{name}: {wall} happens twice in {tz.key}; write the offset: "
                      f"{first.isoformat()} (the first) or {second.isoformat()} (the second)")
    return first.astimezone(UTC), None


def _out_of_range(name: str, value: object) -> str:
    return (f"{name}: {show(value)} is out of range (upwatch takes times from "
            f"{iso_utc(EARLIEST)} to {iso_utc(LATEST - _SECOND)})")


def _parse_time(
    name: str, value: object, tz: ZoneInfo | None, tz_flag: str | None
) -> tuple[datetime | None, str | None]:
    if value is None:
        return None, f"{name}: required"
    bad = f"{name}: expected a date and time like {_EXAMPLE}, got {show(value)}"
    if not isinstance(value, str):
        return None, bad
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, bad
    when: datetime | None
    try:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC: OverflowError
        if parsed.utcoffset() is not None:
            when, problem = parsed.astimezone(UTC), None
        elif tz is not None:
            when, problem = _localize(name, parsed, tz)
        else:
            hint = f", or pass {tz_flag}" if tz_flag else ""
            return None, f"{name}: needs a UTC offset such as Z or +02:00{hint}"
    except OverflowError:
        return None, _out_of_range(name, value)
    if when is not None and not EARLIEST <= when < LATEST:
        return None, _out_of_range(name, value)
    return when, problem


def _services(config: Config, value: object) -> tuple[tuple[str, ...], list[str]]:
    names = [value] if isinstance(value, str) else value
    if value is None or names == [] or names == ():
        return (), ["services: must name at least one service"]
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        return (), [f"services: expected a list of service names, got {show(value)}"]
    known = config.service_names
    errors = [f"services: {unknown_service_problem(name, known)}"
              for name in dict.fromkeys(names) if name not in known]
    return tuple(dict.fromkeys(names)), errors


def _text(kind: WindowKind, value: object) -> tuple[str, str | None]:
    name = TEXT_FIELD[kind]
    if value is None or (isinstance(value, str) and not value.strip()):
        what = "maintenance" if kind == "maintenance" else "an exclusion"
        return "", f"{name}: required for {what}"
    if not isinstance(value, str):
        return "", f"{name}: expected text, got {show(value)}"
    text = value.strip()
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        return "", f"{name}: must be one line of text (no line breaks or control characters)"
    if len(text) > MAX_TEXT:
        return "", f"{name}: must be at most {MAX_TEXT} characters, got {len(text)}"
    return text, None


def _notice(td: timedelta) -> str:
    minutes = td // _MINUTE
    return "no notice" if minutes < 1 else f"only {format_duration(minutes * _MINUTE)} notice"


def _warnings(config: Config, d: Declaration, now: datetime) -> list[str]:
    if d.kind == "exclusion":
        if d.start > now:
            return [f"start: {iso_utc(d.start)} is still to come; an exclusion marks what already "
                    "happened (declare planned work as maintenance)"]
        return []
    found = []
    if d.end <= now:
        found.append(f"start: the window ended before it was declared (at {iso_utc(now)}), so none "
                     "of it counts as maintenance; to take it out of the SLA, declare an "
                     "exclusion with a reason")
    elif d.start < now:
        found.append(f"start: the window began before it was declared (at {iso_utc(now)}): it "
                     f"counts as maintenance only from then on; to cover {iso_utc(d.start)} to "
                     f"{iso_utc(now)}, declare an exclusion with a reason")
    elif d.start - now < config.maintenance_policy.min_notice:
        wanted = format_duration(config.maintenance_policy.min_notice)
        found.append(f"start: {_notice(d.start - now)}; maintenance.min_notice in probes.yaml "
                     f"asks for {wanted}")
    covered = [name for name in d.services
               if is_covered(config.service(name).sla.coverage, config.service(name).sla.tz,
                             d.start)]
    if covered:
        found.append(f"start: {iso_utc(d.start)} is inside the SLA coverage hours of "
                     f"{', '.join(covered)}")
    return found


def _plus(begin: datetime, duration: timedelta) -> datetime | None:
    try:
        finish = begin + duration
    except OverflowError:
        return None
    return finish if finish < LATEST else None


def validate_declaration(
    config: Config,
    kind: WindowKind,
    services: object,
    start: object,
    end: object,
    text: object,
    now: datetime,
    *,
    tz: ZoneInfo | None = None,
    tz_flag: str | None = None,
    duration: timedelta | None = None,
) -> Validation:
    """Check a declaration as typed by a person or sent to the API.

    ``services`` is a name or a list of names; ``start``/``end`` are ISO 8601 text with an
    offset, or wall time in ``tz`` when given (``tz_flag`` names the option that sets it, for
    the error message); with ``duration`` instead of ``end`` (None) the window lasts that long
    in elapsed time. ``text`` is the title or the reason. Maintenance longer than
    ``maintenance.max_duration`` is refused; exclusions have no length limit.
    """
    names, errors = _services(config, services)
    begin, problem = _parse_time("start", start, tz, tz_flag)
    errors += [problem] if problem else []
    if duration is not None and end is None:
        finish = None if begin is None else _plus(begin, duration)
        if begin is not None and finish is None:
            errors.append(f"end: {iso_utc(begin)} plus {format_duration(duration)} is out of "
                          f"range (upwatch takes times up to {iso_utc(LATEST - _SECOND)})")
    else:
        finish, problem = _parse_time("end", end, tz, tz_flag)
        errors += [problem] if problem else []
    if begin is not None and finish is not None:
        limit = config.maintenance_policy.max_duration
        if finish <= begin:
            errors.append(f"end: must be after start ({iso_utc(begin)})")
        elif kind == "maintenance" and finish - begin > limit:
            errors.append(f"end: the window is {format_duration(finish - begin)} long; the limit "
                          f"is {format_duration(limit)} (maintenance.max_duration in probes.yaml)")
    words, problem = _text(kind, text)
    errors += [problem] if problem else []
    if errors or begin is None or finish is None:
        return Validation(None, tuple(errors), ())
    declaration = Declaration(kind, names, begin, finish, words)
    return Validation(declaration, (), tuple(_warnings(config, declaration, now)))


# ---- storing ------------------------------------------------------------------------------


def declare(
    ledger: Ledger,
    config: Config,
    kind: WindowKind,
    services: object,
    start: object,
    end: object,
    text: object,
    *,
    now: datetime,
    by: str,
    tz: ZoneInfo | None = None,
    tz_flag: str | None = None,
    duration: timedelta | None = None,
) -> DeclaredWindow:
    """Validate and store a declaration made at ``now`` by ``by`` ("cli:alice", "api:ops").

    Raises :class:`DeclarationError` listing every problem; the stored window carries the
    warnings. The other arguments are those of :func:`validate_declaration`.
    """
    checked = validate_declaration(config, kind, services, start, end, text, now,
                                   tz=tz, tz_flag=tz_flag, duration=duration)
    d = checked.declaration
    if d is None:
        raise DeclarationError(checked.errors)
    return ledger.add_window(kind=d.kind, services=d.services, start=d.start, end=d.end,
                             title=d.text, declared_at=now, declared_by=by,
                             warnings=checked.warnings)


def get_declared(ledger: Ledger, kind: WindowKind, window_id: int | str) -> DeclaredWindow:
    """The window of ``kind`` with that id; :class:`UnknownWindow` otherwise."""
    text = str(window_id).strip()
    found = ledger.window(int(text)) if text.isascii() and text.isdigit() and len(text) <= 18 \
        else None
    if found is None or found.kind != kind:
        other = "" if found is None else f" ({text} is {_A[found.kind]} {KIND_LABEL[found.kind]})"
        raise UnknownWindow(f"no {KIND_LABEL[kind]} with id {show(text)}{other}")
    return found


def cancel(
    ledger: Ledger, kind: WindowKind, window_id: int | str, *, now: datetime, by: str
) -> tuple[DeclaredWindow, bool]:
    """Cancel a declared window at ``now``; returns it and whether this call cancelled it.

    The record stays. A window already cancelled is returned unchanged (``False``).
    """
    before = get_declared(ledger, kind, window_id)
    after = ledger.cancel_window(before.number, at=now, by=by)
    assert after is not None
    return after, before.cancelled_at is None


def cancel_effect(w: Window, now: datetime) -> str:
    """What cancelling ``w`` at ``now`` does to the SLA, in one sentence."""
    if w.kind == "exclusion":
        return "its minutes count in the SLA again"
    counted_from = max(w.start, w.declared_at) if w.declared_at is not None else w.start
    if now <= counted_from:
        return "it had not begun: none of it counts as maintenance"
    if now < w.end:
        return f"it counts as maintenance until {iso_utc(now)}"
    return "it had already ended: the minutes it covered stay maintenance"


# ---- reading ------------------------------------------------------------------------------


def window_state(w: Window, now: datetime) -> WindowState:
    """Where ``w`` stands at ``now``: cancelled, past (ended), active or upcoming."""
    if w.cancelled_at is not None and w.cancelled_at <= now:
        return "cancelled"
    if w.end <= now:
        return "past"
    return "active" if w.start <= now else "upcoming"


def list_declared(
    ledger: Ledger,
    kind: WindowKind,
    *,
    now: datetime,
    state: StateFilter | None = None,
    service: str | None = None,
) -> list[DeclaredWindow]:
    """Declared windows of ``kind``, by start; ``state`` past includes the cancelled ones."""
    found = ledger.windows(kind=kind, service=service)
    if state is None:
        return found
    wanted = {"past": ("past", "cancelled"), "active": ("active",), "upcoming": ("upcoming",)}
    return [w for w in found if window_state(w, now) in wanted[state]]


def _known(w: Window, now: datetime) -> bool:
    return w.declared_at is None or w.declared_at <= now


def active_windows(windows: Iterable[Window], now: datetime) -> list[Window]:
    """Windows in effect at ``now``: declared by then, not cancelled, ``start <= now < end``.

    Pure; pass only maintenance windows where "under maintenance" is meant.
    """
    found = [w for w in windows if _known(w, now) and window_state(w, now) == "active"]
    return sorted(found, key=lambda w: (w.start, w.end, w.id))


def upcoming_windows(windows: Iterable[Window], now: datetime, days: int = 7) -> list[Window]:
    """Windows declared by ``now``, not cancelled, starting after it and within ``days``."""
    horizon = now + timedelta(days=days)
    found = [w for w in windows
             if _known(w, now) and window_state(w, now) == "upcoming" and w.start <= horizon]
    return sorted(found, key=lambda w: (w.start, w.end, w.id))


def window_summary(w: Window) -> dict[str, object]:
    """Any window in brief, for ``/healthz`` and the like."""
    return {"id": w.id, "kind": w.kind, "services": list(w.services),
            TEXT_FIELD[w.kind]: w.title, "start": iso_utc(w.start), "end": iso_utc(w.end)}


def window_json(w: DeclaredWindow) -> dict[str, object]:
    """A declared window as the CLI (``--format json``) and the admin API show it."""
    return {
        "id": w.number,
        "kind": w.kind,
        "services": list(w.services),
        "start": iso_utc(w.start),
        "end": iso_utc(w.end),
        TEXT_FIELD[w.kind]: w.title,
        "declared_at": None if w.declared_at is None else iso_utc(w.declared_at),
        "declared_by": w.declared_by,
        "cancelled_at": None if w.cancelled_at is None else iso_utc(w.cancelled_at),
        "cancelled_by": w.cancelled_by,
        "warnings": list(w.warnings),
    }
