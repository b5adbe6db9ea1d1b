"""Declaring windows at run time: validation messages, warnings, the audit rule in the SLA."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from windows_setup import CONFIG, NOW

from monitor.config import Config, parse_config
from monitor.core.checks import State
from monitor.core.minutes import Run
from monitor.core.sla import month_uptime
from monitor.core.windows import Window, WindowKind, windows_from_config
from monitor.store.ledger import Ledger
from monitor.times import epoch_minute
from monitor.windows.declarations import (
    DeclarationError,
    UnknownWindow,
    active_windows,
    cancel,
    cancel_effect,
    declare,
    list_declared,
    upcoming_windows,
    validate_declaration,
    window_json,
    window_state,
    window_summary,
)
from monitor.windows.sources import declared_windows, with_declared

CPH = ZoneInfo("Europe/Copenhagen")


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "upwatch.db")
    yield led
    led.close()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# ---- errors --------------------------------------------------------------------------------

GOOD = {"services": ["api"], "start": "2026-10-03T02:00:00Z", "end": "2026-10-03T03:00:00Z",
        "text": "Database upgrade"}


@pytest.mark.parametrize(
    ("kind", "changes", "errors"),
    [
        ("maintenance", {"services": ["apx"]},
         ['services: unknown service "apx" (did you mean "api"? known services: api, web)']),
        ("maintenance", {"services": ["api", "apx", "wbe"]},
         ['services: unknown service "apx" (did you mean "api"? known services: api, web)',
          'services: unknown service "wbe" (did you mean "web"? known services: api, web)']),
        ("maintenance", {"services": []}, ["services: must name at least one service"]),
        ("maintenance", {"services": None}, ["services: must name at least one service"]),
        ("maintenance", {"services": 3}, ["services: expected a list of service names, got 3"]),
        ("maintenance", {"start": "tomorrow"},
         ['start: expected a date and time like "2026-10-01T02:00:00Z", got "tomorrow"']),
        ("maintenance", {"start": 1790000000},
         ['start: expected a date and time like "2026-10-01T02:00:00Z", got 1790000000']),
        ("maintenance", {"start": "2026-10-03T02:00:00"},
         ["start: needs a UTC offset such as Z or +02:00"]),
        ("maintenance", {"end": None}, ["end: required"]),
        ("maintenance", {"end": "2026-10-03T02:00:00Z"},
         ["end: must be after start (2026-10-03T02:00:00Z)"]),
        ("maintenance", {"end": "2026-10-03T03:00:00+02:00"},
         ["end: must be after start (2026-10-03T02:00:00Z)"]),
        ("maintenance", {"end": "2026-10-12T02:00:00Z"},
         ["end: the window is 9d long; the limit is 7d (maintenance.max_duration in "
          "probes.yaml)"]),
        ("maintenance", {"end": "2026-10-10T02:30:00Z"},
         ["end: the window is 7d30m long; the limit is 7d (maintenance.max_duration in "
          "probes.yaml)"]),
        ("maintenance", {"text": None}, ["title: required for maintenance"]),
        ("maintenance", {"text": "   "}, ["title: required for maintenance"]),
        ("maintenance", {"text": 5}, ["title: expected text, got 5"]),
        ("maintenance", {"text": "two\nlines"},
         ["title: must be one line of text (no line breaks or control characters)"]),
        ("maintenance", {"text": "red \x1b[31malert"},
         ["title: must be one line of text (no line breaks or control characters)"]),
        ("maintenance", {"text": "x" * 501}, ["title: must be at most 500 characters, got 501"]),
        ("exclusion", {"text": ""}, ["reason: required for an exclusion"]),
        ("exclusion", {"services": "apx", "start": "soon", "end": "2026-10-03", "text": None},
         ['services: unknown service "apx" (did you mean "api"? known services: api, web)',
          'start: expected a date and time like "2026-10-01T02:00:00Z", got "soon"',
          "end: needs a UTC offset such as Z or +02:00",
          "reason: required for an exclusion"]),
    ],
    ids=[
        "unknown-service", "two-unknown-services", "no-services", "services-missing",
        "services-not-a-list", "start-not-a-time", "start-a-number", "start-without-offset",
        "end-missing", "end-equals-start", "end-before-start-other-offset", "nine-days",
        "just-over-the-limit", "title-missing", "title-blank", "title-not-text",
        "title-two-lines", "title-escape-code", "title-too-long", "reason-empty",
        "every-field-wrong",
    ],
)
def test_errors_name_the_field(
    config: Config, kind: WindowKind, changes: dict[str, object], errors: list[str]
) -> None:
    given = {**GOOD, **changes}
    checked = validate_declaration(config, kind, given["services"], given["start"],
                                   given["end"], given["text"], NOW)
    assert list(checked.errors) == errors
    assert checked.declaration is None
    assert checked.warnings == ()


def test_a_valid_declaration_is_normalized(config: Config) -> None:
    checked = validate_declaration(
        config, "maintenance", "api", "2026-10-03T04:00:00+02:00", "2026-10-03T03:00:00Z",
        "  Database upgrade ", NOW)
    assert checked.errors == ()
    d = checked.declaration
    assert d is not None
    assert (d.kind, d.services, d.start, d.end, d.text) == (
        "maintenance", ("api",), utc("2026-10-03T02:00:00Z"), utc("2026-10-03T03:00:00Z"),
        "Database upgrade")


def test_repeated_services_are_kept_once_in_order(config: Config) -> None:
    d = validate_declaration(config, "exclusion", ["web", "api", "web"], GOOD["start"],
                             GOOD["end"], "x", NOW).declaration
    assert d is not None and d.services == ("web", "api")


def test_an_exclusion_has_no_length_limit(config: Config) -> None:
    checked = validate_declaration(config, "exclusion", ["api"], "2026-09-01T00:00:00Z",
                                   "2026-09-20T00:00:00Z", "Provider outage", NOW)
    assert checked.errors == ()


def test_the_timezone_flag_is_named_in_the_error(config: Config) -> None:
    checked = validate_declaration(config, "maintenance", ["api"], "2026-10-03T02:00",
                                   "2026-10-03T03:00Z", "x", NOW, tz_flag="--timezone")
    assert checked.errors == ("start: needs a UTC offset such as Z or +02:00, or pass --timezone",)


def test_duration_instead_of_end(config: Config) -> None:
    d = validate_declaration(config, "maintenance", ["api"], "2026-10-03T02:00:00Z", None,
                             "x", NOW, duration=timedelta(minutes=90)).declaration
    assert d is not None and d.end == utc("2026-10-03T03:30:00Z")
    long = validate_declaration(config, "maintenance", ["api"], "2026-10-03T02:00:00Z", None,
                                "x", NOW, duration=timedelta(days=8))
    assert long.errors == ("end: the window is 8d long; the limit is 7d "
                           "(maintenance.max_duration in probes.yaml)",)


# ---- local time with --timezone, across DST ------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-10-25T01:00", "2026-10-25T04:00",
         ("2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z")),  # clocks go back: 4 real hours
        ("2026-03-29T01:00", "2026-03-29T04:00",
         ("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")),  # clocks go forward: 2 real hours
        ("2026-10-25T02:30+01:00", "2026-10-25T03:00",
         ("2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z")),  # an offset wins over the zone
        ("2026-07-01", "2026-07-01T06:00", ("2026-06-30T22:00:00Z", "2026-07-01T04:00:00Z")),
    ],
    ids=["autumn-back-4h", "spring-forward-2h", "offset-wins", "date-is-midnight"],
)
def test_local_times_are_read_in_the_zone(
    config: Config, start: str, end: str, expected: tuple[str, str]
) -> None:
    d = validate_declaration(config, "exclusion", ["web"], start, end, "x",
                             datetime(2027, 1, 1, tzinfo=UTC), tz=CPH).declaration
    assert d is not None
    assert (d.start, d.end) == (utc(expected[0]), utc(expected[1]))


@pytest.mark.parametrize(
    ("start", "error"),
    [
        ("2026-03-29T02:30",
         "start: 2026-03-29T02:30 does not exist in Europe/Copenhagen (the clocks skip it); "
         "write the offset, e.g. 2026-03-29T03:30:00+02:00"),
        ("2026-10-25T02:30",
         "start: 2026-10-25T02:30 happens twice in Europe/Copenhagen; write the offset: "
         "2026-10-25T02:30:00+02:00 (the first) or 2026-10-25T02:30:00+01:00 (the second)"),
    ],
    ids=["spring-skipped-hour", "autumn-repeated-hour"],
)
def test_a_skipped_or_repeated_wall_time_is_refused(
    config: Config, start: str, error: str
) -> None:
    checked = validate_declaration(config, "exclusion", ["web"], start, "2026-11-01T00:00Z",
                                   "x", NOW, tz=CPH, tz_flag="--timezone")
    assert checked.errors == (error,)


# ---- warnings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "services", "start", "end", "warnings"),
    [
        ("maintenance", ["api"], "2026-10-03T02:00:00Z", "2026-10-03T03:00:00Z", []),
        ("maintenance", ["api", "web"], "2026-10-03T02:00:00Z", "2026-10-03T03:00:00Z",
         ["start: 2026-10-03T02:00:00Z is inside the SLA coverage hours of web"]),
        ("maintenance", ["api", "web"], "2026-10-06T08:00:00Z", "2026-10-06T09:00:00Z",
         ["start: 2026-10-06T08:00:00Z is inside the SLA coverage hours of api, web"]),
        ("maintenance", ["api"], "2026-12-25T10:00:00Z", "2026-12-25T11:00:00Z", []),
        ("maintenance", ["api"], "2026-09-28T21:30:00Z", "2026-09-28T22:00:00Z",
         ["start: only 1h30m notice; maintenance.min_notice in probes.yaml asks for 2d"]),
        ("maintenance", ["api"], "2026-09-28T20:00:30Z", "2026-09-28T22:00:00Z",
         ["start: no notice; maintenance.min_notice in probes.yaml asks for 2d"]),
        ("maintenance", ["api"], "2026-09-28T19:30:00Z", "2026-09-28T21:00:00Z",
         ["start: the window began before it was declared (at 2026-09-28T20:00:00Z): it counts "
          "as maintenance only from then on; to cover 2026-09-28T19:30:00Z to "
          "2026-09-28T20:00:00Z, declare an exclusion with a reason"]),
        ("maintenance", ["api"], "2026-09-28T14:00:00Z", "2026-09-28T15:00:00Z",
         ["start: the window ended before it was declared (at 2026-09-28T20:00:00Z), so none "
          "of it counts as maintenance; to take it out of the SLA, declare an exclusion with "
          "a reason",
          "start: 2026-09-28T14:00:00Z is inside the SLA coverage hours of api"]),
        ("exclusion", ["api"], "2026-09-28T14:00:00Z", "2026-09-28T15:00:00Z", []),
        ("exclusion", ["api"], "2026-09-28T19:00:00Z", "2026-09-28T23:00:00Z", []),
        ("exclusion", ["web"], "2026-09-29T14:00:00Z", "2026-09-29T15:00:00Z",
         ["start: 2026-09-29T14:00:00Z is still to come; an exclusion marks what already "
          "happened (declare planned work as maintenance)"]),
    ],
    ids=[
        "planned-saturday-night", "web-is-24x7", "tuesday-10-cest", "christmas-is-a-holiday",
        "short-notice", "notice-under-a-minute", "retroactive", "ended-before-declared",
        "past-exclusion", "ongoing-exclusion", "future-exclusion",
    ],
)
def test_warnings_flag_but_do_not_refuse(
    config: Config, kind: WindowKind, services: list[str], start: str, end: str,
    warnings: list[str],
) -> None:
    checked = validate_declaration(config, kind, services, start, end, "Reason", NOW)
    assert checked.errors == ()
    assert checked.declaration is not None
    assert list(checked.warnings) == warnings


# ---- storing, cancelling, listing ----------------------------------------------------------


def test_declare_stores_the_warnings_and_who_and_when(config: Config, ledger: Ledger) -> None:
    w = declare(ledger, config, "maintenance", ["api"], "2026-09-28T21:30:00Z",
                "2026-09-28T22:00:00Z", "Hotfix", now=NOW, by="api:ops")
    assert ledger.window(w.number) == w
    assert window_json(w) == {
        "id": 1, "kind": "maintenance", "services": ["api"], "start": "2026-09-28T21:30:00Z",
        "end": "2026-09-28T22:00:00Z", "title": "Hotfix", "declared_at": "2026-09-28T20:00:00Z",
        "declared_by": "api:ops", "cancelled_at": None, "cancelled_by": None,
        "warnings": ["start: only 1h30m notice; maintenance.min_notice in probes.yaml asks "
                     "for 2d"],
    }


def test_declare_refuses_with_every_problem_and_stores_nothing(
    config: Config, ledger: Ledger
) -> None:
    with pytest.raises(DeclarationError) as err:
        declare(ledger, config, "exclusion", ["apx"], "2026-09-28T21:30:00Z",
                "2026-09-28T21:00:00Z", "", now=NOW, by="cli:alice")
    assert err.value.problems == (
        'services: unknown service "apx" (did you mean "api"? known services: api, web)',
        "end: must be after start (2026-09-28T21:30:00Z)",
        "reason: required for an exclusion",
    )
    assert ledger.windows() == []


def test_cancel_keeps_history_and_checks_the_kind(config: Config, ledger: Ledger) -> None:
    m = declare(ledger, config, "maintenance", ["web"], "2026-10-03T02:00:00Z",
                "2026-10-03T03:00:00Z", "Upgrade", now=NOW, by="cli:alice")
    x = declare(ledger, config, "exclusion", ["web"], "2026-09-28T10:00:00Z",
                "2026-09-28T11:00:00Z", "DNS", now=NOW, by="cli:alice")
    with pytest.raises(UnknownWindow, match=r'^no maintenance window with id "2" \(2 is an '
                                            r"exclusion\)$"):
        cancel(ledger, "maintenance", x.id, now=NOW, by="cli:bob")
    with pytest.raises(UnknownWindow, match=r'^no exclusion with id "9"$'):
        cancel(ledger, "exclusion", 9, now=NOW, by="cli:bob")
    with pytest.raises(UnknownWindow, match=r'^no exclusion with id "abc"$'):
        cancel(ledger, "exclusion", "abc", now=NOW, by="cli:bob")
    later = NOW + timedelta(hours=1)
    done, changed = cancel(ledger, "maintenance", m.id, now=later, by="cli:bob")
    assert changed and (done.cancelled_at, done.cancelled_by) == (later, "cli:bob")
    again, changed = cancel(ledger, "maintenance", "1", now=later + timedelta(hours=1),
                            by="api:admin")
    assert not changed and again == done
    assert [w.id for w in ledger.windows()] == [x.id, m.id]  # nothing deleted


def test_list_declared_filters_by_state_and_service(config: Config, ledger: Ledger) -> None:
    def add(services: list[str], start: str, end: str) -> str:
        return declare(ledger, config, "maintenance", services, start, end, "t",
                       now=NOW, by="cli:a").id

    past = add(["api"], "2026-09-28T10:00:00Z", "2026-09-28T11:00:00Z")
    active = add(["web"], "2026-09-28T19:00:00Z", "2026-09-28T21:00:00Z")
    upcoming = add(["api", "web"], "2026-10-03T02:00:00Z", "2026-10-03T03:00:00Z")
    called_off = add(["web"], "2026-10-04T02:00:00Z", "2026-10-04T03:00:00Z")
    cancel(ledger, "maintenance", called_off, now=NOW, by="cli:a")

    def ids(**kw: object) -> list[str]:
        return [w.id for w in list_declared(ledger, "maintenance", now=NOW, **kw)]  # type: ignore[arg-type]

    assert ids() == [past, active, upcoming, called_off]
    assert ids(state="past") == [past, called_off]
    assert ids(state="active") == [active]
    assert ids(state="upcoming") == [upcoming]
    assert ids(service="api") == [past, upcoming]
    assert ids(state="upcoming", service="web") == [upcoming]
    assert list_declared(ledger, "exclusion", now=NOW) == []


# ---- the audit rule in the SLA -------------------------------------------------------------

OUTAGE = (datetime(2026, 10, 5, 10, 0, tzinfo=UTC), datetime(2026, 10, 5, 11, 0, tzinfo=UTC))


def web_october(config: Config, ledger: Ledger) -> tuple[int, int, int]:
    """web's October: up except down 10:00-11:00 on the 5th → (maintenance, excluded, down)."""
    lo, hi = epoch_minute(datetime(2026, 10, 1, tzinfo=UTC)), epoch_minute(
        datetime(2026, 11, 1, tzinfo=UTC))
    d0, d1 = epoch_minute(OUTAGE[0]), epoch_minute(OUTAGE[1])
    runs = [Run(lo, d0, State.UP), Run(d0, d1, State.DOWN), Run(d1, hi, State.UP)]
    windows = declared_windows(ledger, datetime(2026, 10, 1, tzinfo=UTC),
                               datetime(2026, 11, 1, tzinfo=UTC))
    u = month_uptime(service="web", sla=config.service("web").sla, year=2026, month=10,
                     runs=runs, windows=windows)
    assert u.maintenance_minutes + u.excluded_minutes + u.down_minutes == 60
    return u.maintenance_minutes, u.excluded_minutes, u.down_minutes


def test_a_retroactive_window_counts_from_its_declaration_and_an_exclusion_covers_the_rest(
    config: Config, ledger: Ledger
) -> None:
    declared = datetime(2026, 10, 5, 10, 20, 30, tzinfo=UTC)
    m = declare(ledger, config, "maintenance", ["web"], "2026-10-05T10:00:00Z",
                "2026-10-05T11:00:00Z", "Emergency patch", now=declared, by="cli:alice")
    assert m.warnings[0].startswith("start: the window began before it was declared (at "
                                    "2026-10-05T10:20:30Z)")
    # maintenance from 10:21 (the first minute starting after the declaration); 10:00-10:20 down
    assert web_october(config, ledger) == (39, 0, 21)
    x = declare(ledger, config, "exclusion", ["web"], "2026-10-05T10:00:00Z",
                "2026-10-05T10:20:30Z", "Cloud provider outage (their incident 77)",
                now=declared + timedelta(hours=2), by="api:ops")
    assert x.warnings == ()
    assert web_october(config, ledger) == (39, 21, 0)
    # the report lists each with who declared it and when
    windows = declared_windows(ledger, *OUTAGE)
    u = month_uptime(service="web", sla=config.service("web").sla, year=2026, month=10,
                     runs=[], windows=windows)
    assert [(a.id, a.declared_by, a.declared_at, a.minutes) for a in u.maintenance] == [
        (m.id, "cli:alice", declared, 39)]
    assert [(a.id, a.title, a.declared_by, a.minutes) for a in u.exclusions] == [
        (x.id, "Cloud provider outage (their incident 77)", "api:ops", 21)]


def test_cancellation_ends_maintenance_and_voids_an_exclusion(
    config: Config, ledger: Ledger
) -> None:
    before = datetime(2026, 10, 1, tzinfo=UTC)
    m = declare(ledger, config, "maintenance", ["web"], "2026-10-05T10:00:00Z",
                "2026-10-05T11:00:00Z", "Upgrade", now=before, by="cli:alice")
    assert web_october(config, ledger) == (60, 0, 0)
    cancel(ledger, "maintenance", m.id, now=datetime(2026, 10, 5, 10, 40, tzinfo=UTC),
           by="cli:bob")
    assert web_october(config, ledger) == (40, 0, 20)
    x = declare(ledger, config, "exclusion", ["web"], "2026-10-05T10:40:00Z",
                "2026-10-05T11:00:00Z", "DNS", now=OUTAGE[1], by="cli:alice")
    assert web_october(config, ledger) == (40, 20, 0)
    cancel(ledger, "exclusion", x.id, now=OUTAGE[1] + timedelta(days=1), by="cli:carol")
    assert web_october(config, ledger) == (40, 0, 20)
    assert len(ledger.windows()) == 2


# ---- pure helpers --------------------------------------------------------------------------


def win(wid: str, start: str, end: str, *, kind: WindowKind = "maintenance",
        declared: str | None = "2026-09-01T00:00:00Z", cancelled: str | None = None) -> Window:
    return Window(id=wid, kind=kind, services=("api",), start=utc(start), end=utc(end),
                  title="t", declared_at=utc(declared) if declared else None,
                  declared_by="cli:a", cancelled_at=utc(cancelled) if cancelled else None)


HELPER_WINDOWS = [
    win("ended", "2026-09-28T10:00Z", "2026-09-28T20:00Z"),
    win("now-from-yaml", "2026-09-28T19:00Z", "2026-09-28T21:00Z", declared=None),
    win("now-exclusion", "2026-09-28T19:59Z", "2026-09-28T20:01Z", kind="exclusion"),
    win("declared-later", "2026-09-28T19:00Z", "2026-09-28T21:00Z",
        declared="2026-09-28T20:30Z"),
    win("cancelled-before", "2026-09-28T19:00Z", "2026-09-28T21:00Z",
        cancelled="2026-09-28T20:00Z"),
    win("cancelled-after", "2026-09-28T19:30Z", "2026-09-28T21:00Z",
        cancelled="2026-09-28T20:30Z"),
    win("starts-now", "2026-09-28T20:00Z", "2026-09-28T22:00Z"),
    win("tomorrow", "2026-09-29T02:00Z", "2026-09-29T03:00Z"),
    win("in-7-days", "2026-10-05T20:00Z", "2026-10-05T21:00Z"),
    win("in-8-days", "2026-10-06T20:00Z", "2026-10-06T21:00Z"),
    win("upcoming-cancelled", "2026-09-30T02:00Z", "2026-09-30T03:00Z",
        cancelled="2026-09-28T12:00Z"),
]


def test_active_windows() -> None:
    found = [w.id for w in active_windows(HELPER_WINDOWS, NOW)]
    assert found == ["now-from-yaml", "cancelled-after", "now-exclusion", "starts-now"]


def test_upcoming_windows() -> None:
    assert [w.id for w in upcoming_windows(HELPER_WINDOWS, NOW)] == ["tomorrow", "in-7-days"]
    assert [w.id for w in upcoming_windows(HELPER_WINDOWS, NOW, days=1)] == ["tomorrow"]
    assert [w.id for w in upcoming_windows(HELPER_WINDOWS, NOW, days=30)] == [
        "tomorrow", "in-7-days", "in-8-days"]


@pytest.mark.parametrize(
    ("wid", "state"),
    [("ended", "past"), ("now-from-yaml", "active"), ("cancelled-before", "cancelled"),
     ("cancelled-after", "active"), ("starts-now", "active"), ("tomorrow", "upcoming"),
     ("upcoming-cancelled", "cancelled")],
    ids=lambda v: str(v),
)
def test_window_state(wid: str, state: str) -> None:
    w = next(w for w in HELPER_WINDOWS if w.id == wid)
    assert window_state(w, NOW) == state


@pytest.mark.parametrize(
    ("window", "effect"),
    [
        (win("x", "2026-09-28T10:00Z", "2026-09-28T22:00Z", kind="exclusion"),
         "its minutes count in the SLA again"),
        (win("m", "2026-09-29T10:00Z", "2026-09-29T11:00Z"),
         "it had not begun: none of it counts as maintenance"),
        (win("m", "2026-09-28T10:00Z", "2026-09-28T22:00Z", declared="2026-09-28T20:00Z"),
         "it had not begun: none of it counts as maintenance"),
        (win("m", "2026-09-28T19:00Z", "2026-09-28T22:00Z"),
         "it counts as maintenance until 2026-09-28T20:00:00Z"),
        (win("m", "2026-09-28T10:00Z", "2026-09-28T12:00Z"),
         "it had already ended: the minutes it covered stay maintenance"),
    ],
    ids=["exclusion", "not-begun", "declared-this-instant", "running", "ended"],
)
def test_cancel_effect(window: Window, effect: str) -> None:
    assert cancel_effect(window, NOW) == effect


def test_declared_windows_joins_the_config_ones_for_the_sla_metrics(
    config: Config, ledger: Ledger
) -> None:
    yaml_config = parse_config(CONFIG + """\
  windows:
    - {services: [api], title: From the file, start: "2026-10-03T02:00:00Z",
       end: "2026-10-03T03:00:00Z"}
""")
    m = declare(ledger, config, "maintenance", ["web"], "2026-10-04T02:00:00Z",
                "2026-10-04T03:00:00Z", "Declared", now=NOW, by="cli:a")
    x = declare(ledger, config, "exclusion", ["web"], "2026-09-20T02:00:00Z",
                "2026-09-20T03:00:00Z", "Old outage", now=NOW, by="cli:a")

    def from_file(led: Ledger, start: datetime, end: datetime) -> list[Window]:
        return windows_from_config(yaml_config, start, end)

    october = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    both = with_declared(from_file)(ledger, *october)
    assert [w.id for w in both] == ["cfg-m0", m.id]
    assert declared_windows(ledger) == [x, m]
    assert declared_windows(ledger, start=october[0]) == [m]
    assert declared_windows(ledger, end=october[0]) == [x]


def test_window_summary() -> None:
    assert window_summary(HELPER_WINDOWS[2]) == {
        "id": "now-exclusion", "kind": "exclusion", "services": ["api"], "reason": "t",
        "start": "2026-09-28T19:59:00Z", "end": "2026-09-28T20:01:00Z"}
