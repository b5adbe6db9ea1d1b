"""deploy/datasette/metadata.yml: every canned query, run on a copy of a ledger built with the
product's own commands, gives exactly the expected rows; the per-state minutes agree with
``upwatch report`` for a 24x7 UTC service without windows.

The ledger is filled by ``upwatch import``, ``upwatch maintenance|exclusion add|cancel`` and
``upwatch incident open|update|resolve`` (the last two through their command handlers with a
fixed clock and $USER), then copied with SQLite's backup API as docs/auditing.md says, and the
queries run on the copy opened read-only, with every parameter bound as Datasette binds them
(text, empty when not given).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli.entry import build_parser, main
from monitor.cli.incidents import run_incident_command
from monitor.cli.windows import run_window_command
from monitor.core.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "deploy" / "datasette" / "metadata.yml"
DATABASE = "upwatch-copy"  # what Datasette calls upwatch-copy.db

CONFIG = """\
services:
  - name: api
    url: http://127.0.0.1:9/api
    interval: 60s
    expect: {max_latency: 500ms}
  - name: web
    url: http://127.0.0.1:9/web
    interval: 5m
"""

SEP30 = datetime(2026, 9, 30, tzinfo=UTC)
OCT1 = datetime(2026, 10, 1, tzinfo=UTC)
OCT_MINUTES = 31 * 1440
SEP_MINUTES = 30 * 1440


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _api_lines() -> list[dict[str, object]]:
    """api, every minute at :30 from 2026-09-30 23:00 to 2026-10-05 23:59 (UTC).

    Down 23:56-00:03 across the month boundary (4 minutes in each month) and 2026-10-05
    10:00-10:05 (6); degraded (slow) 2026-10-01 12:00-12:02 (3); no checks 2026-10-01
    06:00-06:29: the 05:59:30 check carries into 06:00 and 06:01, so 06:02-06:29 are nodata
    (28). The last check, 2026-10-05 23:59:30, carries into 2026-10-06 00:00 and 00:01: the
    pending tail is 23:59, 00:00 and 00:01.
    """
    down = {(SEP30 + timedelta(hours=23, minutes=m)) for m in range(56, 64)}
    down |= {datetime(2026, 10, 5, 10, m, tzinfo=UTC) for m in range(6)}
    errors = {datetime(2026, 10, 5, 10, 2, tzinfo=UTC): ("http_status", 503)}
    slow = {datetime(2026, 10, 1, 12, m, tzinfo=UTC) for m in range(3)}
    gap = (datetime(2026, 10, 1, 6, 0, tzinfo=UTC), datetime(2026, 10, 1, 6, 30, tzinfo=UTC))
    out: list[dict[str, object]] = []
    minute = SEP30 + timedelta(hours=23)
    while minute < datetime(2026, 10, 6, tzinfo=UTC):
        if not gap[0] <= minute < gap[1]:
            line: dict[str, object] = {"service": "api",
                                       "time": _iso(minute + timedelta(seconds=30))}
            if minute in down:
                error, status = errors.get(minute, ("connect", None))
                line.update(ok=False, error=error)
                if status is not None:
                    line["status"] = status
            else:
                line.update(ok=True, status=200,
                            latency_ms=900.0 if minute in slow else 80.0)
            out.append(line)
        minute += timedelta(minutes=1)
    return out


def _other_lines() -> list[dict[str, object]]:
    """web every 5 min on 2026-10-02 (failing at 10:00 and 10:05); api from location "eu"."""
    out: list[dict[str, object]] = []
    for i in range(288):
        at = datetime(2026, 10, 2, tzinfo=UTC) + timedelta(minutes=5 * i)
        ok = at.hour != 10 or at.minute >= 10
        line: dict[str, object] = {"service": "web", "time": _iso(at), "ok": ok}
        line.update({"status": 200, "latency_ms": 120.0} if ok else {"error": "timeout"})
        out.append(line)
    for i, ok in enumerate((True, True, False)):
        at = datetime(2026, 10, 3, 0, i, tzinfo=UTC)
        line = {"service": "api", "time": _iso(at), "ok": ok, "location": "eu"}
        line.update({"status": 200, "latency_ms": 95.0} if ok else {"error": "dns"})
        out.append(line)
    return out


def upwatch(ledger: Path, *argv: str, at: datetime | None = None, user: str = "alice") -> int:
    """``upwatch ARGV`` on this ledger; with ``at``, on a fixed clock and $USER=``user``."""
    full = [*argv, "--config", str(ledger.parent / "probes.yaml"), "--db", str(ledger)]
    if at is None:
        return main(full)
    args = build_parser().parse_args(full)
    env = {"USER": user}
    if args.command == "incident":
        return run_incident_command(args, clock=FakeClock(at), environ=env)
    return run_window_command(args, clock=FakeClock(at), environ=env)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger filled through the CLI (shared by the tests of this module: they only read)."""
    root = tmp_path_factory.mktemp("audit")
    (root / "probes.yaml").write_text(CONFIG)
    db = root / "upwatch.db"
    checks = root / "checks.jsonl"
    checks.write_text("".join(json.dumps(line) + "\n"
                              for line in _api_lines() + _other_lines()))
    assert upwatch(db, "import", str(checks)) == 0

    assert upwatch(db, "maintenance", "add", "--service", "web", "--start",
                   "2026-10-02T02:00:00Z", "--end", "2026-10-02T03:00:00Z",
                   "--title", "Database upgrade", "--by", "ops-alice",
                   at=datetime(2026, 9, 28, 20, 0, 15, tzinfo=UTC)) == 0
    assert upwatch(db, "maintenance", "add", "--service", "web", "--start",
                   "2026-10-02T10:00:00Z", "--duration", "1h", "--title", "Emergency fix",
                   at=datetime(2026, 10, 2, 10, 20, 30, tzinfo=UTC), user="bob") == 0
    assert upwatch(db, "exclusion", "add", "--service", "web", "--start",
                   "2026-10-02T10:00:00Z", "--end", "2026-10-02T10:10:00Z",
                   "--reason", "Upstream DNS provider outage", "--by", "carol",
                   at=datetime(2026, 10, 3, 9, 0, tzinfo=UTC)) == 0
    assert upwatch(db, "exclusion", "cancel", "3", "--by", "dave",
                   at=datetime(2026, 10, 4, 8, 0, tzinfo=UTC)) == 0

    assert upwatch(db, "incident", "open", "--title", "Connections refused", "--service",
                   "api", "--impact", "minor", "--body", "Looking into it.",
                   at=datetime(2026, 9, 30, 23, 58, tzinfo=UTC)) == 0
    assert upwatch(db, "incident", "resolve", "1", "--by", "bob",
                   at=datetime(2026, 10, 1, 0, 10, tzinfo=UTC)) == 0
    assert upwatch(db, "incident", "open", "--title", "Checkout errors", "--service", "web",
                   at=datetime(2026, 10, 2, 10, 1, tzinfo=UTC)) == 0
    assert upwatch(db, "incident", "update", "2", "--status", "identified", "--body",
                   "A bad deploy.", "--by", "bob",
                   at=datetime(2026, 10, 2, 10, 15, tzinfo=UTC)) == 0
    assert upwatch(db, "incident", "resolve", "2",
                   at=datetime(2026, 10, 2, 10, 40, tzinfo=UTC)) == 0
    assert upwatch(db, "incident", "open", "--title", "Slow pages", "--service", "web",
                   "--service", "api", "--status", "monitoring",
                   at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC)) == 0
    return db


@pytest.fixture(scope="module")
def copy(ledger: Path) -> Iterator[sqlite3.Connection]:
    """The auditor's copy (``.backup``), opened read-only as Datasette opens it."""
    target = ledger.parent / f"{DATABASE}.db"
    src, dst = sqlite3.connect(ledger), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    yield conn
    conn.close()


def metadata() -> dict[str, Any]:
    data = yaml.safe_load(METADATA.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def queries() -> dict[str, dict[str, Any]]:
    found = metadata()["databases"][DATABASE]["queries"]
    assert isinstance(found, dict)
    return found


def run(conn: sqlite3.Connection, name: str, **params: str) -> list[dict[str, object]]:
    """Canned query ``name`` with ``params``; the others bound to "" as Datasette does."""
    query = queries()[name]
    unknown = set(params) - set(query["params"])
    assert not unknown, f"{name} has no parameter {unknown}"
    cur = conn.execute(query["sql"], {p: params.get(p, "") for p in query["params"]})
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


# ---- minutes per state ------------------------------------------------------------------

API_SEP = {"month": "2026-09", "service": "api", "location": "local",
           "minutes": SEP_MINUTES, "up_minutes": 56, "degraded_minutes": 0, "down_minutes": 4,
           "nodata_minutes": SEP_MINUTES - 60, "pending_minutes": 0}
# October: 5 days of minutes and the 2 the last check carries into, less the 28-minute gap;
# 10 of them down and 3 degraded; the pending tail is the last 3.
API_OCT = {"month": "2026-10", "service": "api", "location": "local",
           "minutes": OCT_MINUTES, "up_minutes": 5 * 1440 + 2 - 28 - 13,
           "degraded_minutes": 3, "down_minutes": 10,
           "nodata_minutes": OCT_MINUTES - (5 * 1440 + 2 - 28), "pending_minutes": 3}
API_EU_OCT = {"month": "2026-10", "service": "api", "location": "eu",
              "minutes": OCT_MINUTES, "up_minutes": 2, "degraded_minutes": 0,
              "down_minutes": 2, "nodata_minutes": OCT_MINUTES - 4, "pending_minutes": 2}
# 288 checks every 5 min each carry 9 minutes: 2026-10-02 00:00 to 2026-10-03 00:04.
WEB_OCT = {"month": "2026-10", "service": "web", "location": "local",
           "minutes": OCT_MINUTES, "up_minutes": 1445 - 10, "degraded_minutes": 0,
           "down_minutes": 10, "nodata_minutes": OCT_MINUTES - 1445, "pending_minutes": 10}


def test_minutes_by_state_splits_runs_at_month_boundaries(copy: sqlite3.Connection) -> None:
    assert run(copy, "minutes_by_state") == [API_SEP, API_EU_OCT, API_OCT, WEB_OCT]
    assert run(copy, "minutes_by_state", month="2026-10") == [API_EU_OCT, API_OCT, WEB_OCT]
    assert run(copy, "minutes_by_state", month="2026-10", service="web") == [WEB_OCT]
    assert run(copy, "minutes_by_state", service="api", month="2026-09") == [API_SEP]
    assert run(copy, "minutes_by_state", month="2026-11") == []
    assert run(copy, "minutes_by_state", service="nope") == []
    for row in run(copy, "minutes_by_state"):
        assert row["minutes"] == sum(
            row[f"{s}_minutes"] for s in ("up", "degraded", "down", "nodata")), row


def test_minutes_by_state_agree_with_upwatch_report(
    ledger: Path, copy: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    """api is 24x7 in UTC with no window: its UTC month is the report's month, all covered."""
    capsys.readouterr()
    assert upwatch(ledger, "report", "--month", "2026-10", "--format", "json",
                   "--service", "api") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["month"] == "2026-10" and report["to_date"] is False
    [api] = report["services"]
    assert api["maintenance_minutes"] == api["excluded_minutes"] == 0
    row = next(r for r in run(copy, "minutes_by_state", month="2026-10", service="api")
               if r["location"] == "local")
    assert (row["minutes"], row["down_minutes"], row["degraded_minutes"],
            row["nodata_minutes"]) == (
        api["total_minutes"], api["down_minutes"], api["degraded_minutes"],
        api["nodata_minutes"])
    assert row["down_minutes"] == 10


# ---- windows ------------------------------------------------------------------------------

PLANNED = {
    "id": 1, "kind": "maintenance", "services": "web",
    "start_utc": "2026-10-02T02:00:00Z", "end_utc": "2026-10-02T03:00:00Z",
    "title_or_reason": "Database upgrade", "declared_by": "cli:ops-alice",
    "declared_at_utc": "2026-09-28T20:00:15Z", "notice_minutes": 4679,
    "cancelled_by": None, "cancelled_at_utc": None,
}
LATE = {
    "id": 2, "kind": "maintenance", "services": "web",
    "start_utc": "2026-10-02T10:00:00Z", "end_utc": "2026-10-02T11:00:00Z",
    "title_or_reason": "Emergency fix", "declared_by": "cli:bob",
    "declared_at_utc": "2026-10-02T10:20:30Z", "notice_minutes": -20,  # 20.5 min after
    "cancelled_by": None, "cancelled_at_utc": None,
}
EXCLUDED = {
    "id": 3, "kind": "exclusion", "services": "web",
    "start_utc": "2026-10-02T10:00:00Z", "end_utc": "2026-10-02T10:10:00Z",
    "title_or_reason": "Upstream DNS provider outage", "declared_by": "cli:carol",
    "declared_at_utc": "2026-10-03T09:00:00Z", "notice_minutes": -1380,
    "cancelled_by": "cli:dave", "cancelled_at_utc": "2026-10-04T08:00:00Z",
}


def test_declared_windows_show_who_declared_what_when_and_why(
    ledger: Path, copy: sqlite3.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = run(copy, "declared_windows")
    warnings = [json.loads(str(r["warnings"])) for r in rows]
    assert [{k: v for k, v in r.items() if k != "warnings"} for r in rows] == [
        PLANNED, LATE, EXCLUDED]
    assert warnings[2] == []
    assert any("before it was declared" in w for w in warnings[1])
    assert run(copy, "declared_windows", service="web") == rows
    assert run(copy, "declared_windows", service="api") == []

    # Field by field what `upwatch maintenance|exclusion list --format json` shows.
    listed = []
    for command, key in (("maintenance", "maintenance"), ("exclusion", "exclusions")):
        capsys.readouterr()
        assert upwatch(ledger, command, "list", "--format", "json") == 0
        listed += json.loads(capsys.readouterr().out)[key]
    listed.sort(key=lambda w: (w["start"], w["id"]))
    assert [
        {"id": r["id"], "kind": r["kind"], "services": str(r["services"]).split(", "),
         "start": r["start_utc"], "end": r["end_utc"],
         "title" if r["kind"] == "maintenance" else "reason": r["title_or_reason"],
         "declared_at": r["declared_at_utc"], "declared_by": r["declared_by"],
         "cancelled_at": r["cancelled_at_utc"], "cancelled_by": r["cancelled_by"],
         "warnings": w}
        for r, w in zip(rows, warnings, strict=True)] == listed


# ---- failed checks ------------------------------------------------------------------------

def _failure(minute: str, error: str, status: int | None = None, *, service: str = "api",
             location: str = "local", second: str = "30") -> dict[str, object]:
    at = datetime.fromisoformat(f"2026-10-{minute}:{second}+00:00")
    return {"time_utc": f"2026-10-{minute}:{second}.000Z", "service": service,
            "location": location, "error": error, "status": status, "latency_ms": None,
            "detail": "", "ts_ms": int(at.timestamp() * 1000)}


def test_failed_checks_of_a_service_in_a_time_range(copy: sqlite3.Connection) -> None:
    window = run(copy, "failed_checks", service="api", **{
        "from": "2026-10-05T10:02:00Z", "to": "2026-10-05T10:04:30Z"})
    assert window == [_failure("05T10:02", "http_status", 503),
                      _failure("05T10:03", "connect")]  # 10:04:30 is the end: not included
    same = run(copy, "failed_checks", service="api", **{
        "from": "2026-10-05T12:02:00+02:00", "to": "2026-10-05T10:04:30.000Z"})
    assert same == window
    october = run(copy, "failed_checks", service="api", **{"from": "2026-10-01",
                                                            "to": "2026-11-01"})
    assert [r["time_utc"] for r in october] == [
        *(f"2026-10-01T00:0{m}:30.000Z" for m in range(4)),
        "2026-10-03T00:02:00.000Z",  # from location eu
        *(f"2026-10-05T10:0{m}:30.000Z" for m in range(6))]
    assert october[4] == _failure("03T00:02", "dns", location="eu", second="00")
    web = run(copy, "failed_checks", service="web")
    assert web == [_failure("02T10:00", "timeout", service="web", second="00"),
                   _failure("02T10:05", "timeout", service="web", second="00")]
    everything = run(copy, "failed_checks")
    assert len(everything) == 8 + 6 + 1 + 2
    assert run(copy, "failed_checks", service="api", to="2026-09-30T23:58:00Z") == [
        dict(_failure("01T00:00", "connect"), time_utc=f"2026-09-30T23:{m}:30.000Z",
             ts_ms=int(datetime(2026, 9, 30, 23, m, 30, tzinfo=UTC).timestamp() * 1000))
        for m in (56, 57)]


# ---- incidents ----------------------------------------------------------------------------

def _incident_rows(conn: sqlite3.Connection, **params: str) -> list[tuple[object, ...]]:
    return [(r["incident"], r["incident_status"], r["services"], r["detected_at_utc"],
             r["resolved_at_utc"], r["update_at_utc"], r["update_status"], r["author"],
             r["human"], r["body"]) for r in run(conn, "incidents_with_updates", **params)]


FIRST = [
    (1, "resolved", "api", "2026-09-30T23:58:00Z", "2026-10-01T00:10:00Z",
     "2026-09-30T23:58:00Z", "investigating", "cli:alice", 1, "Looking into it."),
    (1, "resolved", "api", "2026-09-30T23:58:00Z", "2026-10-01T00:10:00Z",
     "2026-10-01T00:10:00Z", "resolved", "cli:bob", 1, "This incident has been resolved."),
]
SECOND = [
    (2, "resolved", "web", "2026-10-02T10:01:00Z", "2026-10-02T10:40:00Z",
     "2026-10-02T10:01:00Z", "investigating", "cli:alice", 1, ""),
    (2, "resolved", "web", "2026-10-02T10:01:00Z", "2026-10-02T10:40:00Z",
     "2026-10-02T10:15:00Z", "identified", "cli:bob", 1, "A bad deploy."),
    (2, "resolved", "web", "2026-10-02T10:01:00Z", "2026-10-02T10:40:00Z",
     "2026-10-02T10:40:00Z", "resolved", "cli:alice", 1, "This incident has been resolved."),
]
THIRD = [
    (3, "monitoring", "api, web", "2026-11-02T08:00:00Z", None,
     "2026-11-02T08:00:00Z", "monitoring", "cli:alice", 1, ""),
]


def test_incidents_with_their_updates(copy: sqlite3.Connection) -> None:
    assert _incident_rows(copy) == FIRST + SECOND + THIRD
    assert _incident_rows(copy, month="2026-09") == FIRST
    assert _incident_rows(copy, month="2026-10") == FIRST + SECOND
    assert _incident_rows(copy, month="2026-12") == THIRD  # still open
    assert _incident_rows(copy, service="api") == FIRST + THIRD
    assert _incident_rows(copy, service="web", month="2026-10") == SECOND
    [first] = run(copy, "incidents_with_updates", month="2026-11")
    assert {k: first[k] for k in ("title", "impact", "severity", "created_by",
                                  "detection_key")} == {
        "title": "Slow pages", "impact": "major", "severity": "severity 2",
        "created_by": "cli:alice", "detection_key": None}


# ---- the file itself ----------------------------------------------------------------------

def test_every_query_is_tested_read_only_and_documented() -> None:
    found = queries()
    tested = set(re.findall(r'\brun\((?:copy|conn), "(\w+)"', Path(__file__).read_text("utf-8")))
    assert set(found) == tested, (
        "every canned query needs a test of its exact rows in this file, and every query "
        f"tested here must exist: untested {set(found) - tested}, gone {tested - set(found)}")
    docs = (ROOT / "docs" / "auditing.md").read_text("utf-8")
    for name, query in found.items():
        assert query.get("write") is None, name
        assert query["title"] and query["description"], name
        named = set(re.findall(r"(?<![:\w]):(\w+)", query["sql"]))
        assert named == set(query["params"]), name  # Datasette shows a field for each
        assert re.match(r"(?i)\s*(with|select)\b", query["sql"]), name
        assert f"`{name}`" in docs, f"docs/auditing.md does not describe {name}"


def test_metadata_names_only_tables_and_columns_of_the_schema(
    copy: sqlite3.Connection,
) -> None:
    data = metadata()
    assert set(data["databases"]) == {DATABASE}
    tables = data["databases"][DATABASE]["tables"]
    for table, meta in tables.items():
        columns = {row[1] for row in copy.execute(f"PRAGMA table_info({table})")}
        assert columns, f"no table {table} in the ledger"
        assert set(meta.get("columns", {})) <= columns, table
        if "label_column" in meta:
            assert meta["label_column"] in columns, table
    assert {t for t, m in tables.items() if m.get("hidden")} == {
        "latency_open", "folder_state", "meta"}
    # Datasette serves a canned query at /upwatch-copy/NAME: one named like a table hides it.
    every_table = {row[0] for row in copy.execute("SELECT name FROM sqlite_master")}
    assert not set(queries()) & every_table
