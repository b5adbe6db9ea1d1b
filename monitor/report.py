"""``upwatch report``: calendar-month uptime per service, as a table, JSON or CSV.

Gathers runs from the ledger (one read for every service and month asked), the windows that
apply (``probes.yaml`` and, through ``extra_windows``, those declared at run time), and hands
them to the pure arithmetic in :mod:`monitor.core.sla`.

A service probed from several locations is reported by the quorum of its locations
(:mod:`monitor.core.quorum`, docs/sla.md): that row is its SLA. Beside it, for information, each
location's own figures, the same arithmetic over that location's minutes alone
(:class:`LocationUptime`): in the JSON as the service's ``locations``, in the table as indented
``@ location`` rows, in the CSV as rows whose service is ``service@location`` (a name cannot hold
an ``@``). A config with one location reports exactly as it always did.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.config import Config, ServiceConfig, UnknownService
from monitor.core.coverage import month_bounds
from monitor.core.minutes import Run
from monitor.core.quorum import fold_plan
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
class LocationUptime:
    """One location's own figures for a service probed from several: :func:`month_uptime` over
    that location's minutes, with the service's windows, coverage and target. For information:
    the service's SLA is the quorum's (:attr:`MonthReport.services`)."""

    location: str
    title: str  # the location's display title (its name when probes.yaml gives none)
    uptime: Uptime

    @property
    def label(self) -> str:
        """``fra (Frankfurt)``, or the bare name when the title is the name."""
        return self.location if self.title == self.location else (
            f"{self.location} ({self.title})")


@dataclass(frozen=True)
class MonthReport:
    month: str
    to_date: bool  # the month has not ended: counted up to ``generated_at``
    generated_at: datetime
    services: tuple[Uptime, ...]  # the SLA figures: by quorum where several locations probe
    #: Per service probed from two or more locations, each location's own figures in the order
    #: it lists them; services probed from one location are not in it.
    locations: Mapping[str, tuple[LocationUptime, ...]] = field(default_factory=dict)

    def by_location(self, service: str) -> tuple[LocationUptime, ...]:
        return self.locations.get(service, ())


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
    plan = config.quorum_plan(s.name for s in chosen)
    runs, per_location = _read_runs(ledger, plan, lo, min(hi, now_min + 1))
    windows = [*windows_from_config(config, minute_start(lo), minute_start(hi)), *extra_windows]
    reports = []
    for ym in months:
        uptimes = []
        by_location: dict[str, tuple[LocationUptime, ...]] = {}
        to_date = False
        for svc in chosen:
            start, end = bounds[(svc.name, ym)]
            until = now_min if now_min < end else None
            to_date = to_date or until is not None
            uptime = functools.partial(month_uptime, service=svc.name, sla=svc.sla,
                                       year=ym[0], month=ym[1], windows=windows, until=until)
            uptimes.append(uptime(runs=runs.get(svc.name, [])))
            if svc.name in per_location:
                by_location[svc.name] = tuple(
                    LocationUptime(loc, config.location_config(loc).title, uptime(runs=at))
                    for loc, at in per_location[svc.name].items())
        reports.append(MonthReport(month_label(ym), to_date, now, tuple(uptimes), by_location))
    return reports


def _read_runs(
    ledger: Ledger, plan: Mapping[str, tuple[tuple[str, ...], int]], start: int, end: int
) -> tuple[dict[str, list[Run]], dict[str, dict[str, list[Run]]]]:
    """Each service's runs folded by its quorum and, for the services probed from two or more
    locations, each location's own runs (in the order the service lists its locations).

    With one location everywhere this is :meth:`Ledger.quorum_runs_many`, as it always was.
    Otherwise one :meth:`Ledger.runs_by_location` read, folded by the same
    :func:`~monitor.core.quorum.fold_plan` as ``quorum_runs_many``: the quorum row is the fold
    of exactly the location rows beside it, and the ledger is read once, not once for the
    quorum and again for the locations."""
    if all(len(locations) < 2 for locations, _ in plan.values()):
        return ledger.quorum_runs_many(plan, start, end), {}
    per = ledger.runs_by_location({n: locs for n, (locs, _) in plan.items()}, start, end)
    return fold_plan(per, plan), {name: {loc: per[name][loc] for loc in locations}
                    for name, (locations, _) in plan.items() if len(locations) >= 2}


def month_json(report: MonthReport) -> dict[str, object]:
    return {
        "month": report.month,
        "to_date": report.to_date,
        "generated_at": iso_utc(report.generated_at),
        "services": [_service_json(report, u) for u in report.services],
    }


def _service_json(report: MonthReport, u: Uptime) -> dict[str, object]:
    """The service object (:func:`report_dict`); with two or more locations, also
    ``locations``: each location's own figures, the same keys but the windows lists."""
    out = report_dict(u, report.month)
    at = report.by_location(u.service)
    if at:
        out["locations"] = {a.location: _location_json(a.uptime, report.month) for a in at}
    return out


def _location_json(u: Uptime, month: str) -> dict[str, object]:
    d = report_dict(u, month)
    del d["maintenance"], d["exclusions"]  # the service's: listed once, on the service
    return d


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
            # the quorum's row, then one row per location, its service "api@fra"
            rows = [(u.service, u), *((f"{u.service}@{a.location}", a.uptime)
                                      for a in report.by_location(u.service))]
            for service, figures in rows:
                d = report_dict(figures, report.month)
                row = [report.month, service] + [d[k] for k in CSV_FIELDS[2:-2]]
                row += [len(figures.maintenance), len(figures.exclusions)]
                writer.writerow("" if v is None else str(v).lower() if isinstance(v, bool)
                                else v for v in row)
    return buf.getvalue()


def verdict(u: Uptime) -> str:
    if u.met is None:
        return "NO DATA"
    return "MET" if u.met else "BREACHED"


def _pct(value: float | None, places: int = 4) -> str:
    return "—" if value is None else f"{value:.{places}f}%"


def _figures(u: Uptime) -> list[str]:
    """The UPTIME, DOWN MIN, BUDGET LEFT and RESULT cells."""
    budget = "—" if u.met is None else f"{u.budget_remaining_minutes:.1f} min"
    return [_pct(u.uptime_percent), str(u.down_minutes), budget, verdict(u)]


def to_table(reports: Sequence[MonthReport]) -> str:
    history = len(reports) > 1
    head = (["MONTH"] if history else []) + [
        "SERVICE", "TARGET", "UPTIME", "DOWN MIN", "BUDGET LEFT", "RESULT"]
    rows: list[list[str]] = []
    for report in reports:
        month = [report.month] if history else []
        for u in report.services:
            rows.append(month + [u.service, f"{u.target_percent:g}%", *_figures(u)])
            rows += [month + [f"  @ {a.label}", "", *_figures(a.uptime)]
                     for a in report.by_location(u.service)]
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
    if any(r.locations for r in reports):
        footer.append("A service's row is its SLA (the quorum of its locations); "
                      "an @ row is one location's own figures, for information")
    return "\n".join([header, "", *lines, *([""] + footer if footer else [])]) + "\n"
