"""Pushed results benchmark: N probers drain a 10-minute backlog into one central, against
``upwatch import`` of the same lines.

The setup is a probes.yaml of ``--services`` services (default 5,000; every third with
``expect.max_latency``, so some checks are degraded) and ``--probers`` locations (default 3:
p0, p1, …), every location probing every service, and ``location: central``, which is not one of
them: the central probes nothing and only records what is pushed. For each location it writes
``--minutes`` minutes (default 10) of results, one per service per minute (about 4% failing: a
3-minute outage of every 50th service seen from every location, and blips seen from one), as
``result_line`` makes them, into that location's own spool file (``Spool.append``, 1,000 lines
per transaction): the backlog a prober holds after a central outage of that long. The times
lie before the central's clock (a ``FakeClock``), which takes nothing more than 5 minutes ahead.

The central is the real app (``make_app`` with ``location_tokens``, a ``Ledger`` and its
``LedgerWriter``, as ``upwatch run`` builds them, and the garbage collector tuned as ``upwatch
run`` tunes it once it listens: ``monitor.run.collector``) in a process of its own, so that its
CPU time is its own: the child reports ``time.process_time()`` (every thread of the process)
over the measured window, split into the time spent parsing bodies (worker threads), committing
to the ledger (the writer thread) and the rest (the event loop: HTTP, auth, the answers). The
probers are the real ``Pusher`` over ``AsyncSpool``, one aiohttp session and one token each, all in
this process and pushing concurrently over loopback HTTP. While they drain, each prober goes on
probing, as a prober does after an outage: every second it appends the results of that second
(``services / 60`` per location) through ``Pusher.submit``, as ``SpoolSink`` does.

Measured: ``drain_s``, from the first push until every spool has sent its whole backlog (the
lines appended since may still wait), per location and overall; ``results_per_s`` = backlog /
``drain_s``; the central's CPU seconds from the first push until every spool is empty (live
lines included) and ``results_per_cpu_s`` = the results the central recorded in that window /
those seconds. The machine of the reference runs has 2 cores: the central and the pushers
(gzip, spool commits with an fsync each) share them, so ``drain_s`` is slower than on a central
of its own, and the pushers' CPU seconds are printed too. The central's threads (parsing,
ledger, loop) share one GIL, so it uses about one core whatever the machine has: its
``results_per_s`` stays at or under its ``results_per_cpu_s``. ``drain_s`` starts at the first push:
after a real outage a prober tries again on its backoff (1 s doubling to 60 s, with jitter), so
up to a minute more passes before it sees that the central is back.

``--batch`` (lines per push; default the prober's, 20,000, which is also the most the central
takes) and ``--writer-batch`` (the central's ``LedgerWriter`` ``max_batch``; default ``upwatch
run``'s 5,000) try other batchings than the shipped ones. ``--batch 5000`` from a prober of
5,000 services holds one check per (service, location) in each push, the case where the
ledger's work per (service, location) and commit weighs most.

Reference, same run: ``upwatch import`` of the same backlog (every location's lines in one
JSON Lines file) into a fresh ledger with the same probes.yaml, as the real CLI in a
subprocess; its CPU time is ``RUSAGE_CHILDREN``'s. Its start-up (interpreter, imports, the
5,000-service config, a new ledger) is measured by importing an empty file and taken off, as the
central's start-up is outside its window: ``ratio`` = ``results_per_cpu_s`` / the import's lines
per CPU-second net of start-up (the raw figure is printed too).

``--db postgresql://…`` puts the central's ledger in that database (a schema of its own,
dropped afterwards); the reference import stays on SQLite, the figure of the same run to compare
with. The CPU time of the PostgreSQL server process that serves the central's ledger is read
from ``/proc`` and counted in ``results_per_cpu_s``.

Then it checks the central's ledger: the raw failures and successes kept per location are the
ones generated (nothing lost, nothing twice), and every service's minute runs at every location,
and folded by quorum, over the backlog's minutes are the import's.

``UPWATCH_BENCH_PROFILE=PREFIX`` profiles the central (cProfile: the event loop thread over the
window, and each parse and ledger commit in the thread that runs it), prints the top functions
of each to stderr and writes ``PREFIX-loop.prof``, ``PREFIX-parse.prof``,
``PREFIX-ledger.prof``. A profiled run is slower; its figures say ``"profiled": true``.

Last line: {"services", "probers", "minutes", "results", "drain_s", "central_cpu_s",
"results_per_s", "results_per_cpu_s", "import_lines_per_cpu_s", "ratio", "goal_results_per_s",
"goal_drain_s", ...}. Goal: the central records ≥ 20,000 results/s, and a 10-minute backlog of
15,000 services drains in < 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import logging
import multiprocessing
import os
import pstats
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from pg import Schemas, backend_cpu_s, database_bytes  # noqa: E402  (bench/pg.py)

from monitor.config import Config, ServiceConfig, db_target, load_config  # noqa: E402
from monitor.core.checks import CheckResult, ErrorKind  # noqa: E402
from monitor.core.clock import FakeClock  # noqa: E402
from monitor.ingest import MAX_LINES  # noqa: E402
from monitor.metrics.probes import ProbeMetrics  # noqa: E402
from monitor.run.collector import tune_collector  # noqa: E402
from monitor.run.pusher import Pusher  # noqa: E402
from monitor.run.scheduler import ProbeScheduler  # noqa: E402
from monitor.store.ledger import Ledger  # noqa: E402
from monitor.store.postgres import PostgresDatabase  # noqa: E402
from monitor.store.spool import AsyncSpool, Spool, result_line  # noqa: E402
from monitor.store.writer import LedgerWriter  # noqa: E402
from monitor.times import EPOCH, epoch_minute  # noqa: E402
from monitor.web import results as results_api  # noqa: E402
from monitor.web.app import Runtime, make_app  # noqa: E402
from monitor.web.results import load_location_tokens  # noqa: E402

P = ParamSpec("P")
R = TypeVar("R")

#: The minute the backlog ends at (the central comes back); the central's clock is 30 s later.
END = epoch_minute(datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
NOW = EPOCH + timedelta(minutes=END, seconds=30)
#: Results appended while draining stop after this long: their times run ahead of the
#: central's (fake) clock, which takes results up to 5 minutes ahead.
LIVE_CAP_S = 270.0
SPOOL_BATCH = 1000
DRAIN_TIMEOUT_S = 900.0
GOAL_RESULTS_PER_S = 20_000
GOAL_DRAIN_S = 60
TOP = 18


# ---- the data ---------------------------------------------------------------------------------


def write_config(path: Path, services: int, locations: list[str]) -> None:
    lines = ["location: central", "locations:"]
    lines += [f"  - {{name: {loc}, title: Prober {loc}}}" for loc in locations]
    lines.append("services:")
    for i in range(services):
        expect = ", expect: {max_latency: 150ms}" if i % 3 == 0 else ""
        lines.append(f"  - {{name: s{i}, url: 'http://127.0.0.1:9/s{i}', interval: 60s{expect}}}")
    path.write_text("\n".join(lines) + "\n")


def make_result(i: int, minute: int, k: int, services: int, start: int, location: str
                ) -> CheckResult:
    """Service ``i``'s check in minute ``start + minute`` at location number ``k``."""
    ms = (start + minute) * 60_000 + (i * 59_000) // services + 500 + 7 * k
    when = EPOCH + timedelta(milliseconds=ms)
    outage = i % 50 == 1 and 2 <= minute < 5  # seen from every location
    blip = (i * 7 + minute * 3 + k * 5) % 29 == 0  # seen from this one only
    if not (outage or blip):
        return CheckResult(service=f"s{i}", time=when, ok=True,
                           latency_ms=20.0 + (i * 13 + minute * 7 + k) % 180, status=200,
                           location=location)
    if (i + minute) % 3 == 0:
        return CheckResult(service=f"s{i}", time=when, ok=False, error=ErrorKind.TIMEOUT,
                           location=location)
    return CheckResult(service=f"s{i}", time=when, ok=False, latency_ms=35.0, status=503,
                       error=ErrorKind.HTTP_STATUS, location=location)


@dataclass
class Tally:
    """Results generated per location: what the ledgers must hold."""

    ok: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, results: list[CheckResult]) -> None:
        for r in results:
            into = self.ok if r.ok else self.failed
            into[r.location] = into.get(r.location, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.ok.values()) + sum(self.failed.values())


def fill_spools(tmp: Path, locations: list[str], services: int, minutes: int,
                jsonl: IO[str]) -> tuple[list[Path], Tally]:
    """Each location's backlog in its own spool, and every line in ``jsonl`` too."""
    start = END - minutes
    tally = Tally()
    paths = []
    for k, loc in enumerate(locations):
        path = tmp / f"spool-{loc}.db"
        spool = Spool(path, clock=FakeClock(NOW))
        try:
            for m in range(minutes):
                results = [make_result(i, m, k, services, start, loc) for i in range(services)]
                tally.add(results)
                lines = [result_line(r) for r in results]
                for j in range(0, len(lines), SPOOL_BATCH):
                    spool.append(lines[j:j + SPOOL_BATCH])
                jsonl.writelines(f"{line}\n" for line in lines)
        finally:
            spool.close()
        paths.append(path)
    return paths, tally


# ---- the central, in its own process ----------------------------------------------------------


class _NoChecks:
    async def check(self, service: ServiceConfig) -> CheckResult:
        raise RuntimeError("the central of this benchmark probes nothing")


class ThreadWork:
    """CPU seconds spent in one function the central runs off its event loop, summed over the
    threads that run it; with ``profile``, a cProfile of it per thread."""

    def __init__(self, profile: bool) -> None:
        self.cpu_s = 0.0
        self.calls = 0
        self.profiles: list[cProfile.Profile] = []
        self._profile = profile
        self._lock = threading.Lock()
        self._local = threading.local()

    def reset(self) -> None:
        with self._lock:
            self.cpu_s, self.calls = 0.0, 0

    def wrap(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            prof = self._thread_profile() if self._profile else None
            c0 = time.thread_time()
            if prof is not None:
                prof.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                if prof is not None:
                    prof.disable()
                took = time.thread_time() - c0
                with self._lock:
                    self.cpu_s += took
                    self.calls += 1
        return wrapper

    def _thread_profile(self) -> cProfile.Profile:
        prof: cProfile.Profile | None = getattr(self._local, "prof", None)
        if prof is None:
            prof = self._local.prof = cProfile.Profile()
            with self._lock:
                self.profiles.append(prof)
        return prof


def _print_profile(title: str, profiles: list[cProfile.Profile], path: str) -> None:
    if not profiles:
        print(f"--- {title}: nothing ran", file=sys.stderr)
        return
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    stats.dump_stats(path)
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(TOP)
    body = out.getvalue()
    body = body[body.find("   ncalls"):] if "   ncalls" in body else body
    print(f"--- {title} ({len(profiles)} thread(s), {path}), by own time:\n{body.rstrip()}",
          file=sys.stderr)


async def _recv(conn: Connection) -> Any:
    return await asyncio.to_thread(conn.recv)


def central_process(cfg: str, db: str, env: dict[str, str], conn: Connection,
                    profile: str | None, writer_batch: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_central(Path(cfg), db, env, conn, profile, writer_batch))


async def _central(cfg: Path, db: str, env: dict[str, str], conn: Connection,
                   profile: str | None, writer_batch: int) -> None:
    """The central ``upwatch run`` as far as pushed results go: its app, ledger and writer
    (``db``: an SQLite file or a PostgreSQL URL, as ``--db`` takes them)."""
    config = load_config(cfg)
    clock = FakeClock(NOW)
    led = Ledger(db_target(db), clock=clock)
    # the PostgreSQL server process that does this ledger's work, for its CPU time
    backend = led._conn.conn.info.backend_pid if isinstance(led._conn, PostgresDatabase) else 0
    writer = LedgerWriter(led, clock, max_batch=writer_batch)
    await writer.start()
    scheduler = ProbeScheduler(_NoChecks(), writer, ProbeMetrics(CollectorRegistry()), clock)
    runtime = Runtime(config, clock, CollectorRegistry(), scheduler, writer,
                      location_tokens=load_location_tokens(config, env))
    # Only in this process: count (and profile) the parse and the commit where they run.
    parse, ledger = ThreadWork(profile is not None), ThreadWork(profile is not None)
    results_api._parse = parse.wrap(results_api._parse)
    Ledger.record = ledger.wrap(Ledger.record)  # type: ignore[method-assign]
    runner = web.AppRunner(make_app(runtime), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    tune_collector()  # as upwatch run does once it listens
    conn.send(runner.addresses[0][1])
    try:
        if await _recv(conn) != "start":
            return
        loop_prof = cProfile.Profile() if profile is not None else None
        parse.reset()
        ledger.reset()
        seen0 = sum(runtime.locations_seen.recorded.values())
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        server0 = backend_cpu_s(backend) if backend else 0.0
        c0, t0 = time.process_time(), time.perf_counter()
        if loop_prof is not None:
            loop_prof.enable()
        conn.send("started")
        if await _recv(conn) != "stop":
            return
        if loop_prof is not None:
            loop_prof.disable()
        c1, t1 = time.process_time(), time.perf_counter()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        server1 = backend_cpu_s(backend) if backend else 0.0
        conn.send({
            "cpu_s": c1 - c0, "wall_s": t1 - t0,
            "user_s": ru1.ru_utime - ru0.ru_utime, "sys_s": ru1.ru_stime - ru0.ru_stime,
            "recorded": sum(runtime.locations_seen.recorded.values()) - seen0,
            "by_location": dict(runtime.locations_seen.recorded),
            "parse_cpu_s": parse.cpu_s, "parse_calls": parse.calls,
            "ledger_cpu_s": ledger.cpu_s, "ledger_calls": ledger.calls,
            "peak_rss_mb": ru1.ru_maxrss / 1024,
            "server_cpu_s": server1 - server0,
        })
        if profile is not None and loop_prof is not None:
            _print_profile("central: event loop thread", [loop_prof], f"{profile}-loop.prof")
            _print_profile("central: parsing bodies (_parse)", parse.profiles,
                           f"{profile}-parse.prof")
            _print_profile("central: ledger commits (Ledger.record)", ledger.profiles,
                           f"{profile}-ledger.prof")
            sys.stderr.flush()
    finally:
        await runner.cleanup()
        await writer.close()
        conn.send("closed")


# ---- the probers, in this process -------------------------------------------------------------


@dataclass
class Drain:
    backlog: int = 0
    live: int = 0
    drain_s: float = 0.0
    by_location_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    pusher_cpu_s: float = 0.0
    sent: int = 0
    recorded: int = 0
    invalid: int = 0
    requests: int = 0
    central: dict[str, Any] = field(default_factory=dict)


async def _live_load(pushers: list[Pusher], locations: list[str], appended: list[int],
                     services: int, tally: Tally, t0: float, stop: asyncio.Event) -> None:
    """Each prober's new results while it drains: every second, that second's share of the
    services (one check a minute each), through ``Pusher.submit`` as ``SpoolSink`` does."""
    slot = 0
    cap = int(LIVE_CAP_S * services / 60)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            return
        due = min(cap, int((time.perf_counter() - t0) * services / 60))
        if due <= slot:
            continue
        for k, (pusher, loc) in enumerate(zip(pushers, locations, strict=True)):
            results = [make_result(s % services, s // services, k, services, END, loc)
                       for s in range(slot, due)]
            taken = await pusher.submit([result_line(r) for r in results])
            tally.add(results[:taken])
            appended[k] += taken
        slot = due


async def drain(port: int, locations: list[str], tokens: dict[str, str], paths: list[Path],
                conn: Connection, services: int, live: bool, tally: Tally, batch: int) -> Drain:
    clock = FakeClock(NOW)
    spools = [await AsyncSpool.open(path, clock=clock) for path in paths]
    sessions = [aiohttp.ClientSession() for _ in locations]
    out = Drain(backlog=sum(len(s) for s in spools))
    url = f"http://127.0.0.1:{port}"
    pushers = [Pusher(spool, session, url, tokens[loc], f"UPWATCH_TOKEN_{loc.upper()}", clock,
                      batch=batch)
               for spool, session, loc in zip(spools, sessions, locations, strict=True)]
    appended = [0] * len(locations)
    stop_live = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        conn.send("start")
        if await _recv(conn) != "started":
            raise SystemExit("the central did not start measuring")
        c0, t0 = time.process_time(), time.perf_counter()
        tasks = [asyncio.create_task(p.run()) for p in pushers]
        if live:
            tasks.append(asyncio.create_task(
                _live_load(pushers, locations, appended, services, tally, t0, stop_live)))
        while len(out.by_location_s) < len(locations):
            now = time.perf_counter() - t0
            for k, loc in enumerate(locations):
                # FIFO: the backlog is gone once no more lines wait than were appended since
                if loc not in out.by_location_s and len(spools[k]) <= appended[k]:
                    out.by_location_s[loc] = now
            if now > DRAIN_TIMEOUT_S:
                raise SystemExit(f"the spools did not drain in {DRAIN_TIMEOUT_S:.0f} s: "
                                 f"{[len(s) for s in spools]} lines left")
            await asyncio.sleep(0.005)
        out.drain_s = max(out.by_location_s.values())
        stop_live.set()
        while any(len(s) for s in spools):  # the last live lines
            if time.perf_counter() - t0 > DRAIN_TIMEOUT_S:
                raise SystemExit("the live results appended while draining were not taken")
            await asyncio.sleep(0.005)
        out.wall_s = time.perf_counter() - t0
        out.pusher_cpu_s = time.process_time() - c0
        conn.send("stop")
        out.central = await _recv(conn)
    finally:
        stop_live.set()
        for p in pushers:
            p.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in sessions:
            await session.close()
        for spool in spools:
            await spool.close()
    out.live = sum(appended)
    out.sent = sum(p.sent for p in pushers)
    out.recorded = sum(p.recorded for p in pushers)
    out.invalid = sum(p.invalid for p in pushers)
    out.requests = sum(p._stats.requests for p in pushers)  # the bench reads the private count
    return out


def run_central_and_drain(cfg: Path, db: str | Path, locations: list[str], paths: list[Path],
                          services: int, live: bool, tally: Tally, batch: int,
                          writer_batch: int) -> Drain:
    tokens = {loc: f"{loc}-{secrets.token_urlsafe(24)}" for loc in locations}
    env = {f"UPWATCH_TOKEN_{loc.upper()}": token for loc, token in tokens.items()}
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=central_process, daemon=True, args=(
        str(cfg), str(db), env, theirs, os.environ.get("UPWATCH_BENCH_PROFILE") or None,
        writer_batch))
    child.start()
    try:
        if not ours.poll(120):
            raise SystemExit("the central did not start within 2 minutes")
        port = ours.recv()
        result = asyncio.run(drain(port, locations, tokens, paths, ours, services, live, tally,
                                   batch))
        if not ours.poll(120) or ours.recv() != "closed":
            raise SystemExit("the central did not close its ledger")
        child.join(60)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    return result


# ---- the reference: upwatch import ------------------------------------------------------------


def run_import(cfg: Path, source: Path, db: Path) -> tuple[float, float, str]:
    """``upwatch import SOURCE`` as a user runs it: (CPU seconds, wall seconds, its summary)."""
    script = Path(sys.executable).with_name("upwatch")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor.cli"]
    command += ["import", str(source), "--db", str(db), "--config", str(cfg)]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"upwatch import failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return cpu, wall, done.stdout.strip()


# ---- the check --------------------------------------------------------------------------------


def kept(db: str | Path) -> dict[tuple[str, bool], int]:
    """Raw checks kept per (location, ok)."""
    sql = ("SELECT l.name, c.ok, count(*) FROM checks c JOIN locations l "
           "ON l.id = c.location_id GROUP BY l.name, c.ok")
    if isinstance(db, str):
        with psycopg.connect(db) as pg:
            rows = pg.execute(sql).fetchall()
    else:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute(sql).fetchall()
    return {(str(name), bool(ok)): int(n) for name, ok, n in rows}


def check(central_db: str | Path, import_db: Path, config: Config, locations: list[str],
          minutes: int, central_tally: Tally, import_tally: Tally) -> tuple[bool, list[str]]:
    """Whether the central's ledger holds what was pushed and agrees with the import's."""
    problems: list[str] = []
    for db, tally, what in ((central_db, central_tally, "central"),
                            (import_db, import_tally, "import")):
        found = kept(db)
        for loc in locations:
            want = (tally.failed.get(loc, 0), tally.ok.get(loc, 0))
            got = (found.get((loc, False), 0), found.get((loc, True), 0))
            if got != want:
                problems.append(f"{what} {loc}: {got[0]:,} failures and {got[1]:,} successes "
                                f"kept, {want[0]:,} and {want[1]:,} generated")
    names = list(config.service_names)
    start = END - minutes
    central, imported = Ledger(central_db), Ledger(import_db)
    try:
        compared = 0
        for loc in locations:
            ours = central.runs_many(names, start, END, location=loc)
            theirs = imported.runs_many(names, start, END, location=loc)
            differ = [n for n in names if ours[n] != theirs[n]]
            compared += len(names)
            if differ or not any(ours.values()):
                problems.append(f"{loc}: minute runs of {len(differ)} services differ from the "
                                f"import's (first: {differ[:1]})")
        plan = config.quorum_plan(names)
        ours_q = central.quorum_runs_many(plan, start, END)
        theirs_q = imported.quorum_runs_many(plan, start, END)
        differ = [n for n in names if ours_q[n] != theirs_q[n]]
        if differ:
            problems.append(f"quorum runs of {len(differ)} services differ from the import's "
                            f"(first: {differ[:1]})")
        # s1 is down from every location in minutes 2-4, and blips alone elsewhere: with two
        # locations or more, the quorum's only downtime is those three minutes
        if "s1" in ours_q and minutes >= 5 and len(locations) >= 2:
            down = [(r.start - start, r.end - start) for r in ours_q["s1"]
                    if r.state.label == "down"]
            if down != [(2, 5)]:
                problems.append(f"s1 should be down in minutes 2-4 by quorum, got {down}")
    finally:
        central.close()
        imported.close()
    return not problems, problems or [f"{compared:,} service-location minute runs and "
                                      f"{len(names):,} quorum folds equal the import's"]


# ---- main -------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=5000)
    ap.add_argument("--probers", type=int, default=3)
    ap.add_argument("--minutes", type=int, default=10, help="minutes of backlog per prober")
    ap.add_argument("--no-live", action="store_true",
                    help="the probers append nothing new while they drain")
    ap.add_argument("--batch", type=int, default=MAX_LINES,
                    help=f"lines per push, at most (default: the prober's, {MAX_LINES:,})")
    ap.add_argument("--db", default=None, metavar="URL",
                    help="the central's ledger on this PostgreSQL database (a schema of its "
                         "own, dropped afterwards); the reference import stays on SQLite")
    ap.add_argument("--writer-batch", type=int, default=MAX_LINES,
                    help=f"the central's LedgerWriter max_batch (default: upwatch run's, "
                         f"{MAX_LINES:,})")
    args = ap.parse_args()
    if min(args.services, args.probers, args.minutes, args.batch, args.writer_batch) < 1:
        ap.error("--services, --probers, --minutes and the batches must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    locations = [f"p{k}" for k in range(args.probers)]
    profiled = bool(os.environ.get("UPWATCH_BENCH_PROFILE"))

    with tempfile.TemporaryDirectory(prefix="upwatch-ingest-") as d:
        tmp = Path(d)
        cfg = tmp / "probes.yaml"
        write_config(cfg, args.services, locations)
        config = load_config(cfg)
        t0 = time.perf_counter()
        all_lines = tmp / "backlog.jsonl"
        with all_lines.open("w", encoding="utf-8") as jsonl:
            paths, backlog = fill_spools(tmp, locations, args.services, args.minutes, jsonl)
        gen_s = time.perf_counter() - t0
        spool_mb = sum(p.stat().st_size for p in tmp.glob("spool-*.db*")) / 1e6
        pushed = Tally(dict(backlog.ok), dict(backlog.failed))  # + the live lines

        schemas = Schemas(args.db) if args.db else None
        central_db: str | Path = schemas.new("central") if schemas else tmp / "central.db"
        run = run_central_and_drain(cfg, central_db, locations, paths, args.services,
                                    not args.no_live, pushed, args.batch, args.writer_batch)
        empty = tmp / "empty.jsonl"
        empty.write_text("")
        startup_cpu, startup_wall, _ = run_import(cfg, empty, tmp / "empty.db")
        import_db = tmp / "import.db"
        imp_cpu, imp_wall, imp_summary = run_import(cfg, all_lines, import_db)
        try:
            ok, notes = check(central_db, import_db, config, locations, args.minutes, pushed,
                              backlog)
            central_mb = database_bytes(central_db) / 1e6
        finally:
            if schemas is not None:
                schemas.drop()

    c = run.central
    results = int(c["recorded"])
    failing = sum(backlog.failed.values()) / max(backlog.total, 1)
    results_per_s = run.backlog / run.drain_s if run.drain_s else 0.0
    server_cpu = c["server_cpu_s"]  # PostgreSQL's process for the ledger (0 on SQLite)
    per_cpu = results / (c["cpu_s"] + server_cpu) if c["cpu_s"] else 0.0
    import_lines = backlog.total
    imp_net = imp_cpu - startup_cpu
    import_per_cpu = import_lines / imp_net if imp_net > 0 else 0.0
    import_per_cpu_raw = import_lines / imp_cpu if imp_cpu else 0.0
    ratio = per_cpu / import_per_cpu if import_per_cpu else None
    rest = c["cpu_s"] - c["parse_cpu_s"] - c["ledger_cpu_s"]

    def us(cpu_s: float) -> str:
        return f"{1e6 * cpu_s / max(results, 1):.1f}"

    if results != run.sent or run.recorded != results or run.invalid:
        ok = False
        notes.append(f"pushed {run.sent:,}, the central recorded {results:,} (answered "
                     f"{run.recorded:,}), {run.invalid:,} invalid")

    print(f"generated {backlog.total:,} results ({args.probers} locations × {args.services:,} "
          f"services × {args.minutes} minutes, {100 * failing:.1f}% failing) into "
          f"{args.probers} spools ({spool_mb:.1f} MB) in {gen_s:.1f} s")
    print(f"drain: backlog of {run.backlog:,} gone in {run.drain_s:.2f} s → "
          f"{results_per_s:,.0f} results/s (per location: "
          + ", ".join(f"{loc} {s:.2f} s" for loc, s in run.by_location_s.items())
          + f"); {run.live:,} live results appended meanwhile; {run.requests} requests "
          f"({run.sent / max(run.requests, 1):,.0f} lines each); every spool empty after "
          f"{run.wall_s:.2f} s")
    print(f"central: {results:,} results recorded with {c['cpu_s']:.2f} CPU-s "
          f"(user {c['user_s']:.2f}, sys {c['sys_s']:.2f}; parsing {c['parse_cpu_s']:.2f} in "
          f"{c['parse_calls']} calls, ledger commits {c['ledger_cpu_s']:.2f} in "
          f"{c['ledger_calls']}, event loop and the rest {rest:.2f}) in {c['wall_s']:.2f} s "
          f"→ {per_cpu:,.0f} results/CPU-s; per result {us(c['cpu_s'])} µs: parsing "
          f"{us(c['parse_cpu_s'])}, ledger {us(c['ledger_cpu_s'])}, the rest {us(rest)}; "
          f"peak RSS {c['peak_rss_mb']:.0f} MB, ledger {central_mb:.1f} MB"
          + (f"; the PostgreSQL server process of its ledger: {server_cpu:.2f} CPU-s more, "
             f"counted in results/CPU-s" if args.db else ""))
    print(f"probers (this process, sharing the {os.cpu_count()} cores): {run.pusher_cpu_s:.2f} "
          f"CPU-s for the pushers, their spools and the live results")
    print(f"upwatch import (reference): {imp_summary}; {imp_wall:.2f} s wall, {imp_cpu:.2f} "
          f"CPU-s, of which {startup_cpu:.2f} start-up (an empty import, {startup_wall:.2f} s) "
          f"→ {import_per_cpu:,.0f} lines/CPU-s net ({import_per_cpu_raw:,.0f} with start-up)")
    if ratio is not None:
        print(f"ratio {ratio:.3f}: the central's results per CPU-s / the import's lines per "
              f"CPU-s (net of start-up)")
    print(f"check: {'ok' if ok else 'FAILED'}: " + "; ".join(notes))
    print(f"goal: ≥ {GOAL_RESULTS_PER_S:,} results/s: "
          f"{'met' if results_per_s >= GOAL_RESULTS_PER_S else 'NOT met'} "
          f"({results_per_s:,.0f}); backlog drained in < {GOAL_DRAIN_S} s: "
          f"{'met' if run.drain_s < GOAL_DRAIN_S else 'NOT met'} ({run.drain_s:.1f} s"
          + ("" if args.services * args.probers == 15_000 and args.minutes == 10
             else f", for {args.probers} × {args.services:,} services × {args.minutes} min")
          + ")" + ("; profiled: these figures are slowed by cProfile" if profiled else ""))
    print(json.dumps({
        "services": args.services,
        "probers": args.probers,
        "minutes": args.minutes,
        "results": results,
        "backlog": run.backlog,
        "live": run.live,
        "drain_s": round(run.drain_s, 2),
        "engine": "postgresql" if args.db else "sqlite",
        "central_cpu_s": round(c["cpu_s"], 2),
        "server_cpu_s": round(server_cpu, 2),
        "central_wall_s": round(c["wall_s"], 2),
        "results_per_s": round(results_per_s, 1),
        "results_per_cpu_s": round(per_cpu, 1),
        "import_lines": import_lines,
        "import_cpu_s": round(imp_cpu, 2),
        "import_startup_cpu_s": round(startup_cpu, 2),
        "import_wall_s": round(imp_wall, 2),
        "import_lines_per_cpu_s": round(import_per_cpu, 1),
        "import_lines_per_cpu_s_with_startup": round(import_per_cpu_raw, 1),
        "ratio": None if ratio is None else round(ratio, 3),
        "central_parse_cpu_s": round(c["parse_cpu_s"], 2),
        "central_ledger_cpu_s": round(c["ledger_cpu_s"], 2),
        "central_loop_cpu_s": round(rest, 2),
        "us_per_result": {"parse": float(us(c["parse_cpu_s"])),
                          "ledger": float(us(c["ledger_cpu_s"])), "rest": float(us(rest))},
        "central_peak_rss_mb": round(c["peak_rss_mb"], 1),
        "pusher_cpu_s": round(run.pusher_cpu_s, 2),
        "requests": run.requests,
        "batch": args.batch,
        "writer_batch": args.writer_batch,
        "drain_s_by_location": {k: round(v, 2) for k, v in run.by_location_s.items()},
        "check_ok": ok,
        "profiled": profiled,
        "cores": os.cpu_count(),
        "goal_results_per_s": GOAL_RESULTS_PER_S,
        "goal_drain_s": GOAL_DRAIN_S,
    }))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
