"""One ``upwatch run`` per PostgreSQL ledger: a session advisory lock, as RunLock is a file lock.

The lock is held by a connection of its own, so PostgreSQL drops it when that connection ends
(the process died, ``kill -9`` included, or its host went away: then after the server notices
the dead peer). The connection's ``application_name`` says which process holds it, and the
refusal names it.
"""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from typing import Any

import psycopg

from monitor.store.errors import LedgerError
from monitor.store.postgres import PostgresDatabase

__all__ = ["PgRunLock"]

_KEY = "hashtext(current_schema() || '.upwatch-run')"


class PgRunLock:
    """``acquire()`` / ``release()``, as :class:`monitor.store.runlock.RunLock`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: PostgresDatabase | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`LedgerError` naming the process that holds it."""
        db = PostgresDatabase(self.url)
        try:
            me = f"upwatch run pid {os.getpid()} on {socket.gethostname()}"[:63]
            db.execute("SELECT set_config('application_name', ?, false)", (me,))
            row = db.execute(f"SELECT pg_try_advisory_lock({_KEY})").fetchone()
            if row is None or not row[0]:
                holder = self._holder(db)
                raise LedgerError(
                    f"{db.name} is in use by another upwatch run ({holder}); stop that one "
                    "first, or give this one another --db")
        except BaseException:
            db.close()
            raise
        self._db = db

    @staticmethod
    def _holder(db: PostgresDatabase) -> str:
        try:
            row: Any = db.execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks AS l "
                "JOIN pg_stat_activity AS a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                f"AND l.granted AND l.objid = ({_KEY})::oid LIMIT 1").fetchone()
        except psycopg.Error:
            return "unknown"
        if row is None:
            return "unknown"
        return f"{row[0] or 'unknown'}{f' from {row[1]}' if row[1] else ''}"

    def release(self) -> None:
        if self._db is not None:
            with suppress(psycopg.Error):  # else the session's end releases it
                self._db.execute(f"SELECT pg_advisory_unlock({_KEY})")
            self._db.close()
            self._db = None
