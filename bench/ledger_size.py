"""Ledger size check: synthetic mostly-up services written through the real ``Ledger`` API.

``--services`` services (default 5) checked every 60 s for ``--days`` days (default 400), one
``record`` per simulated hour, ``prune`` every simulated 6 hours and once at the end. Model per
check: 1 in 2,000 fails alone; 1 in 20,000 starts an outage of 1–20 minutes; 1 in 5,000 starts a
degraded stretch of 1–15 minutes; 1 in 43,200 starts a gap of 2–10 minutes without checks;
latency log-normal around 80 ms. Sizes come from SQLite's ``dbstat`` (pages in use per table)
and are extrapolated linearly per service and per day (raw checks are bounded per service).

Reference, measured in the same run: one row per service per minute (``minutes(service_id,
minute, state)``, primary key on both) for one service-month, extrapolated the same way.

Last line, JSON: ``minutes_mb_per_1000_service_years`` (goal ≤ 50), ``db_mb_1000_services_13_
months`` (goal < 1,000), the reference and the ``ratio`` reference / ours, and details.
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

from monitor.core.checks import (  # noqa: E402
    CheckResult,
    ErrorKind,
    Observation,  # noqa: E402
    State,
)
from monitor.store.ledger import Ledger  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
MB = 1e6
DAYS_13_MONTHS = 13 * 365.25 / 12
GROUPS = {
    "minutes": ("minute_runs", "folder_state"),
    "latency": ("latency_days", "latency_open"),
    "checks": ("checks", "checks_failures"),
}


class Service:
    """One synthetic service: its phase in the minute and its current incident, if any."""

    def __init__(self, name: str, rng: random.Random, phase_s: float) -> None:
        self.name, self.rng, self.phase_s = name, rng, phase_s
        self.down = self.degraded = self.gap = 0

    def check(self, minute: int) -> Observation | None:
        rng = self.rng
        if self.gap or rng.random() < 1 / 43_200:
            self.gap = self.gap - 1 if self.gap else rng.randint(2, 10) - 1
            return None
        if not self.down and rng.random() < 1 / 20_000:
            self.down = rng.randint(1, 20)
        if not self.degraded and rng.random() < 1 / 5_000:
            self.degraded = rng.randint(1, 15)
        at = START + timedelta(minutes=minute, seconds=self.phase_s + rng.random() * 0.3)
        if self.down or rng.random() < 1 / 2_000:
            self.down = max(0, self.down - 1)
            result = CheckResult(self.name, at, False, None, 503, ErrorKind.HTTP_STATUS)
            return Observation(result, State.DOWN, 60_000)
        if self.degraded:
            self.degraded -= 1
            return Observation(CheckResult(self.name, at, True, 1500.0, 200), State.DEGRADED,
                               60_000)
        latency = rng.lognormvariate(4.38, 0.3)  # median ≈ 80 ms
        return Observation(CheckResult(self.name, at, True, latency, 200), State.UP, 60_000)


def table_bytes(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    conn.close()
    return {name: int(size) for name, size in rows}


def reference_bytes_per_service_day(tmp: Path) -> float:
    """One row per service per minute, for one service-month."""
    path = tmp / "reference.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE minutes (service_id INTEGER, minute INTEGER, state INTEGER, "
                 "PRIMARY KEY (service_id, minute))")
    first = int(START.timestamp()) // 60
    conn.executemany("INSERT INTO minutes VALUES (1, ?, 1)",
                     ((first + m,) for m in range(30 * 1440)))
    conn.commit()
    conn.close()
    return sum(table_bytes(path).values()) / 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    services = [Service(f"svc{i:04d}", random.Random(rng.random()), (i * 7) % 60)
                for i in range(args.services)]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        db = tmp / "upwatch.db"
        ledger = Ledger(db)
        count, recording = 0, 0.0
        for hour in range(args.days * 24):
            batch = [obs for m in range(hour * 60, hour * 60 + 60) for s in services
                     if (obs := s.check(m)) is not None]
            began = time.perf_counter()
            ledger.record(batch)
            recording += time.perf_counter() - began
            count += len(batch)
            if hour % 6 == 5:
                ledger.prune(START + timedelta(hours=hour + 1))
        end = START + timedelta(days=args.days)
        ledger.prune(end)
        month_start = int((end - timedelta(days=30)).timestamp()) // 60
        began = time.perf_counter()
        ledger.runs_many([s.name for s in services], month_start, month_start + 30 * 1440)
        report_s = time.perf_counter() - began
        runs = sum(len(ledger.runs(s.name, 0, 2**40)) for s in services)
        ledger.close()
        sizes = table_bytes(db)
        file_bytes = db.stat().st_size
        reference = reference_bytes_per_service_day(tmp)

    grouped = {g: sum(sizes.get(t, 0) for t in tables) for g, tables in GROUPS.items()}
    service_days = args.services * args.days
    per_service_day = {g: grouped[g] / service_days for g in ("minutes", "latency")}
    checks_per_service = grouped["checks"] / args.services  # bounded: retention, keep_successes
    other = sum(sizes.values()) - sum(grouped.values())
    minutes_mb = per_service_day["minutes"] * 1000 * 365 / MB
    reference_mb = reference * 1000 * 365 / MB
    db_mb = (sum(per_service_day.values()) * 1000 * DAYS_13_MONTHS
             + checks_per_service * 1000 + other) / MB
    print(json.dumps({
        "services": args.services, "days": args.days, "observations": count,
        "record_per_s": round(count / recording),
        "runs_per_service_year": round(runs / service_days * 365, 1),
        "minutes_mb_per_1000_service_years": round(minutes_mb, 2),
        "goal_minutes_mb": 50,
        "db_mb_1000_services_13_months": round(db_mb, 1),
        "goal_db_mb": 1000,
        "latency_mb_1000_services_13_months": round(
            per_service_day["latency"] * 1000 * DAYS_13_MONTHS / MB, 1),
        "checks_mb_1000_services": round(checks_per_service * 1000 / MB, 1),
        "report_month_s_per_1000_services": round(report_s * 1000 / args.services, 3),
        "file_mb_measured": round(file_bytes / MB, 2),
        "reference_row_per_minute_mb_per_1000_service_years": round(reference_mb),
        "ratio": round(reference_mb / minutes_mb, 1),
    }))


if __name__ == "__main__":
    main()
