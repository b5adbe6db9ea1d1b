"""The ledger in a PostgreSQL database (psycopg 3), for a central that must outlive its host.

``--db postgresql://user@host:5432/dbname`` (libpq's URL: ``?options=-csearch_path%3Dname``
selects a schema other than ``public``). The password never goes into probes.yaml or the
URL: libpq reads ``PGPASSWORD`` or ``~/.pgpass``, and ``UPWATCH_DB_PASSWORD_FILE`` names a
file holding it (a container secret).

The shared dialect's ``?`` and ``:name`` placeholders become psycopg's ``%s`` and
``%(name)s`` (each statement translated once). Writers take a transaction-scoped advisory lock
first, so that one writes at a time as with SQLite, and bump ``meta.generation`` when they
record checks, which other processes read as SQLite's ``data_version``. Reads run in a
``REPEATABLE READ READ ONLY`` transaction: one snapshot, writes refused. The schema version is
the one row of ``upwatch_schema``. A connection the server dropped is opened again at the
next transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

from monitor.store import pg_ddl
from monitor.store.database import Cursor, Database, Params
from monitor.store.errors import LedgerError

__all__ = ["PASSWORD_FILE_ENV", "PostgresDatabase", "display_url"]

PASSWORD_FILE_ENV = "UPWATCH_DB_PASSWORD_FILE"
CONNECT_TIMEOUT_S = 10

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|::|\?|:(\w+)|%")
_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")
# One key per schema, so that ledgers in two schemas of one database do not wait on each other.
_WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.upwatch-write'))"


_IN_TRANSACTION = (pq.TransactionStatus.ACTIVE, pq.TransactionStatus.INTRANS,
                   pq.TransactionStatus.INERROR)


def display_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return _PASSWORD.sub(r"\1:***@", url)


def _placeholder(match: re.Match[str]) -> str:
    token = match.group(0)
    if token == "?":
        return "%s"
    if token == "%":
        return "%%"
    if match.group(1) is not None:
        return f"%({match.group(1)})s"
    return token  # a string literal, a quoted name or a cast: as is


class PostgresDatabase(Database):
    """One psycopg connection in autocommit mode (transactions are explicit)."""

    engine = "postgresql"
    errors = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = display_url(url)
        self._sql: dict[str, str] = {}
        self._column_types: dict[str, dict[str, str]] = {}
        self.conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        extra: dict[str, Any] = {}
        secret = os.environ.get(PASSWORD_FILE_ENV)
        if secret:
            try:
                extra["password"] = Path(secret).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise LedgerError(
                    f"cannot read the database password from {secret} ({PASSWORD_FILE_ENV}): "
                    f"{exc.strerror or exc}") from exc
        try:
            return psycopg.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                application_name="upwatch", **extra)
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split())
            raise LedgerError(
                f"cannot connect to {self.name}: {detail} (is PostgreSQL running there, and do "
                f"--db / UPWATCH_DB name it right? The password comes from PGPASSWORD, "
                f"~/.pgpass or {PASSWORD_FILE_ENV})") from exc

    def _translate(self, sql: str) -> str:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = _TOKEN.sub(_placeholder, sql)
        return found

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        self._alive()
        return self.conn.execute(self._translate(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        batch = list(rows)
        if batch:
            with self.conn.cursor() as cur:
                cur.executemany(self._translate(sql), batch)

    def _types(self, table: str) -> dict[str, str]:
        """Each column's type name (``int8``, ``float8``, ``text``, ``bytea`` …), read once."""
        found = self._column_types.get(table)
        if found is None:
            rows = self.conn.execute(
                "SELECT column_name, udt_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s", (table,))
            found = self._column_types[table] = {str(n): str(t) for n, t in rows}
        return found

    def _stage(self, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[object]]) -> str:
        """``rows`` in the session's temporary twin of ``table`` (``COPY`` in binary: the
        fastest way in); its name. Emptied here, and at commit."""
        stage = f"upwatch_stage_{table}"
        self.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                          f"AS SELECT * FROM {table} WITH NO DATA")  # its types, no constraints
        self.conn.execute(f"DELETE FROM {stage}")
        types = self._types(table)
        names = ", ".join(f'"{c}"' for c in columns)
        with self.conn.cursor() as cur, cur.copy(
                f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([types[c] for c in columns])
            for row in rows:
                copy.write_row(row)
        return stage

    def insert_many(self, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[object]], conflict: str = "") -> None:
        if not rows:
            return
        self._alive()
        stage = self._stage(table, columns, rows)
        names = ", ".join(f'"{c}"' for c in columns)
        self.conn.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} {conflict}")

    def update_many(self, table: str, columns: Sequence[str], keys: Sequence[str],
                    rows: Sequence[Sequence[object]]) -> None:
        if not rows:
            return
        self._alive()
        stage = self._stage(table, [*columns, *keys], rows)
        sets = ", ".join(f'"{c}" = s."{c}"' for c in columns)
        where = " AND ".join(f'x."{k}" = s."{k}"' for k in keys)
        self.conn.execute(f"UPDATE {table} AS x SET {sets} FROM {stage} AS s WHERE {where}")

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status in _IN_TRANSACTION

    def _alive(self) -> None:
        """Open the connection again if the server dropped it (a transaction it was in is
        gone with it: the failed statement raised)."""
        if self.conn.broken or self.conn.closed:
            self.conn = self._connect()

    def begin_write(self) -> None:
        self._alive()
        self.conn.execute("BEGIN")
        self.conn.execute(_WRITE_LOCK)

    def begin_read(self) -> None:
        self._alive()
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def end_read(self) -> None:
        if self.in_transaction and not self.conn.broken:
            self.conn.execute("ROLLBACK")

    def generation(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return 0 if row is None else int(row[0])

    def next_generation(self) -> int:
        row = self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', 1) ON CONFLICT (key) "
            "DO UPDATE SET value = meta.value + 1 RETURNING value").fetchone()
        assert row is not None
        return int(row[0])

    def integrity_problems(self) -> list[str]:
        return []  # PostgreSQL checks its own pages; a failed read raises

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT to_regclass('upwatch_schema') IS NOT NULL").fetchone()
        if row is None or not row[0]:
            return 0
        row = self.conn.execute("SELECT max(version) FROM upwatch_schema").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def set_schema_version(self, version: int) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS upwatch_schema (version INTEGER NOT NULL)")
        self.conn.execute("DELETE FROM upwatch_schema")
        self.conn.execute("INSERT INTO upwatch_schema (version) VALUES (%s)", (int(version),))

    def foreign_tables(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name").fetchall()
        return [str(row[0]) for row in rows]

    def ddl(self, statement: str) -> list[str]:
        return pg_ddl.translate(statement)

    def one_of(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def list_param(self, values: Sequence[object]) -> object:
        return list(values)

    def skip_locked(self) -> str:
        return " FOR UPDATE SKIP LOCKED"

    def columns(self, table: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))
        return [str(row[0]) for row in rows]

    def stream(self, sql: str, batch: int) -> Iterator[tuple[Any, ...]]:
        with self.conn.cursor(name="upwatch_stream") as cur:  # server-side: batch by batch
            cur.itersize = batch
            cur.execute(self._translate(sql))
            yield from cur

    def copy_in(self, table: str, columns: Sequence[str],
                rows: Iterable[Sequence[object]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def identity_follows(self, table: str) -> None:
        self.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"coalesce(max(id), 0) + 1, false) FROM {table}")

    def readonly_hint(self, exc: Exception) -> str:
        readonly = isinstance(exc, pg_errors.ReadOnlySqlTransaction)
        return " (changes go through LedgerWriter.write)" if readonly else ""

    def close(self) -> None:
        self.conn.close()
