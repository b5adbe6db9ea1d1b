"""``upwatch report --incidents``: first-response times of a month's incidents against targets.

Per incident detected in the month (in the business-hours time zone): when it was detected,
its first human update, its resolution, its severity, the business minutes from detection to
that first update (:func:`monitor.incidents.detection.response_report`), the target for its
severity and a verdict:

- ``MET`` / ``MISSED``: answered within / after the target;
- ``MISSED`` too when nobody has answered and more than the target has already passed;
- ``OPEN``: not answered yet, still open, and the target not passed yet;
- ``NO RESPONSE``: resolved (by the detector) before the target passed, and nobody answered;
- ``NO TARGET``: its severity has no response target.

For an incident nobody answered, ``business_minutes`` counts up to its resolution, or up to
``now`` while it is open. Pure apart from :func:`load_incident_report`'s one ledger read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.config import Coverage
from monitor.core.coverage import covered_ranges, month_bounds
from monitor.core.incidents import Incident, IncidentPolicy
from monitor.incidents.detection import IncidentSource, response_report
from monitor.report import ReportError, month_label
from monitor.times import epoch_minute, iso_utc, minute_start

__all__ = [
    "CSV_FIELDS",
    "IncidentReport",
    "IncidentRow",
    "Verdict",
    "build_incident_report",
    "load_incident_report",
    "to_csv",
    "to_json",
    "to_table",
]

Verdict = Literal["MET", "MISSED", "OPEN", "NO RESPONSE", "NO TARGET"]


@dataclass(frozen=True)
class IncidentRow:
    incident: int
    title: str
    impact: str
    severity: str
    detected_at: datetime
    first_human_update_at: datetime | None
    resolved_at: datetime | None
    business_minutes: int  # to the first human update; without one, so far (see module doc)
    target_minutes: int | None
    verdict: Verdict


@dataclass(frozen=True)
class IncidentReport:
    month: str
    timezone: str  # of the business hours; the month is a calendar month there
    to_date: bool  # the month has not ended: counted up to ``generated_at``
    generated_at: datetime
    rows: tuple[IncidentRow, ...]  # oldest detection first


def _business(coverage: Coverage, tz: ZoneInfo, start: datetime, end: datetime) -> int:
    lo, hi = epoch_minute(start), epoch_minute(end)
    return sum(b - a for a, b in covered_ranges(coverage, tz, lo, max(lo, hi)))


def _verdict(answered: bool, resolved: bool, spent: int, target: int | None) -> Verdict:
    if target is None:
        return "NO TARGET"
    if spent > target:
        return "MISSED"
    if answered:
        return "MET"
    return "NO RESPONSE" if resolved else "OPEN"


def build_incident_report(incidents: Sequence[Incident], month: tuple[int, int], now: datetime,
                          *, coverage: Coverage, tz: ZoneInfo,
                          policy: IncidentPolicy) -> IncidentReport:
    """The report of the incidents detected in ``month`` (year, month) in ``tz``, with business
    minutes counted in ``coverage`` and targets from ``policy``; refuses a month to come."""
    lo, hi = month_bounds(*month, tz)
    if lo > epoch_minute(now):
        raise ReportError(f"{month_label(month)} has not begun yet")
    by_id = {i.id: i for i in incidents}
    rows = []
    for r in response_report(incidents, coverage, tz, month, policy):
        inc = by_id[r.incident]
        spent = r.business_minutes_to_response
        if spent is None:
            until = r.resolved_at if r.resolved_at is not None else now
            spent = _business(coverage, tz, r.detected_at, until)
        rows.append(IncidentRow(
            inc.id, inc.title, inc.impact.value, r.severity, r.detected_at,
            r.first_human_update_at, r.resolved_at, spent, r.target_minutes,
            _verdict(r.first_human_update_at is not None, r.resolved_at is not None, spent,
                     r.target_minutes)))
    return IncidentReport(month_label(month), tz.key, epoch_minute(now) < hi, now, tuple(rows))


def load_incident_report(ledger: IncidentSource, month: tuple[int, int], now: datetime, *,
                         coverage: Coverage, tz: ZoneInfo,
                         policy: IncidentPolicy) -> IncidentReport:
    """:func:`build_incident_report` over the ledger's incidents (one read)."""
    lo, _ = month_bounds(*month, tz)
    found = ledger.incidents(since=minute_start(lo))
    return build_incident_report(found, month, now, coverage=coverage, tz=tz, policy=policy)


# ---- formats -----------------------------------------------------------------------------


def row_dict(row: IncidentRow) -> dict[str, object]:
    return {
        "incident": row.incident, "title": row.title, "impact": row.impact,
        "severity": row.severity, "detected_at": iso_utc(row.detected_at),
        "first_human_update_at": iso_utc(row.first_human_update_at),
        "resolved_at": iso_utc(row.resolved_at), "business_minutes": row.business_minutes,
        "target_minutes": row.target_minutes, "verdict": row.verdict,
    }


def to_json(report: IncidentReport) -> str:
    return json.dumps({
        "month": report.month, "timezone": report.timezone, "to_date": report.to_date,
        "generated_at": iso_utc(report.generated_at),
        "incidents": [row_dict(r) for r in report.rows],
    }, indent=2, ensure_ascii=False)


CSV_FIELDS = ("month", "incident", "title", "impact", "severity", "detected_at",
              "first_human_update_at", "resolved_at", "business_minutes", "target_minutes",
              "verdict")


def to_csv(report: IncidentReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.rows:
        d = {"month": report.month, **row_dict(row)}
        writer.writerow("" if d[k] is None else d[k] for k in CSV_FIELDS)
    return buf.getvalue()


def _local(dt: datetime | None, tz: ZoneInfo) -> str:
    return "—" if dt is None else dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _minutes(value: int | None) -> str:
    if value is None:
        return "—"
    hours, minutes = divmod(value, 60)
    return f"{hours}h{minutes:02d}" if hours else f"{minutes}m"


def to_table(report: IncidentReport) -> str:
    """A table for people; times in the business-hours time zone."""
    tz = ZoneInfo(report.timezone)
    head = ["ID", "SEVERITY", "DETECTED", "FIRST RESPONSE", "RESOLVED", "BUSINESS TIME",
            "TARGET", "RESULT", "TITLE"]
    rows = [[str(r.incident), r.severity, _local(r.detected_at, tz),
             _local(r.first_human_update_at, tz), _local(r.resolved_at, tz),
             _minutes(r.business_minutes), _minutes(r.target_minutes), r.verdict, r.title]
            for r in report.rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {"ID", "BUSINESS TIME", "TARGET"}
    lines = ["  ".join(c.rjust(w) if head[i] in numeric else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in [head, *rows]]
    note = f"; month to date, until {iso_utc(report.generated_at)}" if report.to_date else ""
    header = f"Incident response report {report.month} (times in {report.timezone}{note})"
    if not rows:
        return f"{header}\n\nNo incidents were detected in {report.month}.\n"
    missed = sum(r.verdict == "MISSED" for r in report.rows)
    footer = (f"{len(rows)} incidents; {missed} missed their response target. Business time: "
              "from detection to the first human update (without one: to the resolution, or "
              "until now).")
    return "\n".join([header, "", *lines, "", footer]) + "\n"
