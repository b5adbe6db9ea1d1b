"""The ledger in one SQLite file: WAL mode, one writer at a time by SQLite's own lock.

The schema version lives in ``PRAGMA user_version``; another process's commits show in
``PRAGMA data_version``. A read runs with ``PRAGMA query_only`` on, so that a statement that
would write fails.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.store.database import Cursor, Database, Params
from monitor.store.errors import LedgerError
from monitor.store.pg_ddl import PostgresOnly

__all__ = ["BUSY_TIMEOUT_MS", "SqliteDatabase"]

BUSY_TIMEOUT_MS = 5000


class SqliteDatabase(Database):
    """``path`` opened (created if needed) in WAL mode, ``synchronous=NORMAL``, foreign keys on.

    The connection may be used from any thread (``check_same_thread=False``), which is safe
    only because its user serializes every call.
    """

    engine = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open {path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(f"{path.name} is not an upwatch database: {exc}") from exc
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.conn.executemany(sql, rows)

    def insert_many(self, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[object]], conflict: str = "") -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        self.conn.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows)

    def update_many(self, table: str, columns: Sequence[str], keys: Sequence[str],
                    rows: Sequence[Sequence[object]]) -> None:
        sets = ", ".join(f'"{c}" = ?' for c in columns)
        where = " AND ".join(f'"{k}" = ?' for k in keys)
        self.conn.executemany(f"UPDATE {table} SET {sets} WHERE {where}", rows)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def begin_write(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def begin_read(self) -> None:
        self.conn.execute("PRAGMA query_only = ON")
        try:
            self.conn.execute("BEGIN")
        except BaseException:
            self.conn.execute("PRAGMA query_only = OFF")
            raise

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def end_read(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.execute("PRAGMA query_only = OFF")

    def generation(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def next_generation(self) -> int:
        # data_version changes for the commits of OTHER connections only
        return self.generation()

    def integrity_problems(self) -> list[str]:
        try:
            found = [row[0] for row in self.conn.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            found = [str(exc)]
        return [] if found == ["ok"] else found

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self.conn.execute(f"PRAGMA user_version = {int(version)}")

    def foreign_tables(self) -> list[str]:
        db = sqlite_utils.Database(self.conn, recursive_triggers=False, execute_plugins=False)
        return sorted(db.table_names() + db.view_names())

    def ddl(self, statement: str) -> list[str]:
        return [] if isinstance(statement, PostgresOnly) else [statement]

    def one_of(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def list_param(self, values: Sequence[object]) -> object:
        return json.dumps(list(values))

    def columns(self, table: str) -> list[str]:
        return [str(row[1]) for row in self.conn.execute(f"PRAGMA table_info({table})")]

    def stream(self, sql: str, batch: int) -> Iterator[tuple[Any, ...]]:
        cur = self.conn.execute(sql)
        while rows := cur.fetchmany(batch):
            yield from rows

    def copy_in(self, table: str, columns: Sequence[str],
                rows: Iterable[Sequence[object]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        self.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def identity_follows(self, table: str) -> None:
        return None  # an INTEGER PRIMARY KEY takes the largest id + 1 by itself

    def readonly_hint(self, exc: Exception) -> str:
        readonly = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_READONLY
        return " (changes go through LedgerWriter.write)" if readonly else ""

    def close(self) -> None:
        self.conn.close()
