"""The availability ledger: every SQL statement of upwatch lives behind :class:`Ledger`.

It runs the pure minute fold of :mod:`monitor.core.minutes` per (service, location), persists final
runs and the fold's pending tail in the same transaction, keeps raw check results (failures for
``retention_days``, the latest ``keep_successes`` successes per service) and hourly latency
statistics (:mod:`monitor.store.latency`). The schema and its migrations are in
:mod:`monitor.store.schema`.

Threads: a ledger has ONE SQLite connection (opened with ``check_same_thread=False``) and every
public method holds the ledger's lock, so calls from several threads are serialized; a read
never sees half a commit. upwatch writes from the one :class:`monitor.store.writer.LedgerWriter`
thread and reads through ``LedgerWriter.read``, which runs in that same thread.

Errors: :class:`LedgerError` for an unusable database, one newer than this code, bad input or a
failed write; a failed ``record`` leaves the database and the in-memory folds as before it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from monitor.core.checks import ErrorKind, Observation, State
from monitor.core.clock import Clock, SystemClock
from monitor.core.minutes import (
    MINUTE_MS,
    FolderState,
    MinuteFolder,
    Run,
    clip,
    coalesce,
    fold,
    merge_worst,
)
from monitor.core.windows import WindowKind
from monitor.incidents.detection import Incident, IncidentUpdate
from monitor.store import incidents as incident_store
from monitor.store import latency, schema
from monitor.store import windows as ledger_windows
from monitor.store.incidents import OutboxItem, OutboxRow
from monitor.store.latency import HOUR_MS, HourHistogram, LatencyHour
from monitor.store.schema import LedgerError, from_ms, to_ms
from monitor.store.windows import DeclaredWindow

__all__ = ["DeclaredWindow", "LatencyHour", "Ledger", "LedgerError", "StoredCheck"]

_DAY_MS = 86_400_000
T = TypeVar("T")
_Key = tuple[int, int]  # (service_id, location_id)
_Item = tuple[int, "Observation"]  # (ts_ms, observation)


@dataclass(frozen=True, slots=True)
class StoredCheck:
    service: str
    location: str
    time: datetime  # UTC
    ok: bool
    latency_ms: float | None
    status: int | None
    error: ErrorKind | None
    detail: str


_RUNS_FROM = """
    SELECT start, end, state FROM minute_runs
    WHERE service_id = :s AND location_id = :l AND start < :hi AND start >= coalesce(
        (SELECT start FROM minute_runs WHERE service_id = :s AND location_id = :l
         AND start <= :lo ORDER BY start DESC LIMIT 1), :lo)
    ORDER BY start"""
_RUNS_MANY = """
    WITH wanted(sid, lo) AS (
        SELECT s.id, coalesce((SELECT start FROM minute_runs WHERE service_id = s.id
            AND location_id = :l AND start <= :lo ORDER BY start DESC LIMIT 1), :lo)
        FROM services AS s WHERE s.name IN (SELECT value FROM json_each(:names)))
    SELECT r.service_id, r.start, r.end, r.state FROM wanted
    JOIN minute_runs AS r ON r.service_id = wanted.sid AND r.location_id = :l
        AND r.start >= wanted.lo AND r.start < :hi
    ORDER BY r.service_id, r.start"""
_CHECK_COLUMNS = "location_id, ts_ms, ok, latency_ms, status, error, detail"


class Ledger:
    """Availability minutes, raw checks and latency hours of every service, in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: int = 90,
        keep_successes: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        if retention_days < 0 or keep_successes < 0:
            raise ValueError("retention_days and keep_successes must not be negative")
        self._path = Path(path)
        self._retention_days = retention_days
        self._keep_successes = keep_successes
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._conn = schema.connect(self._path)
        try:
            schema.migrate(self._conn, self._path.name)
            self._load()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise LedgerError(f"{self._path.name} is not a usable upwatch database: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    def _load(self) -> None:
        """(Re)load the in-memory state from the last commit."""
        c = self._conn
        self._service_ids: dict[str, int] = dict(c.execute("SELECT name, id FROM services"))
        self._location_ids: dict[str, int] = dict(c.execute("SELECT name, id FROM locations"))
        self._service_names = {v: k for k, v in self._service_ids.items()}
        self._location_names = {v: k for k, v in self._location_ids.items()}
        self._folders: dict[_Key, MinuteFolder] = {
            (s, loc): MinuteFolder(FolderState(m, State(w), last, State(ls), iv))
            for s, loc, m, w, last, ls, iv in c.execute(
                "SELECT service_id, location_id, minute, worst, last_ms, last_state, interval_ms "
                "FROM folder_state")
        }
        self._hists: dict[_Key, HourHistogram] = latency.load_open(c)
        self._last_runs: dict[_Key, Run | None] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- writing -------------------------------------------------------------------------

    def record(self, observations: Sequence[Observation]) -> None:
        """Commit check results in ONE transaction: minutes, raw checks, latency, last write.

        Per (service, location) the observations are taken in time order. Those at or after
        the fold's pending minute go through :class:`MinuteFolder`: exact. Those older than it
        (backfill, imported history) are folded on their own with :func:`fold` and merged into
        the stored runs with :func:`merge_worst`, minute by minute the worse state winning; the
        last of them carries only into minutes before the pending minute that have no stored
        state yet. Hence:

        - in-order data is exact, and so is history older than everything stored;
        - re-importing the same time-ordered checks, in any batching, changes nothing: every
          minute they imply is already stored, at least as bad;
        - checks that fall between stored ones are approximated: a minute can get worse or get
          a state, never better.

        Raw checks are keyed by (service, time, location), so a re-import adds none. Latency
        statistics count a check only when it is later than the latest one counted for its
        (service, location): re-imports never count twice; older history is not counted.
        """
        if not observations:
            return
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._record(observations)
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_write', ?)",
                    (to_ms(self._clock.now()),),
                )
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise LedgerError(
                        f"recording {len(observations)} check results failed: {exc}"
                    ) from exc
                raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._load()

    def _record(self, observations: Sequence[Observation]) -> None:
        groups: dict[_Key, list[_Item]] = {}
        for obs in observations:
            if obs.state == State.NODATA or obs.interval_ms <= 0:
                raise LedgerError(
                    f"{obs.result.service}: a check needs a state up/degraded/down and a "
                    f"positive interval, got {obs.state.label} and {obs.interval_ms} ms"
                )
            key = (self._id("services", obs.result.service),
                   self._id("locations", obs.result.location))
            groups.setdefault(key, []).append((to_ms(obs.result.time), obs))
        rows: list[tuple[object, ...]] = []
        successes: dict[int, list[tuple[object, ...]]] = {}
        for key, items in groups.items():
            items.sort(key=itemgetter(0))
            self._fold(key, items)
            hist = latency.add_samples(self._conn, key, self._hists.get(key), (
                (ts, o.result.latency_ms) for ts, o in items
                if o.result.ok and o.result.latency_ms is not None))
            if hist is not None:
                self._hists[key] = hist
            for ts, obs in items:
                r = obs.result
                row = (key[0], key[1], ts, int(r.ok), r.latency_ms, r.status,
                       r.error.value if r.error is not None else None, r.detail)
                if r.ok:
                    successes.setdefault(key[0], []).append(row)
                else:
                    rows.append(row)
        for ok_rows in successes.values():
            if len(ok_rows) > self._keep_successes:  # the older ones would be pruned anyway
                ok_rows.sort(key=itemgetter(2))
                del ok_rows[: len(ok_rows) - self._keep_successes]
            rows.extend(ok_rows)
        self._conn.executemany("INSERT OR IGNORE INTO checks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _id(self, table: str, name: str) -> int:
        ids, names = (
            (self._service_ids, self._service_names) if table == "services"
            else (self._location_ids, self._location_names)
        )
        found = ids.get(name)
        if found is None:
            cur = self._conn.execute(f"INSERT INTO {table} (name) VALUES (?)", (name,))
            found = ids[name] = int(cur.lastrowid or 0)
            names[found] = name
        return found

    def _fold(self, key: _Key, items: list[_Item]) -> None:
        folder = self._folders.setdefault(key, MinuteFolder())
        before = folder.state
        split = 0
        if before is not None:
            while split < len(items) and items[split][0] // MINUTE_MS < before.minute:
                split += 1
            if split:
                self._backfill(key, items[:split], before.minute)
        final: list[Run] = []
        for ts, obs in items[split:]:
            final.extend(folder.add(ts, obs.state, obs.interval_ms))
        if final:
            self._append_runs(key, coalesce(final))
        st = folder.state
        if st is not None and st != before:
            self._conn.execute(
                "INSERT OR REPLACE INTO folder_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, st.minute, int(st.worst), st.last_ms, int(st.last_state), st.interval_ms),
            )

    def _last_run(self, key: _Key) -> Run | None:
        if key not in self._last_runs:
            row = self._conn.execute(
                "SELECT start, end, state FROM minute_runs WHERE service_id = ? "
                "AND location_id = ? ORDER BY start DESC LIMIT 1", key,
            ).fetchone()
            self._last_runs[key] = Run(row[0], row[1], State(row[2])) if row else None
        return self._last_runs[key]

    def _append_runs(self, key: _Key, runs: list[Run]) -> None:
        """Store runs that follow every stored one: extend the last when it continues it."""
        last = self._last_run(key)
        if last is not None and runs[0].start < last.end:
            self._merge_runs(key, runs)
            return
        if last is not None and last.end == runs[0].start and last.state == runs[0].state:
            self._conn.execute(
                "UPDATE minute_runs SET end = ? WHERE service_id = ? AND location_id = ? "
                "AND start = ?", (runs[0].end, *key, last.start),
            )
            runs = [Run(last.start, runs[0].end, last.state), *runs[1:]]
            self._insert_runs(key, runs[1:])
        else:
            self._insert_runs(key, runs)
        self._last_runs[key] = runs[-1]

    def _insert_runs(self, key: _Key, runs: Iterable[Run]) -> None:
        self._conn.executemany(
            "INSERT INTO minute_runs VALUES (?, ?, ?, ?, ?)",
            ((*key, r.start, r.end, int(r.state)) for r in runs),
        )

    def _backfill(self, key: _Key, items: list[_Item], pending: int) -> None:
        """Merge checks older than the pending minute into the stored runs (see ``record``)."""
        runs = fold(((ts, o.state, o.interval_ms) for ts, o in items), until=pending)
        lo, hi = runs[0].start, runs[-1].end
        stored = self._stored_runs(key, lo - 1, hi + 1)  # with the runs touching lo and hi
        after_last = items[-1][0] // MINUTE_MS + 1  # the last check carries from here ...
        stop = next((max(r.start, after_last) for r in stored if r.end > after_last), hi)
        self._merge_runs(key, list(clip(runs, lo, stop)), stored)  # ... up to stored data

    def _merge_runs(self, key: _Key, runs: list[Run], stored: list[Run] | None = None) -> None:
        """Worst-of ``runs`` into the stored runs they overlap or touch (``stored`` if read)."""
        if not runs:
            return
        if stored is None:
            stored = self._stored_runs(key, runs[0].start - 1, runs[-1].end + 1)
        merged = merge_worst(stored, runs)
        if merged == stored:
            return
        if stored:  # every stored run whose start lies in this range, so delete them all
            self._conn.execute(
                "DELETE FROM minute_runs WHERE service_id = ? AND location_id = ? "
                "AND start >= ? AND start <= ?", (*key, stored[0].start, stored[-1].start),
            )
        self._insert_runs(key, merged)
        self._last_runs.pop(key, None)

    def prune(self, now: datetime) -> None:
        """Drop failures older than ``retention_days`` and all but the latest successes."""
        with self._lock:
            conn = self._conn
            cutoff = to_ms(now) - self._retention_days * _DAY_MS
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM checks WHERE ok = 0 AND ts_ms < ?", (cutoff,))
                for sid in self._service_ids.values():
                    first_gone = conn.execute(
                        "SELECT ts_ms, location_id FROM checks WHERE service_id = ? AND ok = 1 "
                        "ORDER BY ts_ms DESC, location_id DESC LIMIT 1 OFFSET ?",
                        (sid, self._keep_successes),
                    ).fetchone()
                    if first_gone is not None:
                        conn.execute(
                            "DELETE FROM checks WHERE service_id = ? AND ok = 1 "
                            "AND (ts_ms, location_id) <= (?, ?)", (sid, *first_gone),
                        )
                conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise LedgerError(f"pruning old checks failed: {exc}") from exc
                raise

    # ---- reading -------------------------------------------------------------------------

    def _key(self, service: str, location: str) -> _Key | None:
        sid, lid = self._service_ids.get(service), self._location_ids.get(location)
        return None if sid is None or lid is None else (sid, lid)

    def _stored_runs(self, key: _Key, start: int, end: int) -> list[Run]:
        """Stored runs overlapping ``[start, end)``, plus the one just before (unclipped)."""
        cur = self._conn.execute(_RUNS_FROM, {"s": key[0], "l": key[1], "lo": start, "hi": end})
        return [Run(a, b, State(s)) for a, b, s in cur]

    def _with_tail(self, key: _Key, stored: list[Run], start: int, end: int) -> list[Run]:
        folder = self._folders.get(key)
        tail = folder.pending(end) if folder is not None else []
        return merge_worst(list(clip(stored, start, end)), list(clip(tail, start, end)))

    def runs(self, service: str, start: int, end: int, *, location: str = "local") -> list[Run]:
        """Runs of ``[start, end)`` (epoch minutes), the pending tail included; nodata absent."""
        with self._lock:
            key = self._key(service, location)
            if key is None:
                return []
            return self._with_tail(key, self._stored_runs(key, start, end), start, end)

    def runs_many(
        self, services: Sequence[str], start: int, end: int, *, location: str = "local"
    ) -> dict[str, list[Run]]:
        """:meth:`runs` for many services with one query; unknown services get ``[]``."""
        with self._lock:
            found: dict[int, list[Run]] = {}
            lid = self._location_ids.get(location)
            if lid is not None:
                params = {"l": lid, "lo": start, "hi": end, "names": json.dumps(list(services))}
                for sid, a, b, s in self._conn.execute(_RUNS_MANY, params):
                    found.setdefault(sid, []).append(Run(a, b, State(s)))
            out: dict[str, list[Run]] = {}
            for name in services:
                key = self._key(name, location)
                out[name] = [] if key is None else self._with_tail(
                    key, found.get(key[0], []), start, end)
            return out

    def _checks(self, service: str, where: str, params: tuple[object, ...]) -> list[StoredCheck]:
        sid = self._service_ids.get(service)
        if sid is None:
            return []
        sql = f"SELECT {_CHECK_COLUMNS} FROM checks WHERE service_id = ? {where}"
        return [
            StoredCheck(service, self._location_names[lid], from_ms(ts), bool(ok), latency,
                        status, ErrorKind(error) if error else None, detail)
            for lid, ts, ok, latency, status, error, detail in self._conn.execute(
                sql, (sid, *params))
        ]

    def last_check(self, service: str) -> StoredCheck | None:
        found = self.recent_checks(service, 1)
        return found[0] if found else None

    def recent_checks(self, service: str, limit: int = 50) -> list[StoredCheck]:
        """The latest kept checks of a service (any location), newest first."""
        with self._lock:
            return self._checks(
                service, "ORDER BY ts_ms DESC, location_id DESC LIMIT ?", (limit,))

    def failures(self, service: str, since: datetime) -> list[StoredCheck]:
        """Failed checks of a service at or after ``since``, oldest first."""
        with self._lock:
            return self._checks(
                service, "AND ok = 0 AND ts_ms >= ? ORDER BY ts_ms, location_id",
                (to_ms(since),))

    def latency_hours(
        self, service: str, start: datetime, end: datetime, *, location: str = "local"
    ) -> list[LatencyHour]:
        """Hours whose start lies in ``[start, end)``, the still open one included."""
        first, stop = -(-to_ms(start) // HOUR_MS), -(-to_ms(end) // HOUR_MS)
        with self._lock:
            key = self._key(service, location)
            if key is None:
                return []
            return latency.read_hours(self._conn, key, first, stop, self._hists.get(key))

    def known_services(self) -> list[str]:
        with self._lock:
            return sorted(self._service_ids)

    def last_write(self) -> datetime | None:
        """When the last ``record`` was committed (by the ledger's clock)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'last_write'").fetchone()
        return None if row is None else from_ms(int(row[0]))

    def integrity_ok(self) -> bool:
        """``PRAGMA integrity_check`` finds nothing wrong."""
        with self._lock:
            try:
                return self._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            except sqlite3.DatabaseError:
                return False

    # ---- declared windows (SQL in monitor.store.windows) ---------------------------------

    def add_window(
        self, *, kind: WindowKind, services: Sequence[str], start: datetime, end: datetime,
        title: str, declared_at: datetime, declared_by: str, warnings: Sequence[str] = (),
    ) -> DeclaredWindow:
        """Store a maintenance window or exclusion declared at run time; returns it as stored."""
        with self._lock:
            return ledger_windows.insert_window(
                self._conn, kind=kind, services=services, start=start, end=end, title=title,
                declared_at=declared_at, declared_by=declared_by, warnings=warnings)

    def cancel_window(self, window_id: int, *, at: datetime, by: str) -> DeclaredWindow | None:
        """Cancel a declared window (kept on record); None if unknown; once cancelled, as is."""
        with self._lock:
            return ledger_windows.cancel_window(self._conn, window_id, at=at, by=by)

    def window(self, window_id: int) -> DeclaredWindow | None:
        with self._lock:
            return ledger_windows.get_window(self._conn, window_id)

    def windows(
        self, *, kind: WindowKind | None = None, start: datetime | None = None,
        end: datetime | None = None, service: str | None = None,
    ) -> list[DeclaredWindow]:
        """Declared windows, cancelled ones included, overlapping ``[start, end)`` if given."""
        with self._lock:
            return ledger_windows.find_windows(
                self._conn, kind=kind, start=start, end=end, service=service)

    # ---- incidents and the notification outbox (SQL in monitor.store.incidents) ------------

    def atomically(self, fn: Callable[[Ledger], T]) -> T:
        """Run ``fn(self)`` in one transaction: its incident and outbox writes commit together."""
        with self._lock, schema.transaction(self._conn, "an incident change"):
            return fn(self)

    def open_incident(self, **fields: Any) -> tuple[Incident, bool]:
        """:func:`monitor.store.incidents.open_incident`: ``(incident, created)``."""
        with self._lock:
            return incident_store.open_incident(self._conn, **fields)

    def post_incident_update(
        self, incident_id: int, **fields: Any
    ) -> tuple[Incident, IncidentUpdate] | None:
        """:func:`monitor.store.incidents.post_update`; None if there is no such incident."""
        with self._lock:
            return incident_store.post_update(self._conn, incident_id, **fields)

    def incident(self, incident_id: int) -> Incident | None:
        with self._lock:
            return incident_store.get_incident(self._conn, incident_id)

    def incident_by_key(self, key: str) -> Incident | None:
        with self._lock:
            return incident_store.incident_by_key(self._conn, key)

    def incidents(self, *, since: datetime | None = None, open_only: bool = False,
                  detected_only: bool = False, limit: int | None = None) -> list[Incident]:
        """Incidents newest first (see :func:`monitor.store.incidents.find_incidents`)."""
        with self._lock:
            return incident_store.find_incidents(
                self._conn, since=since, open_only=open_only, detected_only=detected_only,
                limit=limit)

    def enqueue_notifications(self, rows: Sequence[OutboxRow], now: datetime) -> int:
        with self._lock:
            return incident_store.enqueue(self._conn, rows, now)

    def due_notifications(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        with self._lock:
            return incident_store.due_items(self._conn, now, limit)

    def next_notification_due(self) -> datetime | None:
        with self._lock:
            return incident_store.next_due(self._conn)

    def notifications(self, *, pending_only: bool = False) -> list[OutboxItem]:
        with self._lock:
            return incident_store.outbox_items(self._conn, pending_only=pending_only)

    def notification_sent(self, item_id: int, at: datetime) -> None:
        with self._lock:
            incident_store.mark_sent(self._conn, item_id, at)

    def notification_failed(self, item_id: int, *, next_at: datetime, error: str) -> None:
        with self._lock:
            incident_store.mark_retry(self._conn, item_id, next_at=next_at, error=error)

    def notification_dropped(self, item_id: int, *, reason: str,
                             error: str | None = None) -> None:
        with self._lock:
            incident_store.mark_dropped(self._conn, item_id, reason=reason, error=error)
