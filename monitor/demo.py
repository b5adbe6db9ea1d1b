"""``upwatch demo``: a complete, self-contained upwatch to look at in a minute, offline.

It starts simulated services on loopback (an aiohttp app whose endpoints go down, get slow and
come back on a fixed schedule; the API answers JSON checked with ``expect.json``) and one
target of every other kind (:mod:`monitor.demo_targets`: a mail relay for tcp, a DNS server,
a TLS endpoint, a heartbeat job that pings a push service), writes a ``probes.yaml`` for them
into a demo directory, seeds 90 days of synthetic history through the ledger (the same
``Ledger.record`` path ``run`` and ``import`` use), declares a maintenance window, and runs the
monitor on it.

With ``locations`` (``upwatch demo --locations``) there are three probing locations: the
monitor probes as Frankfurt, and two probers in the same process (Copenhagen from 127.0.0.2,
Madrid from 127.0.0.3) push to it, each with its own spool. Search fails from Madrid alone for
part of each cycle (the page says so; the quorum keeps it up), and each location's history has
blips of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from monitor.core.checks import CheckResult, ErrorKind, Observation, State
from monitor.core.clock import Clock
from monitor.demo_targets import DemoTargets, Heartbeat, demo_trust
from monitor.run.pages import SitePlan
from monitor.run.prober import Prober, ProberOptions
from monitor.run.runner import Monitor, RunOptions, serve
from monitor.store.ledger import Ledger, LedgerError

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


@dataclass(frozen=True)
class OtherKind:
    """A demo service of another kind than http: its YAML (after name, title and group, with
    ``{mail}``, ``{dns}`` and ``{tls}`` for the targets' ports), its seeded history's outage
    rate, and the failure kind of its seeded outages."""

    name: str
    title: str
    yaml: str
    outage_rate: float
    error: ErrorKind


OTHER_KINDS = (
    OtherKind("mail", "Mail relay", "kind: tcp\n    host: 127.0.0.1\n    port: {mail}\n"
              '    send: "QUIT\\r\\n"\n    expect: {{banner: "^220 "}}\n    interval: 15s\n'
              "    timeout: 3s",
              0.03, ErrorKind.CONTENT),
    OtherKind("dns", "DNS", "kind: dns\n    query: www.example.test\n    server: 127.0.0.1\n"
              "    port: {dns}\n    expect: {{answers: [192.0.2.10]}}\n    interval: 15s\n"
              "    timeout: 3s",
              0.02, ErrorKind.DNS_ANSWER),
    OtherKind("certificate", "TLS certificate", "kind: tls\n    host: 127.0.0.1\n"
              "    port: {tls}\n    interval: 60s", 0.005, ErrorKind.TLS),
    OtherKind("heartbeat", "Billing job", "kind: push\n    period: 1m\n    grace: 30s",
              0.04, ErrorKind.MISSED_PING),
)


#: The demo's locations: name, title, the loopback address its probes come from (None: the
#: monitor itself, probing as this location).
LOCATIONS = (("fra", "Frankfurt", None), ("cph", "Copenhagen", "127.0.0.2"),
             ("mad", "Madrid", "127.0.0.3"))
#: Seconds of each 300 s cycle in which search fails from Madrid alone (a route problem there).
MADRID_ROUTE_DOWN_S = 100


def phase(sim: Simulated, now: datetime, source: str | None = None) -> str:
    """What a simulated service does right now, seen from ``source`` (a probe's address):
    "up", "down" or "slow"."""
    if (sim.name == "search" and source == LOCATIONS[2][2]
            and int(now.timestamp()) % 300 >= 300 - MADRID_ROUTE_DOWN_S):
        return "down"
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
        how = phase(sim, clock.now(), request.remote)
        if how == "down":
            return web.Response(status=503, text="temporarily unavailable")
        if how == "slow":
            await asyncio.sleep(0.8)  # the simulated service is slow: that is the point
        if name == "api":  # checked with expect.json
            return web.json_response({"status": "UP", "service": sim.title})
        return web.Response(text=f"{sim.title} ok")

    app = web.Application()
    app.router.add_get("/{name}", handle)
    return app


def write_config(path: Path, target_port: int, listen: str, now: datetime, *,
                 locations: bool = False, others: DemoTargets | None = None) -> None:
    start = (now + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)
    lines = [
        "# Written by `upwatch demo`: simulated services on loopback.",
        "site:",
        "  title: Example Ltd. status",
        "  description: Live status of Example Ltd.'s services (a demo of upwatch).",
        "  language: en",
    ]
    if locations:
        lines += ["location: fra", f"central_url: http://{listen}", "locations:"]
        lines += [f"  - {{name: {name}, title: {title}}}" for name, title, _ in LOCATIONS]
    lines += [
        "services:",
        f"  - name: self\n    title: upwatch itself\n    group: Monitoring\n"
        f"    url: http://{listen}/healthz\n    interval: 15s\n"
        f"    expect: {{status: 200, body_contains: ok}}"
        + ("\n    locations: [fra]" if locations else ""),
    ]
    for sim in SERVICES:
        lines.append(
            f"  - name: {sim.name}\n    title: {sim.title}\n    group: {sim.group}\n"
            f"    url: http://127.0.0.1:{target_port}/{sim.name}\n    interval: 15s\n"
            f"    timeout: 5s\n    expect: {{status: 200, max_latency: 500ms"
            + (""", json: ['$.status == "UP"']""" if sim.name == "api" else "")
            + f"}}\n    sla: {sim.sla}"
        )
    for other in OTHER_KINDS if others is not None else ():
        assert others is not None
        lines.append(
            f"  - name: {other.name}\n    title: {other.title}\n    group: Backend\n    "
            + other.yaml.format(mail=others.mail_port, dns=others.dns_port, tls=others.tls_port)
            + ("\n    locations: [fra]" if locations and other.name == "certificate" else ""))
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


def history(sim: Simulated, start: datetime, end: datetime, seed: int,
            location: str = "local", error: ErrorKind = ErrorKind.TIMEOUT
            ) -> Iterator[Observation]:
    """Synthetic checks every HISTORY_STEP_S: mostly up, a few outages, some slow spells.

    The outages are the service's own, the same at every location; each location other than
    ``local`` adds network blips of its own (10-30 minutes down from there alone)."""
    rng = random.Random(f"{seed}:{sim.name}")
    local = random.Random(f"{seed}:{sim.name}:{location}")
    blip_until = start
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
        if location != "local" and t >= blip_until and local.random() < 0.3 * per_step:
            blip_until = t + timedelta(minutes=local.choice([10, 20, 30]))
        if t < down_until or t < blip_until:
            result = CheckResult(sim.name, t, False, 5000.0, None, error,
                                 "no answer within 5s" if error is ErrorKind.TIMEOUT
                                 else "a simulated failure", location=location)
            state = State.DOWN
        else:
            slow = t < slow_until
            latency = rng.uniform(600, 900) if slow else rng.uniform(20, 120)
            result = CheckResult(sim.name, t, True, latency, 200, location=location)
            state = State.DEGRADED if slow else State.UP
        yield Observation(result, state, HISTORY_STEP_S * 1000)
        t += step


def seed_history(ledger: Ledger, now: datetime, *, days: int = HISTORY_DAYS,
                 seed: int = 2026, locations: tuple[str, ...] = ("local",)) -> int:
    """Write ``days`` of history for every simulated service at each of ``locations``,
    ending a few minutes ago."""
    end = now - timedelta(minutes=10)
    start = end - timedelta(days=days)
    total = 0
    for location in locations:
        for sim in SERVICES:
            batch = list(history(sim, start, end, seed, location))
            ledger.record(batch)
            total += len(batch)
    for other in OTHER_KINDS:  # probed (or pinged) at the central only
        sim = Simulated(other.name, other.title, "Backend", 0, 0, 0, other.outage_rate, "")
        batch = list(history(sim, start, end, seed, locations[0], other.error))
        ledger.record(batch)
        total += len(batch)
    return total


async def run_demo(workdir: Path, host: str, port: int, clock: Clock, *,
                   locations: bool = False, db: str | Path | None = None) -> int:
    """Start the simulated services, prepare ``workdir`` and run the monitor until stopped
    (with ``locations``, and two probers beside it: see the module doc). The ledger is
    ``workdir/upwatch.db`` unless ``db`` names another (a PostgreSQL URL), which must not
    hold the demo's services yet."""

    targets = web.AppRunner(target_app(clock), access_log=None)
    await targets.setup()
    site = web.TCPSite(targets, "127.0.0.1", 0)
    await site.start()
    others = DemoTargets(clock)
    heartbeat: Heartbeat | None = None
    try:
        await others.start()
        target_port = int(targets.addresses[0][1])
        config_path = workdir / "probes.yaml"
        db_path = db if db is not None else workdir / "upwatch.db"
        now = clock.now()
        write_config(config_path, target_port, f"{host}:{port}", now, locations=locations,
                     others=others)
        names = tuple(name for name, _, _ in LOCATIONS) if locations else ("local",)
        ledger = Ledger(db_path)
        try:
            held = [sim.name for sim in SERVICES if ledger.last_check(sim.name) is not None]
            if held:
                raise LedgerError(
                    f"{ledger.name} already holds the demo's services ({', '.join(held)}): the "
                    "demo seeds fresh history; give it an empty database")
            seeded = await asyncio.to_thread(seed_history, ledger, now, locations=names)
            shown = ledger.name
        finally:
            ledger.close()
        probers: list[Prober] = []
        tokens: dict[str, str] = {}
        if locations:  # the central reads them from its environment, the probers are given them
            tokens = {f"UPWATCH_TOKEN_{name.upper()}": secrets.token_urlsafe(24)
                      for name, _, source in LOCATIONS if source is not None}
            os.environ.update(tokens)
            probers = [Prober(ProberOptions(
                config_path=config_path, location=name, spool_path=workdir / f"spool-{name}.db",
                port=0, source_address=source), clock, tokens)
                for name, _, source in LOCATIONS if source is not None]
        log.info("demo: %s simulated services on 127.0.0.1:%d (and a mail relay, a DNS server, "
                 "a TLS endpoint and a heartbeat job), %d days of history seeded (%d checks) "
                 "into %s", len(SERVICES), target_port, HISTORY_DAYS, seeded, shown)
        opts = RunOptions(config_path=config_path, db_path=db_path, host=host, port=port,
                          site=SitePlan(workdir / "site"))

        started: list[asyncio.Task[None]] = []

        def ready(monitor: Monitor) -> None:
            nonlocal heartbeat
            monitor.tls_context = demo_trust()  # the tls service's certificate is the demo's
            heartbeat = Heartbeat(lambda: _ping_url(monitor, f"http://{host}:{port}"))
            heartbeat.start()
            for prober in probers:  # once the monitor listens: they push to it
                started.append(asyncio.create_task(prober.start()))
            where = (" Locations: Frankfurt (this monitor), Copenhagen and Madrid (probers "
                     "pushing to it).") if locations else ""
            print(f"\nupwatch demo is running. Open http://{host}:{port}/ for the status page,"
                  f"\nhttp://{host}:{port}/metrics for Prometheus. Files: {workdir}.{where}"
                  f"\nTry: upwatch report --config {config_path} --db {shown}"
                  f"\nStop with Ctrl-C.\n", flush=True)

        try:
            return await serve(opts, on_ready=ready, clock=clock)
        finally:
            outcomes = await asyncio.gather(*started, return_exceptions=True)
            for prober, outcome in zip(probers, outcomes, strict=False):
                if outcome is None:
                    await prober.stop()
                else:
                    log.error("demo: the %s prober did not start: %s", prober.location, outcome)
    finally:
        if heartbeat is not None:
            await heartbeat.stop()
        await others.stop()
        await targets.cleanup()


def _ping_url(monitor: Monitor, base: str) -> str | None:
    token = monitor.pings.token("heartbeat")
    return None if token is None else f"{base}/ping/{token}"
