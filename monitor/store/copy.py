"""Copy a whole ledger from one database to another (SQLite ↔ PostgreSQL): ``migrate-db``.

The source is read in one read-only transaction (one snapshot, even while ``upwatch run``
writes to it); the destination is written in one transaction, so an interrupted copy leaves
it as it was and running the copy again starts over. Running it again after it finished
changes nothing; after the source moved on, it brings the destination up to it.

What may be replaced is replaced: the minutes, their pending tails, raw checks and latency
(``REPLACED``) are deleted in the destination and copied whole. The audit trail is never
deleted or rewritten (the schema's triggers forbid it): declared windows, incidents, their
updates and the outbox are added where missing, a cancellation is carried over, and an
incident's or a delivery's state follows the source. Ids are kept, so every reference holds.

The destination must be empty or an earlier copy of the same source: a row with the same id
but other content (another ledger's service 3, say) stops the copy before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from monitor.store.database import Database
from monitor.store.errors import LedgerError
from monitor.store.schema import migrate, transaction

__all__ = ["ALL_TABLES", "Progress", "copy_ledger"]

#: Tables copied whole over what the destination held (children after their parents).
#: (``subscribers`` too: one who unsubscribed from the source since must not stay subscribed.)
REPLACED = ("minute_runs", "folder_state", "checks", "latency_days", "latency_open",
            "subscribers")
#: Tables whose rows are added where missing: their ids and what never changes.
_IDENTITY: dict[str, tuple[str, ...]] = {
    "services": ("id", "name"),
    "locations": ("id", "name"),
    "windows": ("id", "kind", "start_ms", "end_ms", "title", "declared_at_ms", "declared_by"),
    "incidents": ("id", "detected_at_ms", "created_by"),
}
#: Every table, in the order they are copied (parents first).
ALL_TABLES = ("services", "locations", *REPLACED, "meta", "windows", "window_services",
              "incidents", "incident_services", "incident_updates", "outbox", "push_services")
#: Columns that follow the source on a row the destination already has.
_FOLLOW: dict[str, tuple[str, ...]] = {
    "incidents": ("status", "resolved_at_ms", "impact", "severity"),
    "outbox": ("attempts", "next_at_ms", "last_error", "sent_at_ms", "dropped"),
    "meta": ("value",),
    "push_services": ("token", "last_ping_ms", "last_success_ms", "last_start_ms",
                      "last_fail_ms", "exit_status", "run_ms"),
}
_KEYS: dict[str, tuple[str, ...]] = {
    "services": ("id",), "locations": ("id",), "meta": ("key",), "windows": ("id",),
    "window_services": ("window_id", "position"), "incidents": ("id",),
    "incident_services": ("incident_id", "service"), "incident_updates": ("id",),
    "outbox": ("id",), "push_services": ("service",),
}
#: ``meta`` keys that belong to one database, not to the ledger it holds.
_OWN_META = ("generation",)
_BATCH = 5000

#: ``progress(table, rows done, rows in all)``, called as the copy goes.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Copied:
    """Rows copied per table."""

    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _where(table: str) -> str:
    return f" WHERE key NOT IN ({', '.join(repr(k) for k in _OWN_META)})" if (
        table == "meta") else ""


def _rows(db: Database, table: str, columns: Sequence[str]) -> Iterator[tuple[object, ...]]:
    yield from db.stream(f"SELECT {_quoted(columns)} FROM {table}{_where(table)}", _BATCH)


def copy_ledger(source: Database, dest: Database, progress: Progress | None = None) -> Copied:
    """Copy every table of ``source`` into ``dest`` (both brought to the current schema)."""
    migrate(source)
    migrate(dest)
    report = progress or (lambda table, done, total: None)
    counts: dict[str, int] = {}
    source.begin_read()
    try:
        columns = {t: source.columns(t) for t in ALL_TABLES}
        sizes = {t: int(source.execute(f"SELECT count(*) FROM {t}{_where(t)}").fetchone()[0])
                 for t in ALL_TABLES}
        with transaction(dest, f"copying the ledger into {dest.name}"):
            for table in _IDENTITY:
                _refuse_another_ledger(source, dest, table)
            for table in reversed(REPLACED):
                dest.execute(f"DELETE FROM {table}")
            for table in ALL_TABLES:
                counts[table] = _copy_table(source, dest, table, columns[table],
                                            sizes[table], report)
            _carry_cancellations(source, dest)
            for table in ("windows", "incidents", "incident_updates", "outbox", "subscribers"):
                dest.identity_follows(table)
    except source.errors as exc:
        raise LedgerError(f"reading {source.name} failed: {exc}") from exc
    finally:
        source.end_read()
    return Copied(counts)


def _copy_table(source: Database, dest: Database, table: str, columns: Sequence[str],
                size: int, report: Progress) -> int:
    done = 0
    report(table, 0, size)
    rows = _rows(source, table, columns)
    if table in REPLACED:
        for batch in _batches(rows):
            dest.copy_in(table, columns, batch)
            done += len(batch)
            report(table, done, size)
        return done
    keys = _KEYS[table]
    follow = _FOLLOW.get(table, ())
    on_conflict = (f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in follow)}"
                   if follow else "DO NOTHING")
    sql = (f"INSERT INTO {table} ({_quoted(columns)}) VALUES "
           f"({', '.join('?' for _ in columns)}) ON CONFLICT ({_quoted(keys)}) {on_conflict}")
    for batch in _batches(rows):
        dest.executemany(sql, batch)
        done += len(batch)
        report(table, done, size)
    return done


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(tuple(row))
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _refuse_another_ledger(source: Database, dest: Database, table: str) -> None:
    """Stop unless each ``table`` row of ``dest`` is the source's row of the same id."""
    columns = _IDENTITY[table]
    sql = f"SELECT {_quoted(columns)} FROM {table} ORDER BY id"
    held = [tuple(r) for r in dest.execute(sql).fetchall()]
    if not held:
        return
    mine = {r[0]: tuple(r) for r in source.execute(sql).fetchall()}
    for row in held:
        if mine.get(row[0]) != row:
            what = "has no such row" if row[0] not in mine else f"has {mine[row[0]]!r}"
            raise LedgerError(
                f"{dest.name} holds another ledger, not a copy of {source.name}: its {table} "
                f"row {row!r} differs (the source {what}); copy into an empty database")


def _carry_cancellations(source: Database, dest: Database) -> None:
    """A window cancelled in the source since an earlier copy is cancelled here too."""
    cancelled = source.execute(
        "SELECT id, cancelled_at_ms, cancelled_by FROM windows "
        "WHERE cancelled_at_ms IS NOT NULL").fetchall()
    for wid, at, by in cancelled:
        dest.execute("UPDATE windows SET cancelled_at_ms = ?, cancelled_by = ? "
                     "WHERE id = ? AND cancelled_at_ms IS NULL", (at, by, wid))
