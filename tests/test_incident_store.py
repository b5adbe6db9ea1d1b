"""Incidents in the ledger, the status-page view of them, and first-response targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ledger_sql import outbox as outbox_rows

from monitor.config import parse_config
from monitor.core.incidents import Impact, Incident, IncidentPolicy, IncidentStatus, IncidentUpdate
from monitor.incidents.detection import response_report
from monitor.store.incidents import OutboxRow
from monitor.store.ledger import Ledger, LedgerError

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
CPH = ZoneInfo("Europe/Copenhagen")


def opened(ledger: Ledger, **kw: object) -> Incident:
    fields: dict[str, object] = dict(
        title="api down", impact=Impact.MAJOR, severity="severity 2", services=["api"],
        detected_at=T0, at=T0, author="detector", human=False, body="detected")
    fields.update(kw)
    inc, _ = ledger.open_incident(**fields)
    return inc


def test_lifecycle_is_stored_and_survives_reopening(ledger_target: str | Path) -> None:
    ledger = Ledger(ledger_target)
    inc = opened(ledger, detection_key="auto-1")
    again, created = ledger.open_incident(
        title="other", impact=Impact.MINOR, severity="x", services=["web"], detected_at=T0,
        at=T0, author="detector", human=False, detection_key="auto-1")
    assert (again.id, created) == (inc.id, False)
    ledger.post_incident_update(inc.id, at=T0 + timedelta(minutes=5),
                                status=IncidentStatus.IDENTIFIED, body="bad deploy",
                                author="cli:alice", human=True, impact=Impact.CRITICAL,
                                severity="severity 1", services=["web"])
    ledger.post_incident_update(inc.id, at=T0 + timedelta(minutes=9),
                                status=IncidentStatus.RESOLVED, body="fixed",
                                author="cli:alice", human=True)
    ledger.close()
    ledger = Ledger(ledger_target)
    got = ledger.incident(inc.id)
    assert got is not None
    assert (got.impact, got.severity, got.services, got.status, got.resolved_at) == (
        Impact.CRITICAL, "severity 1", ("api", "web"), IncidentStatus.RESOLVED,
        T0 + timedelta(minutes=9))
    assert [(u.author, u.human) for u in got.updates] == [
        ("detector", False), ("cli:alice", True), ("cli:alice", True)]
    assert got.first_human_update is not None and got.first_human_update.body == "bad deploy"
    assert ledger.incidents(open_only=True) == []
    assert ledger.post_incident_update(99, at=T0, status=IncidentStatus.MONITORING, body="",
                                       author="x", human=True) is None
    ledger.close()


def test_cannot_open_resolved_and_updates_are_never_deleted(ledger_target: str | Path) -> None:
    ledger = Ledger(ledger_target)
    with pytest.raises(LedgerError, match="cannot be opened as resolved"):
        opened(ledger, status=IncidentStatus.RESOLVED)
    opened(ledger)
    with pytest.raises(LedgerError, match="incident updates are never deleted"):
        ledger.atomically(lambda led: led._conn.execute("DELETE FROM incident_updates"))
    assert len(ledger.incidents()[0].updates) == 1
    ledger.close()


def test_atomically_rolls_back_incident_and_outbox_together(ledger_target: str | Path) -> None:
    ledger = Ledger(ledger_target)

    def half(led: Ledger) -> None:
        opened(led)
        led.enqueue_notifications([OutboxRow("e1", "hook", "incident", "{}")], T0)
        raise RuntimeError("crash in between")

    with pytest.raises(RuntimeError):
        ledger.atomically(half)
    assert ledger.incidents() == [] and outbox_rows(ledger_target) == []
    ledger.close()



COVERAGE = parse_config("""\
services:
  - name: api
    url: http://127.0.0.1:9/
    sla:
      timezone: Europe/Copenhagen
      coverage: {days: mon-fri, hours: "09:00-17:00", holidays: DK}
""").services[0].sla.coverage


def incident(detected: datetime, answered: datetime | None, severity: str = "severity 1"
             ) -> Incident:
    updates = () if answered is None else (
        IncidentUpdate(1, 1, answered, IncidentStatus.IDENTIFIED, "on it", "cli:a", True),)
    return Incident(1, "t", Impact.CRITICAL, severity, IncidentStatus.INVESTIGATING, ("api",),
                    detected.astimezone(UTC), "detector", None, "auto-1", updates)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH)


@pytest.mark.parametrize(("detected", "answered", "spent", "met"), [
    (local(2026, 10, 6, 10, 0), local(2026, 10, 6, 10, 45), 45, True),
    (local(2026, 10, 6, 10, 0), local(2026, 10, 6, 11, 1), 61, False),
    (local(2026, 10, 2, 16, 30), local(2026, 10, 5, 9, 20), 50, True),  # Fri → Mon
    (local(2026, 10, 3, 3, 0), local(2026, 10, 5, 9, 59), 59, True),  # Saturday night
    (local(2026, 12, 24, 16, 40), local(2026, 12, 28, 9, 30), 50, True),  # 25 Dec, a DK holiday
    (local(2026, 12, 24, 16, 40), local(2026, 12, 28, 9, 45), 65, False),
    (local(2026, 10, 6, 10, 0), None, None, None),
], ids=["within_the_hour", "a_minute_late", "across_a_weekend", "detected_on_a_weekend",
        "across_danish_christmas_holidays", "late_after_the_holidays", "not_answered_yet"])
def test_response_targets_in_business_minutes(
        detected: datetime, answered: datetime | None, spent: int | None,
        met: bool | None) -> None:
    month = (detected.year, detected.month)
    [row] = response_report([incident(detected, answered)], COVERAGE, CPH, month,
                            IncidentPolicy())
    assert (row.business_minutes_to_response, row.target_minutes, row.met) == (spent, 60, met)


def test_response_report_takes_the_month_in_the_zone_and_unknown_severities() -> None:
    incs = [incident(local(2026, 11, 1, 0, 30), None),  # Oct 31 23:30 UTC: November locally
            incident(local(2026, 10, 6, 10, 0), local(2026, 10, 6, 10, 5), "P9")]
    rows = response_report(incs, COVERAGE, CPH, (2026, 10), IncidentPolicy())
    assert [(r.severity, r.target_minutes, r.met) for r in rows] == [("P9", None, None)]
