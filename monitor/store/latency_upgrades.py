"""The data steps of the latency tables' schema migrations (:mod:`monitor.store.schema`).

A released migration is never edited: each step here writes the columns its schema version
had, not whatever :mod:`monitor.store.latency` writes today.
"""

from __future__ import annotations

from monitor.store.database import Database
from monitor.store.latency import DAY_SUMS, blob_sums, pack_day

__all__ = ["fill_day_sums", "hours_to_days"]

#: ``latency_days`` as schema version 9 made it.
_V9_DAY_COLUMNS = ("service_id", "location_id", "day", "hours")


def hours_to_days(conn: Database) -> None:
    """Schema version 9's conversion: every ``latency_hours`` row into its day's row of
    ``latency_days``, which replaces that table (read in key order, written in batches)."""
    batch: list[tuple[int, int, int, bytes]] = []
    day_key: tuple[int, int, int] | None = None
    entries: dict[int, tuple[int, ...]] = {}
    for sid, lid, hour, *values in conn.stream(
            "SELECT service_id, location_id, hour, count, mean_dms, max_dms, p50_dms, p95_dms, "
            "p99_dms FROM latency_hours ORDER BY service_id, location_id, hour", 10_000):
        key = (int(sid), int(lid), int(hour) // 24)
        if key != day_key:
            if day_key is not None:
                batch.append((*day_key, pack_day(entries)))
            day_key, entries = key, {}
            if len(batch) >= 10_000:
                conn.copy_in("latency_days", _V9_DAY_COLUMNS, batch)
                batch = []
        entries[int(hour) % 24] = tuple(int(v) for v in values)
    if day_key is not None:
        batch.append((*day_key, pack_day(entries)))
    if batch:
        conn.copy_in("latency_days", _V9_DAY_COLUMNS, batch)


def fill_day_sums(conn: Database) -> None:
    """Schema version 10's: each ``latency_days`` row's :data:`~monitor.store.latency.DAY_SUMS`
    from its blob, a service at a time (a year of one service is a few hundred rows)."""
    services = [int(sid) for (sid,) in conn.execute(
        "SELECT DISTINCT service_id FROM latency_days ORDER BY service_id").fetchall()]
    for sid in services:
        rows = conn.execute("SELECT location_id, day, hours FROM latency_days "
                            "WHERE service_id = ?", (sid,)).fetchall()
        conn.update_many("latency_days", DAY_SUMS, ("service_id", "location_id", "day"), [
            (*blob_sums(bytes(blob)), sid, int(lid), int(day)) for lid, day, blob in rows])
