"""Push services benchmark: pings per second that ``upwatch run`` takes, against a bare aiohttp
server answering the same requests without storing anything.

The setup is a probes.yaml of ``--services`` push services (default 1,000: ``{name: job-<i>,
kind: push, period: 1h}``) and the real ``upwatch run`` on it, as a user starts it (``python
-m monitor.cli run --config … --db tmp/upwatch.db --listen 127.0.0.1:PORT --site tmp/site``,
a process of its own, its SQLite ledger in the temporary directory). Once ``/healthz``
answers and the first status page build is done (a niced child process that would otherwise
compete for the 2 cores), the tokens are read from the ledger (``push_services``, where
``upwatch run`` made them at start).

The load generator runs in this process: one aiohttp ``ClientSession`` per server,
``--concurrency`` keep-alive connections (default 64), one task per connection taking the next
request of the plan as soon as its last one is answered. First a warm-up of one ``GET
/ping/<token>`` per service, not measured: each service's first ping gives it its first
verdict, which makes ``upwatch run`` check it at once (a ledger write per service), a one-off;
the connections are opened by it too. Then measured windows of ``--pings`` requests each
(default 20,000) going round the services (request ``i`` pings service ``i mod N``, so the pings
in flight are for different services): 1 in 10 ``/ping/<token>/start``, 1 in 10
``/ping/<token>/0``, the rest ``/ping/<token>`` — none of them changes a verdict, the steady
state of jobs that check in on time.

Measured over each window: the wall time → ``pings_per_s``; the server process's CPU seconds
(``utime + stime`` of ``/proc/<pid>/stat``, every thread: the event loop, the ledger writer
thread) → ``pings_per_cpu_s``; the main thread's share (``/proc/<pid>/task/<pid>/stat``: the
event loop: HTTP, routing, the ping book) apart from the other threads' (the ledger writer's
SQLite commits, one per group of pings that arrived while the previous commit ran); the
latency of each request (p50, p99, as this process sees it) and this process's CPU time (the
load generator: it shares the 2 cores with the server, so ``pings_per_s`` is bounded by both).
``upwatch run`` goes on doing its own periodic work meanwhile (its push services' checks, one a
minute each; the SLA refresh every 30 s): part of its cost, counted (idle, about 1 % of a core).

Reference, same run: a bare aiohttp server (``--bare-server``, this file in a subprocess of
its own) with the same two routes (``/ping/{token}``, ``/ping/{token}/{what}``) and one handler
answering ``OK\\n`` with no storage, no token lookup, hit by the identical load generator
(same warm-up, same plan, same tokens). Both servers run side by side (the one not measured is
idle) and their windows alternate over ``--rounds`` rounds (default 3) in ABBA order (bare
first in even rounds, upwatch first in odd ones), as the other load on this VM drifts by ±20 %
within a minute. The figures are over every round (pings / the windows' seconds);
``ratio`` = upwatch's ``pings_per_cpu_s`` / the bare server's (the server's own cost per ping,
which the load generator's share of the cores does not blur), ``ratio_wall`` = upwatch's
``pings_per_s`` / the bare server's; the per-round ratios are printed too.

Then it checks what was answered: every request was answered ``200 OK`` (warm-up and windows),
and, read from the ledger after each of upwatch's windows while it still runs (an answered ping
is stored), every service pinged in the window has ``last_ping_ms`` in the window, and those
sent a ``/start`` have ``last_start_ms`` in it; ``upwatch run`` then stops on SIGTERM with exit
status 0 and logged no error.

``UPWATCH_BENCH_PROFILE=PREFIX`` runs ``upwatch run`` under this file's ``--profiled-upwatch``
(the same CLI, ``monitor.cli.entry.main``, in the same kind of process) with cProfile on its
event loop thread over its windows (SIGUSR1 starts it, SIGUSR2 stops it) and on each
``Ledger.save_pings`` in the writer thread, counting those commits and the pings they hold;
prints the top functions of each to stderr and writes ``PREFIX-loop.prof`` and
``PREFIX-ledger.prof``. cProfile's times are wall times: they include the moments the thread
waits for the GIL or a core. A profiled run is slower; its figures say ``"profiled": true``.

Last line: {"services", "pings", "rounds", "concurrency", "pings_per_s", "pings_per_cpu_s",
"bare_pings_per_s", "bare_pings_per_cpu_s", "ratio", "ratio_wall", "ratio_by_round", ...}.
Goal (issue 14): ``upwatch run`` takes pings at ≥ 0.7× the bare server's rate: ``ratio`` ≥ 0.7
(``ratio_wall`` is printed beside it).
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
import os
import pstats
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent

GOAL_RATIO = 0.7
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
#: Seconds waited after the warm-up before measuring: the checks the first pings ask for are
#: committed within the ledger writer's 1 s.
SETTLE_S = 2.0
#: Slack for the server's clock against this process's (the same clock; rounding to ms).
CLOCK_SLACK_MS = 5
TOP = 18
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- the servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, services: int) -> None:
    lines = ["site: {title: bench}", "services:"]
    lines += [f"  - {{name: job-{i}, kind: push, period: 1h}}" for i in range(services)]
    path.write_text("\n".join(lines) + "\n")


def cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of process ``pid`` (every thread), or of its thread ``tid``."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path, encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> tuple[float, float]:
        """(the process's CPU seconds, its main thread's)."""
        return cpu_s(self.proc.pid), cpu_s(self.proc.pid, self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        """SIGTERM, then wait; the exit status (killed after STOP_TIMEOUT_S: -9)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return int(self.proc.returncode)


def _child_env() -> dict[str, str]:
    """This environment without UPWATCH_* (admin tokens, a default config or ledger)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("UPWATCH_")}


def start_upwatch(tmp: Path, cfg: Path, profile: str | None) -> Server:
    port = free_port()
    args = ["run", "--config", str(cfg), "--db", str(tmp / "upwatch.db"),
            "--listen", f"127.0.0.1:{port}", "--site", str(tmp / "site")]
    if profile is None:
        command = [sys.executable, "-m", "monitor.cli", *args]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--profiled-upwatch", profile,
                   *args]
    log = tmp / "upwatch.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=out,
                                stderr=subprocess.STDOUT)
    return Server("upwatch run", proc, port, log)


def start_bare(tmp: Path) -> Server:
    port_file = tmp / "bare.port"
    log = tmp / "bare.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port_file)],
            cwd=ROOT, env=_child_env(), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise SystemExit(f"the bare server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.02)
    return Server("bare aiohttp", proc, int(port_file.read_text()), log)


async def wait_ready(server: Server, ready_line: str | None) -> None:
    """Until ``/healthz`` answers (any status) and, if given, ``ready_line`` is in the log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while True:
            if server.proc.poll() is not None:
                raise SystemExit(f"{server.name} exited ({server.proc.returncode}): "
                                 f"{server.log_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{server.name} was not ready in {START_TIMEOUT_S:.0f} s: "
                                 f"{server.log_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{server.base}/healthz") as resp:
                    await resp.read()
                    if ready_line is None or ready_line in server.log_text():
                        return
            await asyncio.sleep(0.1)


def bare_server(port_file: str) -> None:
    """The reference: aiohttp, the same routes, ``OK\\n`` at once (no storage, no lookup)."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(text="OK\n")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def serve() -> None:
        app = web.Application()
        for path in ("/ping/{token}", "/ping/{token}/{what}"):
            app.router.add_get(path, handle)
            app.router.add_post(path, handle)
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)  # as upwatch run's
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await asyncio.to_thread(Path(port_file).write_text, str(runner.addresses[0][1]))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())


def profiled_upwatch(prefix: str, argv: list[str]) -> int:
    """``upwatch ARGV`` with cProfile on the event loop thread between SIGUSR1 and SIGUSR2,
    and on each ``Ledger.save_pings`` (the writer thread) meanwhile; after each SIGUSR2 the
    profiles so far and ``PREFIX-saves.json`` (commits, pings, CPU-s, windows) are written."""
    sys.path.insert(0, str(ROOT))
    from monitor.cli.entry import main as upwatch_main
    from monitor.store.ledger import Ledger

    loop_prof, ledger_prof = cProfile.Profile(), cProfile.Profile()
    on = [False]
    saves: dict[str, float] = {"calls": 0, "rows": 0, "cpu_s": 0.0, "windows": 0}
    save_pings = Ledger.save_pings

    @functools.wraps(save_pings)
    def counted(self: Ledger, states: Sequence[Any], now: Any) -> None:
        if not on[0]:
            return save_pings(self, states, now)
        c0 = time.thread_time()
        ledger_prof.enable()
        try:
            return save_pings(self, states, now)
        finally:
            ledger_prof.disable()
            saves["cpu_s"] += time.thread_time() - c0
            saves["calls"] += 1
            saves["rows"] += len(states)

    Ledger.save_pings = counted  # type: ignore[method-assign]

    def start(*_: object) -> None:
        on[0] = True
        loop_prof.enable()

    def stop(*_: object) -> None:
        loop_prof.disable()
        on[0] = False
        saves["windows"] += 1
        loop_prof.dump_stats(f"{prefix}-loop.prof")
        ledger_prof.dump_stats(f"{prefix}-ledger.prof")
        Path(f"{prefix}-saves.json").write_text(json.dumps(saves))

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return upwatch_main(argv)


def read_saves(prefix: str, windows: int) -> dict[str, Any]:
    """The profiled upwatch's ``PREFIX-saves.json`` once it has counted ``windows`` windows."""
    path = Path(f"{prefix}-saves.json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            saves: dict[str, Any] = json.loads(path.read_text())
            if saves.get("windows") == windows:
                return saves
        time.sleep(0.05)
    return {}


def _print_profile(title: str, path: str) -> None:
    try:
        stats = pstats.Stats(path)
    except (OSError, TypeError, EOFError):
        print(f"--- {title}: nothing ran", file=sys.stderr)
        return
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(TOP)
    body = out.getvalue()
    body = body[body.find("   ncalls"):] if "   ncalls" in body else body
    print(f"--- {title} ({path}), by own time:\n{body.rstrip()}", file=sys.stderr)


# ---- the load ---------------------------------------------------------------------------------


def plan(tokens: list[str], pings: int) -> list[tuple[int, str]]:
    """``pings`` requests going round the services: (service index, path)."""
    out = []
    for i in range(pings):
        k = i % len(tokens)
        what = {0: "/start", 5: "/0"}.get(i % 10, "")
        out.append((k, f"/ping/{tokens[k]}{what}"))
    return out


@dataclass
class Load:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    def add(self, other: Load) -> None:
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.errors.update(other.errors)
        self.wall_s += other.wall_s
        self.client_cpu_s += other.client_cpu_s
        self.latencies_ms += other.latencies_ms

    def quantile_ms(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def send(session: aiohttp.ClientSession, base: str, paths: list[str],
               concurrency: int) -> Load:
    """Every path, ``concurrency`` at a time, each task sending its next once answered."""
    out = Load(requests=len(paths))
    todo = iter(paths)

    async def worker() -> None:
        for path in todo:
            t = time.perf_counter()
            try:
                async with session.get(base + path) as resp:
                    await resp.read()
                    out.statuses[resp.status] += 1
            except (aiohttp.ClientError, OSError) as exc:
                out.errors[type(exc).__name__] += 1
                continue
            out.latencies_ms.append((time.perf_counter() - t) * 1000.0)

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.wall_s = time.perf_counter() - t0
    out.client_cpu_s = time.process_time() - c0
    return out


@dataclass
class Window:
    """One measured window: the load, the server's CPU seconds over it, when it ran."""

    load: Load
    cpu_s: float
    main_cpu_s: float
    start_ms: int
    end_ms: int

    @property
    def pings_per_s(self) -> float:
        return self.load.ok / self.load.wall_s if self.load.wall_s else 0.0

    @property
    def pings_per_cpu_s(self) -> float:
        return self.load.ok / self.cpu_s if self.cpu_s else 0.0


@dataclass
class Side:
    """One server and its windows."""

    server: Server
    warmup: Load = field(default_factory=Load)
    windows: list[Window] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.server.name

    def total(self) -> Load:
        out = Load()
        for w in self.windows:
            out.add(w.load)
        return out

    @property
    def cpu_s(self) -> float:
        return sum(w.cpu_s for w in self.windows)

    @property
    def main_cpu_s(self) -> float:
        return sum(w.main_cpu_s for w in self.windows)

    @property
    def pings_per_s(self) -> float:
        total = self.total()
        return total.ok / total.wall_s if total.wall_s else 0.0

    @property
    def pings_per_cpu_s(self) -> float:
        return self.total().ok / self.cpu_s if self.cpu_s else 0.0

    def figures(self) -> dict[str, Any]:
        total = self.total()
        ok = max(total.ok, 1)
        return {
            "pings_per_s": round(self.pings_per_s, 1),
            "pings_per_cpu_s": round(self.pings_per_cpu_s, 1),
            "wall_s": round(total.wall_s, 3),
            "server_cpu_s": round(self.cpu_s, 2),
            "server_loop_cpu_s": round(self.main_cpu_s, 2),
            "server_other_threads_cpu_s": round(self.cpu_s - self.main_cpu_s, 2),
            "us_per_ping": round(1e6 * self.cpu_s / ok, 1),
            "us_per_ping_loop": round(1e6 * self.main_cpu_s / ok, 1),
            "us_per_ping_other_threads": round(1e6 * (self.cpu_s - self.main_cpu_s) / ok, 1),
            "pings_per_s_by_round": [round(w.pings_per_s, 1) for w in self.windows],
            "pings_per_cpu_s_by_round": [round(w.pings_per_cpu_s, 1) for w in self.windows],
            "latency_p50_ms": round(total.quantile_ms(0.5), 2),
            "latency_p99_ms": round(total.quantile_ms(0.99), 2),
            "client_cpu_s": round(total.client_cpu_s, 2),
            "ok": total.ok,
            "warmup_pings_per_s": round(self.warmup.ok / self.warmup.wall_s, 1)
            if self.warmup.wall_s else 0.0,
        }


async def measure(session: aiohttp.ClientSession, server: Server, paths: list[str],
                  concurrency: int, before: Callable[[], None],
                  after: Callable[[], None]) -> Window:
    before()
    start_ms = time.time_ns() // 1_000_000
    cpu0, main0 = server.cpu()
    load = await send(session, server.base, paths, concurrency)
    cpu1, main1 = server.cpu()
    end_ms = time.time_ns() // 1_000_000
    after()
    return Window(load, cpu1 - cpu0, main1 - main0, start_ms, end_ms)


async def run_rounds(ours: Side, bare: Side, tokens: list[str], pings: int, concurrency: int,
                     rounds: int, db: Path, profile: str | None) -> list[str]:
    """The warm-ups, then ``rounds`` rounds of a window each, in ABBA order; the problems
    found in upwatch's ledger after each of its windows."""

    def signal_upwatch(sig: signal.Signals) -> Callable[[], None]:
        def send_it() -> None:
            if profile is not None:
                ours.server.proc.send_signal(sig)
        return send_it

    def nothing() -> None:
        pass

    problems: list[str] = []
    paths = [p for _, p in plan(tokens, pings)]
    warm = [f"/ping/{t}" for t in tokens]
    async with contextlib.AsyncExitStack() as stack:
        sessions = {}
        for side in (ours, bare):
            sessions[side.name] = await stack.enter_async_context(aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency)))
            side.warmup = await send(sessions[side.name], side.server.base, warm, concurrency)
        await asyncio.sleep(SETTLE_S)
        for r in range(rounds):
            for side in ((bare, ours) if r % 2 == 0 else (ours, bare)):
                hooks = ((signal_upwatch(signal.SIGUSR1), signal_upwatch(signal.SIGUSR2))
                         if side is ours else (nothing, nothing))
                window = await measure(sessions[side.name], side.server, paths, concurrency,
                                       *hooks)
                side.windows.append(window)
                if side is ours:
                    problems += [f"round {r + 1}: {p}"
                                 for p in check_ledger(db, window, tokens, pings)]
    return problems


# ---- the check --------------------------------------------------------------------------------


def read_tokens(db: Path, services: int) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        found = dict(conn.execute("SELECT service, token FROM push_services").fetchall())
    missing = [f"job-{i}" for i in range(services) if f"job-{i}" not in found]
    if missing:
        raise SystemExit(f"{len(missing)} push services have no token in the ledger "
                         f"(first: {missing[0]})")
    return [str(found[f"job-{i}"]) for i in range(services)]


def check_ledger(db: Path, window: Window, tokens: list[str], pings: int) -> list[str]:
    """Problems with what the ledger holds of a window's pings (none: [])."""
    pinged: set[int] = set()
    started: set[int] = set()
    for k, path in plan(tokens, pings):
        pinged.add(k)
        if path.endswith("/start"):
            started.add(k)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = {str(s): (p, st) for s, p, st in conn.execute(
            "SELECT service, last_ping_ms, last_start_ms FROM push_services")}
    lo, hi = window.start_ms - CLOCK_SLACK_MS, window.end_ms + CLOCK_SLACK_MS
    problems = []
    stale = [k for k in sorted(pinged)
             if not lo <= (rows.get(f"job-{k}", (None, None))[0] or 0) <= hi]
    if stale:
        problems.append(f"{len(stale)} of the {len(pinged)} services pinged in the window have "
                        f"no last_ping_ms in it (first: job-{stale[0]})")
    unstarted = [k for k in sorted(started)
                 if not lo <= (rows.get(f"job-{k}", (None, None))[1] or 0) <= hi]
    if unstarted:
        problems.append(f"{len(unstarted)} of the {len(started)} services sent /start in the "
                        f"window have no last_start_ms in it (first: job-{unstarted[0]})")
    return problems


def check_answers(side: Side) -> list[str]:
    problems = []
    for what, load in [("warm-up", side.warmup)] + [
            (f"round {r + 1}", w.load) for r, w in enumerate(side.windows)]:
        if load.ok != load.requests:
            others = {s: n for s, n in load.statuses.items() if s != 200}
            problems.append(f"{side.name} {what}: {load.ok:,} of {load.requests:,} answered 200 "
                            f"(others: {others}, errors: {dict(load.errors)})")
    return problems


def logged_errors(server: Server) -> list[str]:
    lines = [line for line in server.log_text().splitlines()
             if " ERROR " in line or " CRITICAL " in line or "Traceback" in line]
    return [f"{server.name} logged: {line}" for line in lines[:3]]


# ---- main -------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "--bare-server":
        bare_server(sys.argv[2])
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "--profiled-upwatch":
        sys.exit(profiled_upwatch(sys.argv[2], sys.argv[3:]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000, help="push services (default: 1000)")
    ap.add_argument("--pings", type=int, default=20_000,
                    help="requests in each measured window (default: 20000)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="measured windows per server, alternating (default: 3)")
    ap.add_argument("--concurrency", type=int, default=64,
                    help="keep-alive connections, a request in flight on each (default: 64)")
    args = ap.parse_args()
    if min(args.services, args.pings, args.rounds, args.concurrency) < 1:
        ap.error("--services, --pings, --rounds and --concurrency must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    profile = os.environ.get("UPWATCH_BENCH_PROFILE") or None
    saves: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="upwatch-ping-") as d:
        tmp = Path(d)
        cfg = tmp / "probes.yaml"
        write_config(cfg, args.services)
        upwatch = start_upwatch(tmp, cfg, profile)
        bare_server_: Server | None = None
        try:
            # ready: serving, and the first status page built (a child on the same cores)
            asyncio.run(wait_ready(upwatch, "status page built"))
            tokens = read_tokens(tmp / "upwatch.db", args.services)
            bare_server_ = start_bare(tmp)
            asyncio.run(wait_ready(bare_server_, None))
            ours, bare = Side(upwatch), Side(bare_server_)
            problems = asyncio.run(run_rounds(ours, bare, tokens, args.pings, args.concurrency,
                                              args.rounds, tmp / "upwatch.db", profile))
            if profile is not None:
                saves = read_saves(profile, args.rounds)
        finally:
            bare_rc = bare_server_.stop() if bare_server_ is not None else 0
            rc = upwatch.stop()
        problems += check_answers(ours) + check_answers(bare)
        if rc != 0:
            problems.append(f"upwatch run exited {rc} on SIGTERM: {upwatch.log_text()[-1000:]}")
        if bare_rc != 0:
            problems.append(f"the bare server exited {bare_rc}: "
                            f"{bare_server_.log_text()[-1000:] if bare_server_ else ''}")
        problems += logged_errors(upwatch)

    ratio = ours.pings_per_cpu_s / bare.pings_per_cpu_s if bare.pings_per_cpu_s else None
    ratio_wall = ours.pings_per_s / bare.pings_per_s if bare.pings_per_s else None
    by_round = [(u.pings_per_cpu_s / b.pings_per_cpu_s if b.pings_per_cpu_s else 0.0,
                 u.pings_per_s / b.pings_per_s if b.pings_per_s else 0.0)
                for u, b in zip(ours.windows, bare.windows, strict=True)]
    ok = not problems
    o, b = ours.figures(), bare.figures()
    for side, f in ((ours, o), (bare, b)):
        print(f"{side.name}: {f['ok']:,} pings answered 200 in {args.rounds} windows of "
              f"{args.pings:,}, {f['wall_s']:.2f} s → {f['pings_per_s']:,.0f} pings/s; server "
              f"{f['server_cpu_s']:.2f} CPU-s (event loop thread {f['server_loop_cpu_s']:.2f}, "
              f"other threads {f['server_other_threads_cpu_s']:.2f}) → "
              f"{f['pings_per_cpu_s']:,.0f} pings/CPU-s, {f['us_per_ping']:.0f} µs each (loop "
              f"{f['us_per_ping_loop']:.0f}, other threads {f['us_per_ping_other_threads']:.0f});"
              f" latency p50 {f['latency_p50_ms']:.1f} ms, p99 {f['latency_p99_ms']:.1f} ms; "
              f"load generator {f['client_cpu_s']:.2f} CPU-s; warm-up (one ping per service) "
              f"{f['warmup_pings_per_s']:,.0f} pings/s; by round: "
              + ", ".join(f"{w.pings_per_s:,.0f}/s {w.pings_per_cpu_s:,.0f}/CPU-s"
                          for w in side.windows))
    if saves.get("calls"):
        print(f"ledger (profiled): {int(saves['calls']):,} commits of pings in upwatch's windows, "
              f"{saves['rows'] / saves['calls']:.1f} services each, {saves['cpu_s']:.2f} CPU-s "
              f"({1e6 * saves['cpu_s'] / max(o['ok'], 1):.0f} µs per ping)")
    if ratio is not None and ratio_wall is not None:
        print(f"ratio {ratio:.3f} (pings per server CPU-s, upwatch run / bare aiohttp), "
              f"ratio_wall {ratio_wall:.3f} (pings/s); by round: "
              + ", ".join(f"{c:.2f} / {w:.2f}" for c, w in by_round))
    print(f"check: {'ok' if ok else 'FAILED'}: " + ("; ".join(problems) if problems else
          f"every request answered 200; after each window the ledger held the last ping of "
          f"each of the {min(args.services, args.pings):,} services pinged in it, and their "
          f"/start; upwatch run stopped cleanly"))
    print(f"goal: ≥ {GOAL_RATIO}× the bare server: "
          f"{'met' if ratio is not None and ratio >= GOAL_RATIO else 'NOT met'} "
          f"(ratio {ratio or 0:.2f}; ratio_wall {ratio_wall or 0:.2f})"
          + ("; profiled: upwatch's figures are slowed by cProfile" if profile else ""))
    if profile is not None:
        _print_profile("upwatch run: event loop thread", f"{profile}-loop.prof")
        _print_profile("upwatch run: ledger commits (Ledger.save_pings)",
                       f"{profile}-ledger.prof")
        sys.stderr.flush()
    print(json.dumps({
        "services": args.services,
        "pings": args.pings,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "pings_per_s": o["pings_per_s"],
        "pings_per_cpu_s": o["pings_per_cpu_s"],
        "bare_pings_per_s": b["pings_per_s"],
        "bare_pings_per_cpu_s": b["pings_per_cpu_s"],
        "ratio": None if ratio is None else round(ratio, 3),
        "ratio_wall": None if ratio_wall is None else round(ratio_wall, 3),
        "ratio_by_round": [round(c, 3) for c, _ in by_round],
        "ratio_wall_by_round": [round(w, 3) for _, w in by_round],
        "upwatch": o,
        "bare": b,
        "ledger_commits": int(saves["calls"]) if saves.get("calls") else None,
        "pings_per_commit": round(saves["rows"] / saves["calls"], 1)
        if saves.get("calls") else None,
        "check_ok": ok,
        "profiled": profile is not None,
        "cores": os.cpu_count(),
        "goal_ratio": GOAL_RATIO,
    }))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
