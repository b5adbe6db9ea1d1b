"""``/metrics`` benchmark: N services scraped over HTTP, goal p99 < 250 ms for 20,000.

Fills a registry the way ``upwatch run`` does: :class:`ProbeMetrics` with one observed check per
service (some failing, https ones with a certificate expiry) and an :class:`SlaCollector` holding
a snapshot computed by :func:`compute_snapshot` from a probes.yaml of N services (a third with
office-hours coverage in Europe/Copenhagen, a weekly maintenance window) and synthetic runs.

Between two scrapes it changes what ``upwatch run`` would change: ``--changes`` services get a
new check result (default N/4: 60 s checks, a 15 s scrape), and every other scrape the SLA
collector is updated to a snapshot one minute later, in a worker thread, while the scrape runs
(a 30 s refresh). Then, ``--scrapes`` times each:

- ``encode``: ``prometheus_client.generate_latest(registry)`` and ``monitor.metrics.render``
  (checked to be the same bytes, in both formats);
- ``scrape``: a real HTTP GET of ``/metrics`` served by ``monitor.web.app.make_app`` on
  loopback, with Prometheus's own Accept and Accept-Encoding headers, body read to the end,
  while another task asks for ``/healthz`` every 10 ms (its latency is reported too); the
  clients run in a process of their own, as Prometheus and a health checker would;
- ``reference``: the same HTTP scrape of a registry holding only one plain labelled ``Gauge``
  with as many samples as the full exposition (what the library costs without upwatch's
  caches), ``--ref-scrapes`` times.

It also times ``render_gzip`` after a round of changes, counts full garbage collections (they
hold the GIL) during the scrapes, and prints the process's RSS after the config and snapshots,
with upwatch's metrics warm, after the scrapes, and once the reference registry is built (it is
built after upwatch's scrapes, so the figures before it are upwatch's alone).

Last line: {"scrape_ms_p50", "scrape_ms_p99", "services", "reference_ms_p50", "ratio",
"healthz_ms_p99", "rss_mb_...", ...}; ``ratio`` = the scrape's p50 / the reference's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import Config, ServiceConfig, parse_config  # noqa: E402
from monitor.core.checks import CheckResult, ErrorKind, State  # noqa: E402
from monitor.core.clock import FakeClock  # noqa: E402
from monitor.core.minutes import Run  # noqa: E402
from monitor.core.windows import windows_from_config  # noqa: E402
from monitor.metrics.probes import (  # noqa: E402
    ProbeMetrics,
    render,
    render_gzip,
    render_openmetrics,
)
from monitor.metrics.sla import SlaCollector, SlaSnapshot, compute_snapshot  # noqa: E402
from monitor.run.scheduler import ProbeScheduler  # noqa: E402
from monitor.store.ledger import Ledger  # noqa: E402
from monitor.store.writer import LedgerWriter  # noqa: E402
from monitor.times import epoch_minute  # noqa: E402
from monitor.web.app import Runtime, make_app  # noqa: E402

NOW = datetime(2026, 10, 20, 12, 30, 15, tzinfo=UTC)
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def make_config(n: int) -> Config:
    lines = ["services:"]
    for i in range(n):
        scheme = "https" if i % 2 else "http"
        sla = ("{target: 99.95, timezone: Europe/Copenhagen, coverage: {days: mon-fri, "
               "hours: '09:00-17:00', holidays: [DK]}}" if i % 3 == 0 else "{target: 99.9}")
        lines.append(f"  - {{name: svc-{i}, url: '{scheme}://svc-{i}.example.test/', sla: {sla}}}")
    lines += [
        "maintenance:",
        "  - {services: [svc-0, svc-1, svc-2], title: Patch night, timezone: Europe/Copenhagen,",
        "     rrule: 'FREQ=WEEKLY;BYDAY=TU;BYHOUR=14', duration: 2h}",
    ]
    return parse_config("\n".join(lines) + "\n", "bench.yaml")


def make_runs(config: Config) -> dict[str, list[Run]]:
    start = epoch_minute(datetime(2026, 9, 30, 22, 0, tzinfo=UTC))
    now = epoch_minute(NOW)
    runs: dict[str, list[Run]] = {}
    for i, svc in enumerate(config.services):
        outage = start + 1000 + 37 * i % 20_000
        runs[svc.name] = [
            Run(start + i % 90, outage, State.UP),
            Run(outage, outage + 1 + i % 7, State.DOWN if i % 4 else State.DEGRADED),
            Run(outage + 1 + i % 7, now, State.UP),
        ]
    return runs


def fill(registry: CollectorRegistry, config: Config) -> tuple[ProbeMetrics, SlaCollector]:
    metrics = ProbeMetrics(registry)
    for i, svc in enumerate(config.services):
        observe(metrics, svc.name, i, 0)
        if svc.url.startswith("https"):
            metrics.observe_cert_expiry(svc.name, 1_800_000_000.0 + i)
    metrics.services.set(len(config.services))
    return metrics, SlaCollector(registry)


def observe(metrics: ProbeMetrics, service: str, i: int, round_: int) -> None:
    """One check result for service number ``i``; ``round_`` varies latency and outcome."""
    kinds = list(ErrorKind)
    ok = (i + round_) % 10 != 0
    metrics.observe(CheckResult(
        service=service, time=NOW, ok=ok, latency_ms=12.5 + (i + 7 * round_) % 300,
        status=200 if ok else 503, error=None if ok else kinds[i % len(kinds)],
    ))


def sample_count(registry: CollectorRegistry) -> int:
    return sum(len(m.samples) for m in registry.collect())


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """The largest resident set size this process has had, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class FullCollections:
    """Times the garbage collector's full (generation 2) collections: they hold the GIL, so
    every thread, the event loop's included, waits for them."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms.append((time.perf_counter() - self._t0) * 1000)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _NoChecks:
    async def check(self, service: ServiceConfig) -> CheckResult:
        raise RuntimeError("the benchmark never probes")


class Churn:
    """What changes between two scrapes: some check results, and every other time the SLA."""

    def __init__(self, config: Config, metrics: ProbeMetrics | None, sla: SlaCollector | None,
                 snapshots: list[SlaSnapshot], changes: int) -> None:
        self.names = config.service_names
        self.metrics, self.sla, self.snapshots, self.changes = metrics, sla, snapshots, changes
        self.round = 0
        self.next = 0

    def checks(self) -> None:
        if self.metrics is None:
            return
        self.round += 1
        for _ in range(self.changes):
            i = self.next
            observe(self.metrics, self.names[i], i, self.round)
            self.next = (i + 1) % len(self.names)

    def sla_update(self) -> Callable[[], None] | None:
        if self.sla is None or self.round % 2:
            return None
        sla, snapshot = self.sla, self.snapshots[self.round // 2 % len(self.snapshots)]
        return lambda: sla.update(snapshot)


async def _scrape_once(port: int, session: aiohttp.ClientSession,
                       probe: aiohttp.ClientSession) -> tuple[float, list[float]]:
    """One GET of /metrics, read to the end (gzip undone, as Prometheus does), with /healthz
    asked every 10 ms while it runs; both in ms."""
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    health: list[float] = []
    done = asyncio.Event()

    async def healthz() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            async with probe.get(f"http://127.0.0.1:{port}/healthz") as resp:
                await resp.read()
            if not done.is_set():
                health.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)

    prober = asyncio.create_task(healthz())
    t0 = time.perf_counter()
    async with session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
        resp.raise_for_status()
        await resp.read()
    took = (time.perf_counter() - t0) * 1000
    done.set()
    await prober
    return took, health


def _client_process(port: int, conn: Connection) -> None:
    """The scraper and the health checker, in a process of their own as Prometheus and a load
    balancer would be (a thread would share the server's GIL): one scrape per message."""
    async def serve() -> None:
        async with aiohttp.ClientSession() as session, aiohttp.ClientSession() as probe:
            while await asyncio.to_thread(conn.recv):
                conn.send(await _scrape_once(port, session, probe))

    asyncio.run(serve())


async def http_scrapes(config: Config, registry: CollectorRegistry, repeat: int, tmp: Path,
                       churn: Churn) -> tuple[list[float], list[float]]:
    """Scrape ``repeat + 1`` times from a client process (the first warms the caches and is
    dropped), the changes between scrapes made on the server's loop; the scrape times and the
    /healthz times measured while they ran, in ms."""
    clock = FakeClock(NOW)
    ledger = Ledger(tmp / f"bench-{time.monotonic_ns()}.db")
    writer = LedgerWriter(ledger, clock)
    scheduler = ProbeScheduler(_NoChecks(), writer, ProbeMetrics(CollectorRegistry()), clock)
    runtime = Runtime(config, clock, registry, scheduler, writer)
    runner = web.AppRunner(make_app(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    ours, theirs = multiprocessing.Pipe()
    client = multiprocessing.get_context("spawn").Process(
        target=_client_process, args=(port, theirs), daemon=True)
    client.start()
    out: list[float] = []
    health: list[float] = []
    try:
        for n in range(repeat + 1):
            churn.checks()
            update = churn.sla_update()
            refresh = asyncio.ensure_future(asyncio.to_thread(update)) if update else None
            ours.send(True)
            took, polled = await asyncio.to_thread(ours.recv)
            if n:
                out.append(took)
                health.extend(polled)
            if refresh is not None:
                await refresh
        ours.send(False)
        await asyncio.to_thread(client.join, 30)
    finally:
        if client.is_alive():
            client.kill()
        await runner.cleanup()
        await writer.close()
    return out, health


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--ref-scrapes", type=int, default=5)
    ap.add_argument("--encodes", type=int, default=5)
    ap.add_argument("--changes", type=int, default=None,
                    help="check results between two scrapes (default: services / 4)")
    args = ap.parse_args()
    changes = args.services // 4 if args.changes is None else args.changes

    rss_start = rss_mb()
    t0 = time.perf_counter()
    config = make_config(args.services)
    runs = make_runs(config)
    windows = windows_from_config(config, NOW - timedelta(days=40), NOW + timedelta(days=1))
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    snapshot = compute_snapshot(config, runs, windows, NOW)
    snapshot_ms = (time.perf_counter() - t0) * 1000
    later = compute_snapshot(config, runs, windows, NOW + timedelta(minutes=1))
    del runs, windows
    rss_config = rss_mb()

    registry = CollectorRegistry()
    metrics, sla = fill(registry, config)
    t0 = time.perf_counter()
    sla.update(snapshot)
    update_first_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    sla.update(later)
    update_ms = (time.perf_counter() - t0) * 1000
    for om in (False, True):  # every cache warm, as after a scrape in each format
        render_gzip(registry, om=om)
    render(registry)
    render_openmetrics(registry)
    rss_metrics = rss_mb()
    samples = sample_count(registry)
    body = generate_latest(registry)

    assert render(registry) == body, "render() must equal generate_latest()"
    assert render_openmetrics(registry) == openmetrics.generate_latest(registry), \
        "render_openmetrics() must equal OpenMetrics' generate_latest()"
    assert gzip.decompress(render_gzip(registry, om=True)) == render_openmetrics(registry), \
        "render_gzip() must be render_openmetrics() gzipped"
    encode = timed(lambda: generate_latest(registry), args.encodes)
    churn = Churn(config, metrics, sla, [snapshot, later], changes)

    def changed_render() -> None:
        churn.checks()
        render_openmetrics(registry)

    def changed_gzip() -> None:
        churn.checks()
        render_gzip(registry, om=True)

    fast = timed(changed_render, args.scrapes)
    fast_gzip = timed(changed_gzip, args.scrapes)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        full_gc = FullCollections()
        gc.callbacks.append(full_gc)
        scrape, health = asyncio.run(http_scrapes(config, registry, args.scrapes, d, churn))
        gc.callbacks.remove(full_gc)
        rss_scrapes, peak_scrapes = rss_mb(), peak_rss_mb()
        reference = CollectorRegistry()
        plain = Gauge("bench_plain", "Plain gauge samples.", ["service"], registry=reference)
        for i in range(samples):
            plain.labels(f"svc-{i}").set(i * 0.5)
        rss_reference = rss_mb()
        idle = Churn(config, None, None, [], 0)
        ref, ref_health = asyncio.run(http_scrapes(config, reference, args.ref_scrapes, d, idle))
    assert render(registry) == generate_latest(registry), "render() drifted from generate_latest()"

    print(f"services {args.services}, samples {samples}, body {len(body) / 1e6:.1f} MB, "
          f"setup {setup_s:.1f} s, compute_snapshot {snapshot_ms:.0f} ms, SLA update "
          f"{update_first_ms:.0f} ms first, {update_ms:.0f} ms next; {changes} checks/scrape")
    print(f"generate_latest          p50 {p(encode, .5):7.1f} ms  p99 {p(encode, .99):7.1f} ms")
    print(f"render_openmetrics       p50 {p(fast, .5):7.1f} ms  p99 {p(fast, .99):7.1f} ms"
          f"  (after {changes} checks)")
    print(f"render_gzip (om)         p50 {p(fast_gzip, .5):7.1f} ms  p99 "
          f"{p(fast_gzip, .99):7.1f} ms  (after {changes} checks)")
    print(f"HTTP /metrics            p50 {p(scrape, .5):7.1f} ms  p99 {p(scrape, .99):7.1f} ms"
          f"  max {max(scrape):7.1f} ms")
    print(f"  /healthz meanwhile     p50 {p(health, .5):7.1f} ms  p99 {p(health, .99):7.1f} ms"
          f"  max {max(health, default=0):7.1f} ms  ({len(health)} requests)")
    print(f"  full GC collections    {len(full_gc.ms)}, max {max(full_gc.ms, default=0):.0f} ms"
          f" ({gc.get_count()}, {sum(len(gc.get_objects(g)) for g in range(3))} tracked objects)")
    print(f"reference HTTP           p50 {p(ref, .5):7.1f} ms  ({samples} plain Gauge samples,"
          f" /healthz max {max(ref_health, default=0):.1f} ms)")
    print(f"RSS MB: start {rss_start:.0f}, config+snapshots {rss_config:.0f}, metrics warm "
          f"{rss_metrics:.0f} (+{rss_metrics - rss_config:.0f}), after scrapes {rss_scrapes:.0f}"
          f" (peak {peak_scrapes:.0f}), with the reference registry {rss_reference:.0f}"
          f" (peak {peak_rss_mb():.0f})")
    print(json.dumps({
        "scrape_ms_p50": round(p(scrape, .5), 1),
        "scrape_ms_p99": round(p(scrape, .99), 1),
        "services": args.services,
        "reference_ms_p50": round(p(ref, .5), 1),
        "ratio": round(statistics.median(scrape) / statistics.median(ref), 3),
        "healthz_ms_p50": round(p(health, .5), 1),
        "healthz_ms_p99": round(p(health, .99), 1),
        "healthz_ms_max": round(max(health, default=0), 1),
        "healthz_requests": len(health),
        "full_gc_during_scrapes": len(full_gc.ms),
        "full_gc_ms_max": round(max(full_gc.ms, default=0), 1),
        "generate_latest_ms_p50": round(p(encode, .5), 1),
        "render_ms_p50": round(p(fast, .5), 1),
        "render_gzip_ms_p50": round(p(fast_gzip, .5), 1),
        "changes_per_scrape": changes,
        "samples": samples,
        "body_bytes": len(body),
        "snapshot_ms": round(snapshot_ms, 1),
        "sla_update_ms": round(update_ms, 1),
        "rss_mb_config": round(rss_config),
        "rss_mb_metrics": round(rss_metrics),
        "rss_mb_metrics_share": round(rss_metrics - rss_config),
        "rss_mb_after_scrapes": round(rss_scrapes),
        "rss_mb_peak_before_reference": round(peak_scrapes),
        "rss_mb_with_reference": round(rss_reference),
        "rss_mb_peak": round(peak_rss_mb()),
    }))


if __name__ == "__main__":
    main()
