"""Status page rebuilds against probing: schedule lag and /healthz while the page is built.

``upwatch run`` with N services (default 2,000) against a fast loopback target, checks spread
over ``--interval`` (default 60 s), in three phases of ``--seconds`` each, in one run:

1. ``idle``: no page builds (the floor);
2. ``in_process``: builds back to back the way upwatch did before the child process — the
   ledger read in the writer's thread, the rendering in a worker thread of the monitor
   (``statuspage.gather`` + ``build_site``): the reference;
3. ``child``: builds back to back as ``upwatch run`` makes them now (``Monitor.rebuild_page``:
   ``upwatch build-page`` in a niced child process).

For each phase: the schedule lag p50/p99 of the checks started in it, and ``/healthz``'s
latency measured from another thread every 50 ms (p50/p99/max). The ledger is seeded with
``--days`` of history first (one outage a day per service), so a build has a year's bars to
draw. Last line: JSON with the figures and the ratios child / in_process.
Goal (issue 11): with rebuilds running, lag p99 < 200 ms and /healthz < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from probes import start_target, write_config  # noqa: E402

from monitor.core.checks import CheckResult, Observation, State  # noqa: E402
from monitor.run.pages import SitePlan  # noqa: E402
from monitor.run.runner import Monitor, RunOptions  # noqa: E402
from monitor.store.ledger import Ledger  # noqa: E402
from monitor.windows.sources import declared_windows  # noqa: E402
from statuspage import build_site, gather  # noqa: E402


def seed(db: Path, services: int, days: int, now: datetime) -> None:
    """Per service and day: up, then a 5-minute outage at a time of its own (runs, not rows)."""
    ledger = Ledger(db)
    try:
        batch: list[Observation] = []
        for day in range(days, 0, -1):
            start = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0,
                                                        microsecond=0)
            for i in range(services):
                down_at = start + timedelta(minutes=(i * 7 + day * 13) % 1400)
                for at, ok in ((start, True), (down_at, False),
                               (down_at + timedelta(minutes=5), True)):
                    result = CheckResult(f"s{i}", at, ok, 50.0 if ok else None,
                                         200 if ok else 503)
                    batch.append(Observation(result, State.UP if ok else State.DOWN, 60_000))
            if len(batch) > 100_000:
                ledger.record(batch)
                batch = []
        ledger.record(batch)
    finally:
        ledger.close()


class HealthProbe:
    """GET /healthz every ``every`` seconds from a thread of its own; latencies in ms."""

    def __init__(self, port: int, every: float = 0.05) -> None:
        self.port, self.every = port, every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", "/healthz")
                conn.getresponse().read()
            finally:
                conn.close()
            self.samples.append((time.perf_counter() - started) * 1000)
            self._stop.wait(self.every)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def phase(monitor: Monitor, seconds: float,
                build: Callable[[], Awaitable[object]] | None) -> dict[str, float]:
    """One phase: builds back to back (if any) for ``seconds``; what probing saw meanwhile."""
    monitor.scheduler._lags.clear()  # the lags of this phase only
    builds: list[float] = []
    deadline = time.monotonic() + seconds
    with HealthProbe(monitor.port) as health:
        while time.monotonic() < deadline:
            if build is None:
                await asyncio.sleep(min(1.0, deadline - time.monotonic()))
                continue
            started = time.monotonic()
            await build()
            builds.append(time.monotonic() - started)
    return {
        "lag_p50_ms": round(monitor.scheduler.lag_quantile_ms(0.50) or 0.0, 1),
        "lag_p99_ms": round(monitor.scheduler.lag_quantile_ms(0.99) or 0.0, 1),
        "healthz_p50_ms": round(quantile(health.samples, 0.50), 1),
        "healthz_p99_ms": round(quantile(health.samples, 0.99), 1),
        "healthz_max_ms": round(max(health.samples, default=0.0), 1),
        "builds": len(builds),
        "build_s": round(statistics.mean(builds), 2) if builds else 0.0,
    }


async def run(cfg: Path, db: Path, site: Path, seconds: float) -> dict[str, dict[str, float]]:
    monitor = Monitor(RunOptions(config_path=cfg, db_path=db, port=0, site=SitePlan(site),
                                 page_rebuild_s=10**9))  # builds only when the bench asks
    await monitor.start()
    await asyncio.sleep(5.0)  # the first checks spread in

    async def in_process() -> None:  # how upwatch run built the page before the child process
        config, now = monitor.config, monitor.clock.now()
        data = await monitor.writer.read(
            lambda led: gather(config, led, now, declared_windows(led)))
        await asyncio.to_thread(build_site, data, site)

    try:
        return {
            "idle": await phase(monitor, seconds, None),
            "in_process": await phase(monitor, seconds, in_process),
            "child": await phase(monitor, seconds, monitor.rebuild_page),
        }
    finally:
        await monitor.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=60.0, help="seconds between checks")
    ap.add_argument("--seconds", type=float, default=40.0, help="length of each phase")
    ap.add_argument("--days", type=int, default=30, help="days of history seeded")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        target, port = start_target(tmp)
        try:
            cfg, db = tmp / "probes.yaml", tmp / "bench.db"
            write_config(cfg, args.services, args.interval, port)
            started = time.monotonic()
            seed(db, args.services, args.days, datetime.now(UTC))
            print(f"seeded {args.days} days × {args.services} services in "
                  f"{time.monotonic() - started:.1f}s", flush=True)
            phases = asyncio.run(run(cfg, db, tmp / "site", args.seconds))
        finally:
            target.kill()
    for name, figures in phases.items():
        print(f"{name:>10}: lag p50 {figures['lag_p50_ms']} ms p99 {figures['lag_p99_ms']} ms; "
              f"/healthz p50 {figures['healthz_p50_ms']} ms p99 {figures['healthz_p99_ms']} ms "
              f"max {figures['healthz_max_ms']} ms; {figures['builds']} builds of "
              f"{figures['build_s']} s")
    ref, ours = phases["in_process"], phases["child"]
    print(json.dumps({
        "services": args.services, "interval_s": args.interval, **{
            f"{name}_{key}": value for name, figures in phases.items()
            for key, value in figures.items()},
        "lag_p99_ratio_child_vs_in_process": round(
            ours["lag_p99_ms"] / ref["lag_p99_ms"], 3) if ref["lag_p99_ms"] else None,
        "healthz_p99_ratio_child_vs_in_process": round(
            ours["healthz_p99_ms"] / ref["healthz_p99_ms"], 3) if ref["healthz_p99_ms"] else None,
    }))


if __name__ == "__main__":
    main()
