"""``upwatch report --incidents``: verdicts in business hours (Copenhagen, Danish holidays),
the month's bounds in local time, and the exact table, JSON and CSV output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import Coverage
from monitor.core.incidents import Impact, Incident, IncidentPolicy, IncidentStatus, IncidentUpdate
from monitor.incidents.report import (
    build_incident_report,
    load_incident_report,
    to_csv,
    to_json,
    to_table,
)
from monitor.report import ReportError
from monitor.store.ledger import Ledger

CPH = ZoneInfo("Europe/Copenhagen")
OFFICE = Coverage.model_validate({"days": "mon-fri", "hours": "09:00-17:00", "holidays": "DK"})
POLICY = IncidentPolicy()  # 1 h / 4 h / 8 h for severity 1 / 2 / 3


def local(text: str) -> datetime:
    """Copenhagen wall time → UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=CPH).astimezone(UTC)


def incident(iid: int, detected: str, *, answered: str | None = None,
             resolved: str | None = None, severity: str = "severity 1",
             title: str = "api down") -> Incident:
    at = local(detected)
    updates = [IncidentUpdate(iid * 10, iid, at, IncidentStatus.INVESTIGATING, "detected",
                              "detector", False)]
    if answered is not None:
        updates.append(IncidentUpdate(iid * 10 + 1, iid, local(answered),
                                      IncidentStatus.IDENTIFIED, "on it", "api:ops", True))
    if resolved is not None:
        updates.append(IncidentUpdate(iid * 10 + 2, iid, local(resolved),
                                      IncidentStatus.RESOLVED, "fixed", "detector", False))
    return Incident(iid, title, Impact.CRITICAL, severity,
                    IncidentStatus.RESOLVED if resolved else updates[-1].status, ("api",), at,
                    "detector", None if resolved is None else local(resolved), f"auto-{iid}",
                    tuple(sorted(updates, key=lambda u: u.at)))


NOW = local("2026-05-29T12:00")


@pytest.mark.parametrize(("inc", "now", "minutes", "verdict"), [
    (incident(1, "2026-05-08T16:30", answered="2026-05-11T09:20"), NOW, 50, "MET"),
    (incident(1, "2026-05-13T16:00", answered="2026-05-15T09:30"), NOW, 90, "MISSED"),
    (incident(1, "2026-05-13T16:00", answered="2026-05-15T09:00"), NOW, 60, "MET"),
    (incident(1, "2026-05-22T20:00", answered="2026-05-26T08:59"), NOW, 0, "MET"),
    (incident(1, "2026-05-28T16:30"), local("2026-05-29T09:29"), 59, "OPEN"),
    (incident(1, "2026-05-28T16:30"), local("2026-05-29T09:31"), 61, "MISSED"),
    (incident(1, "2026-05-28T16:30", resolved="2026-05-28T16:40"), NOW, 10, "NO RESPONSE"),
    (incident(1, "2026-05-28T10:00", resolved="2026-05-28T12:00"), NOW, 120, "MISSED"),
    (incident(1, "2026-05-04T10:00", answered="2026-05-04T13:00", severity="severity 2"),
     NOW, 180, "MET"),
    (incident(1, "2026-05-04T10:00", answered="2026-05-04T10:05", severity="P1"), NOW, 5,
     "NO TARGET"),
], ids=["over_a_weekend", "over_ascension_day_missed", "over_ascension_day_just_met",
        "whit_monday_and_the_night_do_not_count", "open_within_target",
        "open_past_target_is_missed", "resolved_by_itself_in_time",
        "resolved_by_itself_too_late", "severity_2_has_4_hours", "unknown_severity"])
def test_verdicts(inc: Incident, now: datetime, minutes: int, verdict: str) -> None:
    [row] = build_incident_report([inc], (2026, 5), now, coverage=OFFICE, tz=CPH,
                                  policy=POLICY).rows
    assert (row.business_minutes, row.verdict) == (minutes, verdict)


def test_the_month_is_a_calendar_month_in_the_business_hours_zone() -> None:
    incidents = [
        incident(1, "2026-10-01T00:10"),  # 2026-09-30T22:10Z: October in Copenhagen
        incident(2, "2026-11-01T00:30"),  # 2026-10-31T23:30Z: November in Copenhagen
        incident(3, "2026-09-30T23:50"),
    ]
    report = build_incident_report(incidents, (2026, 10), local("2026-12-01T00:00"),
                                   coverage=OFFICE, tz=CPH, policy=POLICY)
    assert [r.incident for r in report.rows] == [1]
    assert (report.month, report.timezone, report.to_date) == ("2026-10", "Europe/Copenhagen",
                                                               False)


def test_a_month_to_come_is_refused_and_the_current_one_is_to_date() -> None:
    with pytest.raises(ReportError, match="^2026-06 has not begun yet$"):
        build_incident_report([], (2026, 6), NOW, coverage=OFFICE, tz=CPH, policy=POLICY)
    report = build_incident_report([], (2026, 5), NOW, coverage=OFFICE, tz=CPH, policy=POLICY)
    assert report.to_date and report.rows == ()


def sample() -> list[Incident]:
    return [
        incident(2, "2026-05-13T16:00", answered="2026-05-15T09:30",
                 resolved="2026-05-15T11:00", title="Logins, failing"),
        incident(1, "2026-05-08T16:30", answered="2026-05-11T09:20", severity="severity 2",
                 title="Slow search"),
        incident(3, "2026-05-28T16:30"),
    ]


def test_table() -> None:
    report = build_incident_report(sample(), (2026, 5), NOW, coverage=OFFICE, tz=CPH,
                                   policy=POLICY)
    assert to_table(report) == (
        "Incident response report 2026-05 (times in Europe/Copenhagen; month to date, until "
        "2026-05-29T10:00:00Z)\n"
        "\n"
        "ID  SEVERITY    DETECTED          FIRST RESPONSE    RESOLVED          BUSINESS TIME  "
        "TARGET  RESULT  TITLE\n"
        " 1  severity 2  2026-05-08 16:30  2026-05-11 09:20  —                           50m  "
        "  4h00  MET     Slow search\n"
        " 2  severity 1  2026-05-13 16:00  2026-05-15 09:30  2026-05-15 11:00           1h30  "
        "  1h00  MISSED  Logins, failing\n"
        " 3  severity 1  2026-05-28 16:30  —                 —                          3h30  "
        "  1h00  MISSED  api down\n"
        "\n"
        "3 incidents; 2 missed their response target. Business time: from detection to the "
        "first human update (without one: to the resolution, or until now).\n")


def test_an_empty_month_says_so() -> None:
    report = build_incident_report([], (2026, 4), NOW, coverage=OFFICE, tz=CPH, policy=POLICY)
    assert to_table(report) == ("Incident response report 2026-04 (times in "
                                "Europe/Copenhagen)\n\nNo incidents were detected in 2026-04.\n")


def test_json_and_csv() -> None:
    report = build_incident_report(sample(), (2026, 5), NOW, coverage=OFFICE, tz=CPH,
                                   policy=POLICY)
    doc = json.loads(to_json(report))
    assert {k: v for k, v in doc.items() if k != "incidents"} == {
        "month": "2026-05", "timezone": "Europe/Copenhagen", "to_date": True,
        "generated_at": "2026-05-29T10:00:00Z"}
    assert doc["incidents"][1] == {
        "incident": 2, "title": "Logins, failing", "impact": "critical",
        "severity": "severity 1", "detected_at": "2026-05-13T14:00:00Z",
        "first_human_update_at": "2026-05-15T07:30:00Z", "resolved_at": "2026-05-15T09:00:00Z",
        "business_minutes": 90, "target_minutes": 60, "verdict": "MISSED"}
    assert to_csv(report).splitlines() == [
        "month,incident,title,impact,severity,detected_at,first_human_update_at,resolved_at,"
        "business_minutes,target_minutes,verdict",
        "2026-05,1,Slow search,critical,severity 2,2026-05-08T14:30:00Z,2026-05-11T07:20:00Z,,"
        "50,240,MET",
        '2026-05,2,"Logins, failing",critical,severity 1,2026-05-13T14:00:00Z,'
        "2026-05-15T07:30:00Z,2026-05-15T09:00:00Z,90,60,MISSED",
        "2026-05,3,api down,critical,severity 1,2026-05-28T14:30:00Z,,,210,60,MISSED",
    ]


def test_from_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "upwatch.db")
    try:
        detected = local("2026-05-08T16:30")
        old, _ = ledger.open_incident(
            title="April's", impact=Impact.MAJOR, severity="severity 2", services=["api"],
            detected_at=local("2026-04-30T10:00"), at=local("2026-04-30T10:00"),
            author="detector", human=False, detection_key="auto-1")
        ledger.post_incident_update(old.id, at=local("2026-05-02T10:00"),
                                    status=IncidentStatus.RESOLVED, body="ok",
                                    author="cli:alice", human=True)
        inc, _ = ledger.open_incident(
            title="api down", impact=Impact.CRITICAL, severity="severity 1", services=["api"],
            detected_at=detected, at=detected + timedelta(seconds=5), author="detector",
            human=False, detection_key="auto-2")
        ledger.post_incident_update(inc.id, at=local("2026-05-11T09:20"),
                                    status=IncidentStatus.IDENTIFIED, body="On it.",
                                    author="cli:alice", human=True)
        report = load_incident_report(ledger, (2026, 5), NOW, coverage=OFFICE, tz=CPH,
                                      policy=POLICY)
    finally:
        ledger.close()
    assert [(r.incident, r.business_minutes, r.verdict) for r in report.rows] == [
        (inc.id, 50, "MET")]
