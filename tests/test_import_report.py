"""``upwatch import`` then ``upwatch report``, checked against a minute-by-minute oracle.

The oracle takes the imported lines, states each minute of the month by DESIGN.md's words
(worst of its own checks, else the latest earlier check if less than two intervals old, else
nodata) and hands those minutes to the slow month walker in ``sla_reference``. The product
path — parse, ledger fold and runs, SQLite, coverage ranges, interval arithmetic — shares none
of that code.
"""

from __future__ import annotations

import bisect
import io
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from ledger_sql import query, tables
from sla_reference import reference_month

from monitor.cli.entry import build_parser, main
from monitor.cli.report import cmd_report
from monitor.config import load_config
from monitor.core.checks import State
from monitor.core.clock import FakeClock
from monitor.core.minutes import Run
from monitor.core.windows import windows_from_config

CONFIG = """\
site: {title: Report test}
services:
  - name: api
    url: http://127.0.0.1:9/api
    interval: 60s
    expect: {max_latency: 500ms}
    sla:
      target: 99.5
      timezone: Europe/Copenhagen
      coverage: {days: mon-fri, hours: "09:00-17:00", holidays: DK}
  - name: web
    url: http://127.0.0.1:9/web
    interval: 5m
    sla: {target: 99.9, timezone: Europe/London}
maintenance:
  - services: [api, web]
    title: "Database upgrade"
    start: "2026-10-06T12:00:00Z"
    end: "2026-10-06T13:30:00Z"
exclusions:
  - services: [api]
    start: "2026-10-06T13:30:00Z"
    end: "2026-10-06T14:00:00Z"
    reason: "Upstream DNS provider outage"
"""

OCT = datetime(2026, 10, 1, tzinfo=UTC)


def lines_for(seed: int) -> list[dict[str, object]]:
    """Five weeks of checks for api (60 s) and web (5 min) with outages, gaps and slow spells."""
    rng = random.Random(seed)
    out: list[dict[str, object]] = []
    for name, step in (("api", 60), ("web", 300)):
        t = OCT - timedelta(days=2)
        end = OCT + timedelta(days=33)
        down_until = t
        while t < end:
            if rng.random() < 0.002:
                down_until = t + timedelta(minutes=rng.randint(1, 90))
            if rng.random() < 0.003:  # the prober was away: a gap
                t += timedelta(minutes=rng.randint(2, 40))
                continue
            ok = t >= down_until
            latency = rng.choice([80.0, 120.0, 900.0]) if ok else None
            jitter = timedelta(milliseconds=rng.randint(0, 2500))
            line: dict[str, object] = {"service": name, "time": _iso(t + jitter), "ok": ok}
            if latency is not None:
                line["latency_ms"] = latency
                line["status"] = 200
            else:
                line["error"] = "connect"
            out.append(line)
            t += timedelta(seconds=step)
    rng.shuffle(out)  # import must not depend on the file's order
    return out


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def oracle_runs(lines: list[dict[str, object]], service: str, interval_s: int,
                max_latency_ms: float | None) -> list[Run]:
    checks = []
    for line in lines:
        if line["service"] != service:
            continue
        ts = int(datetime.fromisoformat(str(line["time"])).timestamp() * 1000)
        lat = line.get("latency_ms")
        if not line["ok"]:
            st = State.DOWN
        elif max_latency_ms is not None and isinstance(lat, float) and lat > max_latency_ms:
            st = State.DEGRADED
        else:
            st = State.UP
        checks.append((ts, st))
    checks.sort()
    times = [c[0] for c in checks]
    own: dict[int, State] = {}
    for ts, st in checks:
        own[ts // 60_000] = max(own.get(ts // 60_000, State.NODATA), st)
    lo = times[0] // 60_000
    hi = times[-1] // 60_000 + 20
    runs = []
    for m in range(lo, hi):
        if m in own:
            state = own[m]
        else:
            i = bisect.bisect_left(times, m * 60_000) - 1
            ok = i >= 0 and m * 60_000 - times[i] < 2 * interval_s * 1000
            state = checks[i][1] if ok else State.NODATA
        if state != State.NODATA:
            runs.append(Run(m, m + 1, state))
    return runs


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_target: str | Path) -> Path:
    """probes.yaml and the ledger (each test runs on SQLite, then on PostgreSQL)."""
    (tmp_path / "probes.yaml").write_text(CONFIG)
    monkeypatch.setenv("UPWATCH_CONFIG", str(tmp_path / "probes.yaml"))
    monkeypatch.setenv("UPWATCH_DB", str(ledger_target))
    return tmp_path


def write_jsonl(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["report", "--format", "json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_report_after_import_matches_the_minute_by_minute_oracle(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = lines_for(seed=7)
    assert main(["import", str(write_jsonl(workdir / "checks.jsonl", lines))]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"imported {len(lines):,} of {len(lines):,} lines for 2 services, ")

    report = report_json(capsys, "--month", "2026-10")
    assert report["month"] == "2026-10" and report["to_date"] is False
    config = load_config(workdir / "probes.yaml")
    windows = windows_from_config(config, OCT - timedelta(days=2), OCT + timedelta(days=33))
    services = report["services"]
    assert isinstance(services, list)
    assert [s["service"] for s in services] == ["api", "web"]
    for got in services:
        svc = config.service(got["service"])
        runs = oracle_runs(lines, svc.name, int(svc.interval.total_seconds()),
                           svc.expect.max_latency_ms)
        ref = reference_month(service=svc.name, sla=svc.sla, year=2026, month=10, runs=runs,
                              windows=windows)
        assert (got["total_minutes"], got["covered_minutes"], got["maintenance_minutes"],
                got["excluded_minutes"], got["nodata_minutes"], got["eligible_minutes"],
                got["down_minutes"], got["degraded_minutes"]) == (
                    ref.total, ref.covered, ref.maintenance, ref.excluded, ref.nodata,
                    ref.eligible, ref.down, ref.degraded), svc.name
        assert ref.eligible > 0
        exact = Fraction(100 * (ref.eligible - ref.down), ref.eligible)
        assert abs(Fraction(str(got["uptime_percent"])) - exact) <= Fraction(1, 20_000)
        assert got["met"] == (exact >= Fraction(str(svc.sla.target)))
    api = services[0]
    assert api["total_minutes"] == 44_700  # October in Copenhagen: the autumn hour
    assert [w["title"] for w in api["maintenance"]] == ["Database upgrade"]
    assert api["maintenance"][0]["minutes"] == 90  # a Tuesday, inside 09-17 local
    assert api["exclusions"][0]["reason"] == "Upstream DNS provider outage"
    assert api["exclusions"][0]["declared_by"] == "probes.yaml"


def test_reimporting_the_same_lines_changes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], ledger_target: str | Path
) -> None:
    lines = lines_for(seed=3)
    path = write_jsonl(workdir / "checks.jsonl", lines)
    assert main(["import", str(path)]) == 0
    first = report_json(capsys, "--month", "2026-10")
    before = tables(ledger_target)
    assert main(["import", str(path)]) == 0
    second = report_json(capsys, "--month", "2026-10")
    after = tables(ledger_target)
    assert first["services"] == second["services"]
    for table in before:
        if table in ("meta",):
            continue
        assert before[table] == after[table], table


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"service": "apx", "time": "2026-10-01T00:00:00Z", "ok": true}',
         'line 2: service: unknown service "apx" (did you mean "api"? known services: api, web)'),
        ('{"service": "api", "time": "2026-10-01 00:00", "ok": true}',
         'line 2: time: "2026-10-01 00:00" has no UTC offset (add Z or +02:00)'),
        ('{"service": "api", "time": "yesterday", "ok": true}',
         'line 2: time: not an ISO 8601 time: "yesterday" (expected e.g. 2026-10-01T00:00:00Z)'),
        ('{"service": "api", "time": "2099-10-01T00:00:00Z", "ok": false}',
         'line 2: time: "2099-10-01T00:00:00Z" is in the future (now it is '),
        ('{"service": "api", "time": "0001-01-01T00:00:00Z", "ok": true}',
         'line 2: time: "0001-01-01T00:00:00Z" is before 2000-01-01T00:00:00Z'),
        ('{"service": "api", "time": "0001-01-01T00:00:00+01:00", "ok": true}',
         'line 2: time: "0001-01-01T00:00:00+01:00" is out of range'),
        ('{"service": "api", "time": "2026-10-01T00:00:00Z"}', "line 2: ok: missing"),
        ('{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": "yes"}',
         'line 2: ok: expected true or false, got "yes"'),
        ('{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": false, "error": "boom"}',
         'line 2: error: unknown error kind "boom" (one of: timeout, dns, connect, tls, '
         "http_status, content, too_large, protocol, cert_expiring, dns_answer, missed_ping, "
         "job_failed)"),
        ('{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true, "status": 999}',
         "line 2: status: expected an HTTP status code 100-599, got 999"),
        ('{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true, "latency": 3}',
         "line 2: latency: unknown field (allowed: service, time, ok, latency_ms, status, "
         "error, location)"),
        ('{"service": "api", "time": ', "line 2: not valid JSON: Expecting value at column 28"),
    ],
    ids=["unknown-service", "naive-time", "bad-time", "year-2099", "year-1", "before-year-1",
         "missing-ok", "bad-ok", "bad-error",
         "bad-status", "unknown-field", "broken-json"],
)
def test_a_bad_line_is_named_and_nothing_is_imported(
    workdir: Path, capsys: pytest.CaptureFixture[str], line: str, message: str,
    ledger_target: str | Path,
) -> None:
    good = '{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true}'
    path = workdir / "in.jsonl"
    path.write_text(f"{good}\n{line}\n{good}\n")
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    if message.endswith("(now it is "):  # the rest is the wall clock's now
        assert err[0].startswith(f"{path}: {message}") and err[0].endswith("Z)")
        err[0] = f"{path}: {message}"
    assert err == [f"{path}: {message}",
                   f"{path}: nothing imported; fix the lines above or pass --skip-invalid"]
    assert query(ledger_target, "select count(*) from checks") == [(0,)]


def test_skip_invalid_imports_the_rest_and_counts(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (
        '{"service": "api", "time": "2026-10-01T00:00:00Z", "ok": true}\n'
        '{"service": "nope", "time": "2026-10-01T00:01:00Z", "ok": true}\n'
        "\n"
        '{"service": "web", "time": "2026-10-01T00:02:00Z", "ok": false, "error": "timeout"}\n'
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(data))
    assert main(["import", "-", "--skip-invalid"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "imported 2 of 3 lines for 2 services, 2026-10-01T00:00:00Z .. 2026-10-01T00:02:00Z, "
        "1 invalid lines skipped\n")
    assert captured.err == (
        'skipped: stdin: line 2: service: unknown service "nope" (known services: api, web)\n')


def test_csv_import_gives_the_same_report_as_jsonl(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, new_target: Callable[[], str | Path],
) -> None:
    lines = lines_for(seed=11)[:3000]
    assert main(["import", str(write_jsonl(workdir / "a.jsonl", lines))]) == 0
    from_jsonl = report_json(capsys, "--month", "2026-10")
    other = tmp_path_factory.mktemp("csv")
    monkeypatch.setenv("UPWATCH_DB", str(new_target()))
    rows = ["service,time,ok,latency_ms,status,error"] + [
        f"{x['service']},{x['time']},{str(x['ok']).lower()},{x.get('latency_ms', '')},"
        f"{x.get('status', '')},{x.get('error', '') or ''}" for x in lines]
    (other / "in.csv").write_text("\n".join(rows) + "\n")
    assert main(["import", str(other / "in.csv")]) == 0
    assert report_json(capsys, "--month", "2026-10")["services"] == from_jsonl["services"]


def test_table_csv_and_history(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(write_jsonl(workdir / "c.jsonl", lines_for(seed=5)))]) == 0
    capsys.readouterr()
    assert main(["report", "--month", "2026-10"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "Uptime report 2026-10"
    assert table[2].split() == ["SERVICE", "TARGET", "UPTIME", "DOWN", "MIN", "BUDGET", "LEFT",
                                "RESULT"]
    assert table[3].split()[:2] == ["api", "99.5%"]
    assert table[3].split()[-1] in ("MET", "BREACHED")
    assert "maintenance windows / exclusions applied" in table[-1]

    assert main(["report", "--from", "2026-09", "--to", "2026-11", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("month,service,target_percent,total_minutes,")
    assert [r.split(",")[:2] for r in rows[1:]] == [
        ["2026-09", "api"], ["2026-09", "web"], ["2026-10", "api"], ["2026-10", "web"],
        ["2026-11", "api"], ["2026-11", "web"]]


def test_month_with_no_data_reports_null_never_100(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = report_json(capsys, "--month", "2026-08", "--service", "web")
    (web,) = report["services"]  # type: ignore[misc]
    assert web["uptime_percent"] is None and web["met"] is None
    assert web["nodata_minutes"] == web["covered_minutes"] == 31 * 1440


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], 'Error: --month: expected YYYY-MM such as 2026-10, got "2026-13"'),
        (["--month", "2099-01"], "Error: 2099-01 has not begun yet"),
        (["--service", "db"], 'Error: --service: unknown service "db" (known services: api, web)'),
        (["--from", "2026-10", "--to", "2026-09"], "Error: --to 2026-09 is before --from 2026-10"),
        (["--to", "2026-09"], "Error: --to needs --from"),
        (["--month", "2026-10", "--from", "2026-09"],
         "Error: --month cannot be combined with --from/--to"),
    ],
    ids=["bad-month", "future", "unknown-service", "backwards", "to-alone", "month-and-from"],
)
def test_report_usage_errors(workdir: Path, capsys: pytest.CaptureFixture[str],
                             args: list[str], message: str) -> None:
    assert main(["report", *args]) == 2
    assert capsys.readouterr().err == message + "\n"


def report_at(capsys: pytest.CaptureFixture[str], now: datetime, *args: str) -> dict[str, Any]:
    """``upwatch report --format json`` on a fake clock at ``now``."""
    capsys.readouterr()
    parsed = build_parser().parse_args(["report", "--format", "json", *args])
    assert cmd_report(parsed, clock=FakeClock(now)) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


# 2026-10-31 23:30 UTC: already 2026-11-01 00:30 in Copenhagen (api), still 23:30 on the 31st
# in London (web). An hour later it is November in both.
TURN = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "args", "months", "totals"),
    [
        (TURN, [], ["2026-10"], {"api": 44_700, "web": 44_670}),
        (TURN, ["--service", "api"], ["2026-11"], {"api": 30}),
        (TURN, ["--service", "web"], ["2026-10"], {"web": 44_670}),
        (TURN, ["--service", "api", "--from", "2026-10"], ["2026-10", "2026-11"],
         {"api": 30}),
        (TURN + timedelta(hours=1), [], ["2026-11"], {"api": 90, "web": 30}),
    ],
    ids=["both-earliest-month", "copenhagen-only", "london-only", "copenhagen-history",
         "both-turned"],
)
def test_the_current_month_is_each_slas_own(
    workdir: Path, capsys: pytest.CaptureFixture[str], now: datetime, args: list[str],
    months: list[str], totals: dict[str, int],
) -> None:
    """Without --month (or --to), the month is the current one in each SLA's time zone; when
    they differ, the earliest: whole where it has ended (api), to date where not (web)."""
    report = report_at(capsys, now, *args)
    found = report.get("months", [report])
    assert [m["month"] for m in found] == months
    last = found[-1]
    assert last["to_date"] is True
    assert {s["service"]: s["total_minutes"] for s in last["services"]} == totals


def test_the_incident_reports_month_is_the_business_hours_month(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "probes.yaml"
    config.write_text(CONFIG + "incident:\n  business_hours: {timezone: Europe/Copenhagen}\n")
    report = report_at(capsys, TURN, "--incidents")
    assert (report["month"], report["timezone"]) == ("2026-11", "Europe/Copenhagen")


def test_build_page_at_a_time(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``build-page --at``: the page as it stood then (how ``upwatch run`` hands its clock on),
    its month-to-date figures those of ``upwatch report`` at the same moment."""
    assert main(["import", str(write_jsonl(workdir / "c.jsonl", lines_for(seed=3)))]) == 0
    out = workdir / "site"
    assert main(["build-page", "--out", str(out), "--at", "2026-10-15T12:00:00+02:00"]) == 0
    status = json.loads((out / "status.json").read_text())
    assert status["upwatch"]["generated_at"] == "2026-10-15T10:00:00Z"
    at = datetime(2026, 10, 15, 10, tzinfo=UTC)
    report = report_at(capsys, at, "--month", "2026-10")
    page = {s["id"]: s for s in status["upwatch"]["services"]}
    assert {s["id"]: s["total_minutes"] for s in page.values()} == {
        "api": 14 * 1440 + 12 * 60, "web": 14 * 1440 + 11 * 60}  # from local midnight, Oct 1
    for got in report["services"]:
        shown = page[got["service"]]
        assert shown["month"] == "2026-10" and shown["month_to_date"] is True
        for key in ("total_minutes", "covered_minutes", "down_minutes", "uptime_percent"):
            assert shown[key] == got[key], (got["service"], key)
