"""``upwatch demo``: a complete, self-contained upwatch to look at in a minute, offline.

It starts simulated services on loopback (an aiohttp app whose endpoints go down, get slow and
come back on a fixed schedule), writes a ``probes.yaml`` for them into a demo directory, seeds
90 days of synthetic history through the ledger (the same ``Ledger.record`` path ``run`` and
``import`` use), declares a maintenance window, and runs the monitor on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import Clock
from monitor.run.runner import RunOptions, SitePlan, serve
from monitor.store.ledger import Ledger

log = logging.getLogger("upwatch.demo")

HISTORY_DAYS = 90
HISTORY_STEP_S = 300  # seeded history: one check every 5 minutes (minutes carry between them)


@dataclass(frozen=True)
class Simulated:
    name: str
    title: str
    group: str
    # each cycle of `period_s`, the service is down for `down_s` and slow for `slow_s` after that
    period_s: int
    down_s: int
    slow_s: int
    outage_rate: float  # seeded history: chance per day of an outage
    sla: str  # YAML for the sla key


SERVICES = (
    Simulated("website", "Website", "Public", 0, 0, 0, 0.03, "{target: 99.9}"),
    Simulated("api", "Public API", "Public", 900, 0, 120, 0.05, "{target: 99.95}"),
    Simulated("checkout", "Checkout", "Shop", 600, 90, 0, 0.08, "{target: 99.5}"),
    Simulated("search", "Search", "Shop", 300, 0, 60, 0.04, "{target: 99.0}"),
    Simulated(
        "support", "Support desk", "Support", 0, 0, 0, 0.02,
        '{target: 99.5, timezone: Europe/Copenhagen, coverage: {days: mon-fri, '
        'hours: "09:00-17:00", holidays: DK}}',
    ),
)


def phase(sim: Simulated, now: datetime) -> str:
    """What a simulated service does right now: "up", "down" or "slow"."""
    if sim.period_s == 0:
        return "up"
    t = int(now.timestamp()) % sim.period_s
    if t < sim.down_s:
        return "down"
    if t < sim.down_s + sim.slow_s:
        return "slow"
    return "up"


def target_app(clock: Clock) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        sim = next((s for s in SERVICES if s.name == name), None)
        if sim is None:
            raise web.HTTPNotFound()
        how = phase(sim, clock.now())
        if how == "down":
            return web.Response(status=503, text="temporarily unavailable")
        if how == "slow":
            await asyncio.sleep(0.8)  # the simulated service is slow: that is the point
        return web.Response(text=f"{sim.title} ok")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    return app


def write_config(path: Path, target_port: int, listen: str, now: datetime) -> None:
    start = (now + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)
    lines = [
        "# Written by `upwatch demo`: simulated services on loopback.",
        "site:",
        "  title: Example Ltd. status",
        "  description: Live status of Example Ltd.'s services (a demo of upwatch).",
        "  language: en",
        "services:",
        f"  - name: self\n    title: upwatch itself\n    group: Monitoring\n"
        f"    url: http://{listen}/healthz\n    interval: 15s\n"
        f"    expect: {{status: 200, body_contains: ok}}",
    ]
    for sim in SERVICES:
        lines.append(
            f"  - name: {sim.name}\n    title: {sim.title}\n    group: {sim.group}\n"
            f"    url: http://127.0.0.1:{target_port}/{sim.name}\n    interval: 15s\n"
            f"    timeout: 5s\n    expect: {{status: 200, max_latency: 500ms}}\n"
            f"    sla: {sim.sla}"
        )
    lines += [
        "maintenance:",
        "  - services: [checkout]",
        "    title: Payment provider certificate rotation",
        f'    start: "{start.strftime("%Y-%m-%dT%H:%M:%SZ")}"',
        f'    end: "{(start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}"',
        "  - services: [website, api]",
        "    title: Weekly database maintenance",
        '    rrule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=3;BYMINUTE=0"',
        "    duration: 30m",
        "    timezone: Europe/Copenhagen",
    ]
    path.write_text("\n".join(lines) + "\n")


def history(sim: Simulated, start: datetime, end: datetime, seed: int) -> Iterator[Observation]:
    """Synthetic checks every HISTORY_STEP_S: mostly up, a few outages, some slow spells."""
    rng = random.Random(f"{seed}:{sim.name}")
    t = start
    down_until = slow_until = start
    step = timedelta(seconds=HISTORY_STEP_S)
    per_step = HISTORY_STEP_S / 86_400
    while t < end:
        if t >= down_until and rng.random() < sim.outage_rate * per_step:
            down_until = t + timedelta(minutes=rng.choice([5, 10, 15, 30, 45, 90]))
        if t >= slow_until and rng.random() < 2 * sim.outage_rate * per_step:
            slow_until = t + timedelta(minutes=rng.choice([10, 20, 40]))
        if rng.random() < 0.0005:  # the monitor itself was away: a gap shows as no data
            t += timedelta(hours=rng.choice([1, 2]))
            continue
        if t < down_until:
            result = CheckResult(sim.name, t, False, 5000.0, None, ErrorKind.TIMEOUT,
                                 "no answer within 5s")
            state = State.DOWN
        else:
            slow = t < slow_until
            latency = rng.uniform(600, 900) if slow else rng.uniform(20, 120)
            result = CheckResult(sim.name, t, True, latency, 200)
            state = State.DEGRADED if slow else State.UP
        yield Observation(result, state, HISTORY_STEP_S * 1000)
        t += step


def seed_history(ledger: Ledger, now: datetime, *, days: int = HISTORY_DAYS,
                 seed: int = 2026) -> int:
    """Write ``days`` of history for every simulated service, ending a few minutes ago."""
    end = now - timedelta(minutes=10)
    start = end - timedelta(days=days)
    total = 0
    for sim in SERVICES:
        batch = list(history(sim, start, end, seed))
        ledger.record(batch)
        total += len(batch)
    return total


async def run_demo(workdir: Path, host: str, port: int, clock: Clock) -> int:
    """Start the simulated services, prepare ``workdir`` and run the monitor until stopped."""

    targets = web.AppRunner(target_app(clock), access_log=None)
    await targets.setup()
    site = web.TCPSite(targets, "127.0.0.1", 0)
    await site.start()
    try:
        target_port = int(targets.addresses[0][1])
        config_path, db_path = workdir / "probes.yaml", workdir / "upwatch.db"
        now = clock.now()
        write_config(config_path, target_port, f"{host}:{port}", now)
        ledger = Ledger(db_path)
        try:
            seeded = await asyncio.to_thread(seed_history, ledger, now)
        finally:
            ledger.close()
        log.info("demo: %s simulated services on 127.0.0.1:%d, %d days of history seeded "
                 "(%d checks) into %s", len(SERVICES), target_port, HISTORY_DAYS, seeded, db_path)
        opts = RunOptions(config_path=config_path, db_path=db_path, host=host, port=port,
                          site=SitePlan(workdir / "site"))

        def ready(monitor: object) -> None:
            print(f"\nupwatch demo is running. Open http://{host}:{port}/ for the status page,"
                  f"\nhttp://{host}:{port}/metrics for Prometheus. Files: {workdir}"
                  f"\nTry: upwatch report --config {config_path} --db {db_path}"
                  f"\nStop with Ctrl-C.\n", flush=True)

        return await serve(opts, on_ready=ready, clock=clock)
    finally:
        await targets.cleanup()
