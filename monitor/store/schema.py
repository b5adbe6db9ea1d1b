"""The ledger's schema, described once, its numbered migrations, and the one way to write.

The description is SQLite's DDL; PostgreSQL runs its translation
(:mod:`monitor.store.pg_ddl`, by :meth:`~monitor.store.database.Database.ddl`), and the few
statements marked :class:`~monitor.store.pg_ddl.PostgresOnly` (storage settings) only there.
:func:`migrate` applies the missing migrations in order inside one transaction, so a newer
upwatch opens an older database; a database newer than this code is refused with
:class:`LedgerError`. A released migration is never edited: a change is a new entry at the end
of :data:`MIGRATIONS`.
Where the version is kept is the engine's (``PRAGMA user_version``; a table in PostgreSQL).

Times are integers: epoch milliseconds (``*_ms``), epoch minutes (``minute_runs``), epoch hours
(``latency_open.hour``), epoch days (``latency_days.day``). Latencies are kept as integers in
tenths of a millisecond (``*_dms``; packed per day in ``latency_days``) so that the ledger
stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

from monitor.store.database import Database
from monitor.store.errors import LedgerError
from monitor.store.latency_upgrades import fill_day_sums, hours_to_days
from monitor.store.pg_ddl import PostgresOnly
from monitor.times import EPOCH

__all__ = ["LATEST", "MIGRATIONS", "LedgerError", "Step", "apply_migrations", "from_ms",
           "migrate", "to_ms", "transaction"]

_ONE_MS = timedelta(milliseconds=1)

#: One step of a migration: a statement of the description, or a function that moves data
#: (run over the database inside the migrating transaction).
Step = str | Callable[[Database], None]

_V1_CORE = (
    "CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE locations (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    # Final runs of availability minutes, state 1..3 (up, degraded, down); nodata is absence.
    """CREATE TABLE minute_runs (
        service_id INTEGER NOT NULL REFERENCES services (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 3),
        PRIMARY KEY (service_id, location_id, start)
    ) WITHOUT ROWID""",
    # The pending tail of each fold (monitor.core.minutes.FolderState).
    """CREATE TABLE folder_state (
        service_id INTEGER NOT NULL REFERENCES services (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        minute INTEGER NOT NULL,
        worst INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        last_state INTEGER NOT NULL,
        interval_ms INTEGER NOT NULL,
        PRIMARY KEY (service_id, location_id)
    ) WITHOUT ROWID""",
    # Raw check results: failures for the retention period, the latest successes per service.
    """CREATE TABLE checks (
        service_id INTEGER NOT NULL REFERENCES services (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        ts_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms REAL,
        status INTEGER,
        error TEXT,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (service_id, ts_ms, location_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX checks_failures ON checks (service_id, ts_ms) WHERE ok = 0",
)

_V2_LATENCY = (
    """CREATE TABLE latency_hours (
        service_id INTEGER NOT NULL REFERENCES services (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        hour INTEGER NOT NULL,
        count INTEGER NOT NULL,
        mean_dms INTEGER NOT NULL,
        max_dms INTEGER NOT NULL,
        p50_dms INTEGER NOT NULL,
        p95_dms INTEGER NOT NULL,
        p99_dms INTEGER NOT NULL,
        PRIMARY KEY (service_id, location_id, hour)
    ) WITHOUT ROWID""",
    # The open (latest) hour's histogram, so that a restart mid-hour loses nothing.
    """CREATE TABLE latency_open (
        service_id INTEGER NOT NULL REFERENCES services (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        hour INTEGER NOT NULL,
        count INTEGER NOT NULL,
        sum_ms REAL NOT NULL,
        max_ms REAL NOT NULL,
        last_ms INTEGER NOT NULL,
        buckets BLOB NOT NULL,
        PRIMARY KEY (service_id, location_id)
    ) WITHOUT ROWID""",
)

_V3_META = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
)

# Maintenance windows and exclusions declared through the CLI or the admin API. Nothing is ever
# deleted or rewritten: a window can only be cancelled, once (monitor.store.windows).
_V4_WINDOWS = (
    """CREATE TABLE windows (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('maintenance', 'exclusion')),
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL CHECK (end_ms > start_ms),
        title TEXT NOT NULL,
        declared_at_ms INTEGER NOT NULL,
        declared_by TEXT NOT NULL,
        cancelled_at_ms INTEGER,
        cancelled_by TEXT,
        warnings TEXT NOT NULL DEFAULT '[]'
    )""",
    """CREATE TABLE window_services (
        window_id INTEGER NOT NULL REFERENCES windows (id),
        position INTEGER NOT NULL,
        service TEXT NOT NULL,
        PRIMARY KEY (window_id, position)
    ) WITHOUT ROWID""",
    "CREATE INDEX windows_end ON windows (end_ms)",
    "CREATE INDEX window_services_service ON window_services (service, window_id)",
    """CREATE TRIGGER windows_never_deleted BEFORE DELETE ON windows
    BEGIN SELECT RAISE(ABORT, 'declared windows are never deleted: cancel them'); END""",
    """CREATE TRIGGER windows_never_rewritten BEFORE UPDATE
    OF id, kind, start_ms, end_ms, title, declared_at_ms, declared_by, warnings ON windows
    BEGIN SELECT RAISE(ABORT, 'declared windows are never rewritten: cancel and declare anew');
    END""",
    """CREATE TRIGGER windows_cancelled_once BEFORE UPDATE
    OF cancelled_at_ms, cancelled_by ON windows WHEN OLD.cancelled_at_ms IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a window is cancelled only once'); END""",
    """CREATE TRIGGER window_services_never_deleted BEFORE DELETE ON window_services
    BEGIN SELECT RAISE(ABORT, 'declared windows are never deleted: cancel them'); END""",
    """CREATE TRIGGER window_services_never_rewritten BEFORE UPDATE ON window_services
    BEGIN SELECT RAISE(ABORT, 'declared windows are never rewritten: cancel and declare anew');
    END""",
)

# Incidents, their updates (the audit trail: never deleted) and the notification outbox
# (monitor.store.incidents). One outbox row per (event, channel): the idempotency key.
_V5_INCIDENTS = (
    """CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        impact TEXT NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical')),
        severity TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
        detected_at_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        resolved_at_ms INTEGER,
        detection_key TEXT UNIQUE
    )""",
    "CREATE INDEX incidents_detected ON incidents (detected_at_ms)",
    """CREATE TABLE incident_services (
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        service TEXT NOT NULL,
        PRIMARY KEY (incident_id, service)
    ) WITHOUT ROWID""",
    """CREATE TABLE incident_updates (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        at_ms INTEGER NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
        body TEXT NOT NULL,
        author TEXT NOT NULL,
        human INTEGER NOT NULL CHECK (human IN (0, 1))
    )""",
    "CREATE INDEX incident_updates_incident ON incident_updates (incident_id, at_ms)",
    """CREATE TRIGGER incident_updates_never_deleted BEFORE DELETE ON incident_updates
    BEGIN SELECT RAISE(ABORT, 'incident updates are never deleted: post a new one'); END""",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at_ms INTEGER NOT NULL,
        last_error TEXT,
        sent_at_ms INTEGER,
        dropped TEXT,
        UNIQUE (event_id, channel)
    )""",
    "CREATE INDEX outbox_due ON outbox (next_at_ms) WHERE sent_at_ms IS NULL AND dropped IS NULL",
)

# Push (heartbeat) services (monitor.store.pings): each one's secret ping token, and what is
# kept of its pings (monitor.core.pings.PingState), one row per service.
_V6_PUSH = (
    """CREATE TABLE push_services (
        service TEXT PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        last_ping_ms INTEGER,
        last_success_ms INTEGER,
        last_start_ms INTEGER,
        last_fail_ms INTEGER,
        exit_status INTEGER,
        run_ms REAL
    )""",
)

# Status page subscribers (monitor.store.subscribers): an email address or a webhook URL, the
# services it follows ('[]': all), the secret token of its confirm and unsubscribe links, and
# when it asked and confirmed. Nothing else about a subscriber is kept; unsubscribing deletes
# the row. ``ref`` names its outbox channel ("subscriber:<ref>") and is never reused.
_V7_SUBSCRIBERS = (
    """CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
        address TEXT NOT NULL,
        services TEXT NOT NULL,
        pending_services TEXT,
        token TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        asked_ms INTEGER NOT NULL,
        confirmed_ms INTEGER,
        UNIQUE (kind, address)
    )""",
)

# PostgreSQL only, for the rate it records checks at (docs/postgresql.md, Performance): the
# two tables rewritten at every commit, one row per (service, location), keep half of each page
# free, so that an update stays on its page (a HOT update: no new index entry); and raw checks,
# one row per result, no longer check each row's service and location against their tables
# (two foreign-key look-ups a row, most of the cost of storing it). Only the ledger writes
# them, with the ids it read from those tables in the same transaction, and neither services
# nor locations are ever deleted.
_V8_PG_WRITES = (
    PostgresOnly("ALTER TABLE folder_state SET (fillfactor = 50)"),
    PostgresOnly("ALTER TABLE latency_open SET (fillfactor = 50)"),
    PostgresOnly("ALTER TABLE checks DROP CONSTRAINT checks_service_id_fkey"),
    PostgresOnly("ALTER TABLE checks DROP CONSTRAINT checks_location_id_fkey"),
)

# Latency: one row per (service, location, UTC day), its closed hours packed in one blob
# (monitor.store.latency), instead of one row per hour; the hours kept so far are moved over.
_V9_LATENCY_DAYS: tuple[Step, ...] = (
    """CREATE TABLE latency_days (
        service_id INTEGER NOT NULL REFERENCES services (id),
        location_id INTEGER NOT NULL REFERENCES locations (id),
        day INTEGER NOT NULL,
        hours BLOB NOT NULL,
        PRIMARY KEY (service_id, location_id, day)
    ) WITHOUT ROWID""",
    hours_to_days,
    "DROP TABLE latency_hours",
)

# Latency: each day's checks and the sums its day-long point is made of, beside its blob
# (monitor.store.latency.DAY_SUMS): the 90-day charts read them instead of unpacking every
# blob. (The sums can pass 2³¹ with a check every few seconds and slow answers: ``*_sum``
# columns are 64 bits in PostgreSQL, as in SQLite.)
_V10_DAY_SUMS: tuple[Step, ...] = (
    "ALTER TABLE latency_days ADD COLUMN count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE latency_days ADD COLUMN p50_sum INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE latency_days ADD COLUMN p95_sum INTEGER NOT NULL DEFAULT 0",
    fill_day_sums,
)

#: Migration ``n`` (1-based) takes a database from version ``n - 1`` to ``n``.
MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    _V1_CORE, _V2_LATENCY, _V3_META, _V4_WINDOWS, _V5_INCIDENTS, _V6_PUSH,
    _V7_SUBSCRIBERS, _V8_PG_WRITES, _V9_LATENCY_DAYS, _V10_DAY_SUMS)
LATEST = len(MIGRATIONS)


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of a timezone-aware datetime."""
    if when.tzinfo is None:
        raise LedgerError(f"check times must be timezone-aware (UTC), got {when.isoformat()}")
    return (when - EPOCH) // _ONE_MS


def from_ms(ts_ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=ts_ms)


def migrate(db: Database) -> int:
    """Bring the database up to :data:`LATEST`; returns the version it had."""
    found = db.schema_version()
    _refuse_newer(found, db.name)
    if found == LATEST:
        return found
    if found == 0:
        _refuse_foreign(db)
    with transaction(db, f"migrating {db.name} to schema version {LATEST}"):
        found = db.schema_version()  # another process may have migrated meanwhile
        _refuse_newer(found, db.name)
        apply_migrations(db, found, LATEST)
        db.set_schema_version(LATEST)
    return found


def apply_migrations(db: Database, found: int, to: int) -> None:
    """Run the migrations that take ``db`` from version ``found`` to ``to``, in the caller's
    transaction (the version itself is the caller's to set)."""
    for number in range(found + 1, to + 1):
        for step in MIGRATIONS[number - 1]:
            if callable(step):
                step(db)
                continue
            for sql in db.ddl(step):
                db.execute(sql)


def _refuse_foreign(db: Database) -> None:
    """A version-0 database must be empty: upwatch never adds its tables to someone else's."""
    held = db.foreign_tables()
    if held:
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        what = ("an SQLite database" if db.engine == "sqlite"
                else "a PostgreSQL database (in the schema upwatch would use)")
        fix = ("point --db at an upwatch ledger or at a new file" if db.engine == "sqlite"
               else "point --db at an empty database, or select an empty schema with "
                    "?options=-csearch_path%3Dupwatch")
        raise LedgerError(f"{db.name} is {what} but not an upwatch ledger (it holds {shown}): "
                          f"{fix}")


def _refuse_newer(found: int, name: str) -> None:
    if found > LATEST:
        raise LedgerError(
            f"{name} has schema version {found}, this upwatch knows up to {LATEST}: "
            "upgrade upwatch"
        )


@contextmanager
def transaction(
    db: Database, what: str, *, on_rollback: Callable[[], None] | None = None
) -> Iterator[None]:
    """A write transaction (:meth:`Database.begin_write` … ``COMMIT``): the one way upwatch
    writes to the ledger.

    On any exception the transaction is rolled back, then ``on_rollback()`` is called (to
    restore in-memory state that follows the database), and the exception is raised again, a
    driver's error as ``LedgerError("<what> failed: …")``. Inside an open transaction this
    only joins it; with ``on_rollback`` that is refused (:class:`LedgerError`), as the
    rollback that would need it is not this block's to see.
    """
    if db.in_transaction:
        if on_rollback is not None:
            raise LedgerError(f"{what} cannot join another transaction")
        yield
        return
    try:
        db.begin_write()
    except db.errors as exc:  # locked by another process, read-only, unreachable …
        if db.in_transaction:
            with suppress(*db.errors):
                db.rollback()
        raise LedgerError(f"{what} failed: {exc}") from exc
    try:
        yield
        db.commit()
    except BaseException as exc:
        if db.in_transaction:
            with suppress(*db.errors):  # when the connection is gone, so is the transaction
                db.rollback()
        if on_rollback is not None:
            on_rollback()
        if isinstance(exc, db.errors):
            raise LedgerError(f"{what} failed: {exc}") from exc
        raise
