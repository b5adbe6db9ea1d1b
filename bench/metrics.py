"""``/metrics`` benchmark: 5,000 services scraped, goal < 250 ms (DESIGN.md).

Fills a registry the way ``upwatch run`` does: :class:`ProbeMetrics` with one observed check per
service (some failing, https ones with a certificate expiry) and an :class:`SlaCollector` holding
a snapshot computed by :func:`compute_snapshot` from a probes.yaml of N services (a third with
office-hours coverage in Europe/Copenhagen, a weekly maintenance window) and synthetic runs.
Then, ``--scrapes`` times each:

- ``encode``: ``prometheus_client.generate_latest(registry)`` and ``monitor.metrics.render``
  (the same bytes, the SLA families' text encoded once per snapshot);
- ``scrape``: a real HTTP GET of ``/metrics`` served by ``monitor.server.make_app`` on loopback,
  with Prometheus's own Accept and Accept-Encoding headers, body read to the end;
- ``scrape_render``: the same through a ``/metrics`` handler that serves ``render`` (what
  ``monitor.server`` should do; identical to ``scrape`` once it does);
- ``reference``: the same HTTP scrape of a registry holding only one plain labelled ``Gauge``
  with as many samples as the full exposition (the cheapest the library can do).

Last line: {"scrape_ms_p50", "scrape_ms_p99", "services", "reference_ms_p50", "ratio", ...}:
``scrape`` is the best of the two handlers, ``ratio`` = its p50 / the reference's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import Config, ServiceConfig, parse_config  # noqa: E402
from monitor.core.checks import CheckResult, ErrorKind, State  # noqa: E402
from monitor.core.clock import FakeClock  # noqa: E402
from monitor.core.coverage import epoch_minute  # noqa: E402
from monitor.core.minutes import Run  # noqa: E402
from monitor.core.windows import windows_from_config  # noqa: E402
from monitor.metrics.probes import CONTENT_TYPE, ProbeMetrics, render  # noqa: E402
from monitor.metrics.sla import SlaCollector, compute_snapshot  # noqa: E402
from monitor.run.scheduler import ProbeScheduler  # noqa: E402
from monitor.store.ledger import Ledger  # noqa: E402
from monitor.store.writer import LedgerWriter  # noqa: E402
from monitor.web.app import RUNTIME, Runtime, make_app  # noqa: E402

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


def fill(registry: CollectorRegistry, config: Config) -> SlaCollector:
    metrics = ProbeMetrics(registry)
    kinds = list(ErrorKind)
    for i, svc in enumerate(config.services):
        ok = i % 10 != 0
        metrics.observe(CheckResult(
            service=svc.name, time=NOW, ok=ok, latency_ms=12.5 + i % 300,
            status=200 if ok else 503, error=None if ok else kinds[i % len(kinds)],
        ))
        if svc.url.startswith("https"):
            metrics.observe_cert_expiry(svc.name, 1_800_000_000.0 + i)
    metrics.services.set(len(config.services))
    return SlaCollector(registry)


def sample_count(registry: CollectorRegistry) -> int:
    return sum(len(m.samples) for m in registry.collect())


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _NoChecks:
    async def check(self, service: ServiceConfig) -> CheckResult:
        raise RuntimeError("the benchmark never probes")


async def render_metrics(request: web.Request) -> web.Response:
    """The ``/metrics`` handler proposed for ``monitor.server``: ``render`` off the loop."""
    registry = request.app[RUNTIME].registry
    body = await asyncio.get_running_loop().run_in_executor(None, render, registry)
    resp = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
    resp.enable_compression()
    return resp


def render_app(runtime: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/metrics", render_metrics)
    return app


async def http_scrapes(config: Config, registry: CollectorRegistry, repeat: int, tmp: Path,
                       factory: Callable[[Runtime], web.Application]) -> list[float]:
    clock = FakeClock(NOW)
    ledger = Ledger(tmp / f"bench-{time.monotonic_ns()}.db")
    writer = LedgerWriter(ledger, clock)
    scheduler = ProbeScheduler(_NoChecks(), writer, ProbeMetrics(CollectorRegistry()), clock)
    runtime = Runtime(config, clock, registry, scheduler, writer)
    runner = web.AppRunner(factory(runtime), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    out = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(repeat):
                t0 = time.perf_counter()
                async with session.get(f"http://127.0.0.1:{port}/metrics",
                                       headers=headers) as resp:
                    resp.raise_for_status()
                    await resp.read()
                out.append((time.perf_counter() - t0) * 1000)
    finally:
        await runner.cleanup()
        await writer.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--scrapes", type=int, default=30)
    args = ap.parse_args()

    t0 = time.perf_counter()
    config = make_config(args.services)
    runs = make_runs(config)
    windows = windows_from_config(config, NOW - timedelta(days=40), NOW + timedelta(days=1))
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    snapshot = compute_snapshot(config, runs, windows, NOW)
    snapshot_ms = (time.perf_counter() - t0) * 1000

    registry = CollectorRegistry()
    fill(registry, config).update(snapshot)
    samples = sample_count(registry)
    body = generate_latest(registry)

    reference = CollectorRegistry()
    plain = Gauge("bench_plain", "Plain gauge samples.", ["service"], registry=reference)
    for i in range(samples):
        plain.labels(f"svc-{i}").set(i * 0.5)

    assert render(registry) == body, "render() must equal generate_latest()"
    encode = timed(lambda: generate_latest(registry), args.scrapes)
    fast = timed(lambda: render(registry), args.scrapes)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        scrape = asyncio.run(http_scrapes(config, registry, args.scrapes, d, make_app))
        scrape_r = asyncio.run(http_scrapes(config, registry, args.scrapes, d, render_app))
        ref = asyncio.run(http_scrapes(config, reference, args.scrapes, d, make_app))
        ref_r = asyncio.run(http_scrapes(config, reference, args.scrapes, d, render_app))

    best, best_ref = min((scrape, ref), (scrape_r, ref_r), key=lambda pair: p(pair[0], .5))
    print(f"services {args.services}, samples {samples}, body {len(body) / 1e6:.1f} MB, "
          f"setup {setup_s:.1f} s, compute_snapshot {snapshot_ms:.0f} ms")
    print(f"generate_latest          p50 {p(encode, .5):7.1f} ms  p99 {p(encode, .99):7.1f} ms")
    print(f"render                   p50 {p(fast, .5):7.1f} ms  p99 {p(fast, .99):7.1f} ms")
    print(f"HTTP make_app            p50 {p(scrape, .5):7.1f} ms  p99 {p(scrape, .99):7.1f} ms")
    print(f"HTTP render handler      p50 {p(scrape_r, .5):7.1f} ms  p99 {p(scrape_r, .99):7.1f} ms")
    print(f"reference HTTP make_app  p50 {p(ref, .5):7.1f} ms  ({samples} plain Gauge samples)")
    print(f"reference HTTP render    p50 {p(ref_r, .5):7.1f} ms")
    print(json.dumps({
        "scrape_ms_p50": round(p(best, .5), 1),
        "scrape_ms_p99": round(p(best, .99), 1),
        "services": args.services,
        "reference_ms_p50": round(p(best_ref, .5), 1),
        "ratio": round(statistics.median(best) / statistics.median(best_ref), 3),
        "make_app_scrape_ms_p50": round(p(scrape, .5), 1),
        "make_app_scrape_ms_p99": round(p(scrape, .99), 1),
        "render_scrape_ms_p50": round(p(scrape_r, .5), 1),
        "render_scrape_ms_p99": round(p(scrape_r, .99), 1),
        "generate_latest_ms_p50": round(p(encode, .5), 1),
        "render_ms_p50": round(p(fast, .5), 1),
        "samples": samples,
        "body_bytes": len(body),
        "snapshot_ms": round(snapshot_ms, 1),
    }))


if __name__ == "__main__":
    main()
