"""The lock of the ``upwatch run`` that leads on a PostgreSQL ledger: a session advisory lock.

The lock is held by a connection of its own, so PostgreSQL drops it when that session ends:
the process died (``kill -9`` included: its socket closes) or its host went away (the server
notices the dead peer by TCP keepalive, set here to about 15 s). The connection's
``application_name`` says which process holds it; :meth:`PgRunLock.holder` reads it back.

:meth:`PgRunLock.try_acquire` is leader election (:mod:`monitor.run.leader`: replicas wait
their turn); :meth:`PgRunLock.acquire` refuses instead (``migrate-db``, which must have the
ledger to itself), as :class:`monitor.store.runlock.RunLock` does for an SQLite file.
"""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from typing import Any

import psycopg

from monitor.store.errors import LedgerError
from monitor.store.postgres import PostgresDatabase, display_url

__all__ = ["PgRunLock", "process_name"]

_KEY = "hashtext(current_schema() || '.upwatch-run')"
# The server's keepalive on this session: a vanished host's lock goes after ~5 + 3 × 3 s.
_KEEPALIVE = (("tcp_keepalives_idle", "5"), ("tcp_keepalives_interval", "3"),
              ("tcp_keepalives_count", "3"))


def process_name() -> str:
    """How this process is named to the others: ``upwatch run pid N on HOST``."""
    return f"upwatch run pid {os.getpid()} on {socket.gethostname()}"[:63]


class PgRunLock:
    """The lock on one ledger; its session is opened again when the server dropped it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: PostgresDatabase | None = None
        self.held = False

    def _session(self) -> PostgresDatabase:
        if self._db is None or self._db.conn.broken or self._db.conn.closed:
            self._drop()
            db = PostgresDatabase(self.url)
            try:
                db.execute("SELECT set_config('application_name', ?, false)", (process_name(),))
                for name, value in _KEEPALIVE:
                    db.execute("SELECT set_config(?, ?, false)", (name, value))
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _drop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self.held = False

    def try_acquire(self) -> bool:
        """Whether this process holds the lock now: taken if free, kept if held and the
        session is alive. Raises :class:`LedgerError` when the server cannot be reached (the
        lock, if it was held, is gone with the session)."""
        try:
            db = self._session()
            if self.held:
                db.execute("SELECT 1")
            else:
                row = db.execute(f"SELECT pg_try_advisory_lock({_KEY})").fetchone()
                self.held = bool(row is not None and row[0])
        except psycopg.Error as exc:
            self._drop()
            raise LedgerError(f"the leader lock on {self.url_name} failed: {exc}") from exc
        return self.held

    @property
    def url_name(self) -> str:
        return self._db.name if self._db is not None else display_url(self.url)

    def acquire(self) -> None:
        """Take the lock, or raise :class:`LedgerError` naming the process that holds it."""
        if not self.try_acquire():
            holder = self.holder()
            self._drop()
            raise LedgerError(
                f"{self.url_name} is in use by another upwatch run ({holder}); stop that one "
                "first, or give this one another --db")

    def holder(self) -> str:
        """Who holds the lock, as its session names itself (``unknown`` if no one, or if it
        cannot be told)."""
        try:
            row: Any = self._session().execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks AS l "
                "JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                f"AND l.granted AND l.objid = ({_KEY})::oid LIMIT 1").fetchone()
        except (psycopg.Error, LedgerError):
            return "unknown"
        if row is None:
            return "unknown"
        return f"{row[0] or 'unknown'}{f' from {row[1]}' if row[1] else ''}"

    def release(self) -> None:
        if self._db is not None and self.held:
            with suppress(psycopg.Error):  # else the session's end releases it
                self._db.execute(f"SELECT pg_advisory_unlock({_KEY})")
        self._drop()
