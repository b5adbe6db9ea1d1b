"""SLA benchmark: 1,000 services × 400 days of history, then one month's report for all.

History is written through ``Ledger.record`` (the path ``run`` and ``import`` share) as a
heartbeat: an "up" check every hour declared with a one-hour interval (so it carries, exactly
like a 60 s prober's minutes of a quiet hour would be stored: one run), plus minute-by-minute
checks during outages (about one a month, 1–30 minutes) and flapping spells (up/down alternating
every minute). The stored minutes are what 60 s probing of that history would store, at a
fraction of the observations.

Measured in the same run:
- ``db_mb``: the database on disk after the history (pruned as ``upwatch run`` prunes).
- ``import_lines_per_s``: ``upwatch import``'s path (parse, validate, sort, ledger) on a JSON
  Lines file of ``--import-lines`` checks into a fresh ledger.
- ``report_all_s``: ``monitor.report.build_reports`` for every service, one month.
- the naive reference: one row per service per minute in SQLite, ``GROUP BY`` for the month's
  down and total minutes, on ``--naive-services`` services, extrapolated to all of them
  (``naive_report_all_s_est``); ``ratio`` = naive estimate / ours. The naive query does less
  (no coverage hours, no windows, no nodata rule) and still loses.

With ``--db postgresql://…`` the same history, report and import also run on PostgreSQL (each
in a schema of its own in that database, dropped afterwards), and the SQLite figures of the same
run are the reference: ``pg_report_ratio`` and ``pg_size_ratio`` are PostgreSQL / SQLite.

Goals (DESIGN.md): report < 1 s; import ≥ 50,000 lines/s. On PostgreSQL (issue 13): report for
1,000 services < 1 s, size within 2× SQLite's; 10,000 services × 13 months, report < 5 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pg import Schemas, database_bytes  # noqa: E402  (bench/pg.py, beside this script)

from monitor.config import Config, parse_config  # noqa: E402
from monitor.core.checks import (  # noqa: E402
    CheckResult,
    ErrorKind,
    Observation,  # noqa: E402
    State,
)
from monitor.core.coverage import month_bounds  # noqa: E402
from monitor.importer import import_lines, read_records  # noqa: E402
from monitor.report import build_reports  # noqa: E402
from monitor.store.ledger import Ledger  # noqa: E402

START = datetime(2025, 10, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def config_for(services: int) -> Config:
    lines = ["site: {title: bench}", "services:"]
    for i in range(services):
        sla = "{target: 99.9}"
        if i % 10 == 0:  # one in ten: business hours in Copenhagen, Danish holidays off
            sla = ('{target: 99.5, timezone: Europe/Copenhagen, coverage: '
                   '{days: mon-fri, hours: "09:00-17:00", holidays: DK}}')
        lines.append(f"  - {{name: s{i}, url: 'http://127.0.0.1:9/s{i}', sla: {sla}}}")
    return parse_config("\n".join(lines) + "\n")


def observations(name: str, days: int, rng: random.Random,
                 heartbeat_ms: int = HOUR_MS) -> list[Observation]:
    """One service's heartbeat history with outages and flapping, in time order."""
    t0 = int(START.timestamp() * 1000)
    end = t0 + days * 86_400_000
    out: list[Observation] = []
    t = t0
    per = heartbeat_ms / HOUR_MS  # the chances below are per hour
    while t < end:
        roll = rng.random() / per
        if roll < 0.0014:  # ~1 outage a month
            for k in range(rng.randint(1, 30)):
                out.append(_obs(name, t + k * MINUTE_MS, False, MINUTE_MS))
            t += HOUR_MS
            continue
        if roll < 0.0021:  # a flapping spell every other month
            for k in range(rng.randint(4, 20)):
                out.append(_obs(name, t + k * MINUTE_MS, k % 2 == 0, MINUTE_MS))
            t += HOUR_MS
            continue
        out.append(_obs(name, t + rng.randint(0, 59_000), True, heartbeat_ms))
        t += heartbeat_ms
    return out


def _obs(name: str, ts_ms: int, ok: bool, interval_ms: int) -> Observation:
    when = datetime.fromtimestamp(ts_ms / 1000, UTC)
    if ok:
        return Observation(CheckResult(name, when, True, 80.0, 200), State.UP, interval_ms)
    result = CheckResult(name, when, False, None, None, ErrorKind.CONNECT, "refused")
    return Observation(result, State.DOWN, interval_ms)


def write_history(ledger: Ledger, config: Config, days: int,
                  heartbeat_ms: int = HOUR_MS) -> tuple[int, float]:
    rng = random.Random(400)
    total, started = 0, time.perf_counter()
    batch: list[Observation] = []
    for i, svc in enumerate(config.services):
        batch.extend(observations(svc.name, days, rng, heartbeat_ms))
        if len(batch) >= 200_000 or i == len(config.services) - 1:
            ledger.record(batch)
            total += len(batch)
            batch = []
        if i % 1000 == 999 or (len(config.services) <= 2000 and i % 100 == 99):
            print(f"  history: {i + 1} services, {total:,} observations, "
                  f"{time.perf_counter() - started:.0f}s", file=sys.stderr)
    ledger.prune(START + timedelta(days=days))
    return total, time.perf_counter() - started


def import_rate(tmp: Path, config: Config, lines: int, target: str | Path | None = None) -> float:
    rng = random.Random(7)
    path = tmp / "import.jsonl"
    with path.open("w") as fh:
        t = START
        names = config.service_names[:100]
        for i in range(lines):
            name = names[i % len(names)]
            if i % len(names) == 0:
                t += timedelta(seconds=60)
            ok = rng.random() > 0.01
            line = {"service": name, "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "ok": ok,
                    "latency_ms": round(rng.uniform(20, 200), 1) if ok else None,
                    "status": 200 if ok else None, "error": None if ok else "timeout"}
            fh.write(json.dumps(line) + "\n")
    ledger = Ledger(target if target is not None else tmp / "import.db")
    try:
        started = time.perf_counter()
        with path.open() as fh:
            summary = import_lines(read_records(fh, "jsonl"), config, ledger,
                                   now=datetime.now(UTC))
        elapsed = time.perf_counter() - started
    finally:
        ledger.close()
    assert summary.imported == lines
    return lines / elapsed


def naive_seconds(tmp: Path, services: int, year: int, month: int) -> float:
    """One row per service per minute, GROUP BY: time for ``services`` services, one month."""
    import zoneinfo

    start, end = month_bounds(year, month, zoneinfo.ZoneInfo("UTC"))
    con = sqlite3.connect(tmp / "naive.db")
    con.execute("CREATE TABLE minutes (service_id INTEGER, minute INTEGER, state INTEGER, "
                "PRIMARY KEY (service_id, minute)) WITHOUT ROWID")
    rng = random.Random(1)
    for sid in range(services):
        rows = ((sid, m, 3 if rng.random() < 0.001 else 1) for m in range(start, end))
        con.executemany("INSERT INTO minutes VALUES (?, ?, ?)", rows)
    con.commit()
    started = time.perf_counter()
    result = con.execute(
        "SELECT service_id, COUNT(*), SUM(state = 3), SUM(state = 2) FROM minutes "
        "WHERE minute >= ? AND minute < ? GROUP BY service_id", (start, end)).fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    assert len(result) == services
    return elapsed


def measure(target: str | Path, config: Config, days: int,
            heartbeat_ms: int = HOUR_MS) -> dict[str, float]:
    """History into ``target``, then the last whole month's report for every service."""
    ledger = Ledger(target)
    written, write_s = write_history(ledger, config, days, heartbeat_ms)
    ledger.close()
    size = database_bytes(target)
    ledger = Ledger(target)
    now = START + timedelta(days=days)
    last = now.replace(day=1) - timedelta(days=1)  # the last whole month of the history
    month = (last.year, last.month)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        (report,) = build_reports(config, ledger, [month], now)
        timings.append(time.perf_counter() - started)
    ledger.close()
    return {"written": written, "write_s": write_s, "bytes": size, "report_s": min(timings),
            "breached": sum(1 for u in report.services if u.met is False),
            "year": month[0], "month": month[1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--import-lines", type=int, default=200_000)
    ap.add_argument("--naive-services", type=int, default=20)
    ap.add_argument("--heartbeat-hours", type=int, default=1,
                    help="hours between the quiet history's checks (each carries that long: "
                         "the same minutes, fewer observations; 6 for the 10,000-service point)")
    ap.add_argument("--db", default=None, metavar="URL",
                    help="also measure on this PostgreSQL database (schemas of its own)")
    args = ap.parse_args()
    config = config_for(args.services)
    schemas = Schemas(args.db) if args.db else None
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        beat = args.heartbeat_hours * HOUR_MS
        lite = measure(tmp / "bench.db", config, args.days, beat)
        lines_per_s = import_rate(tmp, config, args.import_lines)
        naive_s = naive_seconds(tmp, args.naive_services, int(lite["year"]), int(lite["month"]))
        pg: dict[str, float] = {}
        if schemas is not None:
            try:
                pg = measure(schemas.new("history"), config, args.days, beat)
                pg["import"] = import_rate(tmp, config, args.import_lines, schemas.new("import"))
            finally:
                schemas.drop()
    naive_est = naive_s * args.services / args.naive_services
    report_s = lite["report_s"]
    label = f"{int(lite['year'])}-{int(lite['month']):02d}"
    print(f"history: {args.services} services × {args.days} days, {lite['written']:,.0f} "
          f"observations written in {lite['write_s']:.0f}s; database {lite['bytes'] / 1e6:.1f} MB")
    print(f"report {label}, all {args.services} services: {report_s:.3f}s "
          f"(best of 3; {lite['breached']:.0f} breached)")
    print(f"naive one-row-per-minute GROUP BY: {naive_s:.3f}s for {args.naive_services} "
          f"services → {naive_est:.2f}s estimated for {args.services}")
    print(f"import: {lines_per_s:,.0f} lines/s over {args.import_lines:,} lines")
    out: dict[str, object] = {
        "db_mb": round(lite["bytes"] / 1e6, 1),
        "import_lines_per_s": round(lines_per_s),
        "report_all_s": round(report_s, 3),
        "naive_report_all_s_est": round(naive_est, 3),
        "ratio": round(naive_est / report_s, 1) if report_s else None,
        "services": args.services,
        "days": args.days,
    }
    if pg:
        print(f"PostgreSQL: history written in {pg['write_s']:.0f}s; database "
              f"{pg['bytes'] / 1e6:.1f} MB ({pg['bytes'] / lite['bytes']:.2f}× SQLite's); "
              f"report {pg['report_s']:.3f}s ({pg['report_s'] / report_s:.2f}× SQLite's, "
              f"{pg['breached']:.0f} breached); import {pg['import']:,.0f} lines/s")
        out |= {"pg_db_mb": round(pg["bytes"] / 1e6, 1),
                "pg_size_ratio": round(pg["bytes"] / lite["bytes"], 2),
                "pg_report_all_s": round(pg["report_s"], 3),
                "pg_report_ratio": round(pg["report_s"] / report_s, 2),
                "pg_import_lines_per_s": round(pg["import"]),
                "pg_history_write_s": round(pg["write_s"], 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
