"""Raw check results in the ledger: failures for the retention period, the latest successes.

Functions over the ledger's connection, called by :class:`monitor.store.ledger.Ledger` with its
lock held; :func:`insert` and :func:`prune` run inside its transaction. A result is keyed by
(service, time, location), so storing it again changes nothing. The complete history of
availability is ``minute_runs`` (:mod:`monitor.store.minute_runs`), not this table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from monitor.core.checks import ErrorKind, Observation
from monitor.store.database import Database
from monitor.store.schema import from_ms

__all__ = ["StoredCheck", "insert", "latest", "prune"]

_Key = tuple[int, int]  # (service_id, location_id)
_Row = tuple[object, ...]
_COLUMNS = ("service_id", "location_id", "ts_ms", "ok", "latency_ms", "status", "error",
            "detail")


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


def insert(
    conn: Database,
    groups: Iterable[tuple[_Key, Sequence[tuple[int, Observation]]]],
    keep_successes: int,
) -> None:
    """Store the results of ``(ts_ms, observation)`` items per key: every failure, and of each
    service's successes only the latest ``keep_successes`` (older ones would be pruned anyway)."""
    rows: list[_Row] = []
    successes: dict[int, list[_Row]] = {}
    for key, items in groups:
        for ts, obs in items:
            r = obs.result
            row = (key[0], key[1], ts, int(r.ok), r.latency_ms, r.status,
                   r.error.value if r.error is not None else None, r.detail)
            if r.ok:
                successes.setdefault(key[0], []).append(row)
            else:
                rows.append(row)
    for ok_rows in successes.values():
        if len(ok_rows) > keep_successes:
            ok_rows.sort(key=itemgetter(2))
            del ok_rows[: len(ok_rows) - keep_successes]
        rows.extend(ok_rows)
    conn.insert_many("checks", _COLUMNS, rows, "ON CONFLICT DO NOTHING")


# The latest success of each service (named by id in the list parameter) that is not kept:
# the OFFSET-th in time order, newest first; services with no more successes than that left out.
_FIRST_GONE = """
    WITH cut(sid, ts, lid) AS MATERIALIZED (
        SELECT s.id,
            (SELECT ts_ms FROM checks WHERE service_id = s.id AND ok = 1
             ORDER BY ts_ms DESC, location_id DESC LIMIT 1 OFFSET ?),
            (SELECT location_id FROM checks WHERE service_id = s.id AND ok = 1
             ORDER BY ts_ms DESC, location_id DESC LIMIT 1 OFFSET ?)
        FROM services AS s WHERE {ids})
    SELECT sid, ts, lid FROM cut WHERE ts IS NOT NULL"""


def prune(
    conn: Database, service_ids: Iterable[int], cutoff_ms: int, keep_successes: int
) -> None:
    """Drop failures older than ``cutoff_ms`` and all but the latest ``keep_successes``
    successes of each service: one query finds where each service's kept successes start,
    one batch of deletes (pipelined by psycopg on PostgreSQL) drops what lies before it;
    a round trip per service made this take a second per 5,000 services there."""
    conn.execute("DELETE FROM checks WHERE ok = 0 AND ts_ms < ?", (cutoff_ms,))
    ids = list(service_ids)
    if not ids:
        return
    first_gone = conn.execute(_FIRST_GONE.format(ids=conn.one_of("s.id")),
                              (keep_successes, keep_successes, conn.list_param(ids))).fetchall()
    conn.executemany(
        "DELETE FROM checks WHERE service_id = ? AND ok = 1 AND (ts_ms, location_id) <= (?, ?)",
        [tuple(row) for row in first_gone])


#: "No bound": later than any check time.
_NO_LATER = 2**62


def latest(
    conn: Database, service: str, service_id: int, locations: Mapping[int, str],
    until_ms: int = _NO_LATER,
) -> StoredCheck | None:
    """The latest kept check of a service (any location) at or before ``until_ms``;
    ``locations`` names location ids."""
    row = conn.execute(
        "SELECT location_id, ts_ms, ok, latency_ms, status, error, detail FROM checks "
        "WHERE service_id = ? AND ts_ms <= ? ORDER BY ts_ms DESC, location_id DESC LIMIT 1",
        (service_id, until_ms),
    ).fetchone()
    if row is None:
        return None
    lid, ts, ok, latency, status, error, detail = row
    return StoredCheck(service, locations[lid], from_ms(ts), bool(ok), latency, status,
                       ErrorKind(error) if error else None, detail)


def latest_per_location(
    conn: Database, service: str, service_id: int, locations: Mapping[int, str],
    until_ms: int = _NO_LATER,
) -> dict[str, StoredCheck]:
    """The latest kept check of a service at or before ``until_ms`` at each location that has
    one."""
    rows = conn.execute(
        "SELECT location_id, ts_ms, ok, latency_ms, status, error, detail FROM ("
        "SELECT *, row_number() OVER (PARTITION BY location_id ORDER BY ts_ms DESC) AS nth "
        "FROM checks WHERE service_id = ? AND ts_ms <= ?) AS latest WHERE nth = 1",
        (service_id, until_ms),
    ).fetchall()
    return {locations[lid]: StoredCheck(service, locations[lid], from_ms(ts), bool(ok), latency,
                                        status, ErrorKind(error) if error else None, detail)
            for lid, ts, ok, latency, status, error, detail in rows}
