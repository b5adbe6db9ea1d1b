"""``upwatch report`` with several locations: the SLA figures are the quorum's, and beside them
each location's own figures, for information (JSON ``locations``, table ``@`` rows, CSV rows
``service@location``); a config with one location reports exactly as before.

The month, 2026-10 (UTC, 44,640 minutes), holds ten checks a location, one a minute from
10:00 on the 10th; each location's last state carries two minutes on (sla.md, "Minutes").
api is probed from fra, cph and mad (quorum 2 of 3, target 80 %), with maintenance over
10:04-10:06; web from cph only.

======  =========================  ========  =======  ======  =======  ========
minute  0  1  2  3  4  5  6-7 8-9 10-11     state    maint.  down     eligible
======  =========================  ========  =======  ======  =======  ========
fra     U  D  D  D  U  U  U   U   (U)       0-11     4-5     1,2,3    10
cph     U  U  D  D  D  D  U   U   (U)       0-11     4-5     2,3      10
mad     U  U  U  D  U  U  (U) -   -         0-7      4-5     3        6
quorum  U  U  D  D  U  U  U   U   U         0-11     4-5     2,3      10
======  =========================  ========  =======  ======  =======  ========

(``(U)`` carried forward, ``-`` nodata.) At 8-11 mad says nothing: one location of three
silent leaves the other two a quorum that saw the service up. Hence uptime: quorum 8/10 = 80 %
(MET, budget 10 x 20 % = 2.0, left 0.0); fra 7/10 = 70 % (BREACHED, left -1.0); cph 8/10 =
80 % (MET); mad 5/6 = 83.3333 % (MET, budget 1.2, left 0.2). web: 12 minutes, 1 down:
91.6667 %.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.entry import main
from monitor.config import parse_config
from monitor.core.checks import CheckResult, ErrorKind, Observation
from monitor.core.clock import FakeClock
from monitor.report import LocationUptime, build_reports
from monitor.store.ledger import Ledger

T0 = datetime(2026, 10, 10, 10, 0, 5, tzinfo=UTC)
NOW = datetime(2026, 11, 2, tzinfo=UTC)
MAINTENANCE = """\
maintenance:
  - {title: Upgrade, start: "2026-10-10T10:04:00Z", end: "2026-10-10T10:06:00Z", services: [api]}
"""
THREE = """\
location: fra
locations:
  - {name: fra, title: Frankfurt}
  - {name: cph, title: Copenhagen}
  - {name: mad}
services:
  - {name: api, url: "https://api.example.com/", interval: 60s, sla: {target: 80}}
  - {name: web, url: "https://web.example.com/", interval: 60s, locations: [cph]}
""" + MAINTENANCE
DOWN = {"fra": {1, 2, 3}, "cph": {2, 3, 4, 5}, "mad": {3}}
HEARD = {"fra": range(10), "cph": range(10), "mad": range(6)}
MONTH = 31 * 1440


def obs(service: str, location: str, minute: int, ok: bool) -> Observation:
    result = CheckResult(service=service, time=T0 + timedelta(minutes=minute), ok=ok,
                         latency_ms=50.0 if ok else None, status=200 if ok else 503,
                         error=None if ok else ErrorKind.HTTP_STATUS, location=location)
    return Observation(result, result.state(None), 60_000)


def write(tmp_path: Path, config: str, observations: list[Observation]) -> tuple[Path, Path]:
    (tmp_path / "probes.yaml").write_text(config)
    ledger = Ledger(tmp_path / "upwatch.db", clock=FakeClock(T0))
    try:
        ledger.record(observations)
    finally:
        ledger.close()
    return tmp_path / "probes.yaml", tmp_path / "upwatch.db"


@pytest.fixture
def three(tmp_path: Path) -> tuple[Path, Path]:
    api = [obs("api", loc, m, m not in DOWN[loc]) for loc in DOWN for m in HEARD[loc]]
    web = [obs("web", "cph", m, m != 0) for m in range(10)]
    return write(tmp_path, THREE, api + web)


def report(capsys: pytest.CaptureFixture[str], paths: tuple[Path, Path], fmt: str,
           *args: str) -> str:
    capsys.readouterr()
    config, db = paths
    assert main(["report", "--config", str(config), "--db", str(db), "--month", "2026-10",
                 "--format", fmt, *args]) == 0
    return capsys.readouterr().out


def figures(eligible: int, down: int, uptime: float, met: bool, budget: float, left: float,
            nodata: int | None = None) -> dict[str, Any]:
    """A service object's figures for api (target 80 %, two minutes of maintenance)."""
    return {"service": "api", "target_percent": 80.0, "total_minutes": MONTH,
            "covered_minutes": MONTH, "maintenance_minutes": 2, "excluded_minutes": 0,
            "nodata_minutes": MONTH - 2 - eligible if nodata is None else nodata,
            "eligible_minutes": eligible, "down_minutes": down, "degraded_minutes": 0,
            "uptime_percent": uptime, "met": met, "budget_minutes": budget,
            "budget_remaining_minutes": left}


QUORUM = figures(10, 2, 80.0, True, 2.0, 0.0)
AT = {"fra": figures(10, 3, 70.0, False, 2.0, -1.0),
      "cph": figures(10, 2, 80.0, True, 2.0, 0.0),
      "mad": figures(6, 1, 83.3333, True, 1.2, 0.2)}


def test_build_reports_gives_the_quorum_and_each_locations_figures(
    three: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(THREE)
    ledger = Ledger(three[1], clock=FakeClock(NOW))
    reads: list[str] = []
    for method in ("runs_by_location", "quorum_runs_many", "runs_many"):
        real = getattr(ledger, method)

        def spy(*args: Any, _real: Any = real, _name: str = method, **kw: Any) -> Any:
            reads.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(ledger, method, spy)
    try:
        (month,) = build_reports(config, ledger, [(2026, 10)], NOW)
    finally:
        ledger.close()
    # one read for every service and location: the quorum is folded from the same runs
    assert reads == ["runs_by_location", "runs_many", "runs_many", "runs_many"]
    api, web = month.services
    assert (api.eligible_minutes, api.down_minutes, api.met) == (10, 2, True)
    assert (web.eligible_minutes, web.down_minutes) == (12, 1)
    assert list(month.locations) == ["api"]  # web is probed from one location
    at = month.by_location("api")
    assert [(a.location, a.title, a.label) for a in at] == [
        ("fra", "Frankfurt", "fra (Frankfurt)"), ("cph", "Copenhagen", "cph (Copenhagen)"),
        ("mad", "mad", "mad")]
    assert all(isinstance(a, LocationUptime) and a.uptime.service == "api" for a in at)
    assert [(a.uptime.eligible_minutes, a.uptime.down_minutes, a.uptime.nodata_minutes,
             a.uptime.maintenance_minutes, a.uptime.met) for a in at] == [
        (10, 3, MONTH - 12, 2, False), (10, 2, MONTH - 12, 2, True),
        (6, 1, MONTH - 8, 2, True)]
    assert month.by_location("web") == ()


def test_json_adds_locations_to_a_service_probed_from_several(
    three: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(report(capsys, three, "json"))
    api, web = data["services"]
    assert list(api) == [*QUORUM, "maintenance", "exclusions", "locations"]
    assert {k: api[k] for k in QUORUM} == QUORUM
    assert [w["title"] for w in api["maintenance"]] == ["Upgrade"]
    assert list(api["locations"]) == ["fra", "cph", "mad"]  # in the config's order
    assert api["locations"] == AT  # the same fields, the windows lists only on the service
    assert "locations" not in web
    assert (web["eligible_minutes"], web["down_minutes"], web["uptime_percent"]) == (
        12, 1, 91.6667)


def test_table_has_an_indented_row_per_location(
    three: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(capsys, three, "table") == (
        "Uptime report 2026-10\n"
        "\n"
        "SERVICE               TARGET    UPTIME  DOWN MIN  BUDGET LEFT  RESULT\n"
        "api                      80%  80.0000%         2      0.0 min  MET\n"
        "  @ fra (Frankfurt)           70.0000%         3     -1.0 min  BREACHED\n"
        "  @ cph (Copenhagen)          80.0000%         2      0.0 min  MET\n"
        "  @ mad                       83.3333%         1      0.2 min  MET\n"
        "web                    99.9%  91.6667%         1     -1.0 min  BREACHED\n"
        "\n"
        "1 maintenance windows / exclusions applied; see --format json for each one with who "
        "declared it and when\n"
        "A service's row is its SLA (the quorum of its locations); an @ row is one location's "
        "own figures, for information\n")


def test_history_table_repeats_the_month_on_location_rows(
    three: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    config, db = three
    assert main(["report", "--config", str(config), "--db", str(db), "--from", "2026-09",
                 "--to", "2026-10", "--service", "api"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[3:11]] == [
        ["2026-09", "api", "80%"], ["2026-09", "@", "fra"], ["2026-09", "@", "cph"],
        ["2026-09", "@", "mad"], ["2026-10", "api", "80%"], ["2026-10", "@", "fra"],
        ["2026-10", "@", "cph"], ["2026-10", "@", "mad"]]
    assert lines[4].split()[-1] == "DATA"  # September: NO DATA, at every location too


def test_csv_adds_a_row_per_location_named_service_at_location(
    three: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list(csv.DictReader(io.StringIO(report(capsys, three, "csv"))))
    assert [r["service"] for r in rows] == ["api", "api@fra", "api@cph", "api@mad", "web"]
    by = {r["service"]: r for r in rows}
    for name, want in [("api", QUORUM), *((f"api@{loc}", AT[loc]) for loc in AT)]:
        got = by[name]
        assert (got["eligible_minutes"], got["down_minutes"], got["nodata_minutes"],
                got["uptime_percent"], got["met"], got["budget_remaining_minutes"]) == (
            str(want["eligible_minutes"]), str(want["down_minutes"]),
            str(want["nodata_minutes"]), str(want["uptime_percent"]),
            str(want["met"]).lower(), str(want["budget_remaining_minutes"]))
        assert (got["maintenance_minutes"], got["maintenance_windows"]) == ("2", "1")


def test_fail_on_breach_is_the_quorums(
    three: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """fra breached on its own; api's SLA (the quorum's) did not: only web fails the run."""
    config, db = three
    base = ["report", "--config", str(config), "--db", str(db), "--month", "2026-10",
            "--fail-on-breach"]
    assert main([*base, "--service", "api"]) == 0
    assert main([*base, "--service", "web"]) == 1


# ---- one location: the report as it always was ---------------------------------------------

ONE = """\
location: fra
services:
  - {name: api, url: "https://api.example.com/", interval: 60s, sla: {target: 80}}
  - {name: web, url: "https://web.example.com/", interval: 60s}
""" + MAINTENANCE
ONE_DECLARED = ONE.replace("location: fra\n",
                           "location: fra\nlocations: [{name: fra, title: Frankfurt}]\n")

# What upwatch report printed before per-location figures existed, for the same ledger.
ONE_TABLE = (
    "Uptime report 2026-10\n"
    "\n"
    "SERVICE  TARGET    UPTIME  DOWN MIN  BUDGET LEFT  RESULT\n"
    "api         80%  70.0000%         3     -1.0 min  BREACHED\n"
    "web       99.9%  91.6667%         1     -1.0 min  BREACHED\n"
    "\n"
    "1 maintenance windows / exclusions applied; see --format json for each one with who "
    "declared it and when\n")
ONE_CSV = (
    "month,service,target_percent,total_minutes,covered_minutes,maintenance_minutes,"
    "excluded_minutes,nodata_minutes,eligible_minutes,down_minutes,degraded_minutes,"
    "uptime_percent,met,budget_minutes,budget_remaining_minutes,maintenance_windows,"
    "exclusions\n"
    "2026-10,api,80.0,44640,44640,2,0,44628,10,3,0,70.0,false,2.0,-1.0,1,0\n"
    "2026-10,web,99.9,44640,44640,0,0,44628,12,1,0,91.6667,false,0.01,-0.99,0,0\n")


@pytest.mark.parametrize("config", [ONE, ONE_DECLARED], ids=["implicit", "one-declared"])
def test_one_location_reports_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str
) -> None:
    api = [obs("api", "fra", m, m not in DOWN["fra"]) for m in HEARD["fra"]]
    web = [obs("web", "fra", m, m != 0) for m in range(10)]
    paths = write(tmp_path, config, api + web)
    assert report(capsys, paths, "table") == ONE_TABLE
    assert report(capsys, paths, "csv") == ONE_CSV
    text = report(capsys, paths, "json")
    assert "locations" not in text
    services = json.loads(text)["services"]
    assert [list(s)[-2:] for s in services] == [["maintenance", "exclusions"]] * 2
    assert {k: services[0][k] for k in AT["fra"]} == AT["fra"]
