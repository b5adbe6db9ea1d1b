"""Fault suite: kill -9 cycles, a corrupted, a read-only and a full ledger, against `upwatch run`.

Not part of the test run (``make faults``; about 5-6 minutes with the defaults). Everything
runs in a temporary directory on loopback: a target aiohttp server in this process (most
services answer 200, every tenth a 503, every tenth a closed port) and ``upwatch run`` as a
child process on a ledger in that directory.

1. kill -9 cycles. Start ``upwatch run`` (every service ``interval: 1s``, the allowed minimum),
   wait until /healthz answers 200, let it run a random 0.5-3 s (seeded), read what is
   COMMITTED through a separate read-only sqlite3 connection, ``kill -9`` it, then check the
   ledger: ``PRAGMA integrity_check`` is ok, ``PRAGMA foreign_key_check`` is empty, and every
   committed result read in this or any earlier cycle is still there (see ``Committed``).
   Halfway, the ledger is left without a running monitor for at least one whole minute (the
   other faults run in that pause), so that the report has dead minutes inside its data.
2. ``upwatch report --month <this month> --format json``: the minutes when no ``run`` was alive
   must be nodata (not up, not down); expected from this script's own start/kill times.
3. Other faults, each on a copy of the ledger, each with what /healthz said (status code and
   ``problems``) and whether anything committed was lost:
   - corrupted: a b-tree page in the middle of the file overwritten; expected exit code 3 with
     a message, or /healthz 503;
   - read-only: the ledger on a tmpfs remounted read-only; expected exit code 3 or /healthz 503;
   - full disk: the ledger on a small tmpfs, filled up while ``run`` writes; expected /healthz
     503 while nothing can be committed, recovery once space is freed, nothing committed lost
     and nothing queued meanwhile dropped.
   The two tmpfs faults need ``mount`` (root, CAP_SYS_ADMIN); without it they say "skipped".

Output: one short line per cycle and per fault; the LAST line is one JSON object with the
figures. Exit code 0 when every check passed, 1 when one failed (listed in "failed" and on a
line before the JSON), 130 when interrupted. The seed is printed: ``--seed S`` replays a run's
random choices (run lengths, corrupted bytes; timing itself is never exactly the same).

Usage: .venv/bin/python bench/faults.py [--cycles 100] [--services 50] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent

READY_TIMEOUT_S = 30.0  # /healthz must answer 200 within this after the start
EXIT_TIMEOUT_S = 15.0  # a killed or terminated child must be gone within this
REPORT_TIMEOUT_S = 120.0
#: /healthz answers 503 when no commit succeeded for 30 s with results queued
#: (monitor/web/app.py STALE_COMMIT_S); a fault is watched a little longer than that.
DEFAULT_OBSERVE_S = 35.0
KEEP_SUCCESSES = 1000  # Ledger(keep_successes=...) default: older successes are pruned by design
EXIT_DB = 3  # upwatch's exit code for "the database could not be used"

CHILDREN: list[subprocess.Popen[bytes]] = []
MOUNTS: list[Path] = []


def say(line: str) -> None:
    print(line, flush=True)


# ---- the target services ---------------------------------------------------------------------


class Target:
    """A loopback aiohttp server in a thread of this process: /up/N → 200, /fail/N → 503."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="target", daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> int:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self.port

    async def _start(self) -> int:
        async def up(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def fail(request: web.Request) -> web.Response:
            return web.Response(status=503, text="unavailable")

        app = web.Application()
        app.router.add_get("/up/{n}", up)
        app.router.add_get("/fail/{n}", fail)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        return int(self.runner.addresses[0][1])

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        if self.runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, services: int, port: int) -> dict[str, str]:
    """probes.yaml with ``services`` services at the minimum interval; returns name → kind."""
    closed = free_port()  # bound and released: nothing listens there
    kinds: dict[str, str] = {}
    lines = ["site: {title: upwatch faults}",
             "defaults: {interval: 1s, timeout: 800ms, retries: 0}", "services:"]
    for i in range(services):
        name = f"s{i:03d}"
        if i % 10 == 8:
            kinds[name], url = "503", f"http://127.0.0.1:{port}/fail/{i}"
        elif i % 10 == 9:
            kinds[name], url = "closed", f"http://127.0.0.1:{closed}/"
        else:
            kinds[name], url = "up", f"http://127.0.0.1:{port}/up/{i}"
        lines.append(f"  - {{name: {name}, url: '{url}'}}")
    path.write_text("\n".join(lines) + "\n")
    return kinds


# ---- child processes -------------------------------------------------------------------------


def upwatch_cmd(override: str | None) -> list[str]:
    if override:
        return shlex.split(override)
    script = ROOT / ".venv" / "bin" / "upwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor.cli"]


def spawn(cmd: list[str], log: Path, header: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        out.write(f"\n==== {header} {datetime.now(UTC).isoformat()} ====\n".encode())
        out.flush()
        # own session: a Ctrl-C in the terminal reaches this script only, which kills it
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, cwd=log.parent)
    CHILDREN.append(proc)
    return proc


def reap(proc: subprocess.Popen[bytes], timeout: float = EXIT_TIMEOUT_S) -> int | None:
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
    with contextlib.suppress(ValueError):
        CHILDREN.remove(proc)
    return rc


def kill9(proc: subprocess.Popen[bytes]) -> int | None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    return reap(proc)


def terminate(proc: subprocess.Popen[bytes]) -> tuple[int | None, bool]:
    """SIGTERM, then SIGKILL if it is not gone in time; (exit code, exited by itself)."""
    if proc.poll() is not None:
        return reap(proc, 1), True
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    rc = reap(proc)
    if rc is not None:
        return rc, True
    return kill9(proc), False


def kill_all_children() -> None:
    for proc in list(CHILDREN):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        with contextlib.suppress(ValueError):
            CHILDREN.remove(proc)


def healthz(port: int) -> tuple[int, dict[str, Any]] | None:
    """(status, JSON body) of /healthz, or None when nothing answers."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, _json(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, _json(err.read())
    except (OSError, ValueError):
        return None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}
    return body if isinstance(body, dict) else {"raw": body}


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> float | None:
    """time.time() when /healthz first answered 200; None if the child exited or timed out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        got = healthz(port)
        if got is not None and got[0] == 200:
            return time.time()
        time.sleep(0.05)
    return None


@dataclass
class Watch:
    """What /healthz said over a while: each change of (status, problems), and how it ended."""

    t0: float = field(default_factory=time.monotonic)
    seen: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None

    def poll(self, proc: subprocess.Popen[bytes], port: int) -> None:
        if self.exit_code is None and proc.poll() is not None:
            self.exit_code = proc.returncode
            return
        got = healthz(port)
        if got is None:
            return
        status, body = got
        problems = body.get("problems", [])
        if not self.seen or _shape(self.seen[-1]) != _shape({"status": status,
                                                            "problems": problems}):
            self.seen.append({"t": round(time.monotonic() - self.t0, 1), "status": status,
                              "problems": problems})
        self.last = body

    def run(self, proc: subprocess.Popen[bytes], port: int, seconds: float,
            until: Any = None) -> None:
        """Poll every 0.5 s for ``seconds``, or until the child exits or ``until()`` holds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.exit_code is None:
            self.poll(proc, port)
            if until is not None and until(self):
                return
            time.sleep(0.5)

    @property
    def statuses(self) -> set[int]:
        return {s["status"] for s in self.seen}

    def summary(self) -> list[dict[str, Any]]:
        return self.seen


def _shape(seen: dict[str, Any]) -> tuple[Any, ...]:
    """A /healthz answer with the numbers masked: "no commit for 31s" is no news after 30s."""
    return seen["status"], tuple(re.sub(r"\d+", "N", str(p)) for p in seen["problems"])


# ---- what is committed -----------------------------------------------------------------------


Key = tuple[int, int]  # (service_id, location_id)


@dataclass
class Committed:
    """Committed results of a ledger (monitor/store/schema.py), read in ONE read transaction.

    - ``minutes``: every minute of ``minute_runs`` (final runs) with its state: the key figure;
    - ``pending``: each fold's pending minute (``folder_state``) with its worst state so far:
      committed too (a restart continues from it), it may later only get worse or become final;
    - ``checks``: raw check results ``(service, location, ts_ms, ok)``; successes beyond the
      latest 1000 per service are pruned by design and not counted as lost;
    - ``latency``: samples counted per (service, location, hour), closed or open hour;
    - ``rows``: ids of incidents, incident updates, outbox rows and declared windows (never
      deleted).
    """

    minutes: dict[tuple[int, int, int], int] = field(default_factory=dict)
    pending: dict[tuple[int, int, int], int] = field(default_factory=dict)
    checks: set[tuple[int, int, int, int]] = field(default_factory=set)
    latency: dict[tuple[int, int, int], int] = field(default_factory=dict)
    rows: dict[str, set[Any]] = field(default_factory=dict)
    services: dict[int, str] = field(default_factory=dict)

    def absorb(self, other: Committed) -> None:
        """Add ``other`` to this union of everything ever seen committed."""
        self.minutes.update(other.minutes)
        for k, w in other.pending.items():
            self.pending[k] = max(w, self.pending.get(k, 0))
        self.checks |= other.checks
        for k, n in other.latency.items():
            self.latency[k] = max(n, self.latency.get(k, 0))
        for table, ids in other.rows.items():
            self.rows.setdefault(table, set()).update(ids)

    def state_at(self, key: tuple[int, int, int]) -> int | None:
        found = self.minutes.get(key)
        return found if found is not None else self.pending.get(key)


ROW_TABLES = {"incidents": "id", "incident_updates": "id", "outbox": "id", "windows": "id"}


def ro_connect(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)


def _rows(conn: sqlite3.Connection, sql: str) -> Iterable[tuple[Any, ...]]:
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def read_committed(path: Path, *, immutable: bool = False) -> Committed:
    c = Committed()
    conn = ro_connect(path, immutable=immutable)
    try:
        conn.execute("BEGIN")
        c.services = dict(_rows(conn, "SELECT id, name FROM services"))  # type: ignore[arg-type]
        for sid, lid, start, end, state in _rows(
                conn, "SELECT service_id, location_id, start, end, state FROM minute_runs"):
            for m in range(start, end):
                c.minutes[(sid, lid, m)] = state
        for sid, lid, minute, worst in _rows(
                conn, "SELECT service_id, location_id, minute, worst FROM folder_state"):
            c.pending[(sid, lid, minute)] = worst
        c.checks = {tuple(r) for r in _rows(  # type: ignore[misc]
            conn, "SELECT service_id, location_id, ts_ms, ok FROM checks")}
        for sid, lid, day, blob in _rows(
                conn, "SELECT service_id, location_id, day, hours FROM latency_days"):
            for hour_of_day, count, *_ in struct.iter_unpack("<B6I", blob):  # latency.HOUR_ENTRY
                c.latency[(sid, lid, day * 24 + hour_of_day)] = count
        for sid, lid, hour, count in _rows(
                conn, "SELECT service_id, location_id, hour, count FROM latency_open"):
            c.latency.setdefault((sid, lid, hour), count)
        for table, col in ROW_TABLES.items():
            c.rows[table] = {r[0] for r in _rows(conn, f"SELECT {col} FROM {table}")}
        conn.execute("COMMIT")
    finally:
        conn.close()
    return c


def compare(expected: Committed, now: Committed) -> tuple[dict[str, int], int]:
    """(lost items by kind, committed minutes whose state changed) of ``expected`` in ``now``."""
    lost: dict[str, int] = {}
    changed = 0

    def count(kind: str, n: int = 1) -> None:
        lost[kind] = lost.get(kind, 0) + n

    for key, state in expected.minutes.items():
        found = now.state_at(key)
        if found is None:
            count("minutes")
        elif found != state:  # a final minute never changes (no backfill here)
            changed += 1
    for key, worst in expected.pending.items():
        found = now.state_at(key)
        if found is None:
            count("pending_minutes")
        elif found < worst:  # the pending minute may only get worse
            changed += 1
    successes: dict[int, list[int]] = {}
    for sid, _lid, ts, ok in now.checks:
        if ok:
            successes.setdefault(sid, []).append(ts)
    floor = {sid: sorted(ts)[-KEEP_SUCCESSES] for sid, ts in successes.items()
             if len(ts) >= KEEP_SUCCESSES}
    for sid, _lid, ts, ok in expected.checks - now.checks:
        if ok and ts < floor.get(sid, -1):
            continue  # pruned by design: not among the latest 1000 successes
        count("checks")
    for key, n in expected.latency.items():
        if now.latency.get(key, 0) < n:
            count("latency_days")
    for table, ids in expected.rows.items():
        missing = len(ids - now.rows.get(table, set()))
        if missing:
            count(table, missing)
    return lost, changed


def integrity(path: Path, *, immutable: bool = False) -> tuple[str, int]:
    """(``PRAGMA integrity_check`` first lines joined, ``foreign_key_check`` row count)."""
    try:
        conn = ro_connect(path, immutable=immutable)
        try:
            ic = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)")]
            fk = len(conn.execute("PRAGMA foreign_key_check").fetchall())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot check: {exc}", -1
    return "; ".join(ic[:3]) + (f" (+{len(ic) - 3} more)" if len(ic) > 3 else ""), fk


def clean_copy(src: Path, dst: Path) -> None:
    """A consistent copy of ``src`` (WAL included) at ``dst``, in WAL mode, no side files."""
    source = ro_connect(src)
    target = sqlite3.connect(dst, isolation_level=None)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode = WAL")
    finally:
        target.close()
        source.close()


# ---- mounts ----------------------------------------------------------------------------------


def mount_tmpfs(path: Path, size: int) -> str | None:
    """Mount a tmpfs of ``size`` bytes at ``path``; None, or why it could not be done."""
    if os.geteuid() != 0:
        return "mount needs root (not running as root)"
    if shutil.which("mount") is None:
        return "no mount command"
    path.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                          str(path)], capture_output=True, text=True, timeout=20)
    if got.returncode != 0:
        return f"mount -t tmpfs not permitted: {(got.stderr or got.stdout).strip()}"
    MOUNTS.append(path)
    return None


def remount(path: Path, mode: str) -> str | None:
    got = subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], capture_output=True,
                         text=True, timeout=20)
    return None if got.returncode == 0 else (got.stderr or got.stdout).strip()


def unmount(path: Path) -> None:
    if path not in MOUNTS:
        return
    got = subprocess.run(["umount", str(path)], capture_output=True, timeout=20)
    if got.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20)
    MOUNTS.remove(path)


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[str | None]:
    reason = mount_tmpfs(path, size)
    try:
        yield reason
    finally:
        unmount(path)


def fill(directory: Path) -> int:
    """Write a file in ``directory`` until the file system is full; bytes written."""
    written = 0
    with (directory / "filler").open("wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += f.write(block) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


# ---- the suite -------------------------------------------------------------------------------


@dataclass
class Life:
    """One ``upwatch run`` on the main ledger: started, ready (/healthz 200), killed (time.time)."""

    started: float
    ready: float | None
    killed: float


def log_tail(log: Path, lines: int = 4) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def log_since(log: Path, offset: int) -> str:
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


class Suite:
    def __init__(self, args: argparse.Namespace, work: Path, seed: int) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(seed)
        self.cmd = upwatch_cmd(args.upwatch)
        self.failed: list[str] = []
        self.lives: list[Life] = []
        self.seen = Committed()  # everything ever read as committed on the main ledger
        self.integrity_failures = 0
        self.fk_failures = 0
        self.lost: dict[str, int] = {}
        self.changed = 0
        self.start_failures = 0
        self.not_ok_before_kill = 0
        self.target = Target()
        self.cfg = work / "probes.yaml"
        self.db = work / "main" / "upwatch.db"
        self.log = work / "run.log"

    def fail(self, what: str) -> None:
        self.failed.append(what)

    def run_cmd(self, db: Path, site: Path, port: int) -> list[str]:
        site.parent.mkdir(parents=True, exist_ok=True)  # `run` builds the page beside it
        return [*self.cmd, "run", "--config", str(self.cfg), "--db", str(db),
                "--listen", f"127.0.0.1:{port}", "--site", str(site)]

    # -- 1. kill -9 cycles ---------------------------------------------------------------------

    def cycle(self, n: int) -> None:
        port = free_port()
        started = time.time()
        proc = spawn(self.run_cmd(self.db, self.work / "main" / "site" / "out", port), self.log,
                     f"cycle {n}")
        ready = wait_ready(proc, port, READY_TIMEOUT_S)
        if ready is None:
            self.start_failures += 1
            rc = proc.poll()
            killed_rc = kill9(proc) if rc is None else reap(proc)
            self.lives.append(Life(started, None, time.time()))
            self.fail(f"cycle {n}: /healthz never answered 200 (exit {rc}, "
                      f"after kill {killed_rc}): {log_tail(self.log)}")
            say(f"cycle {n:3d}/{self.args.cycles}  START FAILED: exit {rc}")
            return
        time.sleep(self.rng.uniform(self.args.min_run, self.args.max_run))
        before = healthz(port)
        if before is None or before[0] != 200:
            self.not_ok_before_kill += 1
            self.fail(f"cycle {n}: /healthz said {before} just before the kill")
        snap = read_committed(self.db)  # what is committed right now ...
        os.kill(proc.pid, signal.SIGKILL)  # ... and the kill right after it
        killed = time.time()
        if reap(proc) is None:
            self.fail(f"cycle {n}: still alive {EXIT_TIMEOUT_S}s after kill -9")
        self.lives.append(Life(started, ready, killed))
        self.seen.absorb(snap)
        ic, fk = integrity(self.db)
        if ic != "ok":
            self.integrity_failures += 1
            self.fail(f"cycle {n}: integrity_check: {ic}")
        if fk:
            self.fk_failures += 1
            self.fail(f"cycle {n}: foreign_key_check: {fk} rows")
        after = read_committed(self.db)
        lost, changed = compare(self.seen, after)
        for kind, count in lost.items():
            self.lost[kind] = self.lost.get(kind, 0) + count
        self.changed += changed
        if lost or changed:
            self.fail(f"cycle {n}: committed results lost {lost}, changed {changed}")
        self.seen.absorb(after)
        say(f"cycle {n:3d}/{self.args.cycles}  ran {killed - ready:4.2f}s "
            f"(ready in {ready - started:4.2f}s)  committed {len(snap.minutes):5d} min "
            f"+{len(snap.pending):3d} pending, {len(snap.checks):6d} checks  "
            f"integrity {ic if ic == 'ok' else 'FAILED'}"
            f"{'' if not fk else f' fk {fk}'}  lost {sum(lost.values())}"
            f"{'' if not changed else f' changed {changed}'}")

    # -- 2. nodata -----------------------------------------------------------------------------

    def nodata(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        month = f"{now.year:04d}-{now.month:02d}"
        t0 = time.monotonic()
        got = subprocess.run(
            [*self.cmd, "report", "--config", str(self.cfg), "--db", str(self.db), "--month",
             month, "--format", "json"], capture_output=True, text=True,
            timeout=REPORT_TIMEOUT_S, cwd=self.work)
        took = time.monotonic() - t0
        if got.returncode != 0:
            self.fail(f"report: exit {got.returncode}: {got.stderr.strip()[-300:]}")
            return {"month": month, "report_exit": got.returncode, "report_s": round(took, 1)}
        report = json.loads(got.stdout)
        generated = datetime.fromisoformat(report["generated_at"].replace("Z", "+00:00"))
        month_start = datetime(generated.year, generated.month, 1, tzinfo=UTC)
        lo_min = int(month_start.timestamp()) // 60
        now_min = int(generated.timestamp()) // 60  # the report counts minutes before this one
        # Which minutes can have a state, from this script's own clock (the monitor's is the
        # same wall clock). A minute has a state when a check was taken in it, or when the
        # latest earlier check is less than two intervals (2 s) old at its start; a check can
        # only be taken while a `run` is alive, and only a committed one counts. So:
        # - upper: minutes touching [started, killed + 2 s] of some run: no other minute can
        #   have a state (a check after the start, carried at most 2 s past the kill);
        # - lower: minutes overlapping [ready, killed - 1.5 s] of some run by >= 1.1 s: each
        #   service is checked every second from readiness on (its phase lies in the first
        #   second), and the writer commits what is queued within ~1 s, so a check taken
        #   1.5 s before the kill is committed: these minutes surely hold a committed check
        #   (a single short run may have none; with ~20 runs a minute some run always does);
        # - expected: minutes touching [ready, killed].
        # Every other minute of the month so far -- before the first start, between runs
        # (at least one whole minute halfway), after the last kill -- is dead time and must
        # be nodata. Each run's two ends can fall either side of a minute boundary, hence a
        # range rather than one number: observed nodata must lie in [total-upper, total-lower].
        upper: set[int] = set()
        lower: set[int] = set()
        point: set[int] = set()
        for life in self.lives:
            upper |= touching(life.started, life.killed + 2.0)
            if life.ready is not None:
                point |= touching(life.ready, life.killed)
                lower |= overlapping(life.ready, life.killed - 1.5, 1.1)
        span = range(lo_min, now_min)
        u, lw, p = (len([m for m in s if m in span]) for s in (upper, lower, point))
        dead_inside = 0  # whole dead minutes between the first and the last run
        if upper:
            dead_inside = len([m for m in range(min(upper), max(upper)) if m not in upper])
        services = report["services"]
        total = services[0]["total_minutes"] if services else now_min - lo_min
        lo, hi = total - u, total - lw
        observed = [s["nodata_minutes"] for s in services]
        outside = [s["service"] for s in services if not lo <= s["nodata_minutes"] <= hi]
        if total != now_min - lo_min:
            self.fail(f"nodata: report total_minutes {total}, expected {now_min - lo_min}")
        if outside:
            self.fail(f"nodata: {len(outside)} services outside [{lo}, {hi}] "
                      f"(e.g. {outside[:3]}: "
                      f"{[s['nodata_minutes'] for s in services if s['service'] in outside][:3]})")
        # Exactly, per service, from the committed raw checks (all kept: fewer than 1000 per
        # service): a minute has a state iff a check lies in it or the check before carries
        # into it (within 2 intervals = 2 s of its start). Independent of the runs the report
        # reads, written in the same transaction as the raw checks.
        exact = exact_nodata(read_committed(self.db), lo_min, now_min)
        mismatched = [s["service"] for s in services
                      if exact.get(s["service"]) not in (None, s["nodata_minutes"])]
        if mismatched:
            self.fail(f"nodata: {len(mismatched)} services differ from their committed checks "
                      f"(e.g. {[(n, exact[n]) for n in mismatched[:3]]})")
        say(f"report {month}: total {total} min; nodata expected {total - p} "
            f"(range {lo}..{hi}; {dead_inside} whole dead minutes between runs), observed "
            f"{min(observed, default=0)}..{max(observed, default=0)}; "
            f"{len(outside)} of {len(services)} services outside the range; "
            f"{len(mismatched)} differ from their committed checks")
        return {"month": month, "total_minutes": total, "expected": total - p,
                "range": [lo, hi], "observed": [min(observed, default=None),
                                                max(observed, default=None)],
                "dead_minutes_between_runs": dead_inside, "outside": len(outside),
                "from_checks": [min(exact.values(), default=None),
                                max(exact.values(), default=None)],
                "mismatched": len(mismatched),
                "report_s": round(took, 1)}

    # -- 3. other faults -----------------------------------------------------------------------

    def corrupted(self) -> dict[str, Any]:
        d = self.work / "corrupt"
        d.mkdir()
        db = d / "upwatch.db"
        clean_copy(self.db, db)
        conn = sqlite3.connect(db)
        try:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = conn.execute("SELECT pageno, name FROM dbstat WHERE pageno > 1").fetchall()
        except sqlite3.Error:  # no dbstat: any page but the first
            count = conn.execute("PRAGMA page_count").fetchone()[0]
            pages = [(p, "?") for p in range(2, count + 1)]
        finally:
            conn.close()
        middle = db.stat().st_size // page_size // 2 + 1
        pageno, table = min(pages, key=lambda p: (abs(p[0] - middle), p[0]))
        garbage = self.rng.randbytes(64)
        with db.open("r+b") as f:  # the b-tree page header and the first cell pointers
            f.seek((pageno - 1) * page_size)
            f.write(garbage)
        ic, _ = integrity(db)
        result: dict[str, Any] = {"page": pageno, "pages": db.stat().st_size // page_size,
                                  "table": table, "integrity_check_of_damaged_copy": ic}
        result.update(self.watch_fault("corrupted", db, d / "site" / "out"))
        exit_code, seen = result["exit_code"], result["healthz"]
        message = result.get("message", "")
        ok = ((exit_code == EXIT_DB and bool(message))
              or any(s["status"] == 503 for s in seen))
        result["committed_lost"] = None  # the damage is the fault: the original is not touched
        return self.outcome("corrupted_ledger", ok, result,
                            "expected exit 3 with a message, or /healthz 503")

    def read_only(self) -> dict[str, Any]:
        mnt = self.work / "ro"
        size = self.db.stat().st_size * 2 + (4 << 20)
        with tmpfs(mnt, size) as reason:
            if reason is not None:
                return self.skipped("read_only_ledger", reason)
            db = mnt / "upwatch.db"
            clean_copy(self.db, db)
            before = read_committed(db)
            problem = remount(mnt, "ro")
            if problem is not None:
                return self.skipped("read_only_ledger", f"remount,ro not permitted: {problem}")
            result = self.watch_fault("read-only", db, self.work / "ro-site" / "out")
            problem = remount(mnt, "rw")
            ic, fk = integrity(db, immutable=problem is not None)
            lost, changed = compare(before, read_committed(db, immutable=problem is not None))
        result.update(integrity=ic, committed_lost=sum(lost.values()) + changed)
        exit_code, seen = result["exit_code"], result["healthz"]
        ok = (exit_code == EXIT_DB or any(s["status"] == 503 for s in seen)) and (
            ic == "ok" and not lost and not changed)
        return self.outcome("read_only_ledger", ok, result,
                            "expected exit 3, or /healthz 503; nothing committed lost")

    def full_disk(self) -> dict[str, Any]:
        mnt = self.work / "full"
        size = max(2 << 20, self.db.stat().st_size + (1 << 20))
        with tmpfs(mnt, size) as reason:
            if reason is not None:
                return self.skipped("full_disk", reason)
            db = mnt / "upwatch.db"
            clean_copy(self.db, db)
            return self._full_disk(mnt, db, size)

    def _full_disk(self, mnt: Path, db: Path, size: int) -> dict[str, Any]:
        port = free_port()
        offset = self.log.stat().st_size if self.log.exists() else 0
        proc = spawn(self.run_cmd(db, self.work / "full-site" / "out", port), self.log,
                     "full disk")
        result: dict[str, Any] = {"tmpfs_bytes": size}
        try:
            if wait_ready(proc, port, READY_TIMEOUT_S) is None:
                result.update(exit_code=proc.poll(), healthz=[], message=log_tail(self.log))
                return self.outcome("full_disk", False, result, "did not start")
            time.sleep(3.0)  # a few commits on the small disk first
            before = read_committed(db)
            filled_at = time.time()
            result["filled_bytes"] = fill(mnt)
            watch = Watch()
            watch.run(proc, port, self.args.observe)
            during = read_committed(db)
            result["commit_failures_logged"] = log_since(self.log, offset).count(
                "ledger commit of")
            (mnt / "filler").unlink()
            freed_at = time.time()
            result["full_s"] = round(freed_at - filled_at, 1)

            def recovered(w: Watch) -> bool:
                age = w.last.get("last_ledger_write_age_s")
                return (w.seen[-1]["status"] == 200 and age is not None and age < 3
                        and w.last.get("ledger_queued", 1) < 500) if w.seen else False

            went_503 = any(s["status"] == 503 for s in watch.seen)  # while full
            watch.seen.append({"t": round(time.monotonic() - watch.t0, 1), "status": "freed",
                               "problems": []})
            watch.run(proc, port, 20.0, until=recovered)
            result["recovered"] = recovered(watch)
            result["crashed_exit_code"] = watch.exit_code
            rc, by_itself = terminate(proc)
            result["exit_code_after_sigterm"] = rc if by_itself else f"{rc} (needed kill -9)"
        finally:
            if proc.poll() is None:
                kill9(proc)
        result["healthz"] = watch.summary()
        ic, fk = integrity(db)
        final = read_committed(db)
        lost_before, changed_before = compare(before, final)
        lost_during, changed_during = compare(during, final)
        # The writer keeps a failed batch queued and retries it: every minute of the full
        # period must have a state once space is back (each service is probed every second).
        first, last = int(filled_at) // 60 + 1, int(freed_at) // 60
        keys = {(sid, lid) for sid, lid, _ in before.minutes} | {
            (sid, lid) for sid, lid, _ in before.pending}
        gaps = sum(1 for sid, lid in keys for m in range(first, last)
                   if final.state_at((sid, lid, m)) is None)
        lost = sum(lost_before.values()) + sum(lost_during.values())
        changed = changed_before + changed_during
        result.update(integrity=ic, foreign_key_rows=fk, committed_lost=lost + changed,
                      minutes_missing_in_full_period=gaps)
        ok = (ic == "ok" and not fk and not lost and not changed and not gaps and went_503
              and result["recovered"] and watch.exit_code is None)
        return self.outcome("full_disk", ok, result,
                            "expected /healthz 503 while full, recovery after freeing space, "
                            "integrity ok, nothing committed lost, no minute of the full "
                            "period missing")

    def watch_fault(self, name: str, db: Path, site: Path) -> dict[str, Any]:
        """Start `run` on ``db``; watch /healthz until it exits or --observe seconds pass."""
        port = free_port()
        offset = self.log.stat().st_size if self.log.exists() else 0
        proc = spawn(self.run_cmd(db, site, port), self.log, name)
        watch = Watch()
        rc: int | None = None
        by_itself = True
        try:
            watch.run(proc, port, self.args.observe)
            still_running = watch.exit_code is None
            if still_running:
                rc, by_itself = terminate(proc)
        finally:
            if proc.poll() is None:
                kill9(proc)
        out = log_since(self.log, offset)
        result: dict[str, Any] = {
            "exit_code": watch.exit_code,
            "healthz": watch.summary(),
            "commit_failures_logged": out.count("ledger commit of"),
        }
        errors = [line.strip() for line in out.splitlines() if line.startswith("Error:")]
        if not still_running:  # what it said when it gave up by itself
            result["message"] = (errors[0] if errors else log_tail(self.log, 2))[:300]
        else:  # it ran for the whole watch: what it said when told to stop
            result["message_on_sigterm"] = errors[0][:300] if errors else None
            result["last_ledger_write_age_s"] = watch.last.get("last_ledger_write_age_s")
            result["ledger_queued"] = watch.last.get("ledger_queued")
            result["exit_code_after_sigterm"] = rc if by_itself else f"{rc} (needed kill -9)"
        return result

    def outcome(self, name: str, ok: bool, result: dict[str, Any], expected: str
                ) -> dict[str, Any]:
        result = {"outcome": "pass" if ok else "fail", **result}
        seen = ", ".join(f"{s['status']}{s['problems'] if s['problems'] else ''}@{s['t']}s"
                         for s in result.get("healthz", [])) or "never answered"
        say(f"fault {name}: {result['outcome'].upper()}  exit {result.get('exit_code')}  "
            f"healthz {seen}  committed lost {result.get('committed_lost')}"
            + (f"  message: {result['message']}" if result.get("message") else ""))
        if not ok:
            self.fail(f"{name}: {expected}; observed exit {result.get('exit_code')}, "
                      f"healthz {seen}")
        return result

    def skipped(self, name: str, reason: str) -> dict[str, Any]:
        say(f"fault {name}: skipped: {reason}")
        return {"outcome": "skipped", "reason": reason}

    def faults(self) -> dict[str, Any]:
        return {"corrupted_ledger": self.corrupted(), "read_only_ledger": self.read_only(),
                "full_disk": self.full_disk()}


def exact_nodata(c: Committed, lo_min: int, now_min: int) -> dict[str, int]:
    """Per service name: nodata minutes in [lo_min, now_min) implied by its raw checks.

    Only for services whose successes were all kept (fewer than KEEP_SUCCESSES).
    """
    minutes: dict[int, set[int]] = {}
    oks: dict[int, int] = {}
    for sid, _lid, ts, ok in c.checks:
        m, offset = divmod(ts, 60_000)
        got = minutes.setdefault(sid, set())
        got.add(m)
        if offset + 2 * 1000 - 1 >= 60_000:  # carry_count with a 1 s interval
            got.add(m + 1)
        oks[sid] = oks.get(sid, 0) + ok
    return {c.services[sid]: (now_min - lo_min) - len([x for x in got if lo_min <= x < now_min])
            for sid, got in minutes.items() if oks.get(sid, 0) < KEEP_SUCCESSES}


def touching(a: float, b: float) -> set[int]:
    """Epoch minutes whose [m, m + 60 s) meets [a, b]."""
    return set(range(math.floor(a / 60), math.floor(b / 60) + 1)) if b >= a else set()


def overlapping(a: float, b: float, need: float) -> set[int]:
    """Epoch minutes that share at least ``need`` seconds with [a, b]."""
    return {m for m in touching(a, b) if min(b, m * 60 + 60) - max(a, m * 60) >= need}


def run_suite(args: argparse.Namespace, work: Path, seed: int, figures: dict[str, Any]) -> None:
    suite = Suite(args, work, seed)
    figures["_suite"] = suite
    (work / "main").mkdir()
    port = suite.target.start()
    kinds = write_config(suite.cfg, args.services, port)
    say(f"faults: seed {seed}, {args.cycles} cycles, {args.services} services "
        f"({sum(k == 'up' for k in kinds.values())} up, "
        f"{sum(k != 'up' for k in kinds.values())} always failing), work dir {work}")
    t0 = time.monotonic()
    halfway = args.cycles // 2 if args.cycles >= 2 else None
    fault_results: dict[str, Any] | None = None
    fault_s = 0.0
    for n in range(1, args.cycles + 1):
        suite.cycle(n)
        if n == halfway and not args.no_gap:
            # Leave the ledger dead for at least one whole minute M: it starts 2 s or more
            # after the kill (no carry into it) and ends before the next start.
            killed = suite.lives[-1].killed
            restart_at = (math.ceil((killed + 2) / 60) + 1) * 60 + 0.5
            if not args.skip_faults:
                f0 = time.monotonic()
                fault_results = suite.faults()
                fault_s = time.monotonic() - f0
            pause = restart_at - time.time()
            if pause > 0:
                say(f"dead gap: no monitor running for {pause:.0f}s more")
                time.sleep(pause)
    cycles_s = time.monotonic() - t0 - fault_s
    if fault_results is None and not args.skip_faults:
        f0 = time.monotonic()
        fault_results = suite.faults()
        fault_s = time.monotonic() - f0
    r0 = time.monotonic()
    nodata = suite.nodata() if suite.lives else {}
    report_s = time.monotonic() - r0
    # The page is published as a symlink `out` to a `.out.build-*` version; a build killed
    # midway leaves a partial version, which a later build removes with the older ones
    # (statuspage/render.py keeps the newest few): a growing count means leftovers pile up.
    site = work / "main" / "site"
    versions = len(list(site.glob(".out.build-*")))
    published = (site / "out" / "index.html").is_file()
    figures.update({
        "cycles": args.cycles,
        "services": args.services,
        "integrity_failures": suite.integrity_failures,
        "foreign_key_failures": suite.fk_failures,
        "committed_lost": sum(suite.lost.values()),
        "committed_lost_by_kind": suite.lost,
        "committed_changed": suite.changed,
        "committed_seen": {"minutes": len(suite.seen.minutes),
                           "checks": len(suite.seen.checks)},
        "start_failures": suite.start_failures,
        "healthz_not_ok_before_kill": suite.not_ok_before_kill,
        "nodata_minutes_expected": nodata.get("expected"),
        "nodata_minutes_expected_range": nodata.get("range"),
        "nodata_minutes_observed": nodata.get("observed"),
        "nodata_services_outside_range": nodata.get("outside"),
        "nodata_minutes_from_committed_checks": nodata.get("from_checks"),
        "nodata_services_not_matching_checks": nodata.get("mismatched"),
        "dead_minutes_between_runs": nodata.get("dead_minutes_between_runs"),
        "report_total_minutes": nodata.get("total_minutes"),
        "faults": fault_results or "skipped (--skip-faults)",
        "site_versions_left": versions,
        "site_published": published,
        "durations_s": {"cycles": round(cycles_s, 1), "faults": round(fault_s, 1),
                        "report": round(report_s, 1)},
    })


def main() -> int:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=100, help="kill -9 cycles (default 100)")
    ap.add_argument("--services", type=int, default=50, help="services probed (default 50)")
    ap.add_argument("--seed", type=int, default=None, help="RNG seed (default: from the time)")
    ap.add_argument("--min-run", type=float, default=0.5, help="shortest run before a kill, s")
    ap.add_argument("--max-run", type=float, default=3.0, help="longest run before a kill, s")
    ap.add_argument("--observe", type=float, default=DEFAULT_OBSERVE_S,
                    help="seconds each other fault is watched (default 35)")
    ap.add_argument("--skip-faults", action="store_true", help="only the kill -9 cycles")
    ap.add_argument("--no-gap", action="store_true",
                    help="no dead minute halfway (the faults then run after the cycles)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--upwatch", default=None,
                    help="command that runs upwatch (default: .venv/bin/upwatch)")
    args = ap.parse_args()
    if args.cycles < 0 or args.services < 1 or not 0 < args.min_run <= args.max_run:
        ap.error("need --cycles >= 0, --services >= 1 and 0 < --min-run <= --max-run")
    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000_007
    figures: dict[str, Any] = {"seed": seed}
    work = Path(tempfile.mkdtemp(prefix="upwatch-faults-"))
    started = time.monotonic()
    interrupted = False

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        run_suite(args, work, seed, figures)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: killing children and cleaning up")
    except Exception as exc:  # report it in the JSON like any other failure
        figures.setdefault("_suite", None)
        figures["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # cleanup is not interrupted twice
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kill_all_children()
        for mnt in list(MOUNTS):
            unmount(mnt)
        suite = figures.pop("_suite", None)
        if suite is not None:
            suite.target.stop()
            if "cycles" not in figures:  # interrupted or broken: what was seen until then
                figures.update(cycles_done=len(suite.lives),
                               integrity_failures=suite.integrity_failures,
                               foreign_key_failures=suite.fk_failures,
                               committed_lost=sum(suite.lost.values()),
                               committed_changed=suite.changed)
    failed = list(suite.failed) if suite is not None else []
    if "error" in figures:
        failed.append(f"error: {figures['error']}")
    keep = args.keep or bool(failed) or interrupted
    if keep:
        say(f"work directory kept: {work} (run.log has every child's output)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    figures.setdefault("durations_s", {})["total"] = round(time.monotonic() - started, 1)
    figures.update(ok=not failed and not interrupted, failed=failed, interrupted=interrupted,
                   work_dir=str(work) if keep else None)
    if failed:
        say(f"FAILED {len(failed)} checks: " + "; ".join(failed[:10])
            + (" …" if len(failed) > 10 else ""))
    print(json.dumps(figures, default=str), flush=True)
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
