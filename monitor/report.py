"""``upwatch report``: calendar-month uptime per service, as a table, JSON or CSV.

Gathers runs from the ledger (one read for every service and month asked), the windows that
apply (``probes.yaml`` and, through ``extra_windows``, those declared at run time), and hands
them to the pure arithmetic in :mod:`monitor.core.sla`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.config import Config, ServiceConfig, UnknownService
from monitor.core.coverage import month_bounds
from monitor.core.sla import Uptime, month_uptime, report_dict
from monitor.core.windows import Window, windows_from_config
from monitor.errors import UpwatchError
from monitor.store.ledger import Ledger
from monitor.times import epoch_minute, iso_utc, minute_start

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
#: The months a report can be asked for: before 2000 there is no history (``upwatch import``
#: refuses it), and from 9999 on a month's end is beyond what ``datetime`` can hold.
FIRST_MONTH, LAST_MONTH = (2000, 1), (9998, 12)


class ReportError(UpwatchError, ValueError):
    """A report request that cannot be answered; the message says why and what to ask."""


def parse_month(text: str, flag: str = "--month") -> tuple[int, int]:
    m = _MONTH.fullmatch(text)
    if not m:
        raise ReportError(f'{flag}: expected YYYY-MM such as 2026-10, got "{text}"')
    ym = int(m.group(1)), int(m.group(2))
    if not FIRST_MONTH <= ym <= LAST_MONTH:
        raise ReportError(f'{flag}: "{text}" is out of range (upwatch reports the months '
                          f"{month_label(FIRST_MONTH)} to {month_label(LAST_MONTH)})")
    return ym


def month_label(ym: tuple[int, int]) -> str:
    return f"{ym[0]:04d}-{ym[1]:02d}"


def current_month(services: Sequence[ServiceConfig], now: datetime) -> tuple[int, int]:
    """The month a report is about when none is asked for: each SLA's month is in its own
    time zone, and where the services' current months differ (around midnight of the 1st),
    the earliest of them. It has not ended for some of the services (counted to date) and has
    ended for the others (counted whole): never a month that has not begun for one of them,
    nor one whose last hours are left out of every report made on time."""
    if not services:
        return now.year, now.month
    local = [now.astimezone(svc.sla.tz) for svc in services]
    return min((t.year, t.month) for t in local)


def months_between(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    if last < first:
        raise ReportError(f"--to {month_label(last)} is before --from {month_label(first)}")
    out = []
    y, m = first
    while (y, m) <= last:
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@dataclass(frozen=True)
class MonthReport:
    month: str
    to_date: bool  # the month has not ended: counted up to ``generated_at``
    generated_at: datetime
    services: tuple[Uptime, ...]


def select_services(config: Config, names: Sequence[str]) -> list[ServiceConfig]:
    if not names:
        return list(config.services)
    chosen = []
    for name in names:
        try:
            chosen.append(config.service(name))
        except UnknownService as err:
            raise ReportError(f"--service: {err}") from None
    return chosen


def build_reports(
    config: Config,
    ledger: Ledger,
    months: Sequence[tuple[int, int]],
    now: datetime,
    *,
    services: Sequence[str] = (),
    extra_windows: Sequence[Window] = (),
) -> list[MonthReport]:
    """One :class:`MonthReport` per month; months that have not begun anywhere are refused."""
    chosen = select_services(config, services)
    now_min = epoch_minute(now)
    bounds = {
        (svc.name, ym): month_bounds(ym[0], ym[1], svc.sla.tz) for svc in chosen for ym in months
    }
    lo = min(b[0] for b in bounds.values())
    hi = max(b[1] for b in bounds.values())
    if lo > now_min:
        raise ReportError(f"{month_label(months[0])} has not begun yet")
    runs = ledger.quorum_runs_many(config.quorum_plan(s.name for s in chosen), lo,
                                   min(hi, now_min + 1))
    windows = [*windows_from_config(config, minute_start(lo), minute_start(hi)), *extra_windows]
    reports = []
    for ym in months:
        uptimes = []
        to_date = False
        for svc in chosen:
            start, end = bounds[(svc.name, ym)]
            until = now_min if now_min < end else None
            to_date = to_date or until is not None
            uptimes.append(month_uptime(
                service=svc.name, sla=svc.sla, year=ym[0], month=ym[1],
                runs=runs.get(svc.name, []), windows=windows, until=until,
            ))
        reports.append(MonthReport(month_label(ym), to_date, now, tuple(uptimes)))
    return reports



def month_json(report: MonthReport) -> dict[str, object]:
    return {
        "month": report.month,
        "to_date": report.to_date,
        "generated_at": iso_utc(report.generated_at),
        "services": [report_dict(u, report.month) for u in report.services],
    }


def to_json(reports: Sequence[MonthReport]) -> str:
    if len(reports) == 1:
        return json.dumps(month_json(reports[0]), indent=2, ensure_ascii=False)
    return json.dumps(
        {"from": reports[0].month, "to": reports[-1].month,
         "months": [month_json(r) for r in reports]},
        indent=2, ensure_ascii=False,
    )


CSV_FIELDS = (
    "month", "service", "target_percent", "total_minutes", "covered_minutes",
    "maintenance_minutes", "excluded_minutes", "nodata_minutes", "eligible_minutes",
    "down_minutes", "degraded_minutes", "uptime_percent", "met", "budget_minutes",
    "budget_remaining_minutes", "maintenance_windows", "exclusions",
)


def to_csv(reports: Sequence[MonthReport]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for report in reports:
        for u in report.services:
            d = report_dict(u, report.month)
            row = [report.month] + [d[k] for k in CSV_FIELDS[1:-2]]
            row += [len(u.maintenance), len(u.exclusions)]
            writer.writerow("" if v is None else str(v).lower() if isinstance(v, bool) else v
                            for v in row)
    return buf.getvalue()


def verdict(u: Uptime) -> str:
    if u.met is None:
        return "NO DATA"
    return "MET" if u.met else "BREACHED"


def _pct(value: float | None, places: int = 4) -> str:
    return "—" if value is None else f"{value:.{places}f}%"


def to_table(reports: Sequence[MonthReport]) -> str:
    history = len(reports) > 1
    head = (["MONTH"] if history else []) + [
        "SERVICE", "TARGET", "UPTIME", "DOWN MIN", "BUDGET LEFT", "RESULT"]
    rows: list[list[str]] = []
    for report in reports:
        for u in report.services:
            budget = "—" if u.met is None else f"{u.budget_remaining_minutes:.1f} min"
            row = [u.service, f"{u.target_percent:g}%", _pct(u.uptime_percent),
                   str(u.down_minutes), budget, verdict(u)]
            rows.append(([report.month] if history else []) + row)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    numeric = {"TARGET", "UPTIME", "DOWN MIN", "BUDGET LEFT"}
    lines = []
    for r in [head, *rows]:
        cells = [c.rjust(w) if head[i] in numeric else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    title = reports[0].month if not history else f"{reports[0].month} to {reports[-1].month}"
    notes = []
    if any(r.to_date for r in reports):
        notes.append(f"month to date, until {iso_utc(reports[-1].generated_at)}")
    header = f"Uptime report {title}" + (f" ({'; '.join(notes)})" if notes else "")
    windows = sum(len(u.maintenance) + len(u.exclusions) for r in reports for u in r.services)
    footer = []
    if windows:
        footer.append(f"{windows} maintenance windows / exclusions applied; "
                      "see --format json for each one with who declared it and when")
    return "\n".join([header, "", *lines, *([""] + footer if footer else [])]) + "\n"
