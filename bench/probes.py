"""Probe engine benchmark: upwatch's full path (scheduler → probe → ledger) vs a bare client.

N services (default 5,000) of one ``--kind`` (http, the default; tcp; dns) point at a fast
loopback target running in its own process; their interval is chosen so that they fire
``--rate`` checks per second (default 500, the goal's load). The monitor runs for ``--seconds``
through the real ``Monitor`` of ``upwatch run`` (config file, APScheduler, the kind's probe —
HttpProbe with a fresh connection per check, TcpProbe, DnsProbe — and LedgerWriter committing
to SQLite). Then, in the same process, the references: a bare client of the same protocol
(aiohttp for http, asyncio ``open_connection`` for tcp, dnspython ``dns.asyncquery.udp`` for
dns; bench/kinds.py says what each does) making the same number of checks, a new connection
(for dns a new UDP socket) each, as fast as it can at concurrency 64 ("ratio"), and the same
client paced at the monitor's rate, one task per check ("ratio_vs_paced": like for like, since
a paced load cannot share event-loop wake-ups between checks the way a burst does). CPU is this
process's CPU time (all threads), so the target's cost is not counted on either side.
``--banner`` (tcp only) has the target greet each connection with ``220 ready`` and the
services expect ``banner: ^220``. Checks of the window that failed are counted on stderr (a
benchmark of failing checks measures something else).

The measured window starts once the first interval has begun (2 s) and the start-up SLA refresh
is done (the next one comes 30 s after it, beyond a 20 s window); it ends when the ledger has
committed every check of the window (so the writer thread's SQL is in the CPU time). The lag
quantiles cover every check of the window.

Last line: {"checks_per_cpu_s", "baseline_checks_per_cpu_s", "ratio", "lag_p50_ms",
"lag_p99_ms", "rss_mb" (at the end of the monitor's run), "peak_rss_mb" (of the whole bench),
..., "kind"}. Goal (issue 11): ≥ 2,000 checks per CPU-second, lag p99 < 200 ms and RSS < 400 MB
with 20,000 services at 667 checks/s (http). The tcp and dns runs (issue 14) report the same
figures, against their own bare client.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kinds import KINDS, TIMEOUT_S, BenchKind, OneCheck  # noqa: E402
from monitor.run.runner import Monitor, RunOptions  # noqa: E402


def start_target(tmp: Path, kind: BenchKind, banner: bool) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp / "port"
    command = [sys.executable, str(ROOT / "bench" / kind.target), str(port_file)]
    proc = subprocess.Popen(command + (["--banner"] if banner else []))
    deadline = time.monotonic() + 10
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("benchmark target did not start")
        time.sleep(0.02)
    return proc, int(port_file.read_text())


def write_config(path: Path, kind: BenchKind, services: int, interval_s: float, port: int,
                 banner: bool) -> None:
    timeout_s = min(TIMEOUT_S, interval_s)  # a timeout may not be longer than the interval
    lines = ["site: {title: bench}", "services:"]
    for i in range(services):
        lines.append(
            f"  - {{name: s{i}, {kind.keys(i, port, banner)}, interval: {interval_s}s,"
            f" timeout: {timeout_s:g}s, retries: 0}}"
        )
    path.write_text("\n".join(lines) + "\n")


#: Seconds waited after the start-up SLA refresh before measuring (see run_monitor).
SETTLE_S = 10.0


async def run_monitor(cfg: Path, db: Path, seconds: float) -> dict[str, float]:
    monitor = Monitor(RunOptions(config_path=cfg, db_path=db, port=0, max_concurrency=256))
    checks = monitor.metrics.checks
    monitor.scheduler._lags = deque(maxlen=10_000_000)  # every lag of the start-up, not 2,000
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    await monitor.start()
    # Let the first interval spread in before measuring (the phase puts first runs across it),
    # and the start-up SLA refresh (one read of every service's month) finish: both are start-up
    # work, not the steady state measured here.
    await asyncio.sleep(2.0)
    for _ in range(600):  # the refresh has no event to wait on; at most a minute
        if monitor.sla.snapshot is not None:
            break
        await asyncio.sleep(0.1)
    # The first refresh also renders every SLA series (in a worker thread that shares the GIL),
    # and checks that came due meanwhile start late: start-up lag, reported on its own. The
    # steady state is measured after one more SETTLE_S with no such work.
    await asyncio.sleep(SETTLE_S)
    startup_lag_p99 = monitor.scheduler.lag_quantile_ms(0.99) or 0.0
    startup_lag_max = monitor.scheduler.lag_quantile_ms(1.0) or 0.0
    warmup_s = loop.time() - t_start
    gc_pauses: list[float] = []  # full collections
    gc_total = [0.0, 0.0]  # [seconds in every collection, start of the current one]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_total[1] = time.perf_counter()
            return
        took = time.perf_counter() - gc_total[1]
        gc_total[0] += took
        if info["generation"] == 2:
            gc_pauses.append(took)

    gc.callbacks.append(on_gc)
    # every lag of the window, not only the scheduler's last 2,000 (3 s at 667 checks/s)
    monitor.scheduler._lags = deque(maxlen=10_000_000)
    c0, t0 = time.process_time(), time.monotonic()
    n0, bad0 = _count(checks), _count(checks, failed=True)
    await asyncio.sleep(seconds)
    n1, bad1 = _count(checks), _count(checks, failed=True)
    await monitor.writer.flush()  # the ledger's work for these checks is in the CPU time
    c1, t1 = time.process_time(), time.monotonic()
    gc.callbacks.remove(on_gc)
    p50 = monitor.scheduler.lag_quantile_ms(0.50) or 0.0
    p99 = monitor.scheduler.lag_quantile_ms(0.99) or 0.0
    lag_max = monitor.scheduler.lag_quantile_ms(1.0) or 0.0
    rss_mb = _rss_mb()
    await monitor.stop()
    return {"checks": n1 - n0, "failed": bad1 - bad0, "cpu_s": c1 - c0, "wall_s": t1 - t0,
            "lag_p50_ms": p50, "lag_p99_ms": p99, "lag_max_ms": lag_max, "rss_mb": rss_mb,
            "warmup_s": warmup_s,
            "startup_lag_p99_ms": startup_lag_p99, "startup_lag_max_ms": startup_lag_max,
            "full_gcs": len(gc_pauses), "full_gc_max_ms": 1000 * max(gc_pauses, default=0.0),
            "gc_s": gc_total[0]}


def _rss_mb() -> float:
    """This process's resident set now (Linux), in MB; 0 where /proc is missing."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0.0
    return int(fields[1]) * resource.getpagesize() / 2**20


def _count(counter: object, *, failed: bool = False) -> float:
    """Checks counted so far; with ``failed``, those whose result was not ok."""
    total = 0.0
    for metric in counter.collect():  # type: ignore[attr-defined]
        for sample in metric.samples:
            if sample.name.endswith("_total") and not (failed and
                                                       sample.labels.get("result") == "ok"):
                total += sample.value
    return total


async def run_baseline(client: OneCheck, requests: int, concurrency: int) -> dict[str, float]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await client(i)

    c0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(requests)))
    c1, t1 = time.process_time(), time.monotonic()
    return {"requests": requests, "cpu_s": c1 - c0, "wall_s": t1 - t0}


async def run_paced_baseline(client: OneCheck, requests: int, rate: float) -> dict[str, float]:
    """The bare client again, but paced at ``rate`` like the monitor's schedule, one task each."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    c0, t0 = time.process_time(), loop.time()
    for i in range(requests):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client(i)))
    await asyncio.gather(*tasks)
    c1, t1 = time.process_time(), loop.time()
    return {"requests": requests, "cpu_s": c1 - c0, "wall_s": t1 - t0}


async def run_reference(kind: BenchKind, port: int, banner: bool, requests: int,
                        concurrency: int | None = None, rate: float = 0.0) -> dict[str, float]:
    """One reference run with a fresh client (session) of its own, as a burst at
    ``concurrency`` or paced at ``rate``."""
    async with kind.reference(port, banner) as client:
        if concurrency is not None:
            return await run_baseline(client, requests, concurrency)
        return await run_paced_baseline(client, requests, rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=sorted(KINDS), default="http",
                    help="the services' kind, their target and the reference (default http)")
    ap.add_argument("--banner", action="store_true",
                    help="tcp: the target greets with '220 ready', the services expect ^220")
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=500.0, help="checks per second to schedule")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    if args.banner and args.kind != "tcp":
        ap.error("--banner is for --kind tcp")
    kind = KINDS[args.kind]
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        target, port = start_target(tmp, kind, args.banner)
        try:
            interval = args.services / args.rate
            cfg = tmp / "probes.yaml"
            write_config(cfg, kind, args.services, interval, port, args.banner)
            mon = asyncio.run(run_monitor(cfg, tmp / "bench.db", args.seconds))
            n = int(mon["checks"])
            base = asyncio.run(run_reference(kind, port, args.banner, n, concurrency=64))
            paced = asyncio.run(run_reference(kind, port, args.banner, n, rate=args.rate))
            db_bytes = sum(p.stat().st_size for p in tmp.glob("bench.db*"))
        finally:
            target.kill()
    if mon["failed"]:  # a benchmark of failing checks measures something else
        print(f"warning: {mon['failed']:.0f} of {mon['checks']:.0f} checks in the window failed",
              file=sys.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours = mon["checks"] / mon["cpu_s"] if mon["cpu_s"] else 0.0
    theirs = base["requests"] / base["cpu_s"] if base["cpu_s"] else 0.0
    theirs_paced = paced["requests"] / paced["cpu_s"] if paced["cpu_s"] else 0.0
    print(f"upwatch: {mon['checks']:.0f} checks in {mon['wall_s']:.1f}s wall, "
          f"{mon['cpu_s']:.2f} CPU-s → {ours:.0f} checks/CPU-s, "
          f"{1000 * mon['cpu_s'] / max(mon['checks'], 1):.3f} CPU-s per 1,000 checks; "
          f"lag p50 {mon['lag_p50_ms']:.1f} ms, p99 {mon['lag_p99_ms']:.1f} ms, "
          f"max {mon['lag_max_ms']:.0f} ms; garbage collection {mon['gc_s']:.2f}s, "
          f"{mon['full_gcs']:.0f} full (longest {mon['full_gc_max_ms']:.0f} ms); measured after "
          f"{mon['warmup_s']:.1f}s of start-up")
    print(f"{kind.client} ({kind.how(args.banner)}): {base['requests']:.0f} requests, "
          f"{base['cpu_s']:.2f} CPU-s → {theirs:.0f} requests/CPU-s")
    print(f"{kind.client} paced at {args.rate:.0f}/s like the schedule: {paced['requests']:.0f} "
          f"requests, {paced['cpu_s']:.2f} CPU-s → {theirs_paced:.0f} requests/CPU-s")
    print(f"ledger on disk after the run: {db_bytes / 1e6:.2f} MB; RSS {mon['rss_mb']:.0f} MB at "
          f"the end of the monitor's run, peak {peak_mb:.0f} MB")
    print(f"start-up (first {mon['warmup_s']:.1f}s, the first SLA refresh included): lag p99 "
          f"{mon['startup_lag_p99_ms']:.0f} ms, max {mon['startup_lag_max_ms']:.0f} ms")
    print(json.dumps({
        "checks_per_cpu_s": round(ours, 1),
        "baseline_checks_per_cpu_s": round(theirs, 1),
        "ratio": round(ours / theirs, 3) if theirs else None,
        "paced_baseline_checks_per_cpu_s": round(theirs_paced, 1),
        "ratio_vs_paced": round(ours / theirs_paced, 3) if theirs_paced else None,
        "lag_p50_ms": round(mon["lag_p50_ms"], 1),
        "lag_p99_ms": round(mon["lag_p99_ms"], 1),
        "lag_max_ms": round(mon["lag_max_ms"], 1),
        "startup_lag_p99_ms": round(mon["startup_lag_p99_ms"], 1),
        "startup_lag_max_ms": round(mon["startup_lag_max_ms"], 1),
        "gc_s": round(mon["gc_s"], 2),
        "full_gcs": int(mon["full_gcs"]),
        "rss_mb": round(mon["rss_mb"], 1),
        "peak_rss_mb": round(peak_mb, 1),
        "services": args.services,
        "rate": args.rate,
        "checks": int(mon["checks"]),
        "kind": args.kind,
        **({"banner": args.banner} if args.kind == "tcp" else {}),
    }))


if __name__ == "__main__":
    main()
