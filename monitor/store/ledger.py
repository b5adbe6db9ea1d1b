"""The availability ledger: every SQL statement of upwatch lives behind :class:`Ledger`.

A :class:`Ledger` is one database — an SQLite file or a PostgreSQL database
(:mod:`monitor.store.database`; schema and migrations: :mod:`monitor.store.schema`) — its one
connection and its lock. :meth:`Ledger.record` commits check results in one transaction:
the minute folds with their runs and pending tails (:mod:`monitor.store.minute_runs`), raw
check results (:mod:`monitor.store.checks`: failures for ``retention_days``, the latest
``keep_successes`` successes per service) and hourly latency statistics
(:mod:`monitor.store.latency`); :meth:`Ledger.prune` drops old raw checks. The other methods
are thin: declared windows (:mod:`monitor.store.windows`), incidents and the notification
outbox (:mod:`monitor.store.incidents`), push services' tokens and pings
(:mod:`monitor.store.pings`), the status page's subscribers (:mod:`monitor.store.subscribers`).

Threads: a ledger has ONE connection (SQLite's opened with ``check_same_thread=False``) and every
public method holds the ledger's lock, so calls from several threads are serialized; a read
never sees half a commit. upwatch calls it from the one
:class:`monitor.store.writer.LedgerWriter` thread: reads through ``LedgerWriter.read`` (which
uses :meth:`Ledger.read_only`), changes through ``LedgerWriter.write``.

Errors: :class:`LedgerError` for an unusable database, one newer than this code, bad input or a
failed write; a failed ``record`` leaves the database and the in-memory folds as before it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

from monitor.core.checks import Observation, State
from monitor.core.clock import Clock, SystemClock
from monitor.core.incidents import Impact, Incident, IncidentStatus, IncidentUpdate
from monitor.core.minutes import FolderState, Run
from monitor.core.pings import PingState
from monitor.core.quorum import fold_plan
from monitor.core.windows import WindowKind
from monitor.store import checks, latency, pings, schema
from monitor.store import incidents as incident_store
from monitor.store import windows as ledger_windows
from monitor.store.checks import StoredCheck
from monitor.store.connect import open_database
from monitor.store.incidents import OutboxItem, OutboxRow
from monitor.store.latency import HourHistogram, LatencyPoint
from monitor.store.minute_runs import Item, Key, MinuteRuns
from monitor.store.names import add_names
from monitor.store.schema import LedgerError, to_ms
from monitor.store.subscribers import Subscribers
from monitor.store.windows import DeclaredWindow

__all__ = ["DeclaredWindow", "Ledger", "LedgerError", "Observation", "StoredCheck"]

_DAY_MS = 86_400_000
_SET_META = ("INSERT INTO meta (key, value) VALUES (?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
T = TypeVar("T")


class Ledger:
    """Availability minutes, raw checks and latency hours of every service, in one database:
    ``target`` is an SQLite file path or a ``postgresql://`` URL.

    ``clock`` stamps ``meta.last_write`` (read by auditors of a copy: docs/auditing.md).
    """

    def __init__(
        self,
        target: str | Path,
        *,
        retention_days: int = 90,
        keep_successes: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        if retention_days < 0 or keep_successes < 0:
            raise ValueError("retention_days and keep_successes must not be negative")
        self._retention_days = retention_days
        self._keep_successes = keep_successes
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._conn = open_database(target)
        self.name = self._conn.name
        try:
            schema.migrate(self._conn)
            self._load()
        except self._conn.errors as exc:
            self._conn.close()
            raise LedgerError(f"{self.name} is not a usable upwatch database: {exc}") from exc
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
        self._minutes = MinuteRuns(c)
        self._hists: dict[Key, HourHistogram] = latency.load_open(c)
        self._data_version = self._other_writers()

    def _other_writers(self) -> int:
        """A number that changes when another connection records checks."""
        return self._conn.generation()

    def _catch_up(self) -> None:
        """Inside a write transaction: if another process (``upwatch import`` beside ``run``,
        say) committed since this ledger last read its folds, reload them first. Otherwise this
        ledger would write its older in-memory tail over the minutes the other one stored."""
        if self._other_writers() != self._data_version:
            self._load()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- writing -------------------------------------------------------------------------

    def ready_to_record(self) -> None:
        """Prove, before a long run starts, that the database is whole and takes writes: a
        quick check (SQLite's ``PRAGMA quick_check``), then a committed write
        (``meta.last_start``). Raises :class:`LedgerError` saying what is wrong (damaged,
        read-only) instead of letting a monitor probe for hours into a ledger that keeps
        nothing."""
        with self._lock:
            found = self._conn.integrity_problems()
            if found:
                raise LedgerError(
                    f"{self.name} is damaged ({found[0]}); restore it from a backup, or "
                    "move it aside and start with a new file")
            try:
                with schema.transaction(self._conn, f"writing to {self.name}"):
                    self._conn.execute(_SET_META, ("last_start", to_ms(self._clock.now())))
            except LedgerError as err:
                raise LedgerError(f"{err}; upwatch run needs to write to its ledger (check the "
                                  "file's and its folder's permissions, and free space)") from err

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
        with self._lock, schema.transaction(
            self._conn, f"recording {len(observations)} check results", on_rollback=self._load
        ):
            self._catch_up()
            self._record(observations)
            self._conn.execute(_SET_META, ("last_write", to_ms(self._clock.now())))
            self._data_version = self._conn.next_generation()

    def _record(self, observations: Sequence[Observation]) -> None:
        add_names(self._conn, "services", (obs.result.service for obs in observations),
                  self._service_ids, self._service_names)
        add_names(self._conn, "locations", (obs.result.location for obs in observations),
                  self._location_ids, self._location_names)
        groups: dict[Key, list[Item]] = {}
        service_ids, location_ids = self._service_ids, self._location_ids
        for obs in observations:
            if obs.state == State.NODATA or obs.interval_ms <= 0:
                raise LedgerError(
                    f"{obs.result.service}: a check needs a state up/degraded/down and a "
                    f"positive interval, got {obs.state.label} and {obs.interval_ms} ms"
                )
            key = (service_ids[obs.result.service], location_ids[obs.result.location])
            groups.setdefault(key, []).append((to_ms(obs.result.time), obs))
        writes = latency.LatencyWrites()
        self._minutes.read_last_runs(groups)
        for key, items in groups.items():
            items.sort(key=itemgetter(0))
            self._minutes.add(key, items)
            hist = latency.add_samples(writes, key, self._hists.get(key), (
                (ts, o.result.latency_ms) for ts, o in items
                if o.result.ok and o.result.latency_ms is not None))
            if hist is not None:
                self._hists[key] = hist
        self._minutes.flush()
        writes.save(self._conn)
        checks.insert(self._conn, groups.items(), self._keep_successes)

    def prune(self, now: datetime) -> None:
        """Drop failures older than ``retention_days`` and all but the latest successes."""
        cutoff = to_ms(now) - self._retention_days * _DAY_MS
        with self._lock, schema.transaction(self._conn, "pruning old checks"):
            checks.prune(self._conn, self._service_ids.values(), cutoff, self._keep_successes)

    def atomically(self, fn: Callable[[Ledger], T]) -> T:
        """Run ``fn(self)`` in one transaction: its incident and outbox writes commit together."""
        with self._lock, schema.transaction(self._conn, "an incident change"):
            return fn(self)

    # ---- reading -------------------------------------------------------------------------

    def read_only(self, fn: Callable[[Ledger], T]) -> T:
        """Run ``fn(self)`` on one snapshot of the ledger, refusing changes.

        The lock is held throughout and ``fn`` runs in one read-only transaction
        (:meth:`~monitor.store.database.Database.begin_read`): it sees one commit even while
        another process writes (whose pending minutes it loads first: a standby replica reads
        what the leader recorded), and a statement that would change the database fails with
        :class:`LedgerError`. Inside :meth:`atomically` it only runs ``fn``.
        """
        with self._lock:
            conn = self._conn
            if conn.in_transaction:
                return fn(self)
            try:
                conn.begin_read()
                self._catch_up()  # another process's recordings: the folds it left pending
                return fn(self)
            except conn.errors as exc:
                raise LedgerError(f"reading the ledger failed: {exc}"
                                  f"{conn.readonly_hint(exc)}") from exc
            finally:
                conn.end_read()

    def _key(self, service: str, location: str) -> Key | None:
        sid, lid = self._service_ids.get(service), self._location_ids.get(location)
        return None if sid is None or lid is None else (sid, lid)

    def runs(self, service: str, start: int, end: int, *, location: str = "local") -> list[Run]:
        """Runs of ``[start, end)`` (epoch minutes), the pending tail included; nodata absent."""
        with self._lock:
            key = self._key(service, location)
            return [] if key is None else self._minutes.runs(key, start, end)

    def runs_many(
        self, services: Sequence[str], start: int, end: int, *, location: str = "local"
    ) -> dict[str, list[Run]]:
        """:meth:`runs` for many services with one query; unknown services get ``[]``."""
        with self._lock:
            lid = self._location_ids.get(location)
            found = {} if lid is None else self._minutes.stored_many(lid, services, start, end)
            out: dict[str, list[Run]] = {}
            for name in services:
                key = self._key(name, location)
                out[name] = [] if key is None else self._minutes.with_tail(
                    key, found.get(key[0], []), start, end)
            return out

    def runs_by_location(
        self, plan: Mapping[str, Sequence[str]], start: int, end: int
    ) -> dict[str, dict[str, list[Run]]]:
        """Each service's runs at each location ``plan`` lists for it (service → locations);
        one :meth:`runs_many` query per location."""
        wanted: dict[str, list[str]] = {}
        for name, locations in plan.items():
            for location in locations:
                wanted.setdefault(location, []).append(name)
        out: dict[str, dict[str, list[Run]]] = {name: {} for name in plan}
        for location, names in wanted.items():
            for name, runs in self.runs_many(names, start, end, location=location).items():
                out[name][location] = runs
        return out

    def quorum_runs_many(
        self, plan: Mapping[str, tuple[Sequence[str], int]], start: int, end: int
    ) -> dict[str, list[Run]]:
        """Each service's minutes across the locations that probe it, folded by its quorum
        (:func:`monitor.core.quorum.quorum_runs`); ``plan`` maps a service to (its locations,
        its quorum). With one location this is that location's :meth:`runs_many`."""
        return fold_plan(
            self.runs_by_location({n: locs for n, (locs, _) in plan.items()}, start, end), plan)

    def pending_minutes(self) -> list[tuple[str, str, FolderState]]:
        """Each (service, location)'s latest check and its minute so far, as recorded by any
        process: ``(service, location, state)``. Inside :meth:`read_only` it is the latest
        commit's (how a leader sees what pushes to a standby replica brought)."""
        with self._lock:
            return [(self._service_names[sid], self._location_names[lid], st)
                    for (sid, lid), st in self._minutes.pending()]

    def last_checks(self, service: str, *, until: datetime | None = None
                    ) -> dict[str, StoredCheck]:
        """The latest kept check of a service at each location, by location name (at or
        before ``until``: the page as it stood then)."""
        with self._lock:
            sid = self._service_ids.get(service)
            if sid is None:
                return {}
            return checks.latest_per_location(self._conn, service, sid, self._location_names,
                                              *(() if until is None else (to_ms(until),)))

    def last_check(self, service: str, *, until: datetime | None = None
                   ) -> StoredCheck | None:
        """The latest kept check of a service (any location; at or before ``until``)."""
        with self._lock:
            sid = self._service_ids.get(service)
            return None if sid is None else checks.latest(
                self._conn, service, sid, self._location_names,
                *(() if until is None else (to_ms(until),)))

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

    def open_incident(
        self, *, title: str, impact: Impact, severity: str, services: Sequence[str],
        detected_at: datetime, at: datetime, author: str, human: bool,
        status: IncidentStatus = IncidentStatus.INVESTIGATING, body: str = "",
        detection_key: str | None = None,
    ) -> tuple[Incident, bool]:
        """:func:`monitor.store.incidents.open_incident`: ``(incident, created)``."""
        with self._lock:
            return incident_store.open_incident(
                self._conn, title=title, impact=impact, severity=severity, services=services,
                detected_at=detected_at, at=at, author=author, human=human, status=status,
                body=body, detection_key=detection_key)

    def post_incident_update(
        self, incident_id: int, *, at: datetime, status: IncidentStatus, body: str,
        author: str, human: bool, impact: Impact | None = None, severity: str | None = None,
        services: Sequence[str] = (),
    ) -> tuple[Incident, IncidentUpdate] | None:
        """:func:`monitor.store.incidents.post_update`; None if there is no such incident."""
        with self._lock:
            return incident_store.post_update(
                self._conn, incident_id, at=at, status=status, body=body, author=author,
                human=human, impact=impact, severity=severity, services=services)

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

    def claim_notifications(self, now: datetime, limit: int,
                            lease: timedelta) -> list[OutboxItem]:
        """:func:`monitor.store.incidents.claim_due`: the due items, claimed for ``lease``."""
        with self._lock:
            return incident_store.claim_due(self._conn, now, limit, lease)

    def next_notification_due(self) -> datetime | None:
        with self._lock:
            return incident_store.next_due(self._conn)

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

    def latency_series(self, lo_hour: int, hi_hour: int,
                       per: int = 1) -> dict[str, list[LatencyPoint]]:
        """Response times per service (:func:`monitor.store.latency.read_series`)."""
        with self._lock:
            return latency.read_series(self._conn, lo_hour, hi_hour, per)

    def latency_recent(self, now_hour: int) -> tuple[dict[str, list[LatencyPoint]], ...]:
        """The last 24 hours by hour, and today (:func:`monitor.store.latency.read_recent`)."""
        with self._lock:
            return latency.read_recent(self._conn, now_hour)

    def latency_by_location(self, lo_hour: int, hi_hour: int,
                            per: int = 1) -> dict[str, dict[str, list[LatencyPoint]]]:
        with self._lock:  # monitor.store.latency.read_location_series
            return latency.read_location_series(self._conn, lo_hour, hi_hour, per)

    def push_states(self, services: Sequence[str] = (), now: datetime | None = None
                    ) -> dict[str, tuple[str, PingState]]:
        """Token and ping state of every push service; ``services`` without a token get one."""
        with self._lock:
            if services:
                pings.ensure_tokens(self._conn, services, now or self._clock.now())
            return pings.push_states(self._conn)

    def save_pings(self, states: Sequence[tuple[str, str, PingState]], now: datetime) -> None:
        with self._lock:
            pings.save_states(self._conn, states, now)

    def renew_ping_token(self, service: str, now: datetime) -> str:
        with self._lock:
            return pings.set_token(self._conn, service, now)

    @property
    def subscribers(self) -> Subscribers:
        """The status page's subscribers (:mod:`monitor.store.subscribers`)."""
        return Subscribers(self._conn, self._lock)
