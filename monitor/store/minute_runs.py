"""Availability minutes in the ledger: each (service, location)'s fold, its runs and its tail.

:class:`MinuteRuns` runs the pure minute fold of :mod:`monitor.core.minutes` per (service,
location) over the ledger's connection: final runs go to ``minute_runs``, the fold's pending
tail to ``folder_state``, inside the caller's transaction
(:meth:`monitor.store.ledger.Ledger.record`, which documents how older checks are merged). It
keeps the folds and the last stored run of each key in memory, so after a rollback the ledger
makes a new one from the database. Reads merge the pending tail into the stored runs.

Keys are ``(service_id, location_id)``; minutes are epoch minutes. Only
:class:`monitor.store.ledger.Ledger` uses this class, with its lock held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.core.checks import Observation, State
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
from monitor.store.database import Database

__all__ = ["Item", "Key", "MinuteRuns"]

Key = tuple[int, int]  # (service_id, location_id)
Item = tuple[int, Observation]  # (ts_ms, observation)

_RUNS_FROM = """
    SELECT start, "end", state FROM minute_runs
    WHERE service_id = :s AND location_id = :l AND start < :hi AND start >= coalesce(
        (SELECT start FROM minute_runs WHERE service_id = :s AND location_id = :l
         AND start <= :lo ORDER BY start DESC LIMIT 1), :lo)
    ORDER BY start"""

# The runs of the services named in the list parameter :names (the engine's one_of) at one
# location, each from the run holding :lo on.
_RUNS_MANY = """
    WITH wanted(sid, lo) AS MATERIALIZED (
        SELECT s.id, coalesce((SELECT start FROM minute_runs WHERE service_id = s.id
            AND location_id = :l AND start <= :lo ORDER BY start DESC LIMIT 1), :lo)
        FROM services AS s WHERE {names})
    SELECT r.service_id, r.start, r."end", r.state FROM wanted
    JOIN minute_runs AS r ON r.service_id = wanted.sid AND r.location_id = :l
        AND r.start >= wanted.lo AND r.start < :hi
    ORDER BY r.service_id, r.start"""
# The last stored run of each service named by id in the list parameter :ids at one location.
_LAST_MANY = """
    WITH wanted(sid, lo) AS MATERIALIZED (
        SELECT s.id, (SELECT start FROM minute_runs WHERE service_id = s.id
            AND location_id = :l ORDER BY start DESC LIMIT 1)
        FROM services AS s WHERE {ids})
    SELECT r.service_id, r.start, r."end", r.state FROM wanted
    JOIN minute_runs AS r ON r.service_id = wanted.sid AND r.location_id = :l
        AND r.start = wanted.lo"""
_RUN_COLUMNS = ("service_id", "location_id", "start", "end", "state")
_TAIL_COLUMNS = ("service_id", "location_id", "minute", "worst", "last_ms", "last_state",
                 "interval_ms")
_TAIL_CONFLICT = """ON CONFLICT (service_id, location_id) DO UPDATE SET minute = excluded.minute,
    worst = excluded.worst, last_ms = excluded.last_ms, last_state = excluded.last_state,
    interval_ms = excluded.interval_ms"""


class MinuteRuns:
    """The minute folds of every (service, location) and their runs in ``minute_runs``."""

    def __init__(self, conn: Database) -> None:
        """Load the folds' pending tails from the last commit."""
        self._conn = conn
        self._runs_many = _RUNS_MANY.format(names=conn.one_of("s.name").replace("?", ":names"))
        self._last_many = _LAST_MANY.format(ids=conn.one_of("s.id").replace("?", ":ids"))
        self._folders: dict[Key, MinuteFolder] = {
            (s, loc): MinuteFolder(FolderState(m, State(w), last, State(ls), iv))
            for s, loc, m, w, last, ls, iv in conn.execute(
                "SELECT service_id, location_id, minute, worst, last_ms, last_state, interval_ms "
                "FROM folder_state")
        }
        self._last_runs: dict[Key, Run | None] = {}
        # what the commit writes at its end (flush): one statement per kind of row
        self._new_ends: list[tuple[int, int, int, int]] = []
        self._new_runs: list[tuple[int, int, int, int, int]] = []
        self._new_tails: dict[Key, tuple[int, ...]] = {}

    # ---- writing (inside the ledger's transaction) --------------------------------------------

    def read_last_runs(self, keys: Iterable[Key]) -> None:
        """Read the last stored run of each key not read yet, which :meth:`add` extends: one
        query per location rather than one per key (a round trip each to a database
        server)."""
        wanted: dict[int, list[int]] = {}
        for key in keys:
            if key not in self._last_runs:
                wanted.setdefault(key[1], []).append(key[0])
                self._last_runs[key] = None  # unless a run is found below
        for lid, sids in wanted.items():
            params = {"l": lid, "ids": self._conn.list_param(sids)}
            for sid, a, b, s in self._conn.execute(self._last_many, params):
                self._last_runs[sid, lid] = Run(a, b, State(s))

    def add(self, key: Key, items: list[Item]) -> None:
        """Fold one key's checks, sorted by time, into its runs and its pending tail."""
        folder = self._folders.get(key)
        if folder is None:
            folder = self._folders[key] = MinuteFolder()
        before = folder.state
        split = 0
        if before is not None:
            while split < len(items) and items[split][0] // MINUTE_MS < before.minute:
                split += 1
            if split:
                self._backfill(key, items[:split], before.minute)
        if len(items) - split == 1:  # the usual case: one check per key and commit
            ts, obs = items[-1]
            final = folder.add(ts, obs.state, obs.interval_ms)
        else:
            final = []
            for ts, obs in items[split:]:
                final.extend(folder.add(ts, obs.state, obs.interval_ms))
        if final:
            self._append_runs(key, coalesce(final))
        st = folder.state
        if st is not None and st is not before and st != before:
            self._new_tails[key] = (
                *key, st.minute, int(st.worst), st.last_ms, int(st.last_state), st.interval_ms)

    def flush(self) -> None:
        """Write what :meth:`add` left for the end of the commit: runs that follow every stored
        one (extended or new) and the pending tails. (Merges into stored runs, which read
        them, are written at once.)"""
        self._conn.update_many("minute_runs", ("end",), ("service_id", "location_id", "start"),
                               self._new_ends)
        self._conn.insert_many("minute_runs", _RUN_COLUMNS, self._new_runs)
        self._conn.insert_many("folder_state", _TAIL_COLUMNS, list(self._new_tails.values()),
                               _TAIL_CONFLICT)
        self._new_ends, self._new_runs, self._new_tails = [], [], {}

    def _last_run(self, key: Key) -> Run | None:
        if key not in self._last_runs:
            row = self._conn.execute(
                "SELECT start, \"end\", state FROM minute_runs WHERE service_id = ? "
                "AND location_id = ? ORDER BY start DESC LIMIT 1", key,
            ).fetchone()
            self._last_runs[key] = Run(row[0], row[1], State(row[2])) if row else None
        return self._last_runs[key]

    def _append_runs(self, key: Key, runs: list[Run]) -> None:
        """Store runs that follow every stored one: extend the last when it continues it."""
        last = self._last_run(key)
        if last is not None and runs[0].start < last.end:
            self._merge_runs(key, runs)
            return
        if last is not None and last.end == runs[0].start and last.state == runs[0].state:
            self._new_ends.append((runs[0].end, *key, last.start))
            runs = [Run(last.start, runs[0].end, last.state), *runs[1:]]
            self._new_runs.extend((*key, r.start, r.end, int(r.state)) for r in runs[1:])
        else:
            self._new_runs.extend((*key, r.start, r.end, int(r.state)) for r in runs)
        self._last_runs[key] = runs[-1]

    def _insert_runs(self, key: Key, runs: Iterable[Run]) -> None:
        self._conn.insert_many("minute_runs", _RUN_COLUMNS,
                               [(*key, r.start, r.end, int(r.state)) for r in runs])

    def _backfill(self, key: Key, items: list[Item], pending: int) -> None:
        """Merge checks older than the pending minute into the stored runs (see ``record``)."""
        runs = fold(((ts, o.state, o.interval_ms) for ts, o in items), until=pending)
        lo, hi = runs[0].start, runs[-1].end
        stored = self._stored(key, lo - 1, hi + 1)  # with the runs touching lo and hi
        after_last = items[-1][0] // MINUTE_MS + 1  # the last check carries from here ...
        stop = next((max(r.start, after_last) for r in stored if r.end > after_last), hi)
        self._merge_runs(key, list(clip(runs, lo, stop)), stored)  # ... up to stored data

    def _merge_runs(self, key: Key, runs: list[Run], stored: list[Run] | None = None) -> None:
        """Worst-of ``runs`` into the stored runs they overlap or touch (``stored`` if read)."""
        if not runs:
            return
        if stored is None:
            stored = self._stored(key, runs[0].start - 1, runs[-1].end + 1)
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

    # ---- reading ------------------------------------------------------------------------------

    def pending(self) -> list[tuple[Key, FolderState]]:
        """Each key's pending minute as its fold holds it (the last commit's, after a load)."""
        return [(key, st) for key, folder in self._folders.items()
                if (st := folder.state) is not None]

    def _stored(self, key: Key, start: int, end: int) -> list[Run]:
        """Stored runs overlapping ``[start, end)``, plus the one just before (unclipped)."""
        cur = self._conn.execute(_RUNS_FROM, {"s": key[0], "l": key[1], "lo": start, "hi": end})
        return [Run(a, b, State(s)) for a, b, s in cur]

    def with_tail(self, key: Key, stored: list[Run], start: int, end: int) -> list[Run]:
        """``stored`` clipped to ``[start, end)`` with the pending tail merged in."""
        folder = self._folders.get(key)
        tail = folder.pending(end) if folder is not None else []
        return merge_worst(list(clip(stored, start, end)), list(clip(tail, start, end)))

    def runs(self, key: Key, start: int, end: int) -> list[Run]:
        """Runs of ``[start, end)``, the pending tail included; nodata absent."""
        return self.with_tail(key, self._stored(key, start, end), start, end)

    def stored_many(
        self, location_id: int, services: Sequence[str], start: int, end: int
    ) -> dict[int, list[Run]]:
        """Stored runs (unclipped, no tail) of the named services at one location, with one
        query; by service id, services without runs left out."""
        found: dict[int, list[Run]] = {}
        params = {"l": location_id, "lo": start, "hi": end,
                  "names": self._conn.list_param(services)}
        for sid, a, b, s in self._conn.execute(self._runs_many, params):
            found.setdefault(sid, []).append(Run(a, b, State(s)))
        return found
