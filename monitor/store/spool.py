"""The prober's spool: check results wait here, on disk, until the central upwatch took them.

A prober (``upwatch run --location fra``) sends its results to a central upwatch over HTTP
(:mod:`monitor.run.pusher`). The central may be down, restarting or unreachable for hours, and
the prober itself may be killed at any moment, so a result is first committed to this small
SQLite file and deleted only once the central answered that it has it. The central records a
result once however often it is sent (it is idempotent on service, location and time), so
"at least once" is all the spool has to promise: a line sent but not acknowledged when the
prober dies is sent again.

The file is a FIFO: ``results`` holds one import line (:mod:`monitor.importer`'s format) per row
under an ``AUTOINCREMENT`` sequence, so that sequence numbers never go back even once the
table was emptied, and the pusher's ``ack(upto_seq)`` can never delete a line appended after
the batch it sent. Each row keeps when it was spooled, which gives health its "oldest unsent
result". ``meta`` keeps when the central last took results, so that a full spool can say for
how long the central has been away, across restarts too.

Durability: WAL and ``synchronous = FULL``. WAL alone survives ``kill -9`` at any moment (a
commit is in the WAL file before ``append`` returns; an interrupted one is rolled back on the
next open). FULL also makes every commit survive a power loss or a kernel crash, which
``NORMAL`` (the ledger's choice, which can rebuild from nothing worse than a few lost minutes)
does not: here the spool holds the only copy of a result until the central acknowledges it.
The price is one fsync per ``append`` or ``ack`` transaction; callers append in batches.

Threads: :class:`Spool` is blocking and serializes its calls with a lock over its one
connection. On the event loop use :class:`AsyncSpool`, which runs every call on one dedicated
thread (as :class:`monitor.store.writer.LedgerWriter` does for the ledger). ``len()``,
:attr:`Spool.refused` and :attr:`Spool.oldest_at` are kept in memory and never touch SQLite,
so health and metrics may read them from the loop.

One process per spool file: two pushers draining the same file would send everything twice
(harmless to the central, but wasteful). ``upwatch run`` holds its run lock for that.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from monitor.core.checks import CheckResult
from monitor.core.clock import Clock, SystemClock
from monitor.errors import UpwatchError
from monitor.store.schema import from_ms, to_ms
from monitor.store.sqlite import BUSY_TIMEOUT_MS
from monitor.times import iso_utc

__all__ = ["DEFAULT_MAX_RESULTS", "FULL_WARNING_EVERY_S", "AsyncSpool", "Spool", "SpoolError",
           "result_line"]

log = logging.getLogger("upwatch.spool")
T = TypeVar("T")

DEFAULT_MAX_RESULTS = 5_000_000
#: A full spool says so at most this often (seconds of monotonic time): it refuses every
#: result while full, and one line per result would bury the log.
FULL_WARNING_EVERY_S = 60.0

_SCHEMA = (
    """CREATE TABLE results (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        spooled_ms INTEGER NOT NULL,
        line TEXT NOT NULL
    )""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
)
_VERSION = 1
_LAST_ACK = "last_ack_ms"


class SpoolError(UpwatchError):
    """The spool file cannot be used or written; the message is for the operator as is."""


def result_line(result: CheckResult) -> str:
    """``result`` as one import line, as the central takes it (no ``detail``: the import format
    has no such field, and a line with an unknown field is refused).

    The time keeps its milliseconds: the central stores epoch milliseconds and tells results
    apart by (service, location, time), so two checks within one second stay two."""
    when = result.time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({
        "service": result.service, "time": when, "ok": result.ok,
        "latency_ms": result.latency_ms, "status": result.status,
        "error": None if result.error is None else result.error.value,
        "location": result.location,
    }, ensure_ascii=False, separators=(",", ":"))


class Spool:
    """A durable FIFO of result lines in one SQLite file (see the module's docstring).

    ``max_results`` bounds the file: once it holds that many lines, :meth:`append` refuses new
    ones (counted in :attr:`refused`, with a warning at most every
    :data:`FULL_WARNING_EVERY_S`) rather than dropping old ones, which the central may be about
    to take. ``central_url`` (set by the pusher that drains the spool) and ``raise_hint`` (how
    the operator raises the bound, as the command line spells it) only serve that warning.
    """

    def __init__(
        self,
        path: str | Path,
        max_results: int = DEFAULT_MAX_RESULTS,
        *,
        clock: Clock | None = None,
        central_url: str | None = None,
        raise_hint: str = "raise the spool's max_results",
    ) -> None:
        if max_results < 1:
            raise ValueError("max_results must be at least 1")
        self.path = Path(path)
        self.max_results = max_results
        self.central_url = central_url
        self.raise_hint = raise_hint
        self.refused = 0
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()
        self._warned_at: float | None = None
        self._conn = self._connect()
        try:
            self._migrate()
            self._count = int(self._conn.execute("SELECT count(*) FROM results").fetchone()[0])
            self._oldest_ms = self._first_spooled_ms()
            self._last_ack_ms = self._meta(_LAST_ACK)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise SpoolError(f"{self.path} is not a usable upwatch spool: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    # ---- opening ----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """WAL, ``synchronous = FULL`` (why: the module's docstring), a busy timeout. One
        connection, used under :attr:`_lock` only, so any one thread may call at a time."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpoolError(f"the spool {self.path} cannot use WAL (journal mode {mode}): "
                                 "put it on a local file system")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SpoolError(f"{self.path} is not an upwatch spool: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self) -> None:
        """Create the tables in a new file; refuse a newer spool or someone else's database."""
        found = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if found > _VERSION:
            raise SpoolError(f"the spool {self.path} has version {found}, this upwatch knows up "
                             f"to {_VERSION}: upgrade upwatch")
        if found == _VERSION:
            return
        with self._transaction("creating the spool"):
            held = [r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%'")]
            if held:
                raise SpoolError(f"{self.path} is an SQLite database but not an upwatch spool "
                                 f"(it holds {', '.join(sorted(held)[:5])}): point the spool "
                                 "at a new file")
            for statement in _SCHEMA:
                self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {_VERSION}")

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any error, which is raised again (an
        SQLite error as :class:`SpoolError` saying what failed)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise SpoolError(f"{what} failed ({self.path}): {exc}") from exc
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise SpoolError(f"{what} failed ({self.path}): {exc}") from exc
            raise

    def _first_spooled_ms(self) -> int | None:
        row = self._conn.execute("SELECT spooled_ms FROM results ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def _meta(self, key: str) -> int | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    # ---- the queue --------------------------------------------------------------------------

    def append(self, lines: Sequence[str]) -> int:
        """Commit ``lines`` (oldest first) in one transaction; returns how many were taken.

        Once this returns, the taken lines survive a kill of the process and a power loss.
        Lines past :attr:`max_results` are refused and counted in :attr:`refused`. A line must
        be one line: a newline inside it would split it in two at the central (ValueError).
        """
        cleaned = [line.rstrip("\r\n") for line in lines]
        for line in cleaned:
            if "\n" in line or "\r" in line:
                raise ValueError(f"a spooled result must be one line, got {line[:80]!r}")
        with self._lock:
            room = max(0, self.max_results - self._count)
            taken = cleaned[:room]
            if taken:
                now_ms = to_ms(self._clock.now())
                with self._transaction(f"spooling {len(taken)} results"):
                    self._conn.executemany(
                        "INSERT INTO results (spooled_ms, line) VALUES (?, ?)",
                        [(now_ms, line) for line in taken])
                if self._count == 0:
                    self._oldest_ms = now_ms
                self._count += len(taken)
            refused = len(cleaned) - len(taken)
            if refused:
                self.refused += refused
                self._warn_full()
            return len(taken)

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """Up to ``limit`` of the oldest lines, oldest first, as ``(seq, line)``; they stay in
        the spool until :meth:`ack`."""
        if limit < 1:
            return []
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, line FROM results ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(int(seq), str(line)) for seq, line in rows]

    def ack(self, upto_seq: int) -> int:
        """Delete every line up to and including ``upto_seq`` (the central has them, or can
        never take them); returns how many were deleted. Also remembers when, for the warning
        of a full spool."""
        with self._lock:
            now_ms = to_ms(self._clock.now())
            with self._transaction("deleting results the central took"):
                deleted = self._conn.execute(
                    "DELETE FROM results WHERE seq <= ?", (upto_seq,)).rowcount
                self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                   (_LAST_ACK, now_ms))
                oldest = self._first_spooled_ms()
            self._count = max(0, self._count - deleted)
            self._oldest_ms = oldest
            self._last_ack_ms = now_ms
            return int(deleted)

    def __len__(self) -> int:
        """Lines waiting to be sent (kept in memory: no SQL)."""
        return self._count

    @property
    def oldest_at(self) -> datetime | None:
        """When the oldest unsent line was spooled; None when the spool is empty."""
        return None if self._oldest_ms is None else from_ms(self._oldest_ms)

    def oldest_age(self, now: datetime) -> float | None:
        """Seconds the oldest unsent line has waited at ``now``: the central's lag, for health."""
        oldest = self.oldest_at
        return None if oldest is None else max(0.0, (now - oldest).total_seconds())

    @property
    def last_ack_at(self) -> datetime | None:
        """When the central last took results from this spool (kept across restarts)."""
        return None if self._last_ack_ms is None else from_ms(self._last_ack_ms)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _warn_full(self) -> None:
        """Say that the spool is full, what it holds, since when the central took nothing and
        how to raise the bound: at most every :data:`FULL_WARNING_EVERY_S`."""
        now = self._clock.monotonic()
        if self._warned_at is not None and now - self._warned_at < FULL_WARNING_EVERY_S:
            return
        self._warned_at = now
        central = f"the central at {self.central_url}" if self.central_url else "the central"
        if self._last_ack_ms is not None:
            last = iso_utc(from_ms(self._last_ack_ms))
            since = f"{central} has not accepted results since {last}"
        elif self._oldest_ms is not None:
            since = (f"{central} has accepted none of them (the oldest was spooled at "
                     f"{iso_utc(from_ms(self._oldest_ms))})")
        else:
            since = f"{central} has accepted none of them"
        log.warning(
            "the spool %s is full: it holds %s results (its bound); %s; new results are "
            "refused, so the central will never get them (%s so far), until it takes some. "
            "To keep more, %s (now %s)", self.path, f"{self._count:,}", since, f"{self.refused:,}",
            self.raise_hint, f"{self.max_results:,}")


class AsyncSpool:
    """A :class:`Spool` for the event loop: every SQLite call runs on one dedicated thread, in
    the order asked, so the loop never waits on a commit or an fsync and the connection sees
    one thread. ``len()``, :attr:`refused` and :attr:`oldest_at` read the spool's in-memory
    figures directly."""

    def __init__(self, spool: Spool, executor: ThreadPoolExecutor | None = None) -> None:
        self.spool = spool
        self._executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="upwatch-spool")
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, max_results: int = DEFAULT_MAX_RESULTS,
                   **kw: Any) -> AsyncSpool:
        """Open (creating, counting a large backlog) in the spool's own thread; ``kw`` are
        :class:`Spool`'s keyword arguments."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upwatch-spool")
        try:
            spool = await asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(Spool, path, max_results, **kw))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(spool, executor)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError("the spool is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def append(self, lines: Sequence[str]) -> int:
        """:meth:`Spool.append` off the loop: the taken lines are committed once it returns."""
        return await self._call(self.spool.append, list(lines))

    async def peek(self, limit: int) -> list[tuple[int, str]]:
        return await self._call(self.spool.peek, limit)

    async def ack(self, upto_seq: int) -> int:
        return await self._call(self.spool.ack, upto_seq)

    def __len__(self) -> int:
        return len(self.spool)

    @property
    def refused(self) -> int:
        return self.spool.refused

    @property
    def oldest_at(self) -> datetime | None:
        return self.spool.oldest_at

    async def close(self) -> None:
        """Close the file after the calls already asked, then the thread."""
        if self._closed:
            return
        await self._call(self.spool.close)
        self._closed = True
        self._executor.shutdown(wait=False)
